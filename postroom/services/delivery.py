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

The message is described (MIME structure, search text) by reading its file in chunks
(mime/stream.py), never whole: 32 deliveries of 50 MB messages at once stay within a few MB
each. The per-delivery prefix is ``Return-Path`` (RFC 5321 §4.4) followed by what acceptance
wrote (``Received``, the pipeline's annotations).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from postroom.access.gate import AccessGate, MailboxHandle
from postroom.access.ops import Op
from postroom.core.errors import Kind, MailError
from postroom.core.principal import Principal
from postroom.core.records import AccountRec, BlobRef, MailboxRec, NewMessage, QueueRec
from postroom.directory.service import Directory, ToAccount, ToAlias, ToGroup, ToPublicFolder
from postroom.mime.stream import describe_stream
from postroom.services.queue import QueueService
from postroom.services.submission import domain_of, refuse_account
from postroom.store.sqlstore import SqlStore

log = logging.getLogger("postroom.delivery")

# Told after the local copies of an entry were committed: (entry, recipients delivered to).
# Scheduling (services/dav/scheduling.py) reads incoming iMIP from it (RFC 6047).
DeliveredHook = Callable[[QueueRec, Sequence[str]], Awaitable[None]]

INBOX = "INBOX"


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


class DeliveryService:
    def __init__(self, store: SqlStore, directory: Directory, gate: AccessGate,
                 queue: QueueService, workers: int = 8) -> None:
        self._store = store
        self._directory = directory
        self._gate = gate
        self._queue = queue
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="describe")
        self.delivered: list[DeliveredHook] = []  # scheduling: incoming iMIP (RFC 6047)

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

    async def describe(self, entry: QueueRec) -> tuple[str, tuple[str, str] | None]:
        """(MIME scan as JSON, search text) of the queued message, read in chunks."""
        def work() -> tuple[str, tuple[str, str] | None]:
            with self._queue.open_blob(entry) as fh:
                return describe_stream(fh)
        return await asyncio.get_running_loop().run_in_executor(self._pool, work)

    async def plan(self, entry: QueueRec) -> Plan:
        params = entry.param_dict()
        meta, text = await self.describe(entry)
        prefix = b"Return-Path: <" + entry.sender.encode() + b">\r\n" + bytes(entry.prefix)
        blob = BlobRef(entry.blob, entry.size - len(entry.prefix))
        message = NewMessage(blob, prefix, meta, 0, "", entry.created_at, text)
        folder = str(params.get("folder") or INBOX)
        junk = bool(params.get("quarantine"))
        submitter = await self._submitter(params)
        plan = Plan()
        seen: set[int] = set()
        seen_remote: set[str] = set()
        for rcpt in entry.recipients:
            remote: list[str] = []
            try:
                handles = await self._targets(rcpt, folder, junk, submitter, message.size,
                                              remote)
            except MailError as exc:
                if exc.kind is Kind.NOT_FOUND:
                    plan.unknown.append(rcpt)
                else:
                    plan.refused[rcpt] = exc
                continue
            if not handles and not remote:
                plan.unknown.append(rcpt)
                continue
            fresh = [h for h in handles if h.id not in seen]
            seen.update(h.id for h in fresh)
            plan.targets[rcpt] = [(h, message) for h in fresh]
            away = [a for a in remote if a.lower() not in seen_remote]
            seen_remote.update(a.lower() for a in away)
            if away and junk:
                plan.withheld[rcpt] = away
                log.info("quarantined message not forwarded", extra={
                    "recipient": rcpt, "members": ", ".join(away), "sender": entry.sender})
            elif away:
                plan.forwards[rcpt] = away
        return plan

    async def _submitter(self, params: dict[str, object]) -> Principal:
        """Who posts to public folders: the authenticated sender, else anyone."""
        auth = params.get("auth")
        if isinstance(auth, str):
            account = await self._store.directory.get_account(auth)
            if account is not None:
                return await self._directory.principal_for(account)
        return Principal.anonymous()

    async def _targets(self, address: str, folder: str, junk: bool, submitter: Principal,
                       size: int, remote: list[str]) -> list[MailboxHandle]:
        """The mailboxes ``address`` reaches; remote members of an alias or group are
        added to ``remote``. A plain account costs no more lookups than before: only a
        member that is not an account is asked about its domain."""
        res = await self._directory.resolve_recipient(address)
        if isinstance(res, ToPublicFolder):
            return [await self._gate.handle(submitter, res.mailbox, address, Op.POST)]
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
            return []
        out = []
        for account in accounts:
            if account.quota_bytes is not None and \
                    account.used_bytes + size > account.quota_bytes:
                raise MailError(Kind.OVER_QUOTA, "quota exceeded")
            wanted = folder if isinstance(res, ToAccount) else INBOX
            target = await self._folder(account, wanted, junk)
            if target is None:
                continue
            recipient = Principal(account.id, account.address, account.domain_id)
            out.append(await self._gate.handle(recipient, target, target.name, Op.DELIVER))
        return out

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
