"""The delivery pipeline (DESIGN.md §4.5): checks judge a message, transforms change it.

Every message that enters, by any door (SMTP, later webmail and ActiveSync), is judged here by
the submission service (services/submission.py) at each stage it passes: the envelope sender,
each recipient, the content. A ``Check`` looks and returns a ``Judgement``; a ``Transform``
changes the message (headers for the per-delivery prefix, a folder to file into) and never
refuses. Keeping the two apart means a check can be tested alone and reordered freely, and a
transform never has to know why a message was let through.

Verdicts:
- ``CONTINUE``: no objection; the next check runs.
- ``ACCEPT``: take it now; the remaining checks of this stage are skipped (an allow-list).
- ``QUARANTINE``: take it, but file it as junk; the remaining checks still run.
- ``REJECT`` / ``TEMPFAIL``: refuse for good / for now, with a ``MailError`` kind that each
  protocol maps to its own reply (for SMTP the table in core/smtp.py).

Every judgement may carry annotations: header lines that join the message's per-delivery prefix
(an ``Authentication-Results`` line, say), so a verdict's reasons travel with the message.

The order of the checks comes from ``pipeline.checks`` in the configuration; the safety checks
(``size``, ``smuggling``) cannot be left out (config.py refuses such a list).
"""

from __future__ import annotations

import asyncio
import enum
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import BinaryIO, Protocol

from postroom.core.envelope import Stage
from postroom.core.errors import Kind, MailError
from postroom.core.principal import Principal


class Verdict(enum.Enum):
    ACCEPT = "accept"
    REJECT = "reject"
    TEMPFAIL = "tempfail"
    QUARANTINE = "quarantine"
    CONTINUE = "continue"


@dataclass(frozen=True, slots=True)
class Judgement:
    verdict: Verdict
    kind: Kind | None = None  # REJECT and TEMPFAIL: what went wrong
    text: str = ""  # shown to the sender on REJECT/TEMPFAIL; logged otherwise
    annotations: tuple[str, ...] = ()  # header lines (no CRLF) for the per-delivery prefix

    @classmethod
    def reject(cls, kind: Kind, text: str) -> Judgement:
        return cls(Verdict.REJECT, kind, text)

    @classmethod
    def tempfail(cls, text: str, kind: Kind = Kind.TEMPORARY) -> Judgement:
        return cls(Verdict.TEMPFAIL, kind, text)


CONTINUE = Judgement(Verdict.CONTINUE)


@dataclass(frozen=True, slots=True)
class Client:
    """Who is handing the message over, as the door saw them."""

    address: str  # IP address, or "local" for a submission made inside the server
    helo: str = ""  # the name the client gave (SMTP EHLO/HELO); "" where there is none
    tls: bool = False
    principal: Principal | None = None  # authenticated submitter, if any
    trusted: bool = False  # from smtp.trusted_networks: may relay without authenticating
    channel: str = "smtp"  # "smtp" | "submission" | "webmail" | "eas" …


