"""Local delivery as a service: where a queued message's local copies go, through the gate.

The queue manager (mta/queue.py) calls ``plan`` for an entry with local recipients and settles
the result in one transaction (services/queue.py ``settle``). Nothing here writes: choosing is
the service's, committing stays one transaction with the notices and the entry's update, so a
crash never duplicates a copy.

For each recipient:
- an account addressed directly: refused as at RCPT when disabled (a failure notice) or
  frozen (deferred until it is thawed);
- an account (addressed directly, or reached through an alias or group): its INBOX, or the
  folder the entry names (MultiPOP's target folder, for an account addressed directly; INBOX
  when that folder is gone), or its ``\\Junk`` folder when the pipeline quarantined the
  message. The copy is filed as the recipient (``Op.DELIVER``), who owns the folder.
- a public folder by its address: posted as the submitter (``Op.POST``, the ``p`` right),
  the authenticated sender recorded at acceptance, or anyone for mail from outside. Rights are
  judged again here because they may have changed since the message was accepted.
One copy per mailbox, however often it was addressed.

A member of an alias or group in another domain (docs/operations.md: remote targets are
accepted as given) is not a mailbox: the plan names it under ``forwards``, and the queue
manager queues a forwarded copy for it (services/forwarding.py) in the same transaction as
the local copies. One forwarded copy per remote address, however often it was reached.
Members that are neither accounts nor remote (a public folder, an address of ours that no
longer exists) get nothing, as before.

Quota: a recipient whose account is already full is deferred before anything is written (the
transaction still enforces the limit, for copies that race).

Sieve (services/sieve/filter.py, docs/sieve.md): for every account an entry reaches (directly
or through an alias or group) whose chain of scripts is not empty, the chain decides instead
of the one copy into the default folder: the copies (folders through the gate, with flags and
keywords), a refusal (reject: the recipient fails with the reason when it was addressed
directly and nothing else was kept, else a notice names the member), redirects and vacation
replies (handed on in ``Plan.redirects`` and ``Plan.replies``, queued in the same settlement by
the queue manager), and what the duplicate test remembers (``Plan.memory``, committed with
it). Each account's chain runs once per entry. The
Sieve view of the message is built only then: its header block from the first chunk that the
scan read anyway, its body read from the queued file only when a script asks (the body test),
bounded by ``sieve.max_body_size``. A copy whose header a script edited (RFC 5293) is written
as a new blob (the edited header block, then the body) before the transaction; an unedited
copy shares the queued blob as every copy does.

The message is described (MIME structure, search text) by reading its file in chunks
(mime/stream.py), never whole: 32 deliveries of 50 MB messages at once stay within a few MB
each. The per-delivery prefix is ``Return-Path`` (RFC 5321 §4.4) followed by what acceptance
wrote (``Received``, the pipeline's annotations).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from postroom.access.gate import AccessGate, MailboxHandle
from postroom.access.ops import Op
from postroom.core.errors import Kind, MailError
from postroom.core.principal import Principal
from postroom.core.records import AccountRec, BlobRef, MailboxRec, MemoryRow, NewMessage, QueueRec
from postroom.core.smtp import xtext_decode
from postroom.directory.service import Directory, ToAccount, ToAlias, ToGroup, ToPublicFolder
from postroom.mime.stream import CHUNK, StreamScanner
from postroom.services.queue import QueueService
from postroom.services.sieve.environment import Recipient
from postroom.services.sieve.filter import SieveFilter, SieveOutcome
from postroom.services.sieve.redirect import RedirectOrder
from postroom.services.sieve.vacation import VacationOrder
from postroom.services.submission import domain_of, refuse_account
from postroom.sieve.message import Envelope, Message
from postroom.store.repo.sieve import ChainRow
from postroom.store.sqlstore import SqlStore

log = logging.getLogger("postroom.delivery")

# Told after the local copies of an entry were committed: (entry, recipients delivered to).
# Scheduling (services/dav/scheduling.py) reads incoming iMIP from it (RFC 6047).
DeliveredHook = Callable[[QueueRec, Sequence[str]], Awaitable[None]]

INBOX = "INBOX"


# A reason a script gave for a refusal goes into a notice's one-line Diagnostic-Code
# (RFC 3464 §2.3.6): blanks and line breaks become single spaces, and it is bounded.
_BLANKS = re.compile(r"\s+")
MAX_REASON = 500


@dataclass
class Plan:
    """What local delivery of one entry would do, recipient by recipient."""

    targets: dict[str, list[tuple[MailboxHandle, NewMessage]]] = field(default_factory=dict)
    unknown: list[str] = field(default_factory=list)  # no such recipient (any more)
    refused: dict[str, MailError] = field(default_factory=dict)  # exists, but not now/ever
    # remote members of an alias or group, by the recipient that reached them
    forwards: dict[str, list[str]] = field(default_factory=dict)
    # remote members not sent a copy because the message was quarantined (filed in Junk):
    # what a filter judged junk or dangerous stays here, it is not relayed onwards
    withheld: dict[str, list[str]] = field(default_factory=dict)
    # Sieve, by the recipient that reached the accounts whose scripts ran: redirects and
    # vacation replies to queue with the settlement (services/sieve/redirect.py,
    # vacation.py), and what the duplicate test remembers, committed with it
    redirects: dict[str, list[RedirectOrder]] = field(default_factory=dict)
    replies: dict[str, list[VacationOrder]] = field(default_factory=dict)
    memory: dict[str, list[MemoryRow]] = field(default_factory=dict)
    # the mail log's words per recipient ("sieve: fileinto Lists")
    notes: dict[str, str] = field(default_factory=dict)
    # accounts whose scripts refused the message although the recipient as a whole was
    # delivered (a member of an alias or group): (account address, reason) for a notice
    rejects: dict[str, list[tuple[str, str]]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Found:
    """Where a recipient's copies go without Sieve: (the account or None for a public
    folder, its default folder); ``direct`` when the recipient is that one account."""

    direct: bool
    places: list[tuple[AccountRec | None, MailboxHandle]]


class DeliveryService:
    def __init__(self, store: SqlStore, directory: Directory, gate: AccessGate,
                 queue: QueueService, workers: int = 8) -> None:
        self._store = store
        self._directory = directory
        self._gate = gate
        self._queue = queue
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="describe")
        self.delivered: list[DeliveredHook] = []  # scheduling: incoming iMIP (RFC 6047)
        self.sieve: SieveFilter | None = None  # users' and administrators' scripts (app.py)
        # queued messages read for a Sieve body test (a header-only filter reads none)
        self.body_reads = 0

    def close(self) -> None:
        self._pool.shutdown(wait=False)

    async def announce(self, entry: QueueRec, recipients: Sequence[str]) -> None:
        """Tell the hooks about copies just committed; a hook's failure is logged and never
        undoes or delays the delivery (the message is already in the recipients' folders)."""
        for hook in self.delivered:
            try:
                await hook(entry, recipients)
            except Exception:
                log.exception("delivery hook failed for entry %d", entry.id)

    async def scan(self, entry: QueueRec) -> tuple[str, tuple[str, str] | None, bytes, int]:
        """(MIME scan as JSON, search text, the header block as far as the first chunk
        holds it, the offset of the body) of the queued message, read in chunks."""
        def work() -> tuple[str, tuple[str, str] | None, bytes, int]:
            scanner = StreamScanner()
            first = b""
            with self._queue.open_blob(entry) as fh:
                while data := fh.read(CHUNK):
                    first = first or data
                    scanner.feed(data)
            info, text = scanner.finish()
            start = info.root.body_start
            return info.to_json(), text, first[:start], start
        return await asyncio.get_running_loop().run_in_executor(self._pool, work)

    async def plan(self, entry: QueueRec) -> Plan:
        params = entry.param_dict()
        meta, text, head, body_start = await self.scan(entry)
        prefix = b"Return-Path: <" + entry.sender.encode() + b">\r\n" + bytes(entry.prefix)
        blob = BlobRef(entry.blob, entry.size - len(entry.prefix))
        message = NewMessage(blob, prefix, meta, 0, "", entry.created_at, text)
        folder = str(params.get("folder") or INBOX)
        junk = bool(params.get("quarantine"))
        submitter = await self._submitter(params)
        sieve = self.sieve if self.sieve is not None and self.sieve.enabled else None
        filing: _Filing | None = None  # made for the first account with scripts
        plan = Plan()
        seen: set[int] = set()
        seen_remote: set[str] = set()
        ran: set[tuple[int, int]] = set()  # (account, default folder) whose chain ran
        for rcpt in entry.recipients:
            remote: list[str] = []
            try:
                found = await self._targets(rcpt, folder, junk, submitter, message.size,
                                            remote)
            except MailError as exc:
                if exc.kind is Kind.NOT_FOUND:
                    plan.unknown.append(rcpt)
                else:
                    plan.refused[rcpt] = exc
                continue
            if not found.places and not remote:
                plan.unknown.append(rcpt)
                continue
            copies: list[tuple[MailboxHandle, NewMessage]] = []
            outcomes: list[SieveOutcome] = []
            for account, handle in found.places:
                if account is None or sieve is None:
                    copies.append((handle, message))
                    continue
                if (account.id, handle.id) in ran:
                    continue  # reached twice: its chain ran, its copies are placed
                ran.add((account.id, handle.id))
                rows = await sieve.chain(account.id, account.domain_id)
                if not rows:
                    copies.append((handle, message))
                    continue
                if filing is None:
                    filing = _Filing(self, entry, params, prefix + head, body_start, message)
                outcome = await filing.run(sieve, rcpt, account, rows, handle)
                outcomes.append(outcome)
                new = await filing.copy(outcome)
                copies += [(c.handle, dataclasses.replace(new, flags=c.flags,
                                                          keywords=c.keywords))
                           for c in outcome.copies]
            if outcomes and self._sieve_decided(plan, rcpt, found, outcomes, copies, remote):
                continue
            fresh = [(h, m) for h, m in copies if h.id not in seen]
            seen.update(h.id for h, _ in fresh)
            plan.targets[rcpt] = fresh
            away = [a for a in remote if a.lower() not in seen_remote]
            seen_remote.update(a.lower() for a in away)
            if away and junk:
                plan.withheld[rcpt] = away
                log.info("quarantined message not forwarded", extra={
                    "recipient": rcpt, "members": ", ".join(away), "sender": entry.sender})
            elif away:
                plan.forwards[rcpt] = away
        return plan

    @staticmethod
    def _sieve_decided(plan: Plan, rcpt: str, found: _Found, outcomes: list[SieveOutcome],
                       copies: list[tuple[MailboxHandle, NewMessage]],
                       remote: list[str]) -> bool:
        """Note what the recipient's scripts did: the mail log's words, the redirects,
        replies and memory to settle with the copies; and turn their refusals into
        failures: the recipient itself fails (RFC 5429 §2.1: the sender is told why) when
        it is the one account and its script kept nothing; a member of an alias or group
        that refused gets a notice of its own (``rejects``). True when the recipient
        failed (then nothing else of its scripts is carried out)."""
        if len(outcomes) == 1 and found.direct:
            plan.notes[rcpt] = outcomes[0].note()
        else:
            plan.notes[rcpt] = "; ".join(f"{o.recipient.account.address}: {o.note()}"
                                         for o in outcomes)
        refusals = [(o.recipient.account.address, _reason(o.reject.reason))
                    for o in outcomes if o.reject is not None]
        if refusals and found.direct and not copies and not remote:
            plan.refused[rcpt] = MailError(Kind.NO_PERM, refusals[0][1])
            return True
        if refusals:
            plan.rejects[rcpt] = refusals
        for o in outcomes:
            if o.redirects:
                plan.redirects.setdefault(rcpt, []).extend(o.redirects)
            if o.replies:
                plan.replies.setdefault(rcpt, []).extend(o.replies)
            if o.pending:
                plan.memory.setdefault(rcpt, []).extend(o.pending)
        return False

    async def _submitter(self, params: dict[str, object]) -> Principal:
        """Who posts to public folders: the authenticated sender, else anyone."""
        auth = params.get("auth")
        if isinstance(auth, str):
            account = await self._store.directory.get_account(auth)
            if account is not None:
                return await self._directory.principal_for(account)
        return Principal.anonymous()

    async def _targets(self, address: str, folder: str, junk: bool, submitter: Principal,
                       size: int, remote: list[str]) -> _Found:
        """The mailboxes ``address`` reaches without Sieve, with their accounts; remote
        members of an alias or group are added to ``remote``. A plain account costs no more
        lookups than before: only a member that is not an account is asked about its
        domain."""
        res = await self._directory.resolve_recipient(address)
        if isinstance(res, ToPublicFolder):
            return _Found(False, [(None, await self._gate.handle(
                submitter, res.mailbox, address, Op.POST))])
        if isinstance(res, ToAccount):
            refuse_account(res.account, address)  # direct mail: as at RCPT
            accounts: list[AccountRec] = [res.account]
        elif isinstance(res, (ToAlias, ToGroup)):
            accounts = []
            # expand() follows nested aliases and groups, once each (a loop ends), and
            # stops at its limit of addresses.
            for name in await self._directory.expand(address):
                account = await self._store.directory.get_account(name)
                if account is None:
                    if not await self._directory.is_local_domain(domain_of(name)):
                        remote.append(name)
                    continue
                # A disabled member misses mail to the group; the others still get theirs.
                if account.state != "disabled":
                    accounts.append(account)
        else:
            return _Found(False, [])
        out: list[tuple[AccountRec | None, MailboxHandle]] = []
        for account in accounts:
            if account.quota_bytes is not None and \
                    account.used_bytes + size > account.quota_bytes:
                raise MailError(Kind.OVER_QUOTA, "quota exceeded")
            wanted = folder if isinstance(res, ToAccount) else INBOX
            target = await self._folder(account, wanted, junk)
            if target is None:
                continue
            recipient = Principal(account.id, account.address, account.domain_id)
            out.append((account, await self._gate.handle(recipient, target, target.name,
                                                         Op.DELIVER)))
        return _Found(isinstance(res, ToAccount), out)

    async def _folder(self, account: AccountRec, wanted: str, junk: bool,
                      ) -> MailboxRec | None:
        mailboxes = self._store.mailboxes
        target: MailboxRec | None = None
        if junk:
            target = await mailboxes.by_special_use(account.id, "\\Junk")
        elif wanted != INBOX:
            target = await mailboxes.by_name(account.id, wanted)
            if target is None or target.kind != "mail":
                log.warning("delivery: folder %r of %s is missing; delivering to INBOX",
                            wanted, account.address)
                target = None
        return target or await mailboxes.by_name(account.id, INBOX)

    # -- Sieve's view of the queued message (_Filing) -----------------------------------------
    def read_head(self, entry: QueueRec, prefix: bytes, limit: int) -> bytes:
        """Blocking: ``prefix`` then the queued message (its own prefix and blob), at most
        ``limit`` octets in all (the body test reads no more: RFC 5173 §7)."""
        with self._queue.open(entry) as fh:
            return prefix + fh.read(max(0, limit - len(prefix)))

    def rewrite(self, entry: QueueRec, header: bytes, body_start: int,
                ) -> tuple[BlobRef, str, tuple[str, str] | None]:
        """Blocking: a new blob of ``header`` (an edited header block) and the queued
        message's body, fsynced, with its MIME scan and search text."""
        writer = self._queue.writer()
        scanner = StreamScanner()
        try:
            writer.write(header)
            scanner.feed(header)
            with self._queue.open_blob(entry) as fh:
                fh.seek(body_start)
                while data := fh.read(CHUNK):
                    writer.write(data)
                    scanner.feed(data)
            ref = writer.finish()
        except BaseException:
            writer.abort()
            raise
        info, text = scanner.finish()
        return ref, info.to_json(), text

    async def in_pool(self, fn: Callable[[], _T]) -> _T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn)


