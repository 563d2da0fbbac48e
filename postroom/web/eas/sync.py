"""Sync and GetItemEstimate (MS-ASCMD §2.2.1.21, §2.2.1.9), generic over the item classes.

For each Collection of the request, in order:

1. ``SyncKey`` 0 primes the collection: its states are dropped, key 1 is saved with an empty
   state, nothing else is answered (MS-ASCMD §3.1.5.3);
2. otherwise the state of that key is loaded (services/eas/states.py keeps the current and the
   previous key, so a retried request is answered again); an unknown key is Status 3;
3. the device's Commands are applied through the class (web/eas/classes.py): Add → a
   ``Responses/Add`` with ClientId, ServerId and Status; Change and Delete answer only when
   they fail (MS-ASCMD §2.2.3.154); Fetch answers the item;
4. unless ``GetChanges`` is 0, the server's changes since the state are collected, at most
   the window (``WindowSize``, bounded by ``web.eas.max_window_size``), with
   ``MoreAvailable`` when more wait;
5. the new state is saved under key + 1 — committed before the answer is sent — and the
   answer names it.

A request with no body repeats the device's last one (kept in memory per device; Status 13
when there is none). ``Wait`` (minutes) or ``HeartbeatInterval`` (seconds) makes an answer
with nothing in it wait for a change in the collections through services/eas/push.py, as
Ping does (Status 14 with the bound in ``Limit`` when out of bounds).

Statuses (MS-ASCMD §2.2.3.177.17): 1 ok, 3 invalid key, 4 protocol error, 5 server error,
6 error in a client change, 7 conflict, 8 object not found, 12 folder hierarchy changed,
13 empty request with nothing to repeat, 14 heartbeat out of bounds, 16 retry.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Any

from postroom.core.errors import Kind, MailError
from postroom.protocols.eas.element import E, Element
from postroom.services.eas.model import FolderRef, SyncState
from postroom.services.eas.push import TooManyWaits
from postroom.web.eas.classes import BodyPreference, SyncOptions, class_for
from postroom.web.eas.common import CommandContext

log = logging.getLogger("postroom.eas")
NS = "AirSync"
DEFAULT_WINDOW = 100  # MS-ASCMD §2.2.3.199: 100 when the device names none
_LAST: OrderedDict[tuple[int, str], Element] = OrderedDict()  # the last Sync per device
_LAST_MOST = 20_000  # devices whose last request is remembered (least recently used go)
# loop protection: (account, device, collection) -> (key, how often that key came in a row)
_REPEATS: OrderedDict[tuple[int, str, str], tuple[int, int]] = OrderedDict()


async def handle(ctx: CommandContext, body: Element | None) -> Element:
    if ctx.command == "GetItemEstimate":
        return await estimate(ctx, body)
    key = (ctx.principal.account_id or 0, ctx.device.device_id)
    if body is None:
        cached = _LAST.get(key)
        if cached is None:
            return E(NS, "Sync", E(NS, "Status", text=13))
        body = cached
    elif body.name != "Sync":
        return E(NS, "Sync", E(NS, "Status", text=4))
    _LAST[key] = _summary(body)  # what an empty request repeats: never the device's data
    _LAST.move_to_end(key)
    while len(_LAST) > _LAST_MOST:
        _LAST.popitem(last=False)
    collections = body.find("Collections")
    requested = collections.findall("Collection") if collections is not None else []
    if len(requested) > ctx.eas.config.max_sync_collections:
        return E(NS, "Sync", E(NS, "Status", text=4))
    seconds = _wait_seconds(body)
    cfg = ctx.eas.config
    if seconds is not None and not cfg.min_heartbeat <= seconds <= cfg.max_heartbeat:
        limit = cfg.min_heartbeat if seconds < cfg.min_heartbeat else cfg.max_heartbeat
        unit = 60 if body.has("Wait") else 1
        return E(NS, "Sync", E(NS, "Status", text=14),
                 E(NS, "Limit", text=max(1, limit // unit)))
    total = _int(body.value("WindowSize"), None)
    refs = await ctx.eas.folders.resolve_many(
        ctx.principal, [c.value("CollectionId") or "" for c in requested])
    answer = await _collections(ctx, requested, refs, total)
    if seconds is not None and not _has_news(answer):
        mailbox_ids = [r.mailbox_id for r in refs.values()]
        try:
            result = await ctx.eas.push.wait(ctx.principal, ctx.device, mailbox_ids, seconds)
        except TooManyWaits:
            return E(NS, "Sync", E(NS, "Status", text=16))  # retry later
        if getattr(result, "hierarchy", False):
            return E(NS, "Sync", E(NS, "Status", text=12))
        if getattr(result, "changed", ()):
            # the keys the first pass saved are current now: ask again with them
            again = _with_new_keys(requested, answer)
            answer = await _collections(ctx, again, refs, total)
        else:
            return E(NS, "Sync")  # nothing changed during the wait: an empty answer
    await ctx.eas.devices.synced(ctx.device)
    return answer


def _summary(body: Element) -> Element:
    """The request without its Commands: an empty Sync repeats the collections, keys and
    options (MS-ASCMD §2.2.1.21.1.1), never the device's changes, and a device cannot park a
    large body in the server's memory."""
    out = Element(body.ns, body.name, [c for c in body.children if c.name != "Collections"])
    cols = body.find("Collections")
    if cols is not None:
        out.children.append(Element(cols.ns, cols.name, [
            Element(c.ns, c.name, [x for x in c.children if x.name != "Commands"])
            for c in cols.findall("Collection")]))
    return out


