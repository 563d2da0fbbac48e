"""The folder hierarchy a device sees, and FolderCreate/FolderUpdate/FolderDelete.

What a phone is shown is exactly what IMAP LIST shows the same user (services.mailboxes.list,
through the gate), narrowed by access/eas.py (``l`` and ``r``) and by kind:

- mail folders, and calendar, contacts and tasks folders (their items are the DAV items of
  services/dav/, so one event is the same on CalDAV, webmail and the phone);
- notes, journal and documents folders are **skipped**: no part of Postroom's ActiveSync
  serves the Notes class, and a folder a device cannot Sync makes iOS and Android retry it
  forever; the hidden scheduling inbox (services/dav/collections.py INBOX_PROP) is skipped
  as DAV skips it.

Folder types (MS-ASCMD §2.2.3.186.3): exactly one default folder of each of the types 2-9 a
user has, all from the user's own namespace: INBOX → 2 Inbox; the first folder marked
``\\Drafts``, ``\\Trash``, ``\\Sent`` (RFC 6154) → 3 Drafts, 4 Deleted Items, 5 Sent Items;
the default calendar, contacts and tasks folders (services/dav/collections.py creates them
on first use; the one named as configured in ``[web.dav]``, else the oldest) → 8, 9, 7.
Everything else is a user folder: 12 mail (Junk and Archive too: ActiveSync has no type for
them), 13 calendar, 14 contacts, 15 tasks. No Outbox (6): a phone sends with SendMail.

Shared and public folders: **flattened**. A folder whose IMAP parent is offered keeps it as
ParentId; one whose parent is not (the top of another user's namespace, "Other Users/alice",
is never a mailbox) sits at the root, named ``"Projects (alice@example.com)"`` or
``"Public: News"`` as the DAV collections are named (services/dav/collections.py), so a
phone's calendar list and its CalDAV twin agree. Synthetic "Other Users"/"Public Folders"
nodes were rejected: iOS and Android show every folder of a FolderSync in one list with the
root's children first, a synthetic node would be a folder that cannot be synced (Sync on it
gets Status 8, and Android's client keeps retrying), and its ServerId would be the only one
that is not a mailbox id.

ServerIds are mailbox ids (model.FolderRef): stable across renames and moves, never reused.
A folder the user may not see resolves to None, exactly as a missing one.
"""

from __future__ import annotations

import asyncio
import enum
import weakref
from dataclasses import dataclass
from typing import Any

from postroom.access.eas import eas_access, offered
from postroom.core.errors import Kind, MailError
from postroom.core.principal import Principal
from postroom.services import names
from postroom.services.dav.collections import INBOX_PROP
from postroom.services.eas.context import EasContext
from postroom.services.eas.model import Device, FolderRef
from postroom.services.mailboxes import ListedMailbox

ROOT = "0"  # MS-ASCMD §2.2.3.123: ParentId of a top-level folder
KIND_CLASS = {"mail": "Email", "calendar": "Calendar", "contacts": "Contacts",
              "tasks": "Tasks"}
SPECIAL_TYPES = (("\\Drafts", 3), ("\\Trash", 4), ("\\Sent", 5))
DEFAULT_TYPES = {"calendar": 8, "contacts": 9, "tasks": 7}
USER_TYPES = {"mail": 12, "calendar": 13, "contacts": 14, "tasks": 15}
INBOX_TYPE = 2
DEFAULT_FOLDER_TYPES = frozenset(range(2, 12))  # MS-ASCMD: special folders cannot change
# FolderCreate's Type → the store's folder kind (MS-ASCMD §2.2.3.186.1: a client creates
# user folders; 1 is "user-created generic", shown as mail)
TYPE_KINDS = {1: "mail", 12: "mail", 13: "calendar", 14: "contacts", 15: "tasks"}
MAX_DISPLAY_NAME = 200


class Refusal(enum.Enum):
    """Why a folder command failed, for web/eas/folders.py to turn into its Status."""

    EXISTS = "exists"  # a folder of that name is already there
    SPECIAL = "special"  # a default folder (types 2-11) cannot be renamed or deleted
    MISSING = "missing"  # no such folder, or one the user may not see
    PARENT_MISSING = "parent-missing"
    INVALID = "invalid"  # a bad name or type
    DENIED = "denied"  # visible, but the rights do not allow it
    FAILED = "failed"  # anything else (a non-empty hidden subtree…)