_T = TypeVar("_T")


class _Filing:
    """One entry's Sieve runs: the message as scripts see it (built per account, so that one
    account's header edits are not another's), the body read once when a script asks, and
    the copies written for edited headers."""

    def __init__(self, service: DeliveryService, entry: QueueRec, params: dict[str, object],
                 header: bytes, body_start: int, message: NewMessage) -> None:
        self.service = service
        self.entry = entry
        self.params = params
        self.header = header  # Return-Path, our prefix, the message's header block
        self.body_start = body_start  # in the blob
        self.message = message
        self._now: datetime | None = None  # one instant for every run of this delivery
        self._body: bytes | None = None
        self._edited: dict[bytes, NewMessage] = {}

    async def run(self, sieve: SieveFilter, rcpt: str, account: AccountRec,
                  rows: Sequence[ChainRow], default: MailboxHandle) -> SieveOutcome:
        orcpt = self.params.get("orcpt")
        given = str(orcpt.get(rcpt, "")) if isinstance(orcpt, dict) else ""
        original = rcpt
        if given.lower().startswith("rfc822;"):
            with contextlib.suppress(ValueError):
                original = xtext_decode(given[7:])
        auth = self.params.get("auth")
        envelope = Envelope(self.entry.sender, account.address, original,
                            auth if isinstance(auth, str) else "")
        view = Message(self.header, size=self.message.size, envelope=envelope,
                       body=self._load)
        who = Recipient(account, rcpt, Principal(account.id, account.address,
                                                 account.domain_id))
        if self._now is None:
            self._now = datetime.now().astimezone()
        return await sieve.run(who, rows, default, view, self._now)

    async def _load(self) -> bytes:
        if self._body is None:
            sieve = self.service.sieve
            most = len(self.header) + (sieve.scripts.limits.max_body_size if sieve else 0)
            prefix = self.header[:self.header.find(b"\r\n") + 2]  # Return-Path
            entry = self.entry
            self.service.body_reads += 1
            self._body = await self.service.in_pool(
                lambda: self.service.read_head(entry, prefix, most))
        return self._body

    async def copy(self, outcome: SieveOutcome) -> NewMessage:
        """The message to file for ``outcome``: the queued one, or, after header edits, a
        new blob with the edited header block (one per distinct edit)."""
        if not outcome.message.edited or not outcome.copies or outcome.error:
            # RFC 5293 §7: a run that failed keeps the message with its original header
            return self.message
        if len(self.header) - len(self.message.prefix) < self.body_start:
            log.warning("sieve: header edits not kept (the header section is too large)",
                        extra={"queue_id": self.entry.id})
            return self.message
        block = outcome.message.header_block()
        new = self._edited.get(block)
        if new is None:
            entry, start = self.entry, self.body_start
            ref, meta, text = await self.service.in_pool(
                lambda: self.service.rewrite(entry, block, start))
            new = NewMessage(ref, b"", meta, 0, "", self.message.internal_date, text)
            self._edited[block] = new
        return new


def _reason(text: str) -> str:
    return _BLANKS.sub(" ", text).strip()[:MAX_REASON] or "rejected by the recipient's filter"
