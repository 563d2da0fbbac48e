"""Mail items for ActiveSync: what Sync, ItemOperations and MoveItems read and change.

Every call opens the folder through the gate (``mailboxes.open_id``) with the operation it
needs, exactly as IMAP does, and goes through services/messages.py — never the store. A
device's change to flags is an IMAP STORE with the same rights rules (``\\Seen`` needs ``s``,
``\\Flagged`` needs ``w``); a delete moves to the user's Deleted Items (``Op.MOVE_FROM`` there,
``APPEND`` on the Trash) or expunges (``t`` and ``e``).

What a device is shown of a message (headers, body, attachments: services/eas/mailview.py)
is worked out in this service's own bounded pool of threads, never on the event loop: a Sync
window of 512 messages was 1.4 s of MIME parsing on the loop (docs/eas/bench.md), time every
other connection of the server shared with it. The window's records are read in one query;
then the messages go in batches (``BATCH_MESSAGES`` messages or ``BATCH_OCTETS`` octets,
whichever comes first; a larger message alone): a batch's octets in one job of the message
service's pool, its rendering in one job here. A batch's octets are the most one request
holds at a time, and at most twice as many batches as threads are read at once across all
requests (the rest wait before reading). The pool is small on purpose: parsing is pure
Python and holds the GIL, so more threads would not render faster, only hold more batches in
memory.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from postroom.access.gate import MailboxHandle
from postroom.access.ops import Op
from postroom.core import flags as F
from postroom.core.errors import Kind, MailError
from postroom.core.principal import Principal
from postroom.core.records import FlagRow, MessageRec
from postroom.services.eas.context import EasContext
from postroom.services.eas.folders import Folders
from postroom.services.eas.mailview import BodyWanted, MailView, attachment, views
from postroom.services.eas.model import FolderRef

DELETED_ITEMS = 4  # FolderHierarchy Type of the user's Trash (MS-ASCMD §2.2.3.186.3)
RENDER_WORKERS = 2  # threads rendering messages (see the module docstring)
BATCH_MESSAGES = 64  # messages rendered in one job
BATCH_OCTETS = 4 << 20  # octets of messages read and rendered in one job


class MailItems:
    def __init__(self, ctx: EasContext, folders: Folders,
                 workers: int = RENDER_WORKERS) -> None:
        self._ctx = ctx
        self._folders = folders
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="eas-render")
        # batches read and waiting or rendering, across every request: what many devices'
        # initial syncs at once hold in memory is bounded by this, not by their number
        self._slots = asyncio.Semaphore(2 * workers)

    def close(self) -> None:
        """Stop the render threads (at shutdown, after the listeners have drained)."""
        self._pool.shutdown(wait=False)

    async def open(self, principal: Principal, folder: FolderRef,
                   op: Op = Op.READ) -> MailboxHandle:
        """The folder's gate handle, checked for ``op`` (NOT_FOUND when it is not visible,
        NO_PERM when visible without that right)."""
        return await self._ctx.mailboxes.open_id(principal, folder.mailbox_id, folder.name, op)

    async def view(self, principal: Principal, handle: MailboxHandle) -> list[FlagRow]:
        """Every message's UID, MODSEQ and flags as this principal sees them."""
        return await self._ctx.messages.view(principal, handle)

    async def records(self, principal: Principal, handle: MailboxHandle,
                      uids: Sequence[int]) -> list[MessageRec]:
        return await self._ctx.messages.records(principal, handle, sorted(uids))

    async def content(self, handle: MailboxHandle, uid: int) -> bytes:
        handle.require(Op.READ)
        return await self._ctx.messages.content(handle, uid)

    async def views(self, principal: Principal, handle: MailboxHandle,
                    wanted: Sequence[tuple[int, int]], body: BodyWanted, *,
                    whole: bool = False) -> dict[int, MailView]:
        """What a device is shown of the messages ``wanted`` — (UID, read/flagged bits as
        the device will be told) — by UID; a UID expunged meanwhile is left out. Rendered in
        batches in the pool (see the module docstring)."""
        handle.require(Op.READ)
        bits = dict(wanted)
        recs = {r.uid: r for r in await self.records(principal, handle, list(bits))}
        out: dict[int, MailView] = {}
        batch: list[MessageRec] = []
        octets = 0
        for uid, _ in wanted:
            rec = recs.get(uid)
            if rec is None:
                continue
            if batch and (len(batch) >= BATCH_MESSAGES or octets + rec.size > BATCH_OCTETS):
                out.update(await self._render(handle, batch, bits, body, whole))
                batch, octets = [], 0
            batch.append(rec)
            octets += rec.size
        if batch:
            out.update(await self._render(handle, batch, bits, body, whole))
        return out

    async def _render(self, handle: MailboxHandle, batch: list[MessageRec],
                      bits: dict[int, int], body: BodyWanted, whole: bool,
                      ) -> dict[int, MailView]:
        async with self._slots:
            raws = await self._octets(handle, batch)
            present = [(raw, rec.uid, rec.internal_date, bits[rec.uid])
                       for rec, raw in zip(batch, raws, strict=True) if raw is not None]
            done = await asyncio.get_running_loop().run_in_executor(self._pool, views, present,
                                                                    body, whole)
        return {v.uid: v for v in done}

    async def _octets(self, handle: MailboxHandle, batch: list[MessageRec],
                      ) -> list[bytes | None]:
        """The batch's messages in one read; when one of them went away meanwhile (its file
        gone with the expunge), one by one, None for those expunged."""
        try:
            return list(await self._ctx.messages.read_whole(batch))
        except OSError:
            pass
        out: list[bytes | None] = []
        for rec in batch:
            try:
                out.append(await self._ctx.messages.content(handle, rec.uid))
            except MailError as exc:  # a file missing for a message still there is raised
                if exc.kind is not Kind.NOT_FOUND:
                    raise
                out.append(None)
        return out

    async def attachment(self, handle: MailboxHandle, uid: int,
                         index: int) -> tuple[str, bytes] | None:
        """(content type, decoded octets) of a message's attachment (``index`` as listed in
        its view), None when the message or the attachment is not there; parsed in the
        pool."""
        try:
            raw = await self.content(handle, uid)
        except MailError as exc:
            if exc.kind is Kind.NOT_FOUND:
                return None
            raise
        return await asyncio.get_running_loop().run_in_executor(self._pool, attachment, raw,
                                                                index)

    def may(self, handle: MailboxHandle, op: Op) -> bool:
        return handle.allows(op)

    async def set_flags(self, principal: Principal, handle: MailboxHandle, uid: int, *,
                        read: bool | None = None, flagged: bool | None = None) -> bool:
        """Read and follow-up flag from the device; False when the rights refuse one of
        them (nothing is changed then: a device's change is all or nothing)."""
        if (read is not None and not handle.allows(Op.SET_SEEN)) or \
                (flagged is not None and not handle.allows(Op.SET_OTHER_FLAGS)):
            return False
        for wanted, name in ((read, "\\Seen"), (flagged, "\\Flagged")):
            if wanted is None:
                continue
            await self._ctx.messages.store_flags(principal, handle, [uid],
                                                 "add" if wanted else "remove", [name])
        return True

    async def trash(self, principal: Principal) -> FolderRef | None:
        """The user's Deleted Items as FolderSync shows it."""
        for ref in await self._folders.hierarchy(principal):
            if ref.eas_type == DELETED_ITEMS:
                return ref
        return None

    async def delete(self, principal: Principal, handle: MailboxHandle, uid: int, *,
                     trash: FolderRef | None) -> bool:
        """A device's Delete: moved to ``trash`` (the user's Deleted Items, ``trash()``;
        None when the device asked for no move), unless this is it; else flagged
        ``\\Deleted`` and expunged. False when the rights refuse it."""
        if trash is not None and trash.mailbox_id != handle.mailbox.id:
            if not handle.allows(Op.MOVE_FROM):
                return False
            await self._ctx.messages.copy(principal, handle, [uid], trash.name, move=True)
            return True
        if not (handle.allows(Op.SET_DELETED) and handle.allows(Op.EXPUNGE)):
            return False
        await self._ctx.messages.store_flags(principal, handle, [uid], "add", ["\\Deleted"])
        await self._ctx.messages.expunge(handle, [uid])
        return True

    async def move(self, principal: Principal, handle: MailboxHandle, uids: Sequence[int],
                   target: FolderRef) -> list[tuple[int, int]]:
        """MoveItems: (source UID, new UID) pairs; the gate refuses with a MailError."""
        result = await self._ctx.messages.copy(principal, handle, list(uids), target.name,
                                               move=True)
        return [(int(a), int(b)) for a, b in result.pairs]


def flag_bits(flags: int) -> int:
    """What a device sees of a message's flags: read (1) and flagged (2)."""
    return (1 if flags & F.SEEN else 0) | (2 if flags & F.FLAGGED else 0)