class FolderRefused(Exception):
    def __init__(self, refusal: Refusal, text: str) -> None:
        super().__init__(text)
        self.refusal = refusal
        self.text = text


_MAIL_ERRORS = {Kind.EXISTS: Refusal.EXISTS, Kind.NO_PERM: Refusal.DENIED,
                Kind.INVALID: Refusal.INVALID, Kind.IN_USE: Refusal.FAILED,
                Kind.LIMIT: Refusal.FAILED}


@dataclass(frozen=True, slots=True)
class Listed:
    """One offered folder: how the device sees it, and the gate's handle behind it."""

    ref: FolderRef
    item: ListedMailbox


class Folders:
    def __init__(self, ctx: EasContext) -> None:
        self._ctx = ctx
        self._locks: weakref.WeakValueDictionary[tuple[int, str], asyncio.Lock] = \
            weakref.WeakValueDictionary()

    # -- the hierarchy -----------------------------------------------------------------------
    async def hierarchy(self, principal: Principal) -> list[FolderRef]:
        """Every folder the device is offered, parents before children."""
        return [entry.ref for entry in await self.listed(principal)]

    async def resolve(self, principal: Principal, server_id: str) -> FolderRef | None:
        """The folder of a ServerId; None when missing or not offered (the same answer)."""
        return (await self.resolve_many(principal, [server_id])).get(server_id)

    async def resolve_many(self, principal: Principal, server_ids: list[str],
                           ) -> dict[str, FolderRef]:
        """Several ServerIds with one listing (Sync and Ping name many); the offered ones."""
        wanted = set(server_ids)
        return {e.ref.server_id: e.ref for e in await self.listed(principal)
                if e.ref.server_id in wanted}

    async def listed(self, principal: Principal) -> list[Listed]:
        """The hierarchy with each folder's gate handle (for subscriptions and commands)."""
        dav = self._ctx.dav
        await dav.collections.ensure_defaults(principal, "calendars")
        await dav.collections.ensure_defaults(principal, "addressbooks")
        items = [item for item in await self._ctx.mailboxes.list(principal, shared=True)
                 if item.mailbox.kind in KIND_CLASS and offered(item.rights)]
        pim = [item.mailbox.id for item in items if item.mailbox.kind != "mail"]
        props = await self._ctx.store.dav.props(pim) if pim else {}
        items = [item for item in items if INBOX_PROP not in props.get(item.mailbox.id, {})]
        return build_hierarchy(principal, items, {
            "calendar": dav.config.calendar_name, "contacts": dav.config.contacts_name,
            "tasks": dav.config.tasks_name})

    def lock(self, principal: Principal, device: Device) -> asyncio.Lock:
        """One lock per device's hierarchy state: FolderSync and FolderCreate/Update/Delete
        of one device run one at a time, so a SyncKey is never handed out twice."""
        key = (principal.account_id or 0, device.device_id)
        lock = self._locks.get(key)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[key] = lock
        return lock

    # -- FolderCreate, FolderUpdate, FolderDelete ---------------------------------------------
    async def create(self, principal: Principal, parent_id: str, display_name: str,
                     eas_type: int) -> FolderRef:
        """FolderCreate (MS-ASCMD §2.2.1.3): a folder of the type's kind under the parent
        (ROOT: the top of the user's own namespace), created through services.mailboxes
        (``k`` on the parent, the gate's namespace-root rule at the top)."""
        kind = TYPE_KINDS.get(eas_type)
        if kind is None:
            raise FolderRefused(Refusal.INVALID, f"folders of type {eas_type} cannot be "
                                "created here (1, 12, 13, 14, 15 can)")
        leaf = _leaf(display_name)
        entries = await self.listed(principal)
        if parent_id == ROOT:
            if principal.account_id is None:
                raise FolderRefused(Refusal.DENIED, "only accounts have folders of their own")
            name = leaf
        else:
            parent = _find(entries, parent_id)
            if parent is None:
                raise FolderRefused(Refusal.PARENT_MISSING, "the parent folder does not exist")
            name = parent.item.name + names.DELIMITER + leaf
        try:
            created = await self._ctx.mailboxes.create(principal, name, kind=kind)
        except MailError as exc:
            raise _refused(exc, Refusal.PARENT_MISSING) from exc
        found = await self.resolve(principal, str(created.id))
        if found is None:  # created, but not offered to this device (no r): say so
            raise FolderRefused(Refusal.FAILED, "the folder was created but cannot be read")
        return found

    async def update(self, principal: Principal, server_id: str, parent_id: str,
                     display_name: str) -> FolderRef:
        """FolderUpdate (MS-ASCMD §2.2.1.6): rename and/or move, within the folder's own
        namespace (services.mailboxes.rename: ``x`` on it, ``k`` on the new parent)."""
        entries = await self.listed(principal)
        target = _find(entries, server_id)
        if target is None:
            raise FolderRefused(Refusal.MISSING, "the folder does not exist")
        if target.ref.eas_type in DEFAULT_FOLDER_TYPES:
            raise FolderRefused(Refusal.SPECIAL, "default folders cannot be renamed")
        leaf = _leaf(display_name)
        old = target.item.name
        if parent_id == ROOT:
            # the top of the folder's own namespace ("", "Other Users/alice/", "Public
            # Folders/"): a device's root is every namespace's root
            path = target.item.mailbox.name
            new = old[:len(old) - len(path)] + leaf if old.endswith(path) else leaf
        else:
            parent = _find(entries, parent_id)
            if parent is None:
                raise FolderRefused(Refusal.PARENT_MISSING, "the parent folder does not exist")
            if parent.item.name == old or parent.item.name.startswith(old + names.DELIMITER):
                raise FolderRefused(Refusal.INVALID, "a folder cannot be moved inside itself")
            new = parent.item.name + names.DELIMITER + leaf
        if new != old:
            try:
                await self._ctx.mailboxes.rename(principal, old, new)
            except MailError as exc:
                raise _refused(exc, Refusal.PARENT_MISSING) from exc
        found = await self.resolve(principal, server_id)
        if found is None:
            raise FolderRefused(Refusal.FAILED, "the folder was renamed but cannot be read")
        return found

    async def delete(self, principal: Principal, server_id: str) -> list[str]:
        """FolderDelete (MS-ASCMD §2.2.1.4): the folder and its subfolders (as Exchange does;
        IMAP would refuse a folder with children), deepest first, each through the gate
        (``x``). Returns the ServerIds that went."""
        entries = await self.listed(principal)
        target = _find(entries, server_id)
        if target is None:
            raise FolderRefused(Refusal.MISSING, "the folder does not exist")
        if target.ref.eas_type in DEFAULT_FOLDER_TYPES:
            raise FolderRefused(Refusal.SPECIAL, "default folders cannot be deleted")
        top = target.item.name
        below = [item for item in await self._ctx.mailboxes.list(principal, shared=True)
                 if item.name.startswith(top + names.DELIMITER)]
        below.sort(key=lambda item: item.name.count(names.DELIMITER), reverse=True)
        gone: list[str] = []
        try:
            for item in [*below, target.item]:
                await self._ctx.mailboxes.delete(principal, item.name)
                gone.append(str(item.mailbox.id))
        except MailError as exc:
            raise _refused(exc, Refusal.MISSING) from exc
        return gone


