"""The calendar screens: day, week, month and agenda views, and one event's page.

A front-end like CalDAV: it reads the request, calls ``WebCalendar`` (services/webmail/
calendar.py, which goes through services/dav and the gate) and renders. Pages are drawn on
the server and work without script; calendar.js adds keyboard shortcuts (arrows, ``t``
today, ``n`` new, ``d``/``w``/``m``/``a`` views), applies calendar colours (no inline style:
the CSP forbids it) and reloads when the live stream says one of the shown calendars changed.

URLs carry calendars by folder id and events by their resource name in the query (``cal``,
``item``), never by path, so any name a CalDAV client chose works. Which calendars are shown
is in the URL too (``on`` repeated, with ``toggles=1``), so a view is a link one can keep.
Anything that cannot be an id or a date is 404 or the default view, never a 500.
"""

from __future__ import annotations

import calendar as cal_module
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from postroom.core.errors import Kind, MailError
from postroom.services.webmail import Webmail
from postroom.services.webmail.calendar import CalendarRef, Occurrence, WebCalendar
from postroom.services.webmail.calendar_ical import (
    FREQS,
    KEEP,
    WEEKDAYS,
    EventDraft,
    OccurrenceDraft,
    valid_rid,
)
from postroom.web.forms import Form, back, read_form, status_of, text
from postroom.web.webmail.contacts import download_name, write_to
from postroom.web.webmail.shell import MAX_ID, page, user_of

if TYPE_CHECKING:
    from postroom.web.context import WebServices, WebSettings

HOME = "/webmail/calendar"
VIEWS = ("day", "week", "month", "agenda")
AGENDA_DAYS = 30
REMINDERS = ((("", "No reminder"), ("0", "At the start"), ("5", "5 minutes before"),
              ("15", "15 minutes before"), ("30", "30 minutes before"),
              ("60", "1 hour before"), ("1440", "1 day before")))
WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
FIELDS = ("title", "start", "end", "repeat", "interval", "byday", "count", "until",
          "reminder", "attendees", "description", "calendar", "answer")


def service_of(wm: Webmail, services: WebServices) -> WebCalendar | None:
    """The facade's calendar when it has one, else one built on ``services.dav``."""
    own = getattr(wm, "calendar", None)
    if isinstance(own, WebCalendar):
        return own
    return WebCalendar(services.dav, wm.prefs) if services.dav is not None else None


def _int(raw: str, most: int = MAX_ID) -> int:
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19 or not 0 < int(raw) <= most:
        raise HTTPException(404)
    return int(raw)


FIRST_YEAR, LAST_YEAR = 1900, 2199  # views outside are junk (and would overflow date)


def _date(raw: str, default: date) -> date:
    """A yyyy-mm-dd from the query; anything else (or a year out of range) is ``default``."""
    try:
        found = date.fromisoformat(raw) if raw and len(raw) == 10 else default
    except ValueError:
        return default
    return found if FIRST_YEAR <= found.year <= LAST_YEAR else default


def _item(raw: str) -> str:
    if not raw or len(raw) > 255 or "/" in raw or any(ord(c) < 32 for c in raw):
        raise HTTPException(404)
    return raw


def span_of(view: str, day: date) -> tuple[date, date]:
    """The first and last local day a view shows (weeks start on Monday, ISO 8601)."""
    if view == "day":
        return day, day
    if view == "week":
        first = day - timedelta(days=day.weekday())
        return first, first + timedelta(days=6)
    if view == "agenda":
        return day, day + timedelta(days=AGENDA_DAYS - 1)
    first_of_month = day.replace(day=1)
    first = first_of_month - timedelta(days=first_of_month.weekday())
    last_of_month = day.replace(day=cal_module.monthrange(day.year, day.month)[1])
    last = last_of_month + timedelta(days=6 - last_of_month.weekday())
    return first, last


def step(view: str, day: date, direction: int) -> date:
    if view == "day":
        return day + timedelta(days=direction)
    if view == "week":
        return day + timedelta(days=7 * direction)
    if view == "agenda":
        return day + timedelta(days=AGENDA_DAYS * direction)
    month = day.month - 1 + direction
    year = day.year + month // 12
    month = month % 12 + 1
    return date(year, month, min(day.day, cal_module.monthrange(year, month)[1]))