def _wait_seconds(body: Element) -> int | None:
    if body.has("Wait"):
        minutes = _int(body.value("Wait"), -1)
        return None if minutes is None else minutes * 60
    if body.has("HeartbeatInterval"):
        return _int(body.value("HeartbeatInterval"), -1)
    return None


def _int(text: str | None, default: int | None) -> int | None:
    if text is None or not (text.strip().isascii() and text.strip().isdigit()) \
            or len(text.strip()) > 9:
        return default
    return int(text.strip())


def _has_news(answer: Element) -> bool:
    cols = answer.find("Collections")
    if cols is None:
        return True
    for col in cols.findall("Collection"):
        if col.value("Status") != "1" or col.has("Commands") or col.has("Responses") \
                or col.has("MoreAvailable"):
            return True
    return False


def _with_new_keys(requested: list[Element], answer: Element) -> list[Element]:
    keys = {c.value("CollectionId"): c.value("SyncKey")
            for c in (answer.find("Collections") or E(NS, "Collections")).findall("Collection")}
    out = []
    for col in requested:
        copy = Element(col.ns, col.name, [c for c in col.children if c.name != "Commands"])
        new = keys.get(col.value("CollectionId"))
        for child in copy.children:
            if child.name == "SyncKey" and new:
                copy.children[copy.children.index(child)] = E(NS, "SyncKey", text=new)
        out.append(copy)
    return out


async def _collections(ctx: CommandContext, requested: list[Element],
                       refs: dict[str, FolderRef], total: int | None) -> Element:
    answer = E(NS, "Sync")
    cols = answer.add(NS, "Collections")
    budget = min(total, ctx.eas.config.max_window_size) if total else None
    for col in requested:
        out, used = await _collection(ctx, col, refs.get(col.value("CollectionId") or ""),
                                      budget)
        if budget is not None:
            budget = max(0, budget - used)
        cols.append(out)
    return answer


