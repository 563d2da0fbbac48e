"""Running Sieve scripts in tests without a server: a message from its text, an Environment
backed by plain dictionaries, and a readable summary of the actions.

    result = await run_script('require "fileinto"; fileinto "Junk";', MESSAGE)
    assert summary(result) == ["fileinto Junk"]

    env = DictEnvironment(mailboxes={"INBOX", "Junk"}, scripts={("personal", "lib"): "keep;"})
    result = await run_script(source, MESSAGE, env=env, sender="", recipient="me@example.org")

The Environment is the real Protocol of postroom/sieve/runtime.py, implemented with
dictionaries: what a delivery gets from the gate and the stores, a test sets by hand.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime

from postroom.sieve import compile_script
from postroom.sieve.actions import Action, Discard, FileInto, Keep, Redirect, Reject, Vacation
from postroom.sieve.bind import BoundScript
from postroom.sieve.interp import execute
from postroom.sieve.limits import DEFAULT, Limits
from postroom.sieve.message import Envelope, Message
from postroom.sieve.runtime import Result

SENDER = "sender@example.com"
RECIPIENT = "user@example.org"


def split_message(text: str | bytes) -> tuple[bytes, bytes]:
    """(header block with its empty line, body) of a message given as text; LF line ends
    become CRLF (test messages are written with LF in the source)."""
    raw = text.encode("utf-8") if isinstance(text, str) else text
    if b"\r\n" not in raw:
        raw = raw.replace(b"\n", b"\r\n")
    end = raw.find(b"\r\n\r\n")
    if end < 0:
        if raw.startswith(b"\r\n"):
            return b"\r\n", raw[2:]
        return raw + (b"" if raw.endswith(b"\r\n") else b"\r\n") + b"\r\n", b""
    return raw[:end + 4], raw[end + 4:]


def make_message(text: str | bytes, *, sender: str = SENDER, recipient: str = RECIPIENT,
                 original_recipient: str = "", auth: str = "") -> Message:
    """A Message as the delivery service builds it: the header block now (ending in the
    empty line), the whole message as given through the lazy loader, ``size`` its octets
    (CRLF line ends)."""
    header, _body = split_message(text)
    raw = text.encode("utf-8") if isinstance(text, str) else text
    if b"\r\n" not in raw:
        raw = raw.replace(b"\n", b"\r\n")
    whole = raw  # as given: a message may end in its header, with no empty line

    async def load() -> bytes:
        return whole

    return Message(header, size=len(whole),
                   envelope=Envelope(sender, recipient, original_recipient, auth), body=load)


@dataclass
class DictEnvironment:
    """The world outside the message, as dictionaries a test fills in.

    ``mailboxes``: folders that exist (and may be filed into). ``metadata``: annotations by
    (mailbox or None for the server, annotation name). ``scripts``: sources of includable
    scripts by (location, name), compiled on first include with ``enabled``/``limits``.
    ``duplicates``: tracking values already seen (RFC 7352); ``duplicate`` adds to
    ``pending`` and ``commit()`` moves those to ``duplicates`` (the delivery service records
    only when the delivery completes). ``clock``: what ``now`` returns."""

    mailboxes: set[str] = field(default_factory=lambda: {"INBOX"})
    metadata_values: dict[tuple[str | None, str], str] = field(default_factory=dict)
    scripts: dict[tuple[str, str], str] = field(default_factory=dict)
    duplicates: set[str] = field(default_factory=set)
    pending: set[str] = field(default_factory=set)
    clock: datetime = field(default_factory=lambda: datetime(2026, 12, 4, 12, 0, tzinfo=UTC))
    addresses: tuple[str, ...] = (RECIPIENT,)
    environment_items: dict[str, str] = field(default_factory=dict)  # RFC 5183 items
    enabled: Collection[str] | None = None
    limits: Limits = DEFAULT
    # what the run asked, for tests that check the calls themselves
    calls: list[tuple[str, tuple[object, ...]]] = field(default_factory=list)

    async def mailbox_exists(self, name: str) -> bool:
        self.calls.append(("mailbox_exists", (name,)))
        return name in self.mailboxes

    async def metadata(self, mailbox: str | None, annotation: str) -> str | None:
        self.calls.append(("metadata", (mailbox, annotation)))
        if mailbox is not None and mailbox not in self.mailboxes:
            return None
        return self.metadata_values.get((mailbox, annotation))

    async def duplicate(self, tracking: str, seconds: int, last: bool) -> bool:
        self.calls.append(("duplicate", (tracking, seconds, last)))
        seen = tracking in self.duplicates
        self.pending.add(tracking)
        return seen

    def commit(self) -> None:
        """The delivery completed: what ``duplicate`` saw is remembered from now on."""
        self.duplicates |= self.pending
        self.pending.clear()

    async def include(self, name: str, location: str) -> BoundScript | None:
        self.calls.append(("include", (name, location)))
        source = self.scripts.get((location, name))
        if source is None:
            return None
        return compile_script(source, limits=self.limits, enabled=self.enabled, name=name)

    def now(self) -> datetime:
        return self.clock

    def user_addresses(self) -> tuple[str, ...]:
        return self.addresses

    def environment(self, item: str) -> str | None:
        return self.environment_items.get(item)


async def run_script(source: str | bytes | BoundScript, message: str | bytes | Message, *,
                     env: DictEnvironment | None = None, limits: Limits | None = None,
                     enabled: Collection[str] | None = None, sender: str = SENDER,
                     recipient: str = RECIPIENT) -> Result:
    """Compile (unless given bound) and run ``source`` over ``message``. ``enabled`` and
    ``limits`` default to the environment's (whose defaults are every advertised extension
    and the default limits)."""
    env = env if env is not None else DictEnvironment()
    limits = limits if limits is not None else env.limits
    enabled = enabled if enabled is not None else env.enabled
    script = source if isinstance(source, BoundScript) else \
        compile_script(source, limits=limits, enabled=enabled)
    msg = message if isinstance(message, Message) else \
        make_message(message, sender=sender, recipient=recipient)
    return await execute(script, msg, env, limits)


def describe(action: Action) -> str:
    """One action as a short line: ``keep``, ``fileinto Junk``, ``redirect a@b :copy``,
    ``reject reason…`` (a multi-line reason with LF line ends, no final one), ``discard``,
    ``vacation``; flags as ``:flags \\Seen $Label``."""
    flags: tuple[str, ...] | None = None
    if isinstance(action, Keep):
        text, flags = "keep", action.flags
    elif isinstance(action, FileInto):
        text, flags = f"fileinto {action.mailbox}", action.flags
        if action.copy:
            text += " :copy"
        if action.create:
            text += " :create"
    elif isinstance(action, Redirect):
        text = f"redirect {action.address}" + (" :copy" if action.copy else "")
    elif isinstance(action, Reject):
        reason = action.reason.replace("\r\n", "\n").rstrip("\n")
        text = ("ereject " if action.extended else "reject ") + reason
    elif isinstance(action, Discard):
        text = "discard"
    elif isinstance(action, Vacation):
        text = "vacation"
    else:  # pragma: no cover - a new action type: say its repr
        text = repr(action)
    if flags:
        text += " :flags " + " ".join(flags)
    return text


def summary(result: Result) -> list[str]:
    """The actions of a run, described, plus ``implicit keep`` (with its flags) when it
    applies, and ``error: …`` when the run failed."""
    out = [describe(a) for a in result.actions]
    if result.implicit_keep:
        text = "implicit keep"
        if result.keep_flags:
            text += " :flags " + " ".join(result.keep_flags)
        out.append(text)
    if result.error is not None:
        out.append(f"error: {result.error.message}")
    return out
