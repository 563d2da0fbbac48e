"""The ItemClass functions (web/eas/classes.py) for calendar, contacts and tasks items.

The three classes differ only in the mapping (``Mapper``); what a Sync does with them is the
same: compare the folder's DAV items (ServerId → ETag) with what the device has (the state),
send Adds, Changes, Deletes and SoftDeletes up to the window, and apply the device's own
commands through services/eas/pim.py (the gate decides there).

State (JSON, kept by services/eas/states.py under each SyncKey): ``{"items": {ServerId:
ETag}, "modseq": the highest MODSEQ of the items sent, once nothing more is pending}``.
A change the device made is recorded with the new ETag so it is not echoed back; a change
the gate refused is recorded with an empty ETag (a Change refused: the server's version is
re-sent as a Change) or dropped (a Delete refused: the item is re-sent as an Add).

Statuses of a client's command (MS-ASCMD §2.2.3.177.17 Sync Status): 1 success; 6 "error in
client/server conversion" for an item that cannot be stored (malformed, too large, or an Add
into a folder without the insert right: there is no server version to fall back on, and the
device must not retry it); 7 "conflict matching the client and server object" for a Change
or Delete the gate refuses (read-only share) or that lost a race with another client: the
server's version wins (MS-ASCMD §3.1.5.3 conflict, server wins) and is re-sent; 8 "object
not found".
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from postroom.core.errors import Kind, MailError
from postroom.pim.model import InvalidItem
from postroom.protocols.eas.element import Element
from postroom.services.dav.model import Item, ItemRef, PreconditionFailed, UidConflict
from postroom.services.eas.model import FolderRef
from postroom.services.eas.pim import server_id
from postroom.web.eas.classes import ChangeBatch, ServerChange, SyncOptions
from postroom.web.eas.common import CommandContext

log = logging.getLogger("postroom.eas")

OK, CONVERSION, CONFLICT, NOT_FOUND = 1, 6, 7, 8
DAY = 86_400
# MS-ASCMD §2.2.3.70.2 FilterType for calendars: how far back an event may end
_WINDOWS = {1: DAY, 2: 3 * DAY, 3: 7 * DAY, 4: 14 * DAY, 5: 31 * DAY, 6: 92 * DAY,
            7: 183 * DAY}
INCOMPLETE_TASKS = 8


@dataclass(frozen=True, slots=True)
class Mapper:
    """One item class: render a stored object, merge a phone's ApplicationData into one."""

    render: Callable[[bytes, CommandContext, SyncOptions | None], Element]
    merge: Callable[[bytes | None, Element, CommandContext], bytes]
    # FilterType 8 for tasks needs the object (completed or not); None: by the index only
    completed: Callable[[bytes], bool] | None = None


class BadItem(ValueError):
    """ApplicationData the mapping could not turn into a stored object (Status 6)."""


def _merged(mapper: Mapper, data: bytes | None, app: Element, ctx: CommandContext) -> bytes:
    """``mapper.merge`` with every failure of a malformed item made a BadItem: what a phone
    sends must be a status, never a server error."""
    try:
        return mapper.merge(data, app, ctx)
    except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
        raise BadItem(str(exc)) from exc


def _items(state: dict[str, Any]) -> dict[str, str]:
    items = state.get("items")
    return dict(items) if isinstance(items, dict) else {}


def _passes(ref: ItemRef, options: SyncOptions, now: float) -> bool:
    span = _WINDOWS.get(options.filter_type)
    if span is None or ref.end is None:
        return True
    return ref.end >= now - span


def _etags(state: dict[str, Any], key: str) -> set[str]:
    raw = state.get(key)
    return {e for e in raw if isinstance(e, str)} if isinstance(raw, list) else set()


async def _current(ctx: CommandContext, folder: FolderRef, mapper: Mapper,
                   options: SyncOptions, state: dict[str, Any],
                   ) -> tuple[Any, dict[str, ItemRef], set[str], dict[str, list[str]]]:
    """(collection, the items the filter lets through, every item's ServerId, the judged
    versions to keep in the state). FilterType 8 reads only tasks whose version (ETag) it
    has not judged yet: ``state["done"]`` and ``state["open"]`` hold the judged ones, so an
    unchanged list costs no reads."""
    coll, refs = await ctx.eas.pim.listing(ctx.principal, folder)
    now = time.time()
    passing = {sid: r for sid, r in refs.items() if _passes(r, options, now)}
    judged: dict[str, list[str]] = {}
    if options.filter_type == INCOMPLETE_TASKS and mapper.completed is not None and passing:
        done, open_ = _etags(state, "done"), _etags(state, "open")
        unknown = [r for r in passing.values() if r.etag not in done and r.etag not in open_]
        got = await ctx.eas.pim.get_many(ctx.principal, coll, [r.name for r in unknown])
        check = mapper.completed
        read = await asyncio.to_thread(
            lambda: {i.ref.etag: check(i.data) for i in got.values() if i is not None})
        live = {r.etag for r in passing.values()}
        done = (done & live) | {e for e, complete in read.items() if complete}
        open_ = (open_ & live) | {e for e, complete in read.items() if not complete}
        passing = {sid: r for sid, r in passing.items() if r.etag not in done}
        judged = {"done": sorted(done), "open": sorted(open_)}
    return coll, passing, set(refs), judged