async def _collection(ctx: CommandContext, col: Element, ref: FolderRef | None,
                      budget: int | None) -> tuple[Element, int]:
    cid = col.value("CollectionId") or ""
    key_text = col.value("SyncKey") or ""
    out = E(NS, "Collection")
    if not ctx.at_least("14.0") and col.value("Class"):
        out.add(NS, "Class", col.value("Class"))

    def status(code: int, sync_key: str | None = None) -> tuple[Element, int]:
        out.add(NS, "SyncKey", sync_key if sync_key is not None else key_text or "0")
        out.add(NS, "CollectionId", cid)
        out.add(NS, "Status", code)
        return out, 0

    if ref is None:
        return status(8)
    item_class = class_for(ref.item_class)
    if item_class is None:
        return status(8)
    states = ctx.eas.states
    if key_text == "0":
        await states.reset(ctx.device, cid)
        await states.save(ctx.device, cid, SyncState(1, {}))
        return status(1, "1")
    key = _int(key_text, None)
    state = await states.load(ctx.device, cid, key) if key is not None else None
    if state is None or key is None:
        return status(3, "0")
    if _looping(ctx, cid, key):
        # the device keeps repeating one key (it cannot store what that answer holds):
        # after web.eas.loop_threshold repeats it is sent back to key 0, a full resync,
        # instead of being served the same window forever (the loop Z-Push guards against)
        log.warning("eas: %s device %s repeated SyncKey %s of collection %s %d times; "
                    "resetting it", ctx.principal.address, ctx.device.device_id, key, cid,
                    ctx.eas.config.loop_threshold)
        await states.reset(ctx.device, cid)
        return status(3, "0")
    options = parse_options(col.find("Options"))
    data: dict[str, Any] = dict(state.data)
    responses = E(NS, "Responses")
    try:
        await _client_commands(ctx, ref, item_class, col.find("Commands"), data, responses,
                               options, col.value("DeletesAsMoves") != "0")
        changes_wanted = col.value("GetChanges") != "0"
        window = _int(col.value("WindowSize"), None) or DEFAULT_WINDOW
        window = min(window, ctx.eas.config.max_window_size)
        if budget is not None:
            window = min(window, budget)
        batch = None
        if changes_wanted and window > 0:
            batch = await item_class.changes(ctx, ref, data, options, window)
            data = batch.state
    except _TooMany:
        return status(4)  # more client commands than web.eas.max_operations
    except MailError as exc:
        if exc.kind is Kind.NOT_FOUND:
            return status(8)
        log.warning("eas: Sync of %s for %s device %s: %s", cid, ctx.principal.address,
                    ctx.device.device_id, exc.text)
        return status(5 if exc.kind is not Kind.TEMPORARY else 16)
    new_key = key + 1
    await states.save(ctx.device, cid, SyncState(new_key, data))
    modseq = data.get("modseq")
    if isinstance(modseq, int) and modseq:
        ctx.eas.push.synced(ctx.principal, ctx.device, ref.mailbox_id, modseq)
    out.add(NS, "SyncKey", new_key)
    out.add(NS, "CollectionId", cid)
    out.add(NS, "Status", 1)
    if responses.children:
        out.append(responses)
    used = 0
    if batch is not None and batch.changes:
        commands = out.add(NS, "Commands")
        for change in batch.changes:
            item = commands.add(NS, change.kind)
            item.add(NS, "ServerId", change.server_id)
            if change.data is not None and change.kind in ("Add", "Change"):
                item.append(change.data)
        used = len(batch.changes)
    if batch is not None and batch.more:
        out.add(NS, "MoreAvailable")
    return out, used


async def _client_commands(ctx: CommandContext, ref: FolderRef, item_class: Any,
                           commands: Element | None, data: dict[str, Any], responses: Element,
                           options: SyncOptions, deletes_as_moves: bool) -> None:
    if commands is None:
        return
    if len(commands.children) > ctx.eas.config.max_operations:
        raise _TooMany
    for command in commands.children:
        sid = command.value("ServerId") or ""
        app = command.find("ApplicationData")
        if command.name == "Add":
            client_id = command.value("ClientId") or ""
            code, new_id = (6, None) if app is None else \
                await item_class.add(ctx, ref, app, data)
            item = responses.add(NS, "Add")
            item.add(NS, "ClientId", client_id)
            if new_id:
                item.add(NS, "ServerId", new_id)
            item.add(NS, "Status", code)
        elif command.name == "Change":
            code = 6 if app is None else await item_class.change(ctx, ref, sid, app, data)
            if code != 1:
                item = responses.add(NS, "Change")
                item.add(NS, "ServerId", sid)
                item.add(NS, "Status", code)
        elif command.name in ("Delete", "SoftDelete"):
            instance = command.value("InstanceId")
            if instance and ref.item_class == "Calendar":
                # 16.x: one occurrence of a series (MS-ASCMD §2.2.3.88.1), an EXDATE
                from postroom.web.eas import calendar
                code = await calendar.delete_instance(ctx, ref, sid, instance, data)
            else:
                code = await item_class.delete(ctx, ref, sid, data, to_trash=deletes_as_moves)
            if code != 1:
                item = responses.add(NS, "Delete")
                item.add(NS, "ServerId", sid)
                item.add(NS, "Status", code)
        elif command.name == "Fetch":
            found = await item_class.fetch(ctx, ref, sid, options)
            item = responses.add(NS, "Fetch")
            item.add(NS, "ServerId", sid)
            if isinstance(found, Element):
                item.add(NS, "Status", 1)
                item.append(found)
            else:
                item.add(NS, "Status", found)


