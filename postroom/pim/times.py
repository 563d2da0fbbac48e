"""Shared iCalendar plumbing for ``ical``, ``recurrence``, ``query``, ``freebusy`` and ``itip``:
parse once with a clear error, turn DATE / DATE-TIME values into epoch seconds, and find the
time span of one component per RFC 4791 §9.9.

The floating-time rule: a floating DATE-TIME (no TZID, no Z) and an all-day DATE are taken as
UTC everywhere in pim/ (index, time-range filters, expansion, free-busy). RFC 4791 §9.9 would
have them evaluated in the calendar's CALDAV:calendar-timezone; doing that would make the
stored index depend on a collection property that can change after the item was written, so
the index would go stale. The price is that an all-day event queried with a range that cuts
through the day can be off by the user's UTC offset; clients query whole days or weeks, where
it does not matter. Unknown TZIDs (no VTIMEZONE and not an IANA name) count as floating.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any, ParamSpec, TypeVar

import icalendar

from postroom.pim.model import CALDAV_NS, InvalidItem

# Calendar components that carry time and belong to a calendar object resource (RFC 5545 §3.6)
TIME_COMPONENTS = ("VEVENT", "VTODO", "VJOURNAL", "VFREEBUSY")

# Properties whose value must parse, or the item means nothing sensible (others may be broken
# and are kept as the client sent them: clients write odd X- and even odd standard properties).
CRITICAL_PROPS = frozenset({"UID", "DTSTART", "DTEND", "DUE", "DURATION", "RRULE", "RDATE",
                            "EXDATE", "RECURRENCE-ID", "COMPLETED", "CREATED", "SEQUENCE"})

DAY = 86_400
# The epoch bounds of what we index: years 1 to 9999 are what datetime can hold.
MIN_EPOCH = -62_135_596_800
MAX_EPOCH = 253_402_300_799
# Deepest component nesting a calendar object may have (VCALENDAR > VEVENT > VALARM is 3;
# VTIMEZONE > STANDARD is 3). Deeper input is rejected before anything walks it recursively.
MAX_DEPTH = 8


# What icalendar, dateutil and datetime raise on hostile values (year 9999 overflow, odd
# rules, broken property objects): turned into InvalidItem or "no match", never a 500.
LIB_ERRORS: tuple[type[Exception], ...] = (ValueError, TypeError, OverflowError, KeyError,
                                           AttributeError, IndexError, RecursionError)

# The same plus our own verdict: what a "skip this item" handler catches.
BAD_INPUT: tuple[type[Exception], ...] = (InvalidItem, *LIB_ERRORS)

P = ParamSpec("P")
R = TypeVar("R")


def guarded(fn: Callable[P, R]) -> Callable[P, R]:
    """A public entry point: library errors on bad input become valid-calendar-data."""
    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except InvalidItem:
            raise
        except LIB_ERRORS as exc:
            raise invalid_data(f"cannot interpret the calendar data: {_short(exc)}") from None
    return wrapper


def invalid_data(text: str) -> InvalidItem:
    return InvalidItem((CALDAV_NS, "valid-calendar-data"), text)


def invalid_object(text: str) -> InvalidItem:
    return InvalidItem((CALDAV_NS, "valid-calendar-object-resource"), text)


def decode(data: bytes) -> str:
    """UTF-8 is the only charset CalDAV stores (RFC 4791 §5.3.2.1 supported-calendar-data is
    text/calendar; RFC 5545 §3.1.4 default charset UTF-8). A leading BOM is tolerated."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise invalid_data(f"not UTF-8 at byte {exc.start}") from None
    return text.removeprefix("\ufeff")


def _check_depth(text: str) -> None:
    """Reject nesting deeper than MAX_DEPTH by counting BEGIN/END lines, so that icalendar's
    recursive walk never sees input that could exhaust the stack."""
    depth = 0
    for line in text.splitlines():
        head = line[:6].upper()
        if head == "BEGIN:":
            depth += 1
            if depth > MAX_DEPTH:
                raise invalid_data(f"components nested deeper than {MAX_DEPTH}")
        elif head[:4] == "END:":
            depth -= 1


def parse_calendar(data: bytes) -> icalendar.Calendar:
    """Exactly one VCALENDAR, or ``InvalidItem(valid-calendar-data)``. Everything icalendar
    may raise on bad input is turned into that; nothing else escapes."""
    text = decode(data)
    if "BEGIN:VCALENDAR" not in text.upper():
        raise invalid_data("no BEGIN:VCALENDAR")
    _check_depth(text)
    try:
        cals = icalendar.Calendar.from_ical(text, multiple=True)
    except Exception as exc:  # icalendar raises many types on bad input
        raise invalid_data(f"unparsable iCalendar: {_short(exc)}") from None
    cals = [c for c in cals if isinstance(c, icalendar.Calendar)]
    if len(cals) != 1:
        raise invalid_data(f"expected one VCALENDAR, found {len(cals)}")
    cal = cals[0]
    if cal.name != "VCALENDAR":
        raise invalid_data("the outer component is not VCALENDAR")
    return cal