def _plan(have: dict[str, str], current: dict[str, ItemRef],
          every: set[str]) -> list[tuple[str, str]]:
    """(kind, ServerId) of every difference: deletions first, then changes, then adds in
    the order the items were stored."""
    out: list[tuple[str, str]] = []
    for sid in sorted(have):
        if sid not in current:
            out.append(("SoftDelete" if sid in every else "Delete", sid))
    for sid, ref in sorted(current.items(), key=lambda kv: (kv[1].modseq, kv[0])):
        if sid in have and have[sid] != ref.etag:
            out.append(("Change", sid))
    for sid, _ref in sorted(current.items(), key=lambda kv: (kv[1].modseq, kv[0])):
        if sid not in have:
            out.append(("Add", sid))
    return out


async def changes(mapper: Mapper, ctx: CommandContext, folder: FolderRef,
                  state: dict[str, Any], options: SyncOptions, window: int) -> ChangeBatch:
    coll, current, every, judged = await _current(ctx, folder, mapper, options, state)
    have = _items(state)
    plan = _plan(have, current, every)
    chosen, more = plan[:max(window, 1)], len(plan) > max(window, 1)
    names = [current[sid].name for kind, sid in chosen if kind in ("Add", "Change")]
    got = await ctx.eas.pim.get_many(ctx.principal, coll, names) if names else {}
    batch = ChangeBatch(more=more)
    for kind, sid in chosen:
        if kind in ("Delete", "SoftDelete"):
            have.pop(sid, None)
            batch.changes.append(ServerChange(kind, sid))  # type: ignore[arg-type]
            continue
        ref = current[sid]
        item = got.get(ref.name)
        if item is None:
            continue  # deleted meanwhile: the next Sync sends the Delete
        try:
            data = await asyncio.to_thread(mapper.render, item.data, ctx, options)
        except (ValueError, KeyError, IndexError) as exc:
            # a stored object pim/ accepted but this mapping cannot read: skipped (logged),
            # never a failed Sync for the whole folder
            log.warning("eas: cannot render %s in folder %s: %s", ref.name,
                        folder.server_id, exc)
            have[sid] = ref.etag
            continue
        have[sid] = ref.etag
        batch.changes.append(ServerChange(kind, sid, data))  # type: ignore[arg-type]
    batch.state = {key: value for key, value in state.items()
                   if key not in ("done", "open")}
    batch.state["items"] = have
    batch.state.update(judged)
    if not more and current:
        # the highest MODSEQ the device now has (Sync tells push.synced, so that the next
        # Ping is not woken by changes the device already got)
        batch.state["modseq"] = max(r.modseq for r in current.values())
    return batch


async def estimate(mapper: Mapper, ctx: CommandContext, folder: FolderRef,
                   state: dict[str, Any], options: SyncOptions) -> int:
    _coll, current, every, _judged = await _current(ctx, folder, mapper, options, state)
    return len(_plan(_items(state), current, every))


def _refused(exc: Exception) -> int | None:
    """The status of a refused write, None for an error that is not the item's."""
    if isinstance(exc, (InvalidItem, UidConflict, ValueError)):
        return CONVERSION
    if isinstance(exc, PreconditionFailed):
        return CONFLICT
    if isinstance(exc, MailError):
        if exc.kind is Kind.NOT_FOUND:
            return NOT_FOUND
        if exc.kind in (Kind.NO_PERM, Kind.INVALID, Kind.LIMIT):
            return CONVERSION
    return None


async def add(mapper: Mapper, ctx: CommandContext, folder: FolderRef, data: Element,
              state: dict[str, Any]) -> tuple[int, str | None]:
    try:
        coll = await ctx.eas.pim.collection(ctx.principal, folder)
        stored = await asyncio.to_thread(_merged, mapper, None, data, ctx)
        try:
            sid, ref = await ctx.eas.pim.create(ctx.principal, folder, coll, stored)
        except UidConflict as exc:
            if not exc.name:
                raise
            # the device adds an item the folder already has (its UID): a device re-sending
            # its items after a reset. The Add becomes a change of that item, so that no
            # duplicate is refused or made; it needs the edit rights like any change.
            sid, ref = await _readd(mapper, ctx, folder, coll, exc.name, data)
    except (MailError, InvalidItem, UidConflict, PreconditionFailed, ValueError) as exc:
        status = _refused(exc)
        if status is None:
            raise
        if status == NOT_FOUND:
            return NOT_FOUND, None
        return CONVERSION, None
    items = _items(state)
    items[sid] = ref.etag
    state["items"] = items
    return OK, sid


