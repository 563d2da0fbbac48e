"""The mail queue as a service: the durable hand-off, claims, settlements and content.

The queue manager (mta/queue.py), the ODMR turnaround, MultiPOP and the submission service
reach queued mail only through here; none of them touches the store. What this adds to the
store's queue repository:

- ``enqueue`` is the single choke point of DESIGN.md §5: the blob is already fsynced, the
  entries are committed (group commit) before it returns, and then every listener (the queue
  manager's wake-up) is told, so new mail is tried at once rather than at the next poll.
- ``settle`` takes the local copies as ``MailboxHandle``s: a copy can only go where the access
  gate let the delivery service put it (services/delivery.py), and the one transaction of
  copies, notices and entry update (store/repo/queue.py) stays as it was.
- message content is opened and new notices are written here, so blob files are this layer's.
"""

from __future__ import annotations

import asyncio
import builtins
import io
from collections.abc import Callable, Sequence
from typing import BinaryIO, Protocol

from postroom.access.gate import MailboxHandle
from postroom.core.records import (
    BlobRef,
    MemoryRow,
    NewEntry,
    NewMessage,
    QueueRec,
    Settlement,
)
from postroom.store.sqlstore import SqlStore


class MessageWriter(Protocol):
    """Where a door streams a new message. Making one does no I/O; ``write`` blocks only
    when ``blocks`` says so (the first part of a message is held in memory), ``finish`` and
    ``abort`` always: run those in a worker thread."""

    def blocks(self, more: int) -> bool:
        """Whether writing ``more`` octets now touches the disk."""
        ...

    def write(self, chunk: bytes) -> None: ...

    def content(self) -> BinaryIO:
        """The octets written so far, readable from the start (content checks run before
        ``finish``); blocks when ``blocks(0)`` is true."""
        ...

    def finish(self) -> BlobRef:
        """fsync, name by content, and return the reference."""
        ...

    def abort(self) -> None: ...


class _Chain(io.RawIOBase):
    """A queued message as one stream: the prefix (our Received line), then the blob."""

    def __init__(self, prefix: bytes, blob: BinaryIO) -> None:
        self.prefix = prefix
        self.blob = blob

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if self.prefix:
            n = min(len(buffer), len(self.prefix))
            buffer[:n] = self.prefix[:n]
            self.prefix = self.prefix[n:]
            return n
        data = self.blob.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def close(self) -> None:
        self.blob.close()
        super().close()


