"""Timing regression, proved by the work rather than the clock: a folder hidden from the caller,
a folder that does not exist and an owner that does not exist are refused after the same store
work, statement for statement, and with the same error (docs/sharing.md, "Visibility").

Replies were once told apart by their time alone: hidden ~650 µs, missing ~515 µs, no such user
~370 µs, one read of the reader pool more on each path. A test may not assert on the clock
(it would be flaky), so it asserts on what makes the time: every read and write the store is
asked for, and every statement each one runs, recorded by a wrapper around the engine that both
backends share (``Recorder``). Statement text is compared; parameter values are not.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from postroom.access.ops import Op
from postroom.app import Services
from postroom.core.actor import Origin
from postroom.core.errors import Kind, MailError
from postroom.core.principal import Principal
from postroom.store.engine import Tx
from tests.support.factory import account, message

TEST_ORIGIN = Origin("test", "local")
Step = tuple[str, str]  # ("read" | "write" | "one" | "all" | …, SQL text)


class _TracedTx:
    """A transaction that notes each statement it is asked to run."""

    def __init__(self, tx: Tx, steps: list[Step]) -> None:
        self._tx = tx
        self._steps = steps

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._tx, name)
        if name in ("execute", "one", "all", "many") and callable(attr):
            def traced(sql: str, *args: Any, **kw: Any) -> Any:
                self._steps.append((name, " ".join(sql.split())))
                return attr(sql, *args, **kw)
            return traced
        return attr


class Recorder:
    """Wraps the store's engine (the one every repository uses) while ``steps`` is not None."""

    def __init__(self, services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
        self.steps: list[Step] | None = None
        engine = services.store.engine
        for kind in ("read", "write"):
            monkeypatch.setattr(engine, kind, self._wrap(kind, getattr(engine, kind)))

    def _wrap(self, kind: str, inner: Callable[[Any], Awaitable[Any]],
              ) -> Callable[[Any], Awaitable[Any]]:
        async def run(fn: Callable[[Tx], Any]) -> Any:
            steps = self.steps
            if steps is None:
                return await inner(fn)
            steps.append((kind, ""))
            return await inner(lambda tx: fn(_TracedTx(tx, steps)))  # type: ignore[arg-type]
        return run

    async def work(self, call: Callable[[], Awaitable[object]], name: str,
                   ) -> tuple[list[Step], tuple[Kind, str]]:
        """The store work ``call`` did, and the error it ended with (the name it was given
        replaced by a placeholder, so errors for different names compare)."""
        self.steps = []
        try:
            with pytest.raises(MailError) as refused:
                await call()
        finally:
            steps, self.steps = self.steps, None
        return steps, (refused.value.kind, refused.value.text.replace(name, "<name>"))


OPERATIONS: dict[str, Callable[[Services, Principal, str], Awaitable[object]]] = {
    "select": lambda s, p, n: s.mailboxes.open(p, n, Op.SELECT),  # also EXAMINE, STATUS
    "open": lambda s, p, n: s.mailboxes.open(p, n),
    "myrights": lambda s, p, n: s.acl.myrights(p, n),
    "getacl": lambda s, p, n: s.acl.get(p, n),
    "setacl": lambda s, p, n: s.acl.set(p, n, "bob@example.com", "lr", TEST_ORIGIN),
    "subscribe": lambda s, p, n: s.mailboxes.subscribe(p, n, True),
    "delete": lambda s, p, n: s.mailboxes.delete(p, n),
    "rename": lambda s, p, n: s.mailboxes.rename(p, n, "Elsewhere"),
    "append": lambda s, p, n: s.messages.append(p, n, [(message(), [], None)]),
}


@pytest.fixture
def recorder(services: Services, monkeypatch: pytest.MonkeyPatch) -> Recorder:
    return Recorder(services, monkeypatch)


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
async def test_hidden_missing_and_no_owner_cost_the_same_work(
        services: Services, recorder: Recorder, operation: str) -> None:
    alice = await account(services, "alice@example.com")
    bob = await account(services, "bob@example.com")
    await account(services, "carol@example.com")
    await services.mailboxes.create(alice, "Secret")
    # Hidden from bob, with ACL rows to load and evaluate: shared with carol, and "p" alone
    # (no l r i k x a) for bob himself.
    await services.acl.set(alice, "Secret", "carol@example.com", "lr", TEST_ORIGIN)
    await services.acl.set(alice, "Secret", "bob@example.com", "p", TEST_ORIGIN)
    cases = {"hidden": "Other Users/alice@example.com/Secret",
             "missing": "Other Users/alice@example.com/Nothere",
             "no owner": "Other Users/nobody@example.com/Secret",
             "no path": "Other Users/nobody@example.com"}
    op = OPERATIONS[operation]
    work = {case: await recorder.work(lambda n=name: op(services, bob, n), name)
            for case, name in cases.items()}
    hidden_steps, hidden_error = work["hidden"]
    assert hidden_error == (Kind.NOT_FOUND, "Mailbox doesn't exist: <name>")
    assert [s for s in hidden_steps if s[0] in ("read", "write")] == [("read", "")]
    for case, (steps, error) in work.items():
        assert error == hidden_error, case
        assert steps == hidden_steps, case


async def test_public_hidden_and_missing_cost_the_same_work(services: Services,
                                                            recorder: Recorder) -> None:
    bob = await account(services, "bob@example.com")
    await account(services, "carol@example.com")
    operator = Principal(None, None, None, global_admin=True, system=True)
    await services.mailboxes.create(operator, "Public Folders/Board")
    await services.acl.set(operator, "Public Folders/Board", "carol@example.com", "lr",
                           TEST_ORIGIN)
    work = [await recorder.work(lambda n=name: services.mailboxes.open(bob, n, Op.SELECT),
                                name)
            for name in ("Public Folders/Board", "Public Folders/Nothing")]
    assert work[0] == work[1]
    assert work[0][1] == (Kind.NOT_FOUND, "Mailbox doesn't exist: <name>")


async def test_a_visible_folder_takes_the_same_single_read(services: Services,
                                                           recorder: Recorder) -> None:
    """The lookup that refuses is the lookup that serves: opening a folder shared with the
    caller runs exactly the statements a refusal runs."""
    alice = await account(services, "alice@example.com")
    bob = await account(services, "bob@example.com")
    await services.mailboxes.create(alice, "Shared")
    await services.acl.set(alice, "Shared", "bob@example.com", "lr", TEST_ORIGIN)
    name = "Other Users/alice@example.com/Hidden"
    refused, _ = await recorder.work(lambda: services.mailboxes.open(bob, name), name)
    recorder.steps = []
    handle = await services.mailboxes.open(bob, "Other Users/alice@example.com/Shared",
                                           Op.SELECT)
    served, recorder.steps = recorder.steps, None
    assert handle.mailbox.name == "Shared" and handle.rights.storage() == "lr"
    assert served == refused


async def test_create_under_hidden_or_missing_ancestors_costs_the_same(
        services: Services, recorder: Recorder) -> None:
    """CREATE walks up a new name's ancestors: one it cannot see costs what one that does not
    exist costs, and ends in the same refusal."""
    alice = await account(services, "alice@example.com")
    bob = await account(services, "bob@example.com")
    await account(services, "carol@example.com")
    await services.mailboxes.create(alice, "Secret/Inner")
    for name in ("Secret", "Secret/Inner"):
        await services.acl.set(alice, name, "carol@example.com", "lr", TEST_ORIGIN)
        await services.acl.set(alice, name, "bob@example.com", "p", TEST_ORIGIN)
    base = "Other Users/alice@example.com/"
    groups = [
        {"hidden parent": base + "Secret/New", "missing parent": base + "Nothere/New"},
        {"hidden grandparent": base + "Secret/Inner/New", "missing": base + "No/Such/New"},
        {"hidden name": base + "Secret", "missing name": base + "Nothere"},
    ]
    for group in groups:
        work = {case: await recorder.work(
            lambda n=name: services.mailboxes.create(bob, n), name)
            for case, name in group.items()}
        first_steps, first_error = next(iter(work.values()))
        assert first_error[0] is Kind.NO_PERM, group
        assert [s for s in first_steps if s[0] in ("read", "write")] == [("read", "")] * 2
        for case, (steps, error) in work.items():
            assert (steps, error) == (first_steps, first_error), case