@dataclass
class Message:
    """A message being judged: its envelope so far and, at the content stage, what is known
    about its content (the header section and the facts the receiving door observed)."""

    client: Client
    sender: str
    recipients: list[str] = field(default_factory=list)
    remote: set[str] = field(default_factory=set)  # recipients relayed or held for a gateway
    head: bytes = b""  # the header section, each field ending in CRLF
    head_too_long: bool = False  # the header section went past limits.max_header_size
    size: int = 0
    too_big: bool = False  # the content went past the size limit while streaming
    bare_newline: bool = False  # a bare CR or LF was seen in the content (RFC 5321 §2.3.8)
    annotations: list[str] = field(default_factory=list)
    quarantine: bool = False
    folder: str | None = None  # a transform's choice of folder for local recipients
    # The whole content as received (without our Received line), for checks that need the
    # body (DKIM, spamd, clamd): call ``read_content``, never this directly.
    content: ContentSource | None = None
    # At ``Stage.RECIPIENT``: the recipient being judged (as routed: ``postmaster`` qualified),
    # not yet in ``recipients``; "" at the other stages.
    rcpt: str = ""
    # The SPF result for the envelope sender (RFC 7208 §2.6: "pass", "fail", "softfail",
    # "neutral", "none", "temperror", "permerror") and the domain it was evaluated for, set by
    # an SPF check that ran at an earlier stage; None when no SPF check ran. Checks that
    # honour SPF (greylisting's allow-list) read this, or failing that a ``Received-SPF:``
    # annotation (RFC 7208 §9.1), so they work with SPF off as with it on.
    spf: str | None = None
    spf_domain: str = ""
    # The allow list (a DNSWL zone with ``allow = true``) that lists the client, set by the
    # dnsbl check at MAIL FROM; "" when none does. Greylisting exempts such clients.
    allow_listed: str = ""
    # What a check learnt at one stage for a later one (``mailauth`` keeps its SPF results
    # from MAIL FROM for DMARC at DATA), by check name.
    notes: dict[str, object] = field(default_factory=dict)
    # Octet ranges of the header section to leave out of the stored copy (forged
    # Authentication-Results, RFC 8601 §5): the blob is immutable once named, so acceptance
    # writes a copy without them (services/submission.py ``accept``).
    drop: list[tuple[int, int]] = field(default_factory=list)

    async def read_content(self) -> BinaryIO:
        """A stream over the whole received content, from its start. A check closes it. The
        door's source may block (a message spilled to disk), so it runs in a worker thread."""
        if self.content is None:
            return io.BytesIO(self.head)
        source = self.content
        if not source.blocks(0):
            return source.content()
        return await asyncio.get_running_loop().run_in_executor(None, source.content)


class ContentSource(Protocol):
    """What a door holds the content in while it is judged (services/queue.MessageWriter)."""

    def blocks(self, more: int) -> bool: ...

    def content(self) -> BinaryIO: ...


@dataclass(frozen=True, slots=True)
class BytesContent:
    """A ``ContentSource`` over a message held whole in memory (``submit``)."""

    data: bytes

    def blocks(self, more: int) -> bool:
        return False

    def content(self) -> BinaryIO:
        return io.BytesIO(self.data)


def header_section(data: bytes) -> bytes:
    """The header section of a whole message, each field with its CRLF (RFC 5322 §2.1)."""
    if data.startswith(b"\r\n"):
        return b""
    end = data.find(b"\r\n\r\n")
    return data[:end + 2] if end >= 0 else data


def has_bare_newline(data: bytes) -> bool:
    """A CR or LF that is not part of a CRLF pair (RFC 5321 §2.3.8)."""
    crlf = data.count(b"\r\n")
    return data.count(b"\r") != crlf or data.count(b"\n") != crlf


class Check(Protocol):
    name: str
    stages: frozenset[Stage]

    async def judge(self, stage: Stage, message: Message) -> Judgement: ...


class Transform(Protocol):
    name: str

    async def apply(self, message: Message) -> None: ...


class Pipeline:
    def __init__(self, checks: Sequence[Check], transforms: Sequence[Transform] = ()) -> None:
        self.checks = list(checks)
        self.transforms = list(transforms)

    async def judge(self, stage: Stage, message: Message) -> None:
        """Run the checks of ``stage`` in order; raise ``MailError`` on REJECT/TEMPFAIL with
        the check's kind and text (``TEMPFAIL`` always as a temporary kind). QUARANTINE marks
        ``message``; annotations accumulate on it."""
        for check in self.checks:
            if stage not in check.stages:
                continue
            j = await check.judge(stage, message)
            message.annotations.extend(j.annotations)
            if j.verdict is Verdict.REJECT:
                raise MailError(j.kind or Kind.CONTENT, j.text or f"refused by {check.name}")
            if j.verdict is Verdict.TEMPFAIL:
                kind = j.kind if j.kind in (Kind.TEMPORARY, Kind.UNAVAILABLE,
                                            Kind.DEFERRED) else Kind.TEMPORARY
                raise MailError(kind, j.text or f"{check.name}: try again later")
            if j.verdict is Verdict.QUARANTINE:
                message.quarantine = True
            elif j.verdict is Verdict.ACCEPT:
                break

    async def transform(self, message: Message) -> None:
        for t in self.transforms:
            await t.apply(message)