class QueueService:
    def __init__(self, store: SqlStore) -> None:
        self._store = store
        self._repo = store.queue
        self._listeners: list[Callable[[], None]] = []

    def on_enqueue(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after every commit of new entries (the queue manager's wake)."""
        self._listeners.append(listener)

    # -- the hand-off ---------------------------------------------------------------------------
    async def enqueue(self, entries: Sequence[NewEntry]) -> list[int]:
        """Commit entries naming fsynced blobs; once this returns, SMTP may say 250."""
        ids = await self._repo.enqueue_many(entries)
        self.announce()
        return ids

    def writer(self) -> MessageWriter:
        """Where a new message streams to (no I/O until it grows or finishes)."""
        return self._store.blobs.writer()

    async def put_bytes(self, data: bytes) -> BlobRef:
        """Store a message held in memory (a notice, a collected POP3 message), fsynced."""
        return await asyncio.get_running_loop().run_in_executor(
            None, self._store.blobs.put_bytes, data)

    # -- claims and settlements -----------------------------------------------------------------
    async def reset_active(self) -> int:
        return await self._repo.reset_active()

    async def claim_due(self, state: str = "ready") -> list[QueueRec]:
        return await self._repo.claim_due(state=state)

    async def claim_held(self, domains: Sequence[str]) -> list[QueueRec]:
        return await self._repo.claim_held(domains)

    async def release(self, entries: Sequence[QueueRec]) -> None:
        await self._repo.release(entries)

    @property
    def lease_seconds(self) -> float:
        """How long a claim lasts unrenewed (0: for ever, one node)."""
        return self._repo.lease_seconds

    async def renew(self) -> int:
        """Extend this node's claims; how many turned out to be taken over."""
        return await self._repo.renew()

    async def settle(self, entry_id: int, s: Settlement[MailboxHandle],
                     ) -> list[tuple[int, int]]:
        """Local copies, notices and the entry's new state in one transaction."""
        return await self._repo.settle(entry_id, Settlement[int](
            remaining=s.remaining, next_attempt=s.next_attempt, error=s.error,
            params=s.params, count_attempt=s.count_attempt, state=s.state,
            local=[(handle.id, message) for handle, message in s.local],
            notices=s.notices, forwards=s.forwards, memory=s.memory))

    async def deliver_now(self, entry: NewEntry,
                          local: Sequence[tuple[MailboxHandle, NewMessage]],
                          forwards: Sequence[NewEntry] = (),
                          memory: Sequence[MemoryRow] = ()) -> int:
        """Accept ``entry`` and append its local copies in one transaction (its recipients
        are all local and every copy was placed through the gate), with the ``forwards``
        (copies for remote members of its aliases and groups) queued in it too; returns its
        queue id; Sieve's ``memory`` of the delivery is recorded in it as well. The queue's
        listeners are woken only when forwards were queued: otherwise nothing is left for
        them."""
        entry_id, _ = await self._repo.deliver_now(
            entry, [(handle.id, message) for handle, message in local], forwards, memory)
        if forwards:
            self.announce()
        return entry_id

    async def defer(self, entry_id: int, recipients: Sequence[str], next_attempt: int,
                    error: str) -> None:
        """Keep ``recipients`` for a later attempt (after an internal error)."""
        await self._repo.finish(entry_id, recipients, next_attempt, error)

    # -- content ----------------------------------------------------------------------------------
    def open(self, entry: QueueRec) -> BinaryIO:
        """Blocking: the queued message (prefix + blob) as a buffered binary file; close it."""
        return io.BufferedReader(_Chain(bytes(entry.prefix),
                                        self._store.blobs.open(entry.blob)), 65536)

    def open_blob(self, entry: QueueRec) -> BinaryIO:
        """Blocking: the message as received, without the prefix."""
        return self._store.blobs.open(entry.blob)

    async def without(self, blob: BlobRef, ranges: Sequence[tuple[int, int]]) -> BlobRef:
        """A new blob: ``blob`` with the octet ranges ``ranges`` (in its header section) left
        out. Blobs are immutable and named by content, so dropping a header field (a forged
        Authentication-Results, RFC 8601 §5) means writing a copy; the original, referenced
        by nothing, goes with the next blob collection."""
        def work() -> BlobRef:
            cuts = sorted(ranges)
            writer = self._store.blobs.writer()
            try:
                with self._store.blobs.open(blob.sha256) as fh:
                    head = fh.read(max(end for _, end in cuts))
                    pos = 0
                    for start, end in cuts:
                        if start > pos:
                            writer.write(head[pos:start])
                        pos = max(pos, end)
                    writer.write(head[pos:])
                    while chunk := fh.read(1 << 20):
                        writer.write(chunk)
                return writer.finish()
            except BaseException:
                writer.abort()
                raise
        if not ranges:
            return blob
        return await asyncio.get_running_loop().run_in_executor(None, work)

    # -- administration (services/admin/queue.py adds checks and the audit record) -------------
    async def list(self) -> list[QueueRec]:
        return await self._repo.list()

    async def count(self) -> int:
        return await self._repo.count()

    async def page(self, *, state: str = "", text: str = "", offset: int = 0,
                   limit: int = 100) -> tuple[int, builtins.list[QueueRec]]:
        return await self._repo.page(state=state, text=text, offset=offset, limit=limit)

    async def get(self, entry_id: int) -> QueueRec:
        return await self._repo.get(entry_id)

    async def set_state(self, entry_id: int, state: str) -> None:
        await self._repo.set_state(entry_id, state)
        self.announce()

    async def update_params(self, entry_id: int, params: dict[str, object]) -> None:
        await self._repo.update_params(entry_id, params)
        self.announce()

    async def delete(self, entry_id: int) -> None:
        await self._repo.delete(entry_id)

    async def count_held(self, domain: str) -> tuple[int, int]:
        return await self._repo.count_held(domain)

    async def release_domain(self, domain: str) -> int:
        return await self._repo.release_domain(domain)

    def announce(self) -> None:
        """New or changed entries were committed elsewhere (a MultiPOP record, an
        administrator's retry): tell the listeners now rather than at their next poll."""
        for listener in self._listeners:
            listener()