def build_hierarchy(principal: Principal, items: list[ListedMailbox],
                    default_names: dict[str, str]) -> list[Listed]:
    """The FolderRefs of offered folders (pure: unit-tested without a server). ``items`` are
    what the gate listed, already narrowed to offered folders of served kinds."""
    own = [i for i in items if _own(principal, i)]
    types: dict[int, int] = {}
    for item in sorted(own, key=lambda i: i.mailbox.id):
        mb = item.mailbox
        if mb.kind == "mail":
            if mb.name == "INBOX":
                types[mb.id] = INBOX_TYPE
                continue
            uses = mb.special_use.split()
            for use, eas_type in SPECIAL_TYPES:
                if use in uses and eas_type not in types.values():
                    types[mb.id] = eas_type
                    break
    for kind, eas_type in DEFAULT_TYPES.items():
        mine = sorted((i.mailbox for i in own if i.mailbox.kind == kind),
                      key=lambda mb: (mb.name != default_names.get(kind), mb.id))
        if mine:
            types[mine[0].id] = eas_type
    ids = {item.mailbox.id for item in items}
    out: list[Listed] = []
    for item in items:
        mb = item.mailbox
        parent = mb.parent_id if mb.parent_id in ids else None
        eas_type = types.get(mb.id, USER_TYPES[mb.kind])
        leaf = mb.name.rsplit(names.DELIMITER, 1)[-1]
        if eas_type == INBOX_TYPE:
            display = "Inbox"
        elif parent is not None or _own(principal, item):
            display = leaf
        elif mb.owner_id is None:
            display = f"Public: {leaf}"
        else:
            owner = names.parse_name(item.name).owner_address or f"#{mb.owner_id}"
            display = f"{leaf} ({owner})"
        ref = FolderRef(server_id=str(mb.id), parent_id=ROOT if parent is None else str(parent),
                        mailbox_id=mb.id, name=item.name, display_name=display, kind=mb.kind,
                        eas_type=eas_type, item_class=KIND_CLASS[mb.kind],
                        read_only=eas_access(item.rights, mb.kind).read_only)
        out.append(Listed(ref, item))
    return _parents_first(out)