# Parsed calendars kept for read-only use (queries, free-busy, webmail views): clients poll
# the same range again and again, and icalendar's parse is most of a query's cost. Only small
# objects are kept, so the cache holds at most CACHE_ITEMS * CACHE_MAX_SIZE source bytes
# (plus icalendar's overhead, roughly ten times that).
CACHE_ITEMS = 1024
CACHE_MAX_SIZE = 8 * 1024


@functools.lru_cache(maxsize=CACHE_ITEMS)
def _parse_cached(data: bytes) -> icalendar.Calendar:
    return parse_calendar(data)


def parse_shared(data: bytes) -> icalendar.Calendar:
    """``parse_calendar`` through a small cache. The result is shared: callers must not
    change it (the pim functions copy before they change anything)."""
    if len(data) > CACHE_MAX_SIZE:
        return parse_calendar(data)
    return _parse_cached(data)


def _short(exc: BaseException) -> str:
    text = str(exc).replace("\r", " ").replace("\n", " ")
    return text[:160]


def check_critical(comp: icalendar.cal.component.Component) -> None:
    """Broken values of the properties that decide when and what an item is are an error
    (icalendar keeps them as vBroken and lists them in ``errors``)."""
    for name, text in getattr(comp, "errors", ()) or ():
        if str(name).upper() in CRITICAL_PROPS:
            raise invalid_data(f"{comp.name} {name}: {_short(Exception(text))}")


def value(comp: icalendar.cal.component.Component, name: str) -> date | None:
    """The DATE or DATE-TIME of a single-valued property, or None when absent/unusable."""
    prop = comp.get(name)
    if prop is None:
        return None
    if isinstance(prop, list):
        prop = prop[0]
    dt = getattr(prop, "dt", None)
    if isinstance(dt, date):
        return dt
    return None


def duration(comp: icalendar.cal.component.Component) -> timedelta | None:
    prop = comp.get("DURATION")
    if prop is None:
        return None
    if isinstance(prop, list):
        prop = prop[0]
    dt = getattr(prop, "dt", None)
    return dt if isinstance(dt, timedelta) else None


def is_all_day(value_: date) -> bool:
    return not isinstance(value_, datetime)


def epoch(value_: date) -> int:
    """Seconds since the epoch; DATE and floating DATE-TIME as UTC (the floating-time rule)."""
    if isinstance(value_, datetime):
        if value_.tzinfo is None or value_.tzinfo.utcoffset(value_) is None:
            value_ = value_.replace(tzinfo=UTC)
        try:
            return int(value_.timestamp())
        except (OverflowError, ValueError, OSError):
            return MAX_EPOCH if value_.year > 5000 else MIN_EPOCH
    return (value_.toordinal() - 719_163) * DAY


def add_duration(start: date, dur: timedelta) -> int:
    """``start`` + ``dur`` as epoch. RFC 5545 §3.3.6: days and weeks are nominal (wall clock,
    so P1D across a DST change is 23 or 25 hours), hours/minutes/seconds exact."""
    try:
        if isinstance(start, datetime):
            wall = start + timedelta(days=dur.days)
            return epoch(wall) + dur.seconds
        return epoch(start + timedelta(days=dur.days)) + dur.seconds
    except OverflowError:
        return MAX_EPOCH if dur.days >= 0 else MIN_EPOCH


def to_tz(value_: date, tz: tzinfo | None, all_day: bool) -> datetime:
    """A value made comparable with a series whose DTSTART has ``tz`` (None: floating or all
    day), as dateutil.rrule wants: all aware or all naive."""
    if not isinstance(value_, datetime):
        return datetime(value_.year, value_.month, value_.day, tzinfo=tz)
    if all_day:
        return datetime(value_.year, value_.month, value_.day)
    if tz is None:
        if value_.tzinfo is not None:
            return value_.astimezone(UTC).replace(tzinfo=None)
        return value_
    if value_.tzinfo is None:
        return value_.replace(tzinfo=tz)
    return value_.astimezone(tz)


