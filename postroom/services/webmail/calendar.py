"""Webmail's calendar: the calendars a user sees and their events, through the DAV services.

Every read and write goes through ``services.dav`` (Collections.home, Items.members/get_many/
put/delete), so the webmail calendar passes the same gate as CalDAV (Op.ITEM_READ, ITEM_CREATE,
ITEM_EDIT, ITEM_DELETE) and stores the same calendar object resources a CalDAV client reads
(RFC 4791 §4.1); calendar_ical.py makes and reads them. What the pages may *offer* comes from
the booleans of ``CalendarRef`` (computed here from the gate's handle), never from letters;
the services refuse again whatever the page offered (a read-only calendar answers NO_PERM).

Views read the index first (each item's span and whether it recurs, store: dav_items) and then
expand only the candidates with ``pim.recurrence`` (RFC 5545 §3.3.10, overrides and EXDATEs
applied): the view needs every instance anyway, so a second CalDAV-style filter pass would only
repeat the work. Times are shown in the user's webmail time zone (prefs.timezone).

Invitations: an event the user organises is saved with ORGANIZER and ATTENDEEs and
services/dav/scheduling.py (an Items listener) sends the requests (RFC 6638 §3.2 implicit
scheduling). An attendee's answer sets their PARTSTAT and saves through Items.put; scheduling
sends the REPLY (RFC 6638 §3.2.2.3, RFC 5546 §3.2.3).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from postroom.access.gate import mailbox_missing
from postroom.access.ops import Op
from postroom.core.errors import Kind, MailError, invalid
from postroom.core.principal import Principal
from postroom.pim import recurrence
from postroom.pim.filters import TimeRange
from postroom.pim.model import InvalidItem
from postroom.services.dav import Dav
from postroom.services.dav.model import Collection, Item, PreconditionFailed
from postroom.services.webmail.calendar_ical import (
    EventDraft,
    EventInfo,
    OccurrenceDraft,
    build,
    exclude,
    new_name,
    override,
    read_event,
    read_occurrence,
    set_partstat,
    update,
)
from postroom.services.webmail.prefs import Preferences

COLOR_PROP = "{http://apple.com/ns/ical/}calendar-color"
_COLOR = re.compile(r"^#[0-9A-Fa-f]{6}(?:[0-9A-Fa-f]{2})?$")
PALETTE = 8  # colour classes (calendar.css .cal-c0 ... .cal-c7) for calendars without a colour
CALENDAR_TYPE = "text/calendar; charset=utf-8"


@dataclass(frozen=True, slots=True)
class CalendarRef:
    """One calendar the user sees. ``id``: its folder id (URLs, the sharing screen);
    ``color``: "#rrggbb" or "" (then ``shade``, a palette index, colours it)."""

    id: int
    name: str
    owner: str | None
    own: bool
    color: str
    shade: int
    may_write: bool  # change events (Op.ITEM_EDIT: insert-new plus delete-old)
    may_delete: bool
    may_share: bool
    collection: Collection
    may_create: bool = False  # add events (Op.ITEM_CREATE; ``i`` alone allows this only)


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One instance of an event in a view, in the user's time zone."""

    calendar: CalendarRef
    item: str
    summary: str
    start: datetime
    end: datetime
    all_day: bool
    recurring: bool
    status: str = ""
    recurrence_id: str | None = None  # pim.recurrence's text of the instance (for EXDATE)

    def days(self) -> list[date]:
        """The local days the instance covers (an all-day event's end is exclusive)."""
        last = self.end - timedelta(days=1) if self.all_day else self.end - timedelta(
            microseconds=1)
        first = self.start.date()
        last_day = max(first, last.date())
        return [first + timedelta(days=i) for i in range((last_day - first).days + 1)]


@dataclass(frozen=True, slots=True)
class EventView:
    """One stored event for its page: ``role`` is "organizer" (may edit, when the calendar
    allows), "attendee" (may answer), or "" (no scheduling; may edit when allowed)."""

    calendar: CalendarRef
    item: str
    etag: str
    info: EventInfo
    role: str
    my_partstat: str

    @property
    def editable(self) -> bool:
        return self.calendar.may_write and self.role != "attendee"


