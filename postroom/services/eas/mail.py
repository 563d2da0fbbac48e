"""Mail items for ActiveSync: what Sync, ItemOperations and MoveItems read and change.

Every call opens the folder through the gate (``mailboxes.open_id``) with the operation it
needs, exactly as IMAP does, and goes through services/messages.py — never the store. A
device's change to flags is an IMAP STORE with the same rights rules (``\\Seen`` needs ``s``,
``\\Flagged`` needs ``w``); a delete moves to the user's Deleted Items (``Op.MOVE_FROM`` there,
``APPEND`` on the Trash) or expunges (``t`` and ``e``).
"""

from __future__ import annotations

from collections.abc import Sequence

from postroom.access.gate import MailboxHandle
from postroom.access.ops import Op
from postroom.core import flags as F
from postroom.core.principal import Principal
from postroom.core.records import FlagRow, MessageRec
from postroom.services.eas.context import EasContext
from postroom.services.eas.folders import Folders
from postroom.services.eas.model import FolderRef

DELETED_ITEMS = 4  # FolderHierarchy Type of the user's Trash (MS-ASCMD §2.2.3.186.3)


class MailItems:
    def __init__(self, ctx: EasContext, folders: Folders) -> None:
        self._ctx = ctx
        self._folders = folders

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