def _parents_first(entries: list[Listed]) -> list[Listed]:
    """Own folders first, then shared, public; each parent before its children (a device
    adds a folder under a ParentId it must already know)."""
    by_id = {e.ref.server_id: e for e in entries}

    def depth(entry: Listed) -> int:
        n, seen, cur = 0, set(), entry
        while cur.ref.parent_id != ROOT and cur.ref.parent_id in by_id \
                and cur.ref.server_id not in seen:
            seen.add(cur.ref.server_id)
            cur = by_id[cur.ref.parent_id]
            n += 1
        return n

    def rank(entry: Listed) -> tuple[int, int, int, str]:
        mb = entry.item.mailbox
        whose = 2 if mb.owner_id is None else (0 if entry.item.name == mb.name else 1)
        return (depth(entry), whose, 0 if entry.ref.eas_type < 12 else 1,
                entry.item.name.lower())

    return sorted(entries, key=rank)


def _own(principal: Principal, item: ListedMailbox) -> bool:
    return item.mailbox.owner_id is not None and item.mailbox.owner_id == principal.account_id


def _find(entries: list[Listed], server_id: str) -> Listed | None:
    return next((e for e in entries if e.ref.server_id == server_id), None)


def _leaf(display_name: str) -> str:
    """A DisplayName as one level of a folder name: no hierarchy delimiter (a phone's user
    typed one name), not empty, bounded."""
    leaf = display_name.strip()
    if not leaf or names.DELIMITER in leaf or len(leaf) > MAX_DISPLAY_NAME \
            or any(ord(c) < 32 for c in leaf):
        raise FolderRefused(Refusal.INVALID, "a folder name is 1-200 characters without '/'")
    return leaf


def _refused(exc: MailError, not_found: Refusal) -> FolderRefused:
    refusal = not_found if exc.kind is Kind.NOT_FOUND else _MAIL_ERRORS.get(exc.kind)
    if refusal is None:
        raise exc
    return FolderRefused(refusal, exc.text)


# -- hierarchy snapshots (FolderSync) --------------------------------------------------------
Snapshot = dict[str, list[Any]]  # ServerId -> [ParentId, DisplayName, Type]


def snapshot(refs: list[FolderRef]) -> Snapshot:
    """What a device was told about the hierarchy, kept in the "hierarchy" sync state."""
    return {r.server_id: [r.parent_id, r.display_name, r.eas_type] for r in refs}


@dataclass(frozen=True, slots=True)
class HierarchyChanges:
    adds: list[str]  # ServerIds, parents first (the order of the new snapshot)
    updates: list[str]
    deletes: list[str]

    @property
    def count(self) -> int:
        return len(self.adds) + len(self.updates) + len(self.deletes)


def diff(old: Snapshot, new: Snapshot) -> HierarchyChanges:
    """Add, Update, Delete that take a device from ``old`` to ``new`` (MS-ASCMD §2.2.3.24:
    Changes)."""
    adds = [sid for sid in new if sid not in old]
    updates = [sid for sid in new if sid in old and list(old[sid]) != list(new[sid])]
    deletes = [sid for sid in old if sid not in new]
    return HierarchyChanges(adds, updates, deletes)
