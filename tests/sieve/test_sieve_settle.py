"""Redirects and vacation replies are queued, and remembered, in the transaction that settles
the delivery (mta/queue.py with services/sieve/sending.py), on both stores: a settlement that
fails queues and remembers nothing, the retry exactly one of each; delivery at acceptance
does the same in the accepting transaction. The queue manager runs without its loop: these
tests call what the loop calls (``local_attempt``, ``conclude``)."""

from __future__ import annotations

import pytest

from postroom.access.gate import MailboxHandle
from postroom.app import Services
from postroom.core.errors import Kind, MailError
from postroom.core.principal import Principal
from postroom.core.records import QueueRec, Settlement
from postroom.mta.queue import QueueManager
from postroom.services.pipeline import Client
from postroom.services.sieve.memory import REDIRECT, VACATION
from tests.support.factory import account, message

SCRIPT = ('require ["copy", "vacation"];\nredirect :copy "carol@c.example";\n'
          'vacation :subject "Away" "I am away.";\n')


def manager(s: Services) -> QueueManager:
    mgr = QueueManager(s.cfg, "mx.a.example", s.queue, s.delivery, s.submission,
                       s.directory, s.gateways)
    mgr.sieve = s.sieve_mail.sending(mgr.forwarding)
    return mgr


async def activate(s: Services, owner: Principal, source: str) -> None:
    await s.sieve_scripts.put(owner, "main", source)
    await s.sieve_scripts.activate(owner, "main")


async def accept_id(s: Services, subject: str) -> int:
    m = await s.submission.start(Client("192.0.2.1"), "dave@b.example")
    await s.submission.add_recipient(m, "alice@a.example")
    data = message(subject).replace(b"To: someone@example.com", b"To: alice@a.example")
    blob = await s.queue.put_bytes(data)
    return await s.submission.accept(m, blob, b"Received: test\r\n", {})


async def accept(s: Services, subject: str) -> QueueRec:
    return await s.queue.get(await accept_id(s, subject))


def sent(entries: list[QueueRec]) -> tuple[list[QueueRec], list[QueueRec]]:
    """(redirected copies, vacation replies) among queue entries."""
    return ([e for e in entries if e.param_dict().get("forwarded_for")],
            [e for e in entries if e.param_dict().get("auto_reply")])


async def remembered(s: Services, account_id: int, kind: str) -> int:
    def fn(tx):  # type: ignore[no-untyped-def]
        row = tx.one("SELECT count(*) FROM sieve_memory WHERE account_id = ? AND kind = ?",
                     (account_id, kind))
        return int(row[0])
    return int(await s.store.engine.read(fn))


async def test_failed_settlement_sends_and_remembers_nothing_the_retry_once(
        services: Services) -> None:
    s = services
    alice = await account(s, "alice@a.example", quota=1_000_000)
    assert alice.account_id is not None
    await activate(s, alice, SCRIPT)
    entry = await accept(s, "first")
    mgr = manager(s)
    attempt = await mgr.local_attempt(entry)
    assert [e.id for e in await s.queue.list()] == [entry.id]  # planning queued nothing
    assert len(attempt.forwards) == 2 and len(attempt.local) == 1
    assert {m.kind for m in attempt.memory} == {REDIRECT, VACATION}
    await s.store.directory.update_account("alice@a.example", quota_bytes=10)
    with pytest.raises(MailError) as exc:  # the transaction itself, as the manager calls it
        await s.queue.settle(entry.id, Settlement[MailboxHandle](
            local=attempt.local, forwards=attempt.forwards, memory=attempt.memory))
    assert exc.value.kind is Kind.OVER_QUOTA
    assert [e.id for e in await s.queue.list()] == [entry.id]
    assert await remembered(s, alice.account_id, VACATION) == 0
    await mgr.conclude(entry, attempt)  # deferred: still nothing sent nor remembered
    [kept] = await s.queue.list()
    assert kept.id == entry.id and sent([kept]) == ([], [])
    assert await remembered(s, alice.account_id, VACATION) == 0
    # the retry, once there is room: one redirected copy, one reply, both remembered
    await s.store.directory.update_account("alice@a.example", quota_bytes=None)
    kept = await s.queue.get(entry.id)
    await mgr.conclude(kept, await mgr.local_attempt(kept))
    redirects, replies = sent(await s.queue.list())
    assert [r.recipients for r in redirects] == [("carol@c.example",)]
    assert redirects[0].sender.startswith("SRS0=")
    assert [(r.sender, r.recipients) for r in replies] == [("", ("dave@b.example",))]
    assert await remembered(s, alice.account_id, VACATION) == 1
    assert await remembered(s, alice.account_id, REDIRECT) == 1
    # another message from dave: redirected too (another Message-ID), not answered again
    second = await accept(s, "second")
    await mgr.conclude(second, await mgr.local_attempt(second))
    redirects, replies = sent(await s.queue.list())
    assert len(redirects) == 2 and len(replies) == 1


async def test_delivery_at_acceptance_queues_them_in_the_accepting_transaction(
        services: Services) -> None:
    s = services
    alice = await account(s, "alice@a.example")
    assert alice.account_id is not None
    await activate(s, alice, SCRIPT)
    mgr = manager(s)
    s.submission.direct = mgr.deliver_at_acceptance
    try:
        entry_id = await accept_id(s, "direct")
    finally:
        s.submission.direct = None
    entries = await s.queue.list()
    assert entry_id not in [e.id for e in entries]  # delivered in the accepting transaction
    redirects, replies = sent(entries)
    assert len(redirects) == 1 and len(replies) == 1
    assert await remembered(s, alice.account_id, VACATION) == 1


async def test_quarantined_mail_gets_no_vacation_reply(services: Services) -> None:
    """Mail the pipeline judged junk is filed in Junk and not answered: its sender is likely
    forged, and a reply would be backscatter."""
    s = services
    alice = await account(s, "alice@a.example")
    await activate(s, alice, 'require "vacation";\nvacation "I am away.";\n')
    m = await s.submission.start(Client("192.0.2.1"), "dave@b.example")
    await s.submission.add_recipient(m, "alice@a.example")
    data = message("spam").replace(b"To: someone@example.com", b"To: alice@a.example")
    blob = await s.queue.put_bytes(data)
    entry = await s.queue.get(await s.submission.accept(m, blob, b"Received: test\r\n",
                                                        {"quarantine": True}))
    mgr = manager(s)
    await mgr.conclude(entry, await mgr.local_attempt(entry))
    assert sent(await s.queue.list()) == ([], [])
