"""ActiveSync's vocabulary for rights: the one table that turns a folder's effective rights
into what Exchange ActiveSync offers on it (like access/dav.py for DAV).

Front-ends never look at letters (DESIGN.md §9): services/eas/ asks ``eas_access`` whether a
folder is offered to a device at all, and which client changes a Sync may apply, so that a
phone, an IMAP client and a CalDAV client are held to the same effective rights. Product rule
(specs.md §8.3): shared and public folders appear only with ``l`` and ``r``.

======================  =========================  ============================================
ActiveSync              from rights                why
======================  =========================  ============================================
offered (FolderSync,    ``l`` and ``r``            listed (``l``) and its items readable (``r``):
Ping, Sync)                                        a folder a phone cannot read is useless to it
Add (any class)         ``i``                      inserting an item (APPEND / DAV bind)
Change (Calendar,       ``i`` + ``t`` + ``e``      a PIM edit is insert-new plus delete-old
Contacts, Tasks)                                   (DAV write-content)
Change Read (Email)     ``s``                      \\Seen (RFC 4314 §4)
Change Flag, Categories ``w``                      other flags and keywords
(Email)
Delete, move out        ``t`` + ``e``              \\Deleted and expunge (DAV unbind)
read_only               none of the above          no client change can succeed
======================  =========================  ============================================

No ``l`` or no ``r``: the folder is not offered, and asking for it by ServerId gets what a
missing one gets (Sync Status 8, Ping Status 7), never an access error.
"""

from __future__ import annotations

from dataclasses import dataclass

from postroom.core.rights import Rights

PIM_KINDS = frozenset({"calendar", "contacts", "tasks"})

OFFERED = frozenset("lr")
ADD = frozenset("i")
DELETE = frozenset("te")
PIM_CHANGE = frozenset("ite")
READ_FLAG = frozenset("s")
OTHER_FLAGS = frozenset("w")


@dataclass(frozen=True, slots=True)
class EasAccess:
    """What a device may do in one folder, decided once from the effective rights."""

    offered: bool  # appears in FolderSync; Ping and Sync accept its ServerId
    add: bool  # Sync Add (client-created item)
    change: bool  # Sync Change of a whole item (PIM) or of any flag (mail)
    read_flag: bool  # Email Read (\Seen)
    other_flags: bool  # Email Flag, Categories (keywords)
    delete: bool  # Sync Delete, MoveItems out of the folder

    @property
    def read_only(self) -> bool:
        """No client change can succeed (FolderRef.read_only)."""
        return not (self.add or self.change or self.delete)


def offered(rights: Rights) -> bool:
    """Does ActiveSync show the folder at all (``l`` and ``r``)?"""
    return rights.has_all(OFFERED)


def eas_access(rights: Rights, kind: str) -> EasAccess:
    """The table above for one folder of ``kind`` (the store's folder kind)."""
    shown = offered(rights)
    add = shown and rights.has_all(ADD)
    delete = shown and rights.has_all(DELETE)
    if kind in PIM_KINDS:
        return EasAccess(shown, add, shown and rights.has_all(PIM_CHANGE), False, False, delete)
    read_flag = shown and rights.has_all(READ_FLAG)
    other_flags = shown and rights.has_all(OTHER_FLAGS)
    return EasAccess(shown, add, read_flag or other_flags, read_flag, other_flags, delete)
