"""Items in a collection: read, write, delete, query, sync (RFC 4918 §9, RFC 4791 §5.3.2 and
§7, RFC 6352 §6.3.2 and §8, RFC 6578).

An item is a message whose blob is exactly what the client stored (so GET returns it byte for
byte and the ETag is the blob's hash) under a small MIME header (the prefix) that lets IMAP
show it as a message. Every read and write asks the gate first (Op.ITEM_READ, ITEM_CREATE,
ITEM_EDIT, ITEM_DELETE: access/ops.py), through the collection's handle.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import time
from collections.abc import AsyncIterator, Sequence

from postroom.access.gate import MailboxHandle
from postroom.access.ops import Op
from postroom.core import flags as F
from postroom.core.errors import Kind, MailError, invalid
from postroom.core.principal import Principal
from postroom.core.records import NewMessage
from postroom.pim import freebusy, ical, query, recurrence, times, vcard
from postroom.pim.filters import CardFilter, CompFilter, TimeRange
from postroom.pim.model import CALDAV_NS, CARDDAV_NS, BusyPeriod, InvalidItem, ItemIndex
from postroom.services.dav.collections import (
    SYNC_PREFIX,
    Collections,
    parse_token,
    sync_token,
)
from postroom.services.dav.context import DavContext
from postroom.services.dav.model import (
    Collection,
    Item,
    ItemListener,
    ItemRef,
    PreconditionFailed,
    PutResult,
    SyncChanges,
    UidConflict,
)
from postroom.services.dav.stored import file_meta, item_prefix, prepare_item
from postroom.store.repo.dav import ItemIndexRow, LiveItem

log = logging.getLogger("postroom.dav")
# (MODSEQ, 0 change / 1 removal, name, the member or None for a removal)
SyncEvent = tuple[int, int, str, ItemRef | None]

_NAME = re.compile(r"^[^/\x00-\x1f\x7f]{1,255}$")
CALENDAR_TYPES = ("text/calendar",)
CARD_TYPES = ("text/vcard", "text/x-vcard", "text/directory")


def etag_of(sha256: str) -> str:
    """Strong ETag (RFC 7232 §2.3) of stored bytes: a quoted prefix of their hash."""
    return f'"{sha256[:32]}"'


def _ref(item: LiveItem) -> ItemRef:
    return ItemRef(name=item.name, etag=item.etag, size=item.size,
                   content_type=item.content_type, modseq=item.modseq,
                   component=item.component, uid=item.ical_uid, summary=item.summary,
                   start=item.start, end=item.end, recurring=item.recurring,
                   modified=item.modified)


def family_of(coll: Collection) -> str:
    if coll.kind == "contacts":
        return "addressbooks"
    if coll.kind == "documents":
        return "files"
    return "calendars"


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


class Items:
    def __init__(self, ctx: DavContext, collections: Collections) -> None:
        self._ctx = ctx
        self._collections = collections
        # told after every committed put and delete (scheduling: RFC 6638 implicit scheduling)
        self.listeners: list[ItemListener] = []

    # -- reading -----------------------------------------------------------------------------
    @staticmethod
    def _readable(coll: Collection) -> MailboxHandle | None:
        if coll.handle is not None:
            coll.handle.require(Op.ITEM_READ)
        return coll.handle

    async def _read(self, item: LiveItem) -> bytes:
        return await asyncio.to_thread(self._ctx.store.blobs.read, item.blob)

    async def _directory(self, principal: Principal) -> list[Item]:
        out = []
        for name, data in await self._collections.directory_cards(principal):
            sha = hashlib.sha256(data).hexdigest()
            out.append(Item(ItemRef(name=name, etag=etag_of(sha), size=len(data),
                                    content_type="text/vcard; charset=utf-8", modseq=0,
                                    component="VCARD"), data))
        return out

    async def members(self, principal: Principal, coll: Collection) -> list[ItemRef]:
        handle = self._readable(coll)
        if handle is None:
            return [i.ref for i in await self._directory(principal)]
        return [_ref(i) for i in await self._ctx.store.dav.live(handle.id)]

    async def get(self, principal: Principal, coll: Collection, name: str) -> Item:
        found = (await self.get_many(principal, coll, [name])).get(name)
        if found is None:
            raise MailError(Kind.NOT_FOUND, f"no item {name}")
        return found

    async def get_many(self, principal: Principal, coll: Collection,
                       names: list[str]) -> dict[str, Item | None]:
        handle = self._readable(coll)
        out: dict[str, Item | None] = dict.fromkeys(names)
        if handle is None:
            cards = {i.ref.name: i for i in await self._directory(principal)}
            return {n: cards.get(n) for n in names}
        found = await self._ctx.store.dav.by_names(handle.id, names)
        for item in await self._items(list(found.values())):
            out[item.ref.name] = item
        return out

    async def _items(self, rows: Sequence[LiveItem]) -> list[Item]:
        """The items with their bytes, read in one worker job (a query over thousands of
        events must not pay a thread hop per item)."""
        blobs = self._ctx.store.blobs
        datas = await asyncio.to_thread(lambda: [blobs.read(r.blob) for r in rows])
        return [Item(_ref(r), d) for r, d in zip(rows, datas, strict=True)]

    # -- writing -----------------------------------------------------------------------------
    def _index(self, coll: Collection, data: bytes, content_type: str) -> ItemIndex:
        """Validate and index what a client stores (pim/ does the parsing): a calendar
        object resource, a vCard, or (file area) any bytes."""
        family = family_of(coll)
        cfg = self._ctx.config
        media = _media_type(content_type)
        if family == "files":
            if len(data) > cfg.max_file_size:
                raise MailError(Kind.LIMIT, f"files are at most {cfg.max_file_size} octets")
            return ItemIndex(component="", uid="", content_type=content_type or
                             "application/octet-stream")
        if family == "calendars":
            if len(data) > cfg.max_resource_size:
                raise InvalidItem((CALDAV_NS, "max-resource-size"),
                                  f"calendar objects are at most {cfg.max_resource_size} octets")
            if media not in CALENDAR_TYPES:
                raise InvalidItem((CALDAV_NS, "supported-calendar-data"),
                                  "calendar collections hold text/calendar only")
            return ical.index_calendar(data, coll.components or ("VEVENT", "VTODO", "VJOURNAL"),
                                       cfg.max_instances)
        if len(data) > cfg.max_resource_size:
            raise InvalidItem((CARDDAV_NS, "max-resource-size"),
                              f"vCards are at most {cfg.max_resource_size} octets")
        if media not in CARD_TYPES:
            raise InvalidItem((CARDDAV_NS, "supported-address-data"),
                              "address books hold text/vcard only")
        return vcard.index_card(data)

    async def _decide(self, coll: Collection, name: str, if_match: str | None,
                      if_none_match: bool) -> tuple[MailboxHandle, LiveItem | None]:
        """The gate and the conditions of a write, before anything is read or stored:
        Op.ITEM_CREATE for a new name, Op.ITEM_EDIT for an existing one (RFC 7232 §3.1,
        §3.2 for If-Match / If-None-Match)."""
        handle = coll.handle
        if handle is None:
            raise MailError(Kind.NO_PERM, "the directory is read-only")
        if not _NAME.match(name) or name in (".", ".."):
            raise invalid("item names are one path segment of 1 to 255 characters")
        current = (await self._ctx.store.dav.by_names(handle.id, [name])).get(name)
        handle.require(Op.ITEM_EDIT if current is not None else Op.ITEM_CREATE)
        if if_none_match and current is not None:
            raise PreconditionFailed("the item exists (If-None-Match: *)")
        if if_match is not None and (current is None or (
                if_match != "*" and current.etag != if_match)):
            raise PreconditionFailed("the item's ETag is not the one given (If-Match)")
        return handle, current

    async def _commit(self, coll: Collection, handle: MailboxHandle,
                      current: LiveItem | None, prepared: NewMessage, row: ItemIndexRow,
                      if_none_match: bool, renamed: LiveItem | None = None) -> ItemRef:
        """One transaction: the message, its row, the old one's expunge (store/repo/dav.py
        ``write_item``); a change meanwhile is 412, a UID taken meanwhile no-uid-conflict."""
        try:
            _uid, modseq, _ = await self._ctx.store.dav.write_item(
                handle.id, prepared, row, expect_uid=current.uid if current else None,
                create_only=if_none_match, renamed_uid=renamed.uid if renamed else None)
        except MailError as exc:
            if exc.kind is Kind.EXISTS:
                raise PreconditionFailed(exc.text) from None
            if exc.kind is Kind.IN_USE:
                ns = CALDAV_NS if family_of(coll) == "calendars" else CARDDAV_NS
                raise UidConflict((ns, "no-uid-conflict"), exc.text if handle.allows(
                    Op.ITEM_READ) else "") from None
            raise
        return ItemRef(name=row.name, etag=row.etag, size=row.size,
                       content_type=row.content_type, modseq=modseq,
                       component=row.component, uid=row.ical_uid, summary=row.summary,
                       start=row.start, end=row.end, recurring=row.recurring,
                       modified=row.modified)

    async def put(self, principal: Principal, coll: Collection, name: str, data: bytes,
                  content_type: str, *, if_match: str | None = None,
                  if_none_match: bool = False) -> PutResult:
        """Create or replace (create: Op.ITEM_CREATE; replace: Op.ITEM_EDIT). ``if_match``:
        the ETag the client holds (412 on mismatch); ``if_none_match``: only create."""
        handle, current = await self._decide(coll, name, if_match, if_none_match)
        return await self._store(principal, coll, handle, current, name, data, content_type,
                                 if_none_match)

    async def _store(self, principal: Principal, coll: Collection, handle: MailboxHandle,
                     current: LiveItem | None, name: str, data: bytes, content_type: str,
                     if_none_match: bool, renamed: LiveItem | None = None) -> PutResult:
        """The write the gate allowed (``_decide``): validate, index, store in one
        transaction (replacing ``current`` and, for a move within the folder, ``renamed``)."""
        # parsing is CPU work (icalendar): off the event loop, which serves everyone
        index = await asyncio.to_thread(self._index, coll, data, content_type)
        family = family_of(coll)
        if index.uid:
            for other in await self._ctx.store.dav.by_ical_uid(handle.id, index.uid):
                if other.name != name and (renamed is None or other.uid != renamed.uid):
                    ns = CALDAV_NS if family == "calendars" else CARDDAV_NS
                    # the other item's name only to whom may read it (RFC 4791 §5.3.2.1
                    # names it; an add-only sharee must not learn hidden names that way)
                    raise UidConflict((ns, "no-uid-conflict"),
                                      other.name if handle.allows(Op.ITEM_READ) else "")
        stored_type = content_type if family == "files" else index.content_type
        now = int(time.time())
        prepared = await prepare_item(self._ctx.store, data,
                                      item_prefix(index, name, stored_type, now), now,
                                      self._ctx.max_message_size)
        row = ItemIndexRow(name=name, etag=etag_of(prepared.blob.sha256),
                           content_type=stored_type, component=index.component,
                           ical_uid=index.uid, start=index.start, end=index.end,
                           recurring=index.recurring, summary=index.summary[:500],
                           search=index.text[:SEARCH_MAX], size=len(data), modified=now)
        ref = await self._commit(coll, handle, current, prepared, row, if_none_match,
                                 renamed)
        old = Item(_ref(current), await self._read(current)) if current else None
        await self._tell(principal, coll, old, Item(ref, data))
        return PutResult(ref, created=current is None)

    async def put_file(self, principal: Principal, coll: Collection, name: str,
                       chunks: AsyncIterator[bytes], content_type: str, most: int, *,
                       if_match: str | None = None,
                       if_none_match: bool = False) -> PutResult:
        """A file-area PUT streamed to the blob store (issue 24: a large file is never held
        in memory): the gate and the conditions first, then the body spooled as it arrives
        (MailError LIMIT past ``most`` octets), then the one transaction of ``put``. A file
        is not parsed, scanned for MIME structure nor text-indexed; listeners (scheduling)
        are not told, files being no calendar objects."""
        if family_of(coll) != "files":
            raise invalid("only the file area takes streamed files")
        handle, current = await self._decide(coll, name, if_match, if_none_match)
        store = self._ctx.store
        writer = store.blobs.writer()
        try:
            async for chunk in chunks:
                if writer.size + len(chunk) > most:
                    raise MailError(Kind.LIMIT, f"files are at most {most} octets")
                if writer.blocks(len(chunk)):
                    await asyncio.to_thread(writer.write, chunk)
                else:
                    writer.write(chunk)
            blob = await asyncio.to_thread(writer.finish)
        except BaseException:
            writer.abort()
            raise
        now = int(time.time())
        media = content_type or "application/octet-stream"
        prefix = item_prefix(ItemIndex(component="", uid=""), name, media, now)
        if blob.size + len(prefix) > self._ctx.max_message_size:
            raise MailError(Kind.LIMIT, f"files are at most {self._ctx.max_message_size} "
                            "octets here")
        prepared = NewMessage(blob, prefix, file_meta(prefix, blob.size), F.SEEN, "", now,
                              None)
        row = ItemIndexRow(name=name, etag=etag_of(blob.sha256), content_type=media,
                           component="", ical_uid="", start=None, end=None,
                           recurring=False, summary="", search="", size=blob.size,
                           modified=now)
        ref = await self._commit(coll, handle, current, prepared, row, if_none_match)
        return PutResult(ref, created=current is None)

    async def delete(self, principal: Principal, coll: Collection, name: str, *,
                     if_match: str | None = None) -> None:
        handle = coll.handle
        if handle is None:
            raise MailError(Kind.NO_PERM, "the directory is read-only")
        current = (await self._ctx.store.dav.by_names(handle.id, [name])).get(name)
        if current is None:
            handle.require(Op.ITEM_READ)  # a reader learns it is missing, others as usual
            raise MailError(Kind.NOT_FOUND, f"no item {name}")
        handle.require(Op.ITEM_DELETE)
        if if_match is not None and if_match != "*" and current.etag != if_match:
            raise PreconditionFailed("the item's ETag is not the one given (If-Match)")
        old = Item(_ref(current), await self._read(current))
        if not await self._ctx.store.dav.delete_item(handle.id, current.uid):
            raise MailError(Kind.NOT_FOUND, f"no item {name}")
        await self._tell(principal, coll, old, None)

    async def transfer(self, principal: Principal, source: Collection, name: str,
                       target: Collection, target_name: str, *, overwrite: bool,
                       move: bool) -> PutResult:
        """COPY or MOVE of one item (RFC 4918 §9.8, §9.9), e.g. an event dragged to another
        calendar: a put into the target (its own gate check, validation and UID rule), then
        for MOVE the delete from the source (Op.ITEM_DELETE, checked before anything is
        written). Two folders, so two transactions: a crash between them leaves a copy, never
        a loss."""
        item = await self.get(principal, source, name)
        if move:
            if source.handle is None:
                raise MailError(Kind.NO_PERM, "the directory is read-only")
            source.handle.require(Op.ITEM_DELETE)
        same = source.segment == target.segment and source.kind == target.kind
        if same and name == target_name:
            raise MailError(Kind.NO_PERM, "source and destination are the same")
        if not overwrite and target.handle is not None and \
                (await self._ctx.store.dav.by_names(target.handle.id, [target_name])):
            raise PreconditionFailed("the destination exists (Overwrite: F)")
        if move and same and target.handle is not None:
            # within one collection the UID moves with the item: free it first
            result = await self._rename(principal, source, item, target_name)
        else:
            result = await self.put(principal, target, target_name, item.data,
                                    item.ref.content_type)
            if move:
                await self.delete(principal, source, name)
        return result

    async def _rename(self, principal: Principal, coll: Collection, item: Item,
                      target_name: str) -> PutResult:
        """MOVE within one collection: every right checked first (the caller checked
        ITEM_DELETE on the source; ``_decide`` ITEM_CREATE or ITEM_EDIT on the target), then
        one transaction stores the new name and expunges the old (and an overwritten target),
        so a refusal changes nothing and a crash loses nothing."""
        handle, current = await self._decide(coll, target_name, None, False)
        source = (await self._ctx.store.dav.by_names(handle.id, [item.ref.name])).get(
            item.ref.name)
        if source is None:
            raise MailError(Kind.NOT_FOUND, f"no item {item.ref.name}")
        result = await self._store(principal, coll, handle, current, target_name, item.data,
                                   item.ref.content_type, False, renamed=source)
        await self._tell(principal, coll, item, None)
        return result

    async def _tell(self, principal: Principal, coll: Collection, old: Item | None,
                    new: Item | None) -> None:
        for listener in self.listeners:
            try:
                await listener.item_changed(principal, coll, old, new)
            except Exception:  # the write is committed; a listener's trouble is only logged
                log.exception("item listener failed")

    # -- queries -----------------------------------------------------------------------------
    async def query_calendar(self, principal: Principal, coll: Collection,
                             comp_filter: CompFilter, *, with_data: bool = True,
                             ) -> list[Item]:
        """RFC 4791 §7.8: the index narrows the candidates (component, span), pim.query
        decides on each, in the index's order (by name).

        The commonest query, VEVENTs overlapping a range and nothing else (a client's month
        or week), is decided by the index alone for a single, non-recurring event: its
        indexed span is the event's one instance (pim.ical.index_calendar), and
        ``times.Span.overlaps`` is the very §9.9 test pim.query applies. Such items are then
        neither read nor parsed, and with ``with_data`` False (the client asked for no
        calendar-data) they come back with empty data."""
        handle = self._readable(coll)
        if handle is None:
            return []
        component: str | None = None
        span: TimeRange | None = None
        if len(comp_filter.comp_filters) == 1:
            inner = comp_filter.comp_filters[0]
            if not inner.is_not_defined:
                component = inner.name.upper()
                span = inner.time_range
        rows = await self._ctx.store.dav.candidates(
            handle.id, component, span.start if span else None, span.end if span else None)
        self._limit(len(rows))
        plain = _plain_range(comp_filter)
        decided = {r.uid for r in rows if plain is not None and _index_decides(r)}
        hits = {r.uid for r in rows if r.uid in decided and plain is not None
                and times.Span(r.start, r.end).overlaps(plain.start, plain.end)}
        rest = [r for r in rows if r.uid not in decided]
        items = await self._items(rest)
        most = self._ctx.config.max_instances
        # matching parses every other candidate: one worker job, off the event loop
        matched = await asyncio.to_thread(
            lambda: {i.ref.name for i in items
                     if query.calendar_matches(i.data, comp_filter, most)})
        chosen = [r for r in rows if r.uid in hits or (r.uid not in decided
                                                        and r.name in matched)]
        by_name = {i.ref.name: i for i in items}
        if with_data:
            read = await self._items([r for r in chosen if r.uid in hits])
            by_name.update({i.ref.name: i for i in read})
            return [by_name[r.name] for r in chosen]
        return [Item(_ref(r), b"") if r.uid in hits else by_name[r.name] for r in chosen]

    async def query_cards(self, principal: Principal, coll: Collection,
                          card_filter: CardFilter, limit: int | None = None) -> list[Item]:
        handle = self._readable(coll)
        if handle is None:
            items = await self._directory(principal)
        else:
            narrow = _indexed_needle(card_filter)
            rows = await (self._ctx.store.dav.live(handle.id) if narrow is None else
                          self._ctx.store.dav.live_containing(
                              handle.id, narrow[0], SEARCH_MAX, non_ascii=narrow[1]))
            self._limit(len(rows))
            items = await self._items(rows)

        def matching() -> list[Item]:
            out = []
            for item in items:
                if query.card_matches(item.data, card_filter):
                    out.append(item)
                    if limit is not None and len(out) >= limit:
                        break
            return out
        return await asyncio.to_thread(matching)

    def _limit(self, count: int) -> None:
        if count > self._ctx.config.max_results:
            raise MailError(Kind.LIMIT, f"more than {self._ctx.config.max_results} results")

    async def sync(self, principal: Principal, coll: Collection, token: str | None,
                   limit: int | None = None) -> SyncChanges:
        """RFC 6578 §3.2: all members for no token; else changes and removals since it;
        MailError INVALID with text "valid-sync-token" for a token not of this collection."""
        handle = self._readable(coll)
        if handle is None:
            members = [i.ref for i in await self._directory(principal)]
            if token and token != coll.sync_token and parse_token(token) is None:
                raise MailError(Kind.INVALID, "valid-sync-token")
            return SyncChanges(coll.sync_token, [] if token == coll.sync_token else members,
                               [])
        mailbox = await self._ctx.store.mailboxes.get(handle.id)
        if mailbox is None:
            raise MailError(Kind.NOT_FOUND, f"Mailbox doesn't exist: {handle.name}")
        since = 0
        if token:
            parsed = parse_token(token)
            if parsed is None or parsed[0] != mailbox.uidvalidity or \
                    parsed[1] > mailbox.highestmodseq:
                raise MailError(Kind.INVALID, "valid-sync-token")
            since = parsed[1]
        changed = await self._ctx.store.dav.changed_since(handle.id, since)
        removed = await self._ctx.store.dav.removed_since_at(handle.id, since) \
            if token else []
        events: list[SyncEvent] = [(r.modseq, 0, r.name, _ref(r)) for r in changed]
        events += [(m, 1, name, None) for name, m in removed]
        events.sort(key=lambda e: (e[0], e[1], e[2]))
        truncated = False
        if limit is not None and len(events) > limit:
            events, truncated = _page(events, limit), True
        else:
            self._limit(len(events))
        token_out = sync_token(mailbox) if not truncated else \
            f"{SYNC_PREFIX}{mailbox.uidvalidity}-{events[-1][0] if events else since}"
        return SyncChanges(token_out, [e[3] for e in events if e[3] is not None],
                           [e[2] for e in events if e[3] is None], truncated)

    async def freebusy(self, principal: Principal, coll: Collection,
                       span: TimeRange) -> list[BusyPeriod]:
        """RFC 4791 §7.10: busy time of the collection's events in ``span``. Needs read
        (RFC 4791 §7.10 allows read-free-busy; we have no such right, so read it is)."""
        handle = self._readable(coll)
        if handle is None:
            return []
        rows = await self._ctx.store.dav.candidates(handle.id, "VEVENT", span.start, span.end)
        self._limit(len(rows))
        items = await self._items(rows)
        cfg = self._ctx.config
        most = cfg.max_request_instances
        # every candidate is parsed and expanded: one worker job, off the event loop, and at
        # most web.dav.max_request_instances instances over all of them (one endless series
        # costs max_instances; a hundred of them must not cost a hundred times that)
        spend = recurrence.Budget(most, 1 << 62)

        def busy() -> list[BusyPeriod]:
            return freebusy.busy_periods([i.data for i in items], span, cfg.max_instances,
                                         spend)
        try:
            return await asyncio.to_thread(busy)
        except recurrence.OverBudget:
            raise MailError(Kind.LIMIT, f"more than {most} busy instances in the range; "
                                        "ask for a shorter one") from None


def _page(events: list[SyncEvent], limit: int) -> list[SyncEvent]:
    """The first ``limit`` changes, cut where the MODSEQ changes so that the token of the
    page (its last MODSEQ) promises exactly what was sent (RFC 6578 §3.6). One MODSEQ with
    more changes than the limit (a mass expunge) is sent whole: it cannot be split."""
    cut = limit
    while cut > 0 and events[cut - 1][0] == events[cut][0]:
        cut -= 1
    if cut == 0:
        first = events[0][0]
        cut = next((i for i, e in enumerate(events) if e[0] != first), len(events))
    return events[:cut]


def _plain_range(comp_filter: CompFilter) -> TimeRange | None:
    """The range of a filter that asks only for VEVENTs overlapping it (RFC 4791 §9.7.1:
    VCALENDAR > VEVENT > time-range, no property or nested filter), else None."""
    if comp_filter.prop_filters or comp_filter.time_range is not None \
            or comp_filter.is_not_defined or len(comp_filter.comp_filters) != 1:
        return None
    inner = comp_filter.comp_filters[0]
    if inner.name.upper() != "VEVENT" or inner.is_not_defined or inner.prop_filters \
            or inner.comp_filters or inner.time_range is None:
        return None
    return inner.time_range


def _index_decides(row: LiveItem) -> bool:
    """A single non-recurring VEVENT with a bounded span (an object with RECURRENCE-ID
    overrides is indexed as recurring: its span would be a union)."""
    return row.component == "VEVENT" and not row.recurring and row.start is not None \
        and row.end is not None


# The index keeps this much of an item's search text (pim's ItemIndex.text)
SEARCH_MAX = 20_000
# Properties whose values pim.vcard indexes whole, one per line, lower-cased, whitespace runs
# made single spaces (pim/vcard.py ``_TEXT_PROPS``; N and ORG are structured, left out)
_INDEXED_CARD_PROPS = frozenset({"FN", "EMAIL", "NICKNAME"})


def _indexed_needle(card_filter: CardFilter) -> tuple[str, bool] | None:
    """The text an addressbook-query may be narrowed by in SQL (a contact search: one
    text-match on FN, EMAIL or NICKNAME), lower-cased, and whether the cards whose indexed
    text is not all ASCII must be kept as well; None when the index cannot narrow it without
    losing a match. Only a positive match of an ASCII needle without leading, trailing or
    repeated white space, and without ";": then every card that matches (any match type)
    has the needle in its lower-cased indexed text, so the SQL candidates are a superset
    and pim.query.card_matches still decides (RFC 6352 §10.5.4).

    In the ASCII and octet collations a matching card's text holds the needle's ASCII
    letters themselves. In i;unicode-casemap (RFC 5051: NFKD, then casefold; the collation
    CardDAV clients send) a non-ASCII text may fold into them ("Straße" holds "strasse",
    "José" holds "jose"); a text whose lower-cased form (the index's) is ASCII folds to that
    very form. So there the indexed texts with a non-ASCII character are all candidates, and
    the others only when they hold the needle (tests/unit/test_dav_card_narrowing.py)."""
    if len(card_filter.prop_filters) != 1:
        return None
    pf = card_filter.prop_filters[0]
    if pf.name.upper() not in _INDEXED_CARD_PROPS or pf.is_not_defined or pf.param_filters \
            or pf.time_range is not None or len(pf.text_matches) != 1:
        return None
    tm = pf.text_matches[0]
    text = tm.text
    if tm.negate or not text or not text.isascii() or " ".join(text.split()) != text \
            or ";" in text:
        # ";": the index joins a value's ";"-separated parts with a space (pim.vcard
        # Prop.text), the match sees the value with its semicolons
        return None
    if tm.collation in ("i;ascii-casemap", "i;octet"):
        return text.lower(), False
    if tm.collation == "i;unicode-casemap":
        return text.lower(), True
    return None
