"""FolderSync, FolderCreate, FolderUpdate, FolderDelete (MS-ASCMD §2.2.1.3-2.2.1.6).

The hierarchy SyncKey (a decimal number; "0" asks for everything) stands for a snapshot of
what the device was told, {ServerId: [ParentId, DisplayName, Type]}, kept durably in
``eas.states`` under the collection "hierarchy" (services/eas/states.py keeps the current and
the previous key). FolderSync with the current key answers the difference between that
snapshot and the folders offered now (services/eas/folders.py): a folder that lost ``l`` or
``r`` is a Delete, a renamed one an Update. With nothing changed the key stays as it is (no
state is written). A device repeating its previous key (it lost our answer) gets the same
changes again and the same new key (§3.1.5.3); any other key is Status 9 and the device starts
over with 0.

FolderCreate/Update/Delete carry the current key too (Status 9 otherwise); on success the
snapshot is changed by exactly that folder and saved under the next key, which the answer
names, so changes made elsewhere meanwhile still come with the next FolderSync.
"""

from __future__ import annotations

import enum

from postroom.protocols.eas.element import E, Element
from postroom.services.eas.folders import ROOT, FolderRefused, Refusal, Snapshot, diff, snapshot
from postroom.services.eas.model import SyncState
from postroom.web.eas.common import CommandContext, Common

NS = "FolderHierarchy"
COLLECTION = "hierarchy"
MAX_KEY_DIGITS = 9


class Status(enum.IntEnum):
    """MS-ASCMD §2.2.3.177.3-6 (FolderCreate, FolderDelete, FolderSync, FolderUpdate)."""

    OK = 1
    EXISTS = 2  # FolderCreate, FolderUpdate (also "a special folder" for FolderUpdate)
    SPECIAL = 3  # FolderDelete: a special system folder
    MISSING = 4  # FolderDelete, FolderUpdate
    PARENT_MISSING = 5  # FolderCreate, FolderUpdate
    SERVER_ERROR = 6
    BAD_KEY = 9
    MALFORMED = 10
    UNKNOWN = 11


async def handle(ctx: CommandContext, body: Element | None) -> Element:
    command = ctx.command
    if body is None or body.ns != NS or body.name != command:
        return _status(command, Status.MALFORMED)
    key = _key(body.value("SyncKey"))
    if key is None:
        return _status(command, Status.BAD_KEY if body.has("SyncKey") else Status.MALFORMED)
    async with ctx.eas.folders.lock(ctx.principal, ctx.device):
        if command == "FolderSync":
            return await _folder_sync(ctx, key)
        current = await ctx.eas.states.current(ctx.device, COLLECTION)
        if current is None or key != current.key:
            return _status(command, Status.BAD_KEY)
        try:
            if command == "FolderCreate":
                return await _create(ctx, body, current)
            if command == "FolderUpdate":
                return await _update(ctx, body, current)
            return await _delete(ctx, body, current)
        except FolderRefused as exc:
            return _status(command, _refusal_status(ctx, exc.refusal))


def _key(text: str | None) -> int | None:
    if text is None or not text.isascii() or not text.isdigit() \
            or len(text) > MAX_KEY_DIGITS:
        return None
    return int(text)


def _status(command: str, status: int) -> Element:
    return E(NS, command, E(NS, "Status", text=int(status)))


def _refusal_status(ctx: CommandContext, refusal: Refusal) -> int:
    command = ctx.command
    if refusal is Refusal.DENIED:
        # no status of the folder commands says "access denied"; 14.0+ has the common one
        return int(Common.ACCESS_DENIED) if ctx.at_least("14.0") else Status.SERVER_ERROR
    if refusal is Refusal.SPECIAL:
        return Status.EXISTS if command == "FolderUpdate" else Status.SPECIAL
    if refusal is Refusal.EXISTS:
        return Status.EXISTS
    if refusal is Refusal.MISSING:
        return Status.MISSING if command != "FolderCreate" else Status.PARENT_MISSING
    if refusal is Refusal.PARENT_MISSING:
        return Status.PARENT_MISSING
    if refusal is Refusal.INVALID:
        return Status.MALFORMED
    return Status.SERVER_ERROR


def _entry(tag: str, server_id: str, record: list[object]) -> Element:
    parent, display, eas_type = record
    return E(NS, tag, E(NS, "ServerId", text=server_id), E(NS, "ParentId", text=str(parent)),
             E(NS, "DisplayName", text=str(display)), E(NS, "Type", text=str(eas_type)))


def _folders_of(state: SyncState) -> Snapshot:
    folders = state.data.get("folders")
    return folders if isinstance(folders, dict) else {}