def _looping(ctx: CommandContext, collection: str, key: int) -> bool:
    """Whether this is the ``loop_threshold``-th request in a row with the same key."""
    slot = (ctx.principal.account_id or 0, ctx.device.device_id, collection)
    last, count = _REPEATS.get(slot, (-1, 0))
    count = count + 1 if last == key else 1
    _REPEATS[slot] = (key, count)
    _REPEATS.move_to_end(slot)
    while len(_REPEATS) > _LAST_MOST:
        _REPEATS.popitem(last=False)
    if count >= ctx.eas.config.loop_threshold:
        del _REPEATS[slot]
        return True
    return False


class _TooMany(Exception):
    """A collection's Commands hold more than ``web.eas.max_operations`` operations."""


def parse_options(options: Element | None) -> SyncOptions:
    """AirSync:Options (MS-ASCMD §2.2.3.125.6), with the defaults of classes.SyncOptions."""
    if options is None:
        return SyncOptions()
    prefs = tuple(BodyPreference(
        type=_int(p.value("Type"), 1) or 1,
        truncation_size=_int(p.value("TruncationSize"), None),
        all_or_none=p.value("AllOrNone") == "1",
        preview=_int(p.value("Preview"), None)) for p in options.findall("BodyPreference"))
    return SyncOptions(
        filter_type=_int(options.value("FilterType"), 0) or 0,
        body_preferences=prefs,
        mime_support=_int(options.value("MIMESupport"), 0) or 0,
        mime_truncation=_int(options.value("MIMETruncation"), None),
        truncation=_int(options.value("Truncation"), None),
        conflict=_int(options.value("Conflict"), 1) or 0 if options.has("Conflict") else 1,
        max_items=_int(options.value("MaxItems"), None))


async def estimate(ctx: CommandContext, body: Element | None) -> Element:
    """GetItemEstimate (MS-ASCMD §2.2.1.9): per collection, how many changes a Sync would
    bring. Status 2 unknown collection, 3 not primed (key 0), 4 invalid key."""
    ns = "GetItemEstimate"
    answer = E(ns, "GetItemEstimate")
    cols = body.find("Collections") if body is not None else None
    if body is None or body.name != "GetItemEstimate" or cols is None:
        answer.add(ns, "Status", 2)
        return answer
    requested = cols.findall("Collection")
    if len(requested) > ctx.eas.config.max_sync_collections:
        answer.add(ns, "Status", 2)
        return answer
    refs = await ctx.eas.folders.resolve_many(
        ctx.principal, [c.value("CollectionId") or "" for c in requested])
    for col in requested:
        cid = col.value("CollectionId") or ""
        response = answer.add(ns, "Response")
        key_text = col.value("SyncKey", NS) or col.value("SyncKey") or ""
        ref = refs.get(cid)
        item_class = class_for(ref.item_class) if ref is not None else None
        if ref is None or item_class is None:
            response.add(ns, "Status", 2)
            continue
        if key_text == "0":
            response.add(ns, "Status", 3)
            continue
        key = _int(key_text, None)
        state = await ctx.eas.states.load(ctx.device, cid, key) if key is not None else None
        if state is None:
            response.add(ns, "Status", 4)
            continue
        options = parse_options(col.find("Options", NS) or col.find("Options"))
        if col.has("FilterType"):
            options = SyncOptions(filter_type=_int(col.value("FilterType"), 0) or 0)
        count = await item_class.estimate(ctx, ref, dict(state.data), options)
        response.add(ns, "Status", 1)
        response.append(E(ns, "Collection", E(ns, "CollectionId", text=cid),
                          E(ns, "Estimate", text=count)))
    return answer
