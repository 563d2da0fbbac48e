"""Accepting mail, for every door: who may send, which recipients are ours, what content may
go, and the durable hand-off to the queue (DESIGN.md §5 steps 2–5).

Protocol-neutral: SMTP (protocols/smtp), and later webmail and ActiveSync SendMail, ask the
same questions in the same order and get the same answers. A refusal is a ``MailError`` whose
kind each door maps to its own reply (SMTP: the table in core/smtp.py), raised at one of the
three stages of core/envelope.py:

1. ``sender``: the envelope sender. On a submission channel only an authenticated client may
   send; then the pipeline's sender-stage checks (services/pipeline).
2. ``recipient``: one recipient at a time. Ours and deliverable (an account, an alias or group
   that reaches a mailbox, a public folder the sender may post to), someone else's domain we
   are a gateway for (services/gateways.py), or, for authenticated and trusted clients only,
   relayed: relaying is never open (the trusted list is empty by default, loopback included).
3. ``content``: the pipeline's content-stage checks, then its transforms.

``accept`` is the single choke point: the content is already in an fsynced blob; one queue
entry per destination (every local recipient in one, one per remote domain: RFC 5321 §4.5.4)
is committed before it returns, and only then may a door report success.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from postroom.core import minger
from postroom.core.envelope import Stage
from postroom.core.errors import Kind, MailError
from postroom.core.principal import Principal
from postroom.core.records import AccountRec, BlobRef, NewEntry
from postroom.directory.service import (
    Directory,
    ToAccount,
    ToAlias,
    ToGroup,
    ToPublicFolder,
    Unknown,
)
from postroom.services.batv import Batv
from postroom.services.gateways import Gateways
from postroom.services.messages import MessageService
from postroom.services.pipeline import (
    BytesContent,
    Client,
    Message,
    Pipeline,
    has_bare_newline,
    header_section,
)
from postroom.services.queue import MessageWriter, QueueService
from postroom.services.screening import Offences
from postroom.services.sieve.srs import SenderRewriting, SrsError
from postroom.store.sqlstore import SqlStore

srs_log = logging.getLogger("postroom.mail")

SUBMISSION_CHANNELS = frozenset({"submission", "webmail", "eas"})


def refuse_account(account: AccountRec, address: str) -> None:
    """An account that cannot take mail addressed to it (docs/smtp.md): a disabled one never
    (DISABLED: 550 5.2.1), a frozen one not now (UNAVAILABLE: 450 4.2.1, the sender retries
    and the mail arrives once the account is thawed)."""
    if account.state == "disabled":
        raise MailError(Kind.DISABLED, f"Mailbox of <{address}> is disabled")
    if account.state == "frozen":
        raise MailError(Kind.UNAVAILABLE, f"Mailbox of <{address}> is frozen; try again later")


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].lower().rstrip(".")


@dataclass(frozen=True, slots=True)
class Route:
    """Where an accepted recipient goes."""

    address: str  # as accepted (``postmaster`` qualified with the primary domain)
    remote: bool  # relayed, or held for a gateway domain
    note: str = ""  # for the reply: " (relayed)", " (held for example.org)"


class SubmissionService:
    def __init__(self, store: SqlStore, directory: Directory, messages: MessageService,
                 gateways: Gateways, queue: QueueService, pipeline: Pipeline,
                 max_message_size: int, max_header_size: int = 256 * 1024) -> None:
        self._store = store
        self._directory = directory
        self._messages = messages
        self._gateways = gateways
        self._queue = queue
        self.pipeline = pipeline
        self.max_message_size = max_message_size
        self.max_header_size = max_header_size
        # Delivery in the accepting transaction for mail that is local only
        # (mta/queue.py ``deliver_at_acceptance``), set by the server when
        # ``smtp.deliver_at_acceptance`` is on: it returns the queue id, or None when the
        # entry must be queued after all. Without a server (the CLI) everything is queued.
        self.direct: Callable[[NewEntry], Awaitable[int | None]] | None = None
        # Dynamic screening (services/screening.py), told of every recipient refused as
        # unknown (address harvesting); set by the composition root.
        self.screening: Offences | None = None
        # Bounce address tag validation (services/batv.py): strips prvs= tags from our
        # addresses and refuses bounces without a valid one while batv.enabled is on.
        self.batv: Batv | None = None
        # The Sender Rewriting Scheme of redirected mail (services/sieve/srs.py): mail to an
        # SRS address of ours goes back to the sender it encodes; a forged or expired one is
        # refused.
        self.srs: SenderRewriting | None = None

    async def primary_domain(self) -> str:
        domains = await self._store.directory.list_domains()
        return domains[0].name if domains else "localhost"

    # -- stage 1: the sender ------------------------------------------------------------------
    async def start(self, client: Client, sender: str, size: int | None = None) -> Message:
        """A new message from ``sender`` (``""`` for the null reverse path); raises at
        ``Stage.SENDER``."""
        if client.channel in SUBMISSION_CHANNELS and client.principal is None:
            raise MailError(Kind.AUTH_REQUIRED, "Authentication required")  # RFC 6409 §4.3
        if size is not None and size > self.max_message_size:
            raise MailError(Kind.LIMIT, "Message size exceeds fixed maximum message size")
        message = Message(client, sender)
        await self.pipeline.judge(Stage.SENDER, message)
        return message

    # -- stage 2: each recipient --------------------------------------------------------------
    async def add_recipient(self, message: Message, address: str) -> Route:
        """Judge one recipient (RFC 5321 §4.1.1.3) and add it to ``message``; raises at
        ``Stage.RECIPIENT``. A recipient named twice is accepted once."""
        if address.lower() == "postmaster":  # RFC 5321 §4.5.1
            address = f"postmaster@{await self.primary_domain()}"
        if self.batv is not None:
            address = await self.batv.recipient(message, address)
        try:
            route = await self._srs_route(message, address) or \
                await self.route(message.client, address)
        except MailError as exc:
            # Address harvesting is counted for strangers only: an authenticated user or a
            # trusted relay (a backup MX, a front filter) mistyping addresses must never get
            # its address, and everyone behind it, refused at connect.
            client = message.client
            if exc.kind is Kind.NOT_FOUND and self.screening is not None and \
                    client.principal is None and not client.trusted:
                self.screening.note(client.address, "unknown-recipient")
            raise
        message.rcpt = route.address
        try:
            await self.pipeline.judge(Stage.RECIPIENT, message)
        finally:
            message.rcpt = ""
        if route.address not in message.recipients:
            message.recipients.append(route.address)
            if route.remote:
                message.remote.add(route.address)
        return route

    async def _srs_route(self, message: Message, address: str) -> Route | None:
        """An SRS address of ours (services/sieve/srs.py): mail to it (a bounce of a copy a
        Sieve script redirected, or a reply to its return path) is passed on to the address
        it encodes, from anyone: that is what the signature vouches for. None for any other
        address. A forged, altered or expired one: 550 5.7.1, logged."""
        if self.srs is None:
            return None
        try:
            target = await self.srs.bounce_target(address)
        except SrsError as exc:
            if not isinstance(await self._directory.resolve_recipient(address), Unknown):
                return None  # a real address that merely looks like SRS ("srs0-team@")
            _srs_log(message, address, "refused", str(exc))
            raise MailError(Kind.NO_PERM, f"Invalid SRS address <{address}>: {exc}") from None
        if target is None:
            return None
        _srs_log(message, address, "accepted", f"returned to <{target}>")
        return await self.route(message.client, target, relay=True)

    async def route(self, client: Client, address: str, relay: bool = False) -> Route:
        """Where ``address`` goes, or why not. ``relay``: another domain's address is
        taken from anyone (mail to an SRS address, going back to its sender)."""
        res = await self._directory.resolve_recipient(address)
        if isinstance(res, Unknown):
            if res.local_domain:
                raise MailError(Kind.NOT_FOUND, f"No such user here: <{address}>")
            gateway = await self._gateways.find(domain_of(address))
            if gateway is not None:  # someone else's domain we accept mail for
                await self._gateways.check_recipient(gateway, address)
                return Route(address, True, f" (held for {gateway.domain})")
            if relay:
                return Route(address, True, " (returned by SRS)")
            if client.principal is None and not client.trusted:
                raise MailError(Kind.NO_PERM, "Relaying denied: authenticate first")
            return Route(address, True, " (relayed)")
        if isinstance(res, ToPublicFolder):
            try:
                await self._messages.post_handle(client.principal or Principal.anonymous(),
                                                 address)
            except MailError:
                raise MailError(Kind.NO_PERM, f"You may not post to <{address}>") from None
            return Route(address, False)
        if isinstance(res, ToAccount):
            refuse_account(res.account, address)
            used, limit = res.account.used_bytes, res.account.quota_bytes
            if limit is not None and used >= limit:
                raise MailError(Kind.OVER_QUOTA, f"Mailbox of <{address}> is full")
            return Route(address, False)
        if isinstance(res, (ToAlias, ToGroup)):
            if not await self._directory.expand(address):
                raise MailError(Kind.NOT_FOUND, f"<{address}> leads to no mailbox")
            return Route(address, False)
        raise MailError(Kind.NOT_FOUND, f"No such user here: <{address}>")

    async def address_status(self, address: str) -> int:
        """Minger's answer for ``address`` (docs/odmr.md): 5 when mail to it would be
        accepted (account, alias or group that reaches a mailbox, public folder open to
        posting), 4 when it exists but cannot take mail now (disabled or frozen account, full
        mailbox, alias leading nowhere, folder closed to posting), 3 otherwise."""
        res = await self._directory.resolve_recipient(address)
        if isinstance(res, Unknown):
            return minger.UNKNOWN
        if isinstance(res, ToAccount):
            if res.account.state != "active":
                return minger.UNAVAILABLE
            used, limit = res.account.used_bytes, res.account.quota_bytes
            return minger.UNAVAILABLE if limit is not None and used >= limit else minger.ACTIVE
        if isinstance(res, ToPublicFolder):
            try:
                await self._messages.post_handle(Principal.anonymous(), address)
            except MailError:
                return minger.UNAVAILABLE
            return minger.ACTIVE
        if isinstance(res, (ToAlias, ToGroup)):
            return minger.ACTIVE if await self._directory.expand(address) \
                else minger.UNAVAILABLE
        return minger.UNKNOWN

    # -- stage 3: the content -----------------------------------------------------------------
    def writer(self) -> MessageWriter:
        """Where the content streams to, never whole in memory beyond its first part (see
        ``MessageWriter``); ``finish`` fsyncs it."""
        return self._queue.writer()

    async def check_content(self, message: Message) -> None:
        """Judge the content (its header section and the facts the door observed while
        streaming it); raises at ``Stage.CONTENT``. Then the transforms run."""
        if not message.recipients:
            raise MailError(Kind.NOT_FOUND, "No valid recipients")
        await self.pipeline.judge(Stage.CONTENT, message)
        await self.pipeline.transform(message)

    # -- the hand-off -------------------------------------------------------------------------
    async def accept(self, message: Message, blob: BlobRef, received: bytes,
                     params: dict[str, object]) -> int:
        """Queue the message: ``received`` (our ``Received:`` line) and the pipeline's
        annotations become the per-delivery prefix. Returns the first queue id. Once this
        returns the entries are committed and the door may report success (RFC 5321 §6.1)."""
        prefix = received + b"".join(line.encode() + b"\r\n" for line in message.annotations)
        if message.drop:  # header fields a check wants gone (forged Authentication-Results)
            blob = await self._queue.without(blob, message.drop)
        own = dict(params)
        if message.client.principal is not None and message.client.principal.address:
            own["auth"] = message.client.principal.address
        if message.quarantine:
            own["quarantine"] = True
        if message.folder:
            own["folder"] = message.folder
        local = [r for r in message.recipients if r not in message.remote]
        remote = [r for r in message.recipients if r in message.remote]
        entries = split_entries(message.sender, local, remote, blob, prefix, own)
        for entry in entries:
            if entry.params.get("remote"):
                await self.mark_gateway(entry)
        if self.direct is not None and len(entries) == 1 and not remote:
            entry_id = await self.direct(entries[0])
            if entry_id is not None:
                return entry_id
        ids = await self._queue.enqueue(entries)
        return ids[0]

    async def mark_gateway(self, entry: NewEntry) -> None:
        """Mail for a gateway domain carries its domain, so ATRN can find it; when the
        gateway holds its mail, the entry waits in state ``atrn`` (docs/odmr.md)."""
        gateway = await self._gateways.find(domain_of(entry.recipients[0]))
        if gateway is None:
            return
        entry.hold_domain = gateway.domain
        if gateway.holds:
            entry.state = "atrn"
            entry.next_attempt = self._gateways.review_time(int(time.time()), False)

    async def submit(self, client: Client, sender: str, recipients: Sequence[str],
                     data: bytes, received: bytes = b"") -> int:
        """A whole message from a door that holds it in memory (webmail, ActiveSync): the
        three stages and the hand-off in one call. SMTP streams instead."""
        message = await self.start(client, sender, len(data))
        for rcpt in recipients:
            await self.add_recipient(message, rcpt)
        message.head = header_section(data)
        message.head_too_long = len(message.head) > self.max_header_size
        message.size = len(data)
        message.bare_newline = has_bare_newline(data)
        message.content = BytesContent(data)
        await self.check_content(message)
        blob = await self._queue.put_bytes(data)
        return await self.accept(message, blob, received, {})


def _srs_log(message: Message, address: str, decision: str, reason: str) -> None:
    srs_log.info("srs", extra={"client": message.client.address,
                               "from": f"<{message.sender}>", "to": f"<{address}>",
                               "decision": decision, "reason": reason})


def received_header(helo: str, peer: str, hostname: str, protocol: str, queue_hint: str,
                    recipient: str | None) -> bytes:
    """``Received:`` (RFC 5321 §4.4) prepended at acceptance, folded below 78 columns; also
    written for mail collected by MultiPOP, with its POP3 server as ``from``."""
    when = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime())
    lines = [f"Received: from {helo} ([{peer}])", f"\tby {hostname} (Postroom) with {protocol}"
             f" id {queue_hint}"]
    if recipient:
        lines.append(f"\tfor <{recipient}>")
    lines[-1] += f"; {when}"
    return ("\r\n".join(lines) + "\r\n").encode()


def split_entries(sender: str, local: list[str], remote: list[str], blob: BlobRef,
                  prefix: bytes, params: dict[str, object]) -> list[NewEntry]:
    """One entry for the local recipients, one per remote domain; each keeps only the DSN
    parameters of its own recipients."""
    groups: list[tuple[list[str], bool]] = [(local, False)] if local else []
    by_domain: dict[str, list[str]] = {}
    for rcpt in remote:
        by_domain.setdefault(domain_of(rcpt), []).append(rcpt)
    groups += [(group, True) for group in by_domain.values()]
    out = []
    for group, is_remote in groups:
        own = dict(params)
        for key in ("notify", "orcpt"):
            table = params.get(key)
            if isinstance(table, dict):
                own[key] = {r: v for r, v in table.items() if r in group}
        if is_remote:
            own["remote"] = True
        out.append(NewEntry(sender, group, blob, prefix, own))
    return out
