"""The queue manager: takes accepted mail from the durable queue and delivers it locally.

DESIGN.md §5 step 6. An entry is claimed, its blob scanned once (ENVELOPE, BODYSTRUCTURE,
search text), and one copy is appended to every local target (each account's INBOX, public
folders) *in the same transaction* that removes the entry, so a crash at any point delivers
everything or nothing and the retry after restart never duplicates. The blob is shared by every
copy; each copy's prefix carries its ``Return-Path`` (RFC 5321 §4.4) and the ``Received`` line
written at acceptance.

Outbound (remote) delivery, retries with backoff and DSNs are not built yet: the SMTP front-end
does not accept remote recipients (it answers 451 4.4.0), so no entry here has one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING

from postroom.core.errors import Kind, MailError
from postroom.directory.service import ToAccount, ToAlias, ToGroup, ToPublicFolder
from postroom.services.messages import describe
from postroom.store.api import NewMessage, QueueRec
from postroom.store.blobs import BlobRef

if TYPE_CHECKING:
    from postroom.app import Services

log = logging.getLogger("postroom.queue")

RETRY_LOCAL = 300  # seconds before a temporarily failed local delivery is tried again


class QueueManager:
    def __init__(self, services: Services, poll: float = 5.0) -> None:
        self.services = services
        self.poll = poll
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        returned = await self.services.store.queue.reset_active()
        if returned:
            log.info("queue: %d entries interrupted by a restart are due again", returned)
        self._task = asyncio.create_task(self._run(), name="queue-manager")

    def wake(self) -> None:
        """New mail was queued: look now instead of at the next poll."""
        self._wake.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                entries = await self.services.store.queue.claim_due()
            except Exception:
                log.exception("queue: cannot claim entries")
                entries = []
            for entry in entries:
                try:
                    await self.deliver(entry)
                except Exception:
                    log.exception("queue: delivery of entry %d failed", entry.id)
                    await self.services.store.queue.finish(
                        entry.id, entry.recipients, int(time.time()) + RETRY_LOCAL,
                        "internal error, logged")
            if not entries:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll)

    async def _mailbox_ids(self, address: str) -> list[int]:
        """Where one accepted recipient's copy goes: INBOX of each account behind it."""
        directory = self.services.directory
        res = await directory.resolve_recipient(address)
        if isinstance(res, ToPublicFolder):
            return [res.mailbox_id]
        if isinstance(res, ToAccount):
            accounts = [res.account.address]
        elif isinstance(res, (ToAlias, ToGroup)):
            accounts = await directory.expand(address)
        else:
            return []
        out = []
        for target in accounts:
            account = await self.services.store.directory.get_account(target)
            if account is None:
                continue
            inbox = await self.services.store.mailboxes.by_name(account.id, "INBOX")
            if inbox is not None:
                out.append(inbox.id)
        return out

    async def deliver(self, entry: QueueRec) -> None:
        loop = asyncio.get_running_loop()
        blobs = self.services.store.blobs
        data = await loop.run_in_executor(None, blobs.read, entry.blob)
        meta, text = await loop.run_in_executor(None, describe, data)
        prefix = b"Return-Path: <" + entry.sender.encode() + b">\r\n" + bytes(entry.prefix)
        targets: list[tuple[int, NewMessage]] = []
        seen: set[int] = set()
        for rcpt in entry.recipients:
            for mailbox_id in await self._mailbox_ids(rcpt):
                if mailbox_id in seen:  # one copy per mailbox, however it was addressed
                    continue
                seen.add(mailbox_id)
                targets.append((mailbox_id, NewMessage(BlobRef(entry.blob, len(data)), prefix,
                                                       meta, 0, "", entry.created_at, text)))
        try:
            await self.services.store.queue.deliver_local(entry.id, targets)
        except MailError as exc:
            if exc.kind not in (Kind.OVER_QUOTA, Kind.TEMPORARY, Kind.NOT_FOUND):
                raise
            log.warning("queue: entry %d deferred: %s", entry.id, exc.text)
            await self.services.store.queue.finish(entry.id, entry.recipients,
                                                   int(time.time()) + RETRY_LOCAL, exc.text)
            return
        log.info("delivered", extra={"queue_id": entry.id, "copies": len(targets)})