def _zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError, OSError):
        return UTC


def _problem(exc: Exception) -> MailError:
    """A DAV service refusal as the error a page shows (status from its kind)."""
    return refusal(exc, "event", "calendar")


def refusal(exc: Exception, item: str, folder: str) -> MailError:
    """A DAV service refusal as the error a calendar or contacts page shows (status from its
    kind), naming the ``item`` ("event", "contact") and the ``folder`` ("calendar", "address
    book")."""
    if isinstance(exc, PreconditionFailed):
        return MailError(Kind.EXISTS, f"The {item} was changed meanwhile (by another client "
                                      "or tab); open it again to see the new version.")
    if isinstance(exc, InvalidItem):
        return invalid(f"The {folder} refused the {item}: {exc.text}")
    if isinstance(exc, MailError) and exc.kind is Kind.NO_PERM:
        return MailError(Kind.NO_PERM, f"Your access to this {folder} does not allow this "
                                       "change (it is read-only or add-only for you): nothing "
                                       "was saved.")
    if isinstance(exc, MailError):
        return exc
    return invalid(str(exc)[:200])


class WebCalendar:
    def __init__(self, dav: Dav, prefs: Preferences) -> None:
        self._dav = dav
        self._prefs = prefs

    async def zone(self, principal: Principal) -> str:
        return (await self._prefs.get(principal)).timezone

    async def today(self, principal: Principal) -> tuple[str, date]:
        """The user's time zone and today's date in it (where a view opens)."""
        zone = await self.zone(principal)
        return zone, datetime.now(_zone(zone)).date()

    async def calendars(self, principal: Principal) -> list[CalendarRef]:
        """Every event calendar the user sees (own first, then shared, then public)."""
        out: list[CalendarRef] = []
        for coll in await self._dav.collections.home(principal, "calendars"):
            if coll.handle is None or "VEVENT" not in coll.components:
                continue
            h = coll.handle
            color = (coll.props.get(COLOR_PROP) or "").strip()
            out.append(CalendarRef(
                id=h.id, name=coll.displayname, owner=coll.owner,
                own=coll.owner is not None and coll.owner == principal.address,
                color=color[:7] if _COLOR.match(color) else "", shade=len(out) % PALETTE,
                may_write=h.allows(Op.ITEM_EDIT),
                may_delete=h.allows(Op.ITEM_DELETE), may_share=h.allows(Op.ADMIN),
                collection=coll, may_create=h.allows(Op.ITEM_CREATE)))
        return out

    async def calendar(self, principal: Principal, cal_id: int) -> CalendarRef:
        """One calendar by folder id; NOT_FOUND (as for a missing one) when not visible."""
        for cal in await self.calendars(principal):
            if cal.id == cal_id:
                return cal
        raise mailbox_missing(f"#{cal_id}")

    async def occurrences(self, principal: Principal, cals: list[CalendarRef],
                          first: date, last: date, zone: str) -> list[Occurrence]:
        """Instances overlapping the local days ``first``..``last`` (inclusive) in the
        calendars ``cals``, in start order; at most ``max_instances`` per event and
        ``max_view_instances`` in all (web.dav; more is MailError LIMIT, which the page shows
        with a shorter-view hint)."""
        tz = _zone(zone)
        start = datetime.combine(first, datetime.min.time(), tz)
        end = datetime.combine(last + timedelta(days=1), datetime.min.time(), tz)
        # all-day instances are floating dates: widen by a day each side, then keep by date
        lo, hi = int(start.timestamp()) - 86400, int(end.timestamp()) + 86400
        cfg = self._dav.config
        todo: list[tuple[CalendarRef, Item]] = []
        for cal in cals:
            refs = await self._dav.items.members(principal, cal.collection)
            wanted = [r.name for r in refs if r.component == "VEVENT"
                      and (r.start is None or r.start < hi) and (r.end is None or r.end > lo)]
            if len(wanted) > cfg.max_results:
                raise MailError(Kind.LIMIT, f"{cal.name} has more than {cfg.max_results} events "
                                            "in this range; choose a shorter view")
            found = await self._dav.items.get_many(principal, cal.collection, wanted)
            todo += [(cal, item) for name in wanted if (item := found.get(name)) is not None]
        most = cfg.max_view_instances
        spend = recurrence.Budget(most, 1 << 62)

        def expand_all() -> list[Occurrence]:
            out: list[Occurrence] = []
            for cal, item in todo:
                out.extend(self._expand(cal, item, lo, hi, tz, first, last, cfg.max_instances,
                                        spend))
            out.sort(key=lambda o: (not o.all_day, o.start, o.summary.lower()))
            return out
        try:
            # parsing and expanding every event of the view: one worker job, never on the
            # event loop that serves every protocol; at most web.dav.max_view_instances
            # occurrences over all events (a page, not megabytes of HTML)
            return await asyncio.to_thread(expand_all)
        except recurrence.OverBudget:
            raise MailError(Kind.LIMIT, f"This view has more than {most} occurrences; choose "
                                        "a shorter view") from None

    @staticmethod
    def _expand(cal: CalendarRef, item: Item, lo: int, hi: int, tz: tzinfo, first: date,
                last: date, most: int, spend: recurrence.Budget | None = None
                ) -> list[Occurrence]:
        try:
            found = recurrence.instances(item.data, TimeRange(lo, hi), component="VEVENT",
                                         max_instances=most, budget=spend)
        except (InvalidItem, ValueError):
            return []  # a broken object is skipped, not a broken page
        out = []
        for inst in found:
            if inst.all_day:  # floating dates: the same calendar day everywhere
                s = datetime.fromtimestamp(inst.start, UTC).replace(tzinfo=tz)
                e = datetime.fromtimestamp(inst.end, UTC).replace(tzinfo=tz)
            else:
                s = datetime.fromtimestamp(inst.start, tz)
                e = datetime.fromtimestamp(inst.end, tz)
            occ = Occurrence(cal, item.ref.name, inst.summary or item.ref.summary or "(no title)",
                             s, max(e, s), inst.all_day, item.ref.recurring, inst.status,
                             inst.recurrence_id)
            days = occ.days()
            if days[-1] >= first and days[0] <= last:
                out.append(occ)
        return out

    async def export(self, principal: Principal, cal_id: int) -> tuple[str, AsyncIterator[bytes]]:
        """(calendar name, the calendar as one .ics in chunks): the transfer service's export,
        the same file the CLI and API give."""
        cal = await self.calendar(principal, cal_id)
        return cal.name, self._dav.transfer.export_calendar(principal, cal.collection)

    # -- one event ---------------------------------------------------------------------------
    async def event(self, principal: Principal, cal_id: int, name: str) -> EventView:
        cal = await self.calendar(principal, cal_id)
        try:
            item = await self._dav.items.get(principal, cal.collection, name)
        except MailError as exc:
            if exc.kind is Kind.NOT_FOUND:
                raise MailError(Kind.NOT_FOUND, "That event no longer exists.") from None
            raise
        info = read_event(item.data, await self.zone(principal))
        me = (principal.address or "").lower()
        role, mine = "", ""
        if info.organizer and info.organizer == me:
            role = "organizer"
        else:
            for p in info.participants:
                if p.address == me:
                    role, mine = "attendee", p.partstat
        return EventView(cal, name, item.ref.etag, info, role, mine)

    async def create(self, principal: Principal, cal_id: int, draft: EventDraft) -> str:
        """A new event in the calendar; its resource name. Attendees make the user the
        organiser (scheduling invites them once it is stored)."""
        cal = await self.calendar(principal, cal_id)
        if draft.attendees:
            draft = _organised_by(draft, principal)
        _uid, data = build(draft)
        name = new_name()
        await self._put(principal, cal, name, data, None, create=True)
        return name

    async def save(self, principal: Principal, cal_id: int, name: str, etag: str,
                   draft: EventDraft) -> None:
        """The edited event, only over the version the form was drawn from (If-Match: a
        change made meanwhile by another client is not overwritten, RFC 7232 §3.1)."""
        view = await self.event(principal, cal_id, name)
        if view.role == "attendee":
            raise MailError(Kind.NO_PERM, "Only the organiser can change this event; you can "
                                          "answer the invitation.")
        if draft.attendees and view.info.organizer and view.role != "organizer":
            # someone with write access to a shared calendar edits the owner's meeting: the
            # organiser stays who it was (RFC 6638 §3.2.1 schedules it as theirs)
            boss = view.info.organizer
            draft = replace(draft, organizer=boss,
                            attendees=tuple(a for a in draft.attendees if a.lower() != boss))
        elif draft.attendees:
            draft = _organised_by(draft, principal)
        item = await self._dav.items.get(principal, view.calendar.collection, name)
        await self._put(principal, view.calendar, name, update(item.data, draft), etag)

    async def answer(self, principal: Principal, cal_id: int, name: str, etag: str,
                     partstat: str) -> None:
        """An attendee's Accept / Tentative / Decline: their PARTSTAT, saved in their copy
        (RFC 6638 §3.2.2.3: scheduling sends the REPLY to the organiser)."""
        view = await self.event(principal, cal_id, name)
        if view.role != "attendee":
            raise invalid("You are not an attendee of this event.")
        item = await self._dav.items.get(principal, view.calendar.collection, name)
        data = set_partstat(item.data, (principal.address or "").lower(), partstat)
        await self._put(principal, view.calendar, name, data, etag)

    async def delete_occurrence(self, principal: Principal, cal_id: int, name: str, etag: str,
                                rid: str) -> None:
        """One occurrence of a series removed (EXDATE), the rest kept; as an edit, so only
        the organiser (or anyone, without attendees) in a calendar they may write."""
        view = await self.event(principal, cal_id, name)
        if view.role == "attendee":
            raise MailError(Kind.NO_PERM, "Only the organiser can change this event; you can "
                                          "answer the invitation.")
        item = await self._dav.items.get(principal, view.calendar.collection, name)
        await self._put(principal, view.calendar, name, exclude(item.data, rid), etag)

    async def occurrence(self, principal: Principal, cal_id: int, name: str,
                         rid: str) -> OccurrenceDraft:
        """One occurrence of a series as its form shows it."""
        cal = await self.calendar(principal, cal_id)
        item = await self._dav.items.get(principal, cal.collection, name)
        return read_occurrence(item.data, rid, await self.zone(principal))

    async def edit_occurrence(self, principal: Principal, cal_id: int, name: str, etag: str,
                              rid: str, change: OccurrenceDraft) -> None:
        """One occurrence moved or renamed (an override, RFC 5545 §3.8.4.4); as an edit."""
        view = await self.event(principal, cal_id, name)
        if not view.editable:
            if view.role == "attendee":
                raise MailError(Kind.NO_PERM, "Only the organiser can change this event; you "
                                              "can answer the invitation.")
            raise _problem(MailError(Kind.NO_PERM, "read-only"))
        item = await self._dav.items.get(principal, view.calendar.collection, name)
        data = override(item.data, rid, change, await self.zone(principal))
        await self._put(principal, view.calendar, name, data, etag)

    async def delete(self, principal: Principal, cal_id: int, name: str, etag: str) -> None:
        cal = await self.calendar(principal, cal_id)
        try:
            await self._dav.items.delete(principal, cal.collection, name, if_match=etag or None)
        except (MailError, PreconditionFailed) as exc:
            if isinstance(exc, MailError) and exc.kind is Kind.NOT_FOUND:
                raise
            raise _problem(exc) from None

    async def _put(self, principal: Principal, cal: CalendarRef, name: str, data: bytes,
                   etag: str | None, *, create: bool = False) -> None:
        try:
            await self._dav.items.put(principal, cal.collection, name, data, CALENDAR_TYPE,
                                      if_match=None if create else (etag or None),
                                      if_none_match=create)
        except (MailError, PreconditionFailed, InvalidItem, ValueError) as exc:
            raise _problem(exc) from None


def _organised_by(draft: EventDraft, principal: Principal) -> EventDraft:
    """The draft with the user as ORGANIZER and without them among the attendees."""
    me = (principal.address or "").lower()
    if not me:
        raise invalid("attendees: only an account with an address can invite")
    others = tuple(dict.fromkeys(a.lower() for a in draft.attendees if a.lower() != me))
    return replace(draft, attendees=others, organizer=me)