def title_of(view: str, first: date, last: date, day: date) -> str:
    if view == "day":
        return day.strftime("%A %d %B %Y")
    if view == "month":
        return day.strftime("%B %Y")
    return f"{first.strftime('%d %b %Y')} – {last.strftime('%d %b %Y')}"


def _rid_label(rid: str) -> str:
    """An occurrence's date as people read it (its RECURRENCE-ID's day; UTC for a timed one,
    which is what the recurrence id names)."""
    if len(rid) < 8 or not rid[:8].isdigit():
        return ""
    try:
        return date(int(rid[:4]), int(rid[4:6]), int(rid[6:8])).strftime("%A %d %B %Y")
    except ValueError:
        return ""


def _clock(raw: str, field: str) -> time:
    try:
        return time.fromisoformat(raw) if raw else time(9, 0)
    except ValueError:
        raise MailError(Kind.INVALID, f"{field}: a time is written hh:mm") from None


def _day(raw: str, field: str) -> date:
    try:
        found = date.fromisoformat(raw) if len(raw) == 10 else None
    except ValueError:
        found = None
    if found is None:
        raise MailError(Kind.INVALID, f"{field}: a date is written yyyy-mm-dd")
    if not FIRST_YEAR <= found.year <= LAST_YEAR:
        raise MailError(Kind.INVALID, f"{field}: a year from {FIRST_YEAR} to {LAST_YEAR}")
    return found


def _number(raw: str, field: str) -> int | None:
    if not raw:
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 6:
        raise MailError(Kind.INVALID, f"{field}: a whole number")
    return int(raw)


def _weekday_order(day: str) -> int:
    return WEEKDAYS.index(day) if day in WEEKDAYS else len(WEEKDAYS)


def draft_of(form: Form, zone: str) -> EventDraft:
    """The posted event form as a draft; a malformed field is INVALID naming it."""
    all_day = text(form, "all_day") == "on"
    start_day = _day(text(form, "start_date"), "start")
    end_day = _day(text(form, "end_date") or text(form, "start_date"), "end")
    if all_day:
        start, end = datetime.combine(start_day, time()), datetime.combine(end_day, time())
    else:
        start = datetime.combine(start_day, _clock(text(form, "start_time"), "start"))
        end = datetime.combine(end_day, _clock(text(form, "end_time") or
                                                text(form, "start_time"), "end"))
        if not text(form, "end_time"):
            end = start + timedelta(hours=1)
    repeat = text(form, "repeat")
    ends = text(form, "ends")
    raw_people = text(form, "attendees").replace(",", "\n").replace(";", "\n")
    people = tuple(dict.fromkeys(p.strip().strip("<>").lower() for p in raw_people.split("\n")
                                 if p.strip()))
    reminder = _number(text(form, "reminder"), "reminder")
    return EventDraft(
        summary=text(form, "title"), start=start, end=end, zone=zone, all_day=all_day,
        location=text(form, "location"), description=form.get("description").strip(),
        repeat=repeat if repeat in FREQS or repeat == KEEP else "",
        interval=_number(text(form, "interval"), "interval") or 1,
        byday=tuple(sorted(dict.fromkeys(form.all("byday")), key=_weekday_order))[:8],
        count=_number(text(form, "count"), "count") if ends == "count" else None,
        until=_day(text(form, "until"), "until") if ends == "until" else None,
        reminder=reminder, attendees=people)


def occurrence_of(form: Form) -> OccurrenceDraft:
    """The posted one-occurrence form (fields o_*), as draft_of reads the event form."""
    all_day = text(form, "o_all_day") == "on"
    start_day = _day(text(form, "o_start_date"), "start")
    end_day = _day(text(form, "o_end_date") or text(form, "o_start_date"), "end")
    if all_day:
        return OccurrenceDraft(text(form, "o_title"), datetime.combine(start_day, time()),
                               datetime.combine(end_day, time()), True)
    start = datetime.combine(start_day, _clock(text(form, "o_start_time"), "start"))
    end = datetime.combine(end_day, _clock(text(form, "o_end_time"), "end")) \
        if text(form, "o_end_time") else start + timedelta(hours=1)
    return OccurrenceDraft(text(form, "o_title"), start, end)