@dataclass(frozen=True, slots=True)
class Span:
    """The time one component instance occupies, RFC 4791 §9.9. ``start``/``end`` epoch
    seconds, None for open. ``point``: a zero-length instance (DATE-TIME DTSTART without
    DTEND/DURATION, a VTODO with only DUE, ...), which overlaps a range it starts in."""

    start: int | None
    end: int | None
    # The VTODO rows of the RFC 4791 §9.9 table compare differently at the edges:
    # "dur" DTSTART+DURATION, "due" DTSTART+DUE, "due-only" DUE, "closed" COMPLETED/CREATED.
    mode: str = ""

    def overlaps(self, lo: int | None, hi: int | None) -> bool:
        """RFC 4791 §9.9: start < range end and end > range start; a zero-length instance
        overlaps when range start <= start < range end; VTODO rows as the table says."""
        s, e = self.start, self.end
        if self.mode and s is not None and e is not None:
            return _todo_overlaps(self.mode, s, e, lo, hi)
        if s is not None and e is not None and s == e:
            return (lo is None or lo <= s) and (hi is None or s < hi)
        if hi is not None and s is not None and s >= hi:
            return False
        return not (lo is not None and e is not None and e <= lo)


def _todo_overlaps(mode: str, s: int, e: int, lo: int | None, hi: int | None) -> bool:
    """The VTODO rows of RFC 4791 §9.9 (lo/hi None: that side of the range is open)."""
    if mode == "dur":  # (start <= DTSTART+DURATION) AND ((end > DTSTART) OR (end >= D+D))
        return (lo is None or lo <= e) and (hi is None or hi > s or hi >= e)
    if mode == "due":  # ((start < DUE) OR (start <= DTSTART)) AND ((end > DTSTART) OR (end >= DUE))
        return (lo is None or lo < e or lo <= s) and (hi is None or hi > s or hi >= e)
    if mode == "due-only":  # (start < DUE) AND (end >= DUE)
        return (lo is None or lo < s) and (hi is None or hi >= s)
    # "closed": COMPLETED and/or CREATED, (start <= later) AND (end >= earlier)
    return (lo is None or lo <= e) and (hi is None or hi >= s)


NEVER = Span(MAX_EPOCH, MIN_EPOCH)  # a VJOURNAL without DTSTART: no time-range matches it


def component_span(comp: icalendar.cal.component.Component,
                   start_override: date | None = None) -> Span:
    """The span of one instance of ``comp`` per the RFC 4791 §9.9 tables. ``start_override``
    is an instance's start (recurrence); the length stays that of the component."""
    name = comp.name
    dtstart = value(comp, "DTSTART")
    if start_override is not None and dtstart is not None:
        shift: timedelta | None = _diff(start_override, dtstart)
        dtstart = start_override
    else:
        shift = None
    if name == "VEVENT":
        if dtstart is None:
            return NEVER
        s = epoch(dtstart)
        dtend = value(comp, "DTEND")
        if dtend is not None:
            e = epoch(dtend) + (_secs(shift) if shift else 0)
            return Span(s, max(s, e))
        dur = duration(comp)
        if dur is not None:
            return Span(s, max(s, add_duration(dtstart, dur)))
        return Span(s, s + DAY if is_all_day(dtstart) else s)
    if name == "VTODO":
        due = value(comp, "DUE")
        dur = duration(comp)
        if dtstart is not None:
            s = epoch(dtstart)
            if dur is not None:
                return Span(s, max(s, add_duration(dtstart, dur)), "dur")
            if due is not None:
                return Span(s, max(s, epoch(due) + (_secs(shift) if shift else 0)), "due")
            return Span(s, s)
        if due is not None:
            d = epoch(due)
            return Span(d, d, "due-only")
        completed, created = value(comp, "COMPLETED"), value(comp, "CREATED")
        if completed is not None and created is not None:
            a, b = sorted((epoch(completed), epoch(created)))
            return Span(a, b, "closed")
        if completed is not None:
            c = epoch(completed)
            return Span(c, c, "closed")
        if created is not None:
            return Span(epoch(created), None)
        return Span(None, None)
    if name == "VJOURNAL":
        if dtstart is None:
            return NEVER
        s = epoch(dtstart)
        return Span(s, s + DAY if is_all_day(dtstart) else s)
    if name == "VFREEBUSY":
        dtend = value(comp, "DTEND")
        if dtstart is None or dtend is None:
            return Span(None, None)
        return Span(epoch(dtstart), max(epoch(dtstart), epoch(dtend)))
    return Span(None, None)


def _diff(a: date, b: date) -> timedelta:
    return timedelta(seconds=epoch(a) - epoch(b))


def _secs(td: timedelta) -> int:
    return td.days * DAY + td.seconds


def text_of(prop: Any) -> str:
    """A TEXT (or list-of-TEXT, e.g. CATEGORIES) property as plain text."""
    if prop is None:
        return ""
    if isinstance(prop, list):
        return ",".join(text_of(p) for p in prop)
    cats = getattr(prop, "cats", None)
    if cats is not None:
        return ",".join(str(c) for c in cats)
    return str(prop)


def to_bytes(comp: icalendar.cal.component.Component) -> bytes:
    """Serialise (icalendar folds lines at 75 octets and ends them with CRLF)."""
    out = comp.to_ical()
    return out if isinstance(out, bytes) else bytes(out)