async def _readd(mapper: Mapper, ctx: CommandContext, folder: FolderRef, coll: Any,
                 name: str, data: Element) -> tuple[str, ItemRef]:
    current = await ctx.eas.pim.get(ctx.principal, coll, name)
    stored = await asyncio.to_thread(_merged, mapper, current.data, data, ctx)
    ref = current.ref
    if stored != current.data:
        ref = await ctx.eas.pim.replace(ctx.principal, folder, coll, current.ref, stored)
    return server_id(folder, name), ref


async def _resolve(ctx: CommandContext, folder: FolderRef,
                   server_id: str) -> tuple[Any, Item | None]:
    return await ctx.eas.pim.find(ctx.principal, folder, server_id)


async def change(mapper: Mapper, ctx: CommandContext, folder: FolderRef, server_id: str,
                 data: Element, state: dict[str, Any]) -> int:
    items = _items(state)
    try:
        coll, item = await _resolve(ctx, folder, server_id)
        if item is None:
            return NOT_FOUND
        ref = item.ref
        stored = await asyncio.to_thread(_merged, mapper, item.data, data, ctx)
        if stored != item.data:
            ref = await ctx.eas.pim.replace(ctx.principal, folder, coll, item.ref, stored)
    except (MailError, InvalidItem, UidConflict, PreconditionFailed, ValueError) as exc:
        status = _refused(exc)
        if status is None:
            raise
        if status == NOT_FOUND:
            return NOT_FOUND
        if isinstance(exc, MailError) and exc.kind is Kind.NO_PERM:
            status = CONFLICT
        if status == CONFLICT and server_id in items:
            items[server_id] = ""  # the server's version goes back to the device
            state["items"] = items
        return status
    items[server_id] = ref.etag
    state["items"] = items
    return OK


async def delete(mapper: Mapper, ctx: CommandContext, folder: FolderRef, server_id: str,
                 state: dict[str, Any], *, to_trash: bool) -> int:
    """DeletesAsMoves does not apply: DAV items have no Deleted Items folder."""
    items = _items(state)
    try:
        coll, item = await _resolve(ctx, folder, server_id)
        if item is None:
            items.pop(server_id, None)
            state["items"] = items
            return NOT_FOUND
        await ctx.eas.pim.delete(ctx.principal, coll, item.ref)
    except (MailError, PreconditionFailed) as exc:
        status = _refused(exc)
        if status is None:
            raise
        if status == NOT_FOUND:
            return NOT_FOUND
        items.pop(server_id, None)  # refused: the item goes back to the device as an Add
        state["items"] = items
        return CONFLICT
    items.pop(server_id, None)
    state["items"] = items
    return OK


async def fetch(mapper: Mapper, ctx: CommandContext, folder: FolderRef, server_id: str,
                options: SyncOptions) -> Element | int:
    try:
        _coll, item = await _resolve(ctx, folder, server_id)
    except MailError as exc:
        if exc.kind in (Kind.NOT_FOUND, Kind.NO_PERM):
            return NOT_FOUND
        raise
    if item is None:
        return NOT_FOUND
    try:
        return await asyncio.to_thread(mapper.render, item.data, ctx, options)
    except (ValueError, KeyError, IndexError):
        return CONVERSION


class PimClass:
    """One PIM item class (classes.ItemClass) over a Mapper: what web/eas/calendar.py,
    contacts.py and tasks.py each expose as ``ITEM_CLASS``, so that the Sync logic above is
    written once and each class module holds only its mapping."""

    def __init__(self, mapper: Mapper) -> None:
        self.mapper = mapper

    async def changes(self, ctx: CommandContext, folder: FolderRef, state: dict[str, Any],
                      options: SyncOptions, window: int) -> ChangeBatch:
        return await changes(self.mapper, ctx, folder, state, options, window)

    async def estimate(self, ctx: CommandContext, folder: FolderRef, state: dict[str, Any],
                       options: SyncOptions) -> int:
        return await estimate(self.mapper, ctx, folder, state, options)

    async def add(self, ctx: CommandContext, folder: FolderRef, data: Element,
                  state: dict[str, Any]) -> tuple[int, str | None]:
        return await add(self.mapper, ctx, folder, data, state)

    async def change(self, ctx: CommandContext, folder: FolderRef, server_id: str,
                     data: Element, state: dict[str, Any]) -> int:
        return await change(self.mapper, ctx, folder, server_id, data, state)

    async def delete(self, ctx: CommandContext, folder: FolderRef, server_id: str,
                     state: dict[str, Any], *, to_trash: bool) -> int:
        return await delete(self.mapper, ctx, folder, server_id, state, to_trash=to_trash)

    async def fetch(self, ctx: CommandContext, folder: FolderRef, server_id: str,
                    options: SyncOptions) -> Element | int:
        return await fetch(self.mapper, ctx, folder, server_id, options)