async def _folder_sync(ctx: CommandContext, key: int) -> Element:
    """MS-ASCMD §2.2.1.5."""
    states = ctx.eas.states
    now = snapshot(await ctx.eas.folders.hierarchy(ctx.principal))
    if key == 0:
        await states.reset(ctx.device, COLLECTION)
        old: Snapshot = {}
        new_key = 1
        await states.save(ctx.device, COLLECTION, SyncState(new_key, {"folders": now}))
    else:
        state = await states.load(ctx.device, COLLECTION, key)
        if state is None:
            return _status("FolderSync", Status.BAD_KEY)
        current = await states.current(ctx.device, COLLECTION)
        old = _folders_of(state)
        if current is not None and current.key == key + 1:
            # a repeated request: the answer it was given, with the key it was given
            now, new_key = _folders_of(current), current.key
        elif diff(old, now).count == 0:
            new_key = key
        else:
            new_key = key + 1
            await states.save(ctx.device, COLLECTION, SyncState(new_key, {"folders": now}))
    changes = diff(old, now)
    root = E(NS, "FolderSync", E(NS, "Status", text=int(Status.OK)),
             E(NS, "SyncKey", text=str(new_key)))
    listing = root.add(NS, "Changes")
    listing.add(NS, "Count", changes.count)
    # Adds (parents first) before Updates that may move a folder under a new one, Deletes
    # last, after a child has been moved out of a deleted parent
    for sid in changes.adds:
        listing.append(_entry("Add", sid, now[sid]))
    for sid in changes.updates:
        listing.append(_entry("Update", sid, now[sid]))
    for sid in changes.deletes:
        listing.append(E(NS, "Delete", E(NS, "ServerId", text=sid)))
    return root


async def _save(ctx: CommandContext, current: SyncState, folders: Snapshot) -> int:
    new_key = current.key + 1
    await ctx.eas.states.save(ctx.device, COLLECTION, SyncState(new_key, {"folders": folders}))
    return new_key


def _type(text: str | None) -> int | None:
    if text is None or not text.isascii() or not text.isdigit() or len(text) > 3:
        return None
    return int(text)


async def _create(ctx: CommandContext, body: Element, current: SyncState) -> Element:
    """MS-ASCMD §2.2.1.3: ParentId, DisplayName, Type → Status, SyncKey, ServerId."""
    parent = body.value("ParentId")
    name = body.value("DisplayName")
    eas_type = _type(body.value("Type"))
    if parent is None or name is None or eas_type is None:
        return _status("FolderCreate", Status.MALFORMED)
    ref = await ctx.eas.folders.create(ctx.principal, parent or ROOT, name, eas_type)
    folders = dict(_folders_of(current))
    folders[ref.server_id] = [ref.parent_id, ref.display_name, ref.eas_type]
    new_key = await _save(ctx, current, folders)
    return E(NS, "FolderCreate", E(NS, "Status", text=int(Status.OK)),
             E(NS, "SyncKey", text=str(new_key)), E(NS, "ServerId", text=ref.server_id))


async def _update(ctx: CommandContext, body: Element, current: SyncState) -> Element:
    """MS-ASCMD §2.2.1.6: ServerId, ParentId, DisplayName → Status, SyncKey."""
    server_id = body.value("ServerId")
    parent = body.value("ParentId")
    name = body.value("DisplayName")
    if not server_id or parent is None or name is None:
        return _status("FolderUpdate", Status.MALFORMED)
    ref = await ctx.eas.folders.update(ctx.principal, server_id, parent or ROOT, name)
    folders = dict(_folders_of(current))
    folders[ref.server_id] = [ref.parent_id, ref.display_name, ref.eas_type]
    new_key = await _save(ctx, current, folders)
    return E(NS, "FolderUpdate", E(NS, "Status", text=int(Status.OK)),
             E(NS, "SyncKey", text=str(new_key)))


async def _delete(ctx: CommandContext, body: Element, current: SyncState) -> Element:
    """MS-ASCMD §2.2.1.4: ServerId → Status, SyncKey (subfolders go too)."""
    server_id = body.value("ServerId")
    if not server_id:
        return _status("FolderDelete", Status.MALFORMED)
    gone = await ctx.eas.folders.delete(ctx.principal, server_id)
    folders = {sid: rec for sid, rec in _folders_of(current).items() if sid not in gone}
    new_key = await _save(ctx, current, folders)
    return E(NS, "FolderDelete", E(NS, "Status", text=int(Status.OK)),
             E(NS, "SyncKey", text=str(new_key)))