def occurrence_values(occ: OccurrenceDraft | None) -> dict[str, Any] | None:
    if occ is None:
        return None
    return {"o_title": occ.summary, "o_all_day": occ.all_day,
            "o_start_date": occ.start.date().isoformat(),
            "o_start_time": occ.start.strftime("%H:%M"),
            "o_end_date": occ.end.date().isoformat(), "o_end_time": occ.end.strftime("%H:%M")}


def form_values(draft: EventDraft | None, day: date, cal_id: int | None) -> dict[str, Any]:
    """What the form shows: a draft's fields, or a new event on ``day`` at 09:00."""
    if draft is None:
        start = datetime.combine(day, time(9, 0))
        draft = EventDraft(summary="", start=start, end=start + timedelta(hours=1))
    ends = "count" if draft.count else "until" if draft.until else "never"
    return {"title": draft.summary, "all_day": draft.all_day,
            "start_date": draft.start.date().isoformat(),
            "start_time": draft.start.strftime("%H:%M"),
            "end_date": draft.end.date().isoformat(), "end_time": draft.end.strftime("%H:%M"),
            "location": draft.location, "description": draft.description,
            "repeat": draft.repeat, "interval": str(draft.interval),
            "byday": list(draft.byday), "ends": ends,
            "count": str(draft.count or ""), "until": draft.until.isoformat()
            if draft.until else "", "reminder": "" if draft.reminder is None
            else str(draft.reminder), "attendees": "\n".join(draft.attendees),
            "calendar": str(cal_id or "")}


def posted_values(form: Form) -> dict[str, Any]:
    """The form as posted, to draw it again with the user's input after a refusal."""
    names = ("title", "start_date", "start_time", "end_date", "end_time", "location",
             "description", "repeat", "interval", "ends", "count", "until", "reminder",
             "attendees", "calendar")
    values: dict[str, Any] = {n: form.get(n) for n in names}
    values["all_day"] = text(form, "all_day") == "on"
    values["byday"] = form.all("byday")
    return values


def error_map(exc: MailError) -> dict[str, str]:
    """A refusal next to the field it names ("start: ..."), else at the top (title)."""
    head, sep, rest = exc.text.partition(": ")
    if sep and head in FIELDS:
        return {head: rest[:1].upper() + rest[1:]}
    return {"title": exc.text}


def routes(wm: Webmail, services: WebServices, web: WebSettings) -> list[BaseRoute]:
    cals = service_of(wm, services)
    if cals is None:
        return []
    service: WebCalendar = cals

    def shown(request: Request, all_cals: list[CalendarRef]) -> list[CalendarRef]:
        query = request.query_params
        if query.get("toggles") != "1":
            return all_cals
        wanted = set(query.getlist("on"))
        return [c for c in all_cals if str(c.id) in wanted]

    def link_maker(request: Request, visible: list[CalendarRef],
                   all_cals: list[CalendarRef]) -> Any:
        keep: list[tuple[str, str]] = []
        if len(visible) != len(all_cals):
            keep = [("toggles", "1"), *[("on", str(c.id)) for c in visible]]

        def link(view: str, day: date) -> str:
            return f"{HOME}?{urlencode([('view', view), ('date', day.isoformat()), *keep])}"
        return link

    async def index(request: Request) -> Response:
        principal = user_of(request).actor.principal
        query = request.query_params
        zone, today = await service.today(principal)
        view = query.get("view", "week")
        view = view if view in VIEWS else "week"
        day = _date(query.get("date", ""), today)
        first, last = span_of(view, day)
        all_cals = await service.calendars(principal)
        visible = shown(request, all_cals)
        error = ""
        status = 200
        try:
            occ = await service.occurrences(principal, visible, first, last, zone)
        except MailError as exc:
            if exc.kind is not Kind.LIMIT:
                raise
            occ, error, status = [], exc.text, status_of(exc)
        by_day: dict[date, list[Occurrence]] = {}
        for o in occ:
            for d in o.days():
                if first <= d <= last:
                    by_day.setdefault(d, []).append(o)
        days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
        link = link_maker(request, visible, all_cals)
        return await page(request, wm, "webmail/calendar.html", {
            "view": view, "day": day, "today": today, "first": first, "last": last,
            "days": days, "by_day": by_day, "calendars": all_cals,
            "visible": {c.id for c in visible}, "link": link, "zone": zone,
            "title": title_of(view, first, last, day), "error": error,
            "prev": link(view, step(view, day, -1)), "next": link(view, step(view, day, 1)),
            "weekdays": WEEKDAY_NAMES, "writable": any(c.may_create for c in all_cals),
            "event_url": event_url, "views": VIEWS}, status=status,
            headers={"Cache-Control": "no-store"})

    async def form_page(request: Request, values: dict[str, Any], *, view: Any = None,
                        errors: dict[str, str] | None = None, status: int = 200,
                        at: str = "", occurrence: dict[str, Any] | None = None) -> Response:
        principal = user_of(request).actor.principal
        all_cals = await service.calendars(principal)
        return await page(request, wm, "webmail/calendar_event.html", {
            "values": values, "errors": errors or {}, "event": view,
            "targets": [c for c in all_cals if c.may_create], "reminders": REMINDERS,
            "weekdays": list(zip(WEEKDAYS, WEEKDAY_NAMES, strict=True)),
            "zone": await service.zone(principal), "home": HOME, "at": at,
            "occ": occurrence, "min_chars": wm.config.completion_min_chars,
            "write_all": _write_all(view, principal.address or ""),
            "at_label": _rid_label(at)},
            status=status, headers={"Cache-Control": "no-store"})

    async def new(request: Request) -> Response:
        principal = user_of(request).actor.principal
        _zone, today = await service.today(principal)
        day = _date(request.query_params.get("date", ""), today)
        raw = request.query_params.get("cal", "")
        cal_id = _int(raw) if raw else None
        return await form_page(request, form_values(None, day, cal_id))

    async def event(request: Request) -> Response:
        principal = user_of(request).actor.principal
        query = request.query_params
        cal_id, name = _int(query.get("cal", "")), _item(query.get("item", ""))
        at = query.get("at", "")
        view = await service.event(principal, cal_id, name)
        at = at if valid_rid(at) and view.info.draft.repeat else ""
        occ = await service.occurrence(principal, cal_id, name, at) \
            if at and view.editable else None
        return await form_page(request, form_values(view.info.draft, date.today(), cal_id),
                               view=view, at=at, occurrence=occurrence_values(occ))

    async def save(request: Request) -> Response:
        principal = user_of(request).actor.principal
        form = await read_form(request)
        zone = await service.zone(principal)
        name = text(form, "item")
        cal_id = _int(text(form, "calendar") or text(form, "cal"))
        view = None
        try:
            if name:
                view = await service.event(principal, _int(text(form, "cal")), _item(name))
            draft = draft_of(form, zone)
            if name:
                await service.save(principal, cal_id, name, text(form, "etag"), draft)
            else:
                await service.create(principal, cal_id, draft)
        except MailError as exc:
            if exc.kind is Kind.NOT_FOUND:
                raise
            return await form_page(request, posted_values(form), view=view,
                                   errors=error_map(exc), status=status_of(exc))
        return back(HOME, "Event saved.", view="week", date=draft.start.date().isoformat())

    async def delete(request: Request) -> Response:
        principal = user_of(request).actor.principal
        form = await read_form(request)
        cal_id, name = _int(text(form, "cal")), _item(text(form, "item"))
        only = text(form, "only")
        try:
            if only:
                if not valid_rid(only):
                    raise HTTPException(404)
                await service.delete_occurrence(principal, cal_id, name, text(form, "etag"),
                                                only)
            else:
                await service.delete(principal, cal_id, name, text(form, "etag"))
        except MailError as exc:
            if exc.kind is Kind.NOT_FOUND:
                raise
            view = await service.event(principal, cal_id, name)
            return await form_page(request, form_values(view.info.draft, date.today(), cal_id),
                                   view=view, errors={"title": exc.text},
                                   status=status_of(exc))
        return back(HOME, "Occurrence deleted." if only else "Event deleted.")

    async def occurrence_save(request: Request) -> Response:
        """One occurrence of a series moved or renamed (the small form on its page)."""
        principal = user_of(request).actor.principal
        form = await read_form(request)
        cal_id, name = _int(text(form, "cal")), _item(text(form, "item"))
        at = text(form, "at")
        if not valid_rid(at):
            raise HTTPException(404)
        try:
            change = occurrence_of(form)
            await service.edit_occurrence(principal, cal_id, name, text(form, "etag"), at,
                                          change)
        except MailError as exc:
            if exc.kind is Kind.NOT_FOUND:
                raise
            view = await service.event(principal, cal_id, name)
            values: dict[str, Any] = {k: form.get(k) for k in (
                "o_title", "o_start_date", "o_start_time", "o_end_date", "o_end_time")}
            values["o_all_day"] = text(form, "o_all_day") == "on"
            head, sep, rest = exc.text.partition(": ")
            return await form_page(request, form_values(view.info.draft, date.today(), cal_id),
                                   view=view, at=at, occurrence=values,
                                   errors={"o_title": rest if sep and head in FIELDS
                                           else exc.text}, status=status_of(exc))
        return back(HOME, "Occurrence changed.", view="week",
                    date=change.start.date().isoformat())

    async def answer(request: Request) -> Response:
        principal = user_of(request).actor.principal
        form = await read_form(request)
        cal_id, name = _int(text(form, "cal")), _item(text(form, "item"))
        partstat = text(form, "partstat").upper()
        try:
            await service.answer(principal, cal_id, name, text(form, "etag"), partstat)
        except MailError as exc:
            if exc.kind is Kind.NOT_FOUND:
                raise
            view = await service.event(principal, cal_id, name)
            return await form_page(request, form_values(view.info.draft, date.today(), cal_id),
                                   view=view, errors={"answer": exc.text},
                                   status=status_of(exc))
        words = {"ACCEPTED": "accepted", "TENTATIVE": "tentatively accepted",
                 "DECLINED": "declined"}
        return back(f"{event_url(cal_id, name)}", f"You {words[partstat]} the invitation.")

    async def export(request: Request) -> Response:
        """The calendar as one .ics download (one VCALENDAR, each VTIMEZONE once)."""
        principal = user_of(request).actor.principal
        name, chunks = await service.export(principal,
                                            _int(request.query_params.get("cal", "")))
        return StreamingResponse(chunks, media_type="text/calendar; charset=utf-8", headers={
            "Content-Disposition": f'attachment; filename="{download_name(name, "ics")}"',
            "Cache-Control": "no-store"})

    return [Route(HOME, index, methods=["GET"]),
            Route(HOME + "/export", export, methods=["GET"]),
            Route(HOME + "/new", new, methods=["GET"]),
            Route(HOME + "/event", event, methods=["GET"]),
            Route(HOME + "/save", save, methods=["POST"]),
            Route(HOME + "/delete", delete, methods=["POST"]),
            Route(HOME + "/answer", answer, methods=["POST"]),
            Route(HOME + "/occurrence", occurrence_save, methods=["POST"])]


def _write_all(view: Any, me: str) -> str:
    """compose to everyone of the event but the user (organiser and attendees), or ""."""
    if view is None:
        return ""
    people = [view.info.organizer, *(p.address for p in view.info.participants)]
    others = [a for a in dict.fromkeys(people) if a and a != me.lower()]
    return write_to(others) if others else ""


def event_url(cal_id: int, name: str, at: str | None = None) -> str:
    """An event's page; ``at``: the occurrence it was opened from (a recurring one)."""
    params: dict[str, str | int] = {"cal": cal_id, "item": name}
    if at:
        params["at"] = at
    return f"{HOME}/event?{urlencode(params)}"
