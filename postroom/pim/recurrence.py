"""Recurrence expansion (RFC 5545 §3.3.10, §3.8.5; RFC 4791 §9.9): the instances of a
calendar object that fall in a range, overrides (RECURRENCE-ID) and EXDATEs applied.

Own implementation on dateutil.rrule: the rule is iterated in the wall-clock time of DTSTART's
zone (so 09:00 stays 09:00 across DST, RFC 5545 §3.3.10), all-day series as naive midnights,
floating series naive (UTC by the floating-time rule, see ``times``). DTSTART is always an
instance (RFC 5545 §3.8.5.3). An override replaces the generated instance whose start equals
its RECURRENCE-ID; an override without such an instance is still an instance (what the
organiser sent wins). An override with RANGE=THISANDFUTURE also stands for every later
instance: its properties, and their starts moved as it moved its own.

Bounds: every expansion stops after ``max_instances`` generated starts, however far the range;
rules that can never produce a day (BYMONTH=2;BYMONTHDAY=30) are detected before iterating,
because dateutil would search them until the year 9999 (seconds of CPU for a SECONDLY rule).
Rules without COUNT (and BYSETPOS) of a frequency up to WEEKLY are fast-forwarded to the
range by whole periods, so a daily meeting since 2010 costs the same as one since last week.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

import icalendar
from dateutil import rrule as du

from postroom.pim import times
from postroom.pim.filters import TimeRange
from postroom.pim.model import Instance

Component = icalendar.cal.component.Component

_RULE_KEYS = ("FREQ", "INTERVAL", "COUNT", "BYSECOND", "BYMINUTE", "BYHOUR", "BYDAY",
              "BYMONTHDAY", "BYYEARDAY", "BYWEEKNO", "BYMONTH", "BYSETPOS", "WKST")
_DAY_FILTERS = ("BYMONTH", "BYMONTHDAY", "BYYEARDAY", "BYWEEKNO", "BYDAY")
_WEEKDAYS = {"MO": 0, "TU": 1, "WE": 2, "TH": 3, "FR": 4, "SA": 5, "SU": 6}
# How far ahead a rule's day filters are searched for a first matching day: leap days and ISO
# week 53 recur within 8 years, so 30 is generous.
_FEASIBLE_YEARS = 30


class OverBudget(Exception):
    """A request's total of expanded instances (or of answer octets) went past its budget:
    the caller answers with a limit (507 number-of-matches-within-limits, a page message),
    never with a partial item. Not one of ``times.LIB_ERRORS``: no item handler swallows it."""


class Budget:
    """What one request may still spend, over all its items: ``instances`` (occurrences
    expanded into an answer or a view, web.dav.max_request_instances) and ``octets`` (of
    rendered data, web.dav.max_response_size). ``max_instances`` bounds one series; this
    bounds the request, so N items (or N hrefs) cost at most the budget, not N times the
    per-item cap. Used by one worker job at a time (not thread-safe, needs not be)."""

    __slots__ = ("instances", "octets")

    def __init__(self, instances: int, octets: int) -> None:
        self.instances = instances
        self.octets = octets

    def spend(self, instances: int = 0, octets: int = 0) -> None:
        self.instances -= instances
        self.octets -= octets
        if self.instances < 0 or self.octets < 0:
            raise OverBudget(f"more than the request's limit of instances or octets "
                             f"({self.instances} instances, {self.octets} octets left)")


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One instance with the component it comes from (the master or an override)."""

    comp: Component
    start: date  # in the component's own zone, for output
    span: times.Span
    recurrence_id: date | None  # None: not part of a recurring series


@dataclass(frozen=True, slots=True)
class Series:
    """The components of one type and UID: the master (may be absent when only overrides
    were shared with an attendee) and the overrides keyed by RECURRENCE-ID epoch."""

    name: str
    master: Component | None
    overrides: dict[int, Component]

    @property
    def recurring(self) -> bool:
        if self.overrides:
            return True
        return self.master is not None and bool(
            self.master.get("RRULE") or self.master.get("RDATE"))


def series_of(cal: icalendar.Calendar, component: str | None = None) -> list[Series]:
    """Group the calendar's top-level components by (type, UID)."""
    groups: dict[tuple[str, str], tuple[list[Component], dict[int, Component]]] = {}
    for comp in cal.subcomponents:
        if comp.name not in times.TIME_COMPONENTS:
            continue
        if component is not None and comp.name != component:
            continue
        key = (comp.name, str(comp.get("UID", "")))
        masters, overrides = groups.setdefault(key, ([], {}))
        rid = times.value(comp, "RECURRENCE-ID")
        if rid is None:
            masters.append(comp)
        else:
            overrides[times.epoch(rid)] = comp
    return [Series(name, masters[0] if masters else None, overrides)
            for (name, _), (masters, overrides) in groups.items()]


def endless(master: Component) -> bool:
    """Has an RRULE without COUNT and UNTIL (RFC 5545 §3.3.10: such a rule never ends)."""
    for prop in _as_list(master.get("RRULE")):
        keys = {str(k).upper() for k in dict(prop)}
        if "COUNT" not in keys and "UNTIL" not in keys:
            return True
    return False


def occurrences(s: Series, lo: int | None, hi: int | None, max_instances: int,
                budget: Budget | None = None) -> tuple[list[Occurrence], bool]:
    """The occurrences of ``s`` overlapping [lo, hi), in start order, and whether the series
    was enumerated completely (False: endless or cut at ``max_instances``). Every occurrence
    found is spent from ``budget`` (OverBudget as soon as it is exhausted)."""
    out: list[Occurrence] = []
    complete = True
    master = s.master
    future = _this_and_future(s)
    # instances moved by a THISANDFUTURE override may come from outside [lo, hi)
    widen = max((abs(shift) for _, _, shift in future), default=0) + (times.DAY if future else 0)
    it_lo = None if lo is None else lo - widen
    it_hi = None if hi is None else hi + widen
    if master is not None:
        dtstart = times.value(master, "DTSTART")
        rules = _rule_set(master, dtstart, it_lo) if dtstart is not None else None
        if rules is None or dtstart is None:
            span = times.component_span(master)
            if span.overlaps(lo, hi):
                out.append(Occurrence(master, dtstart or date(1970, 1, 1), span, None))
        else:
            ruleset, endless = rules
            complete = not endless
            all_day = times.is_all_day(dtstart)
            n = 0
            for generated in _safe_iter(ruleset):
                start: date = generated.date() if all_day else generated
                n += 1
                if n > max_instances:
                    complete = False
                    break
                key = times.epoch(start)
                if it_hi is not None and key >= it_hi:
                    break
                if key in s.overrides:
                    continue
                comp, moved = master, start
                for rid_key, ovr, shift in future:  # the latest one at or before this start
                    if rid_key <= key:
                        comp, moved = ovr, _shifted(start, shift)
                span = times.component_span(comp, moved)
                if span.overlaps(lo, hi):
                    if budget is not None:
                        budget.spend(1)
                    out.append(Occurrence(comp, moved, span, start))
    for comp in s.overrides.values():
        span = times.component_span(comp)
        if span.overlaps(lo, hi):
            if budget is not None:
                budget.spend(1)
            rid = times.value(comp, "RECURRENCE-ID")
            out.append(Occurrence(comp, times.value(comp, "DTSTART") or rid or date(1970, 1, 1),
                                  span, rid))
    out.sort(key=lambda o: (o.span.start if o.span.start is not None else times.MIN_EPOCH))
    return out, complete


def _this_and_future(s: Series) -> list[tuple[int, Component, int]]:
    """Overrides with RECURRENCE-ID;RANGE=THISANDFUTURE (RFC 5545 §3.8.4.4), by RECURRENCE-ID:
    (its epoch, the override, how far it moves the instances in seconds). They apply to every
    later generated instance: its properties, its start moved by the same amount."""
    out: list[tuple[int, Component, int]] = []
    for key, comp in s.overrides.items():
        prop = comp.get("RECURRENCE-ID")
        rng = str(getattr(prop, "params", {}).get("RANGE", "")).upper()
        start = times.value(comp, "DTSTART")
        if rng == "THISANDFUTURE" and start is not None:
            out.append((key, comp, times.epoch(start) - key))
    out.sort(key=lambda t: t[0])
    return out


def _shifted(start: date, shift: int) -> date:
    if not shift:
        return start
    if isinstance(start, datetime):
        return start + timedelta(seconds=shift)
    return start + timedelta(days=shift // times.DAY)


def _safe_iter(ruleset: du.rruleset) -> Iterator[datetime]:
    """dateutil raises on overflow near year 9999 and on odd rules; an error ends the series."""
    it = iter(ruleset)
    while True:
        try:
            yield next(it)
        except StopIteration:
            return
        except times.LIB_ERRORS:
            return


def _rule_set(master: Component, dtstart: date, lo: int | None
              ) -> tuple[du.rruleset, bool] | None:
    """The master's RRULE/RDATE/EXDATE as a dateutil rruleset, and whether it is endless;
    None when the component does not recur. Raises ``ValueError`` for a rule dateutil refuses
    (``ical`` turns that into valid-calendar-data)."""
    rrules = _as_list(master.get("RRULE"))
    rdates = _as_list(master.get("RDATE"))
    if not rrules and not rdates:
        return None
    all_day = times.is_all_day(dtstart)
    tz: tzinfo | None = None
    if isinstance(dtstart, datetime) and dtstart.tzinfo is not None \
            and dtstart.tzinfo.utcoffset(dtstart) is not None:
        tz = dtstart.tzinfo
    start = times.to_tz(dtstart, tz, all_day)
    rs = du.rruleset()
    rs.rdate(start)
    endless = False
    for prop in rrules:
        rule, rule_endless = _rrule(prop, start, tz, all_day, lo, master)
        endless = endless or rule_endless
        if rule is not None:
            rs.rrule(rule)
    for prop in rdates:
        for v in _dates(prop):
            rs.rdate(times.to_tz(v, tz, all_day))
    for prop in _as_list(master.get("EXDATE")):
        for v in _dates(prop):
            rs.exdate(times.to_tz(v, tz, all_day))
    return rs, endless


def _as_list(prop: Any) -> list[Any]:
    if prop is None:
        return []
    return prop if isinstance(prop, list) else [prop]


def _dates(prop: Any) -> list[date]:
    """The DATE/DATE-TIME values of an RDATE/EXDATE (a PERIOD counts by its start)."""
    out: list[date] = []
    for d in getattr(prop, "dts", ()):
        v = getattr(d, "dt", None)
        if isinstance(v, tuple):
            v = v[0]
        if isinstance(v, date):
            out.append(v)
    return out


def _rrule(prop: Any, start: datetime, tz: tzinfo | None, all_day: bool, lo: int | None,
           master: Component) -> tuple[du.rrule | None, bool]:
    """One RRULE (icalendar vRecur) as a dateutil rrule starting at ``start``."""
    parts = {str(k).upper(): v for k, v in dict(prop).items()}
    freq = str(parts.get("FREQ", [""])[0]).upper()
    if freq not in ("SECONDLY", "MINUTELY", "HOURLY", "DAILY", "WEEKLY", "MONTHLY", "YEARLY"):
        raise ValueError(f"RRULE without a valid FREQ: {freq!r}")
    _check_ranges(parts)
    if freq == "SECONDLY" and ("BYMINUTE" in parts or "BYHOUR" in parts):
        # dateutil walks such a rule second by second inside every matching day (seconds of
        # CPU per query, minutes for some INTERVALs); no calendar client writes one.
        raise ValueError("FREQ=SECONDLY with BYMINUTE or BYHOUR is not supported")
    kept = {k: v for k, v in parts.items() if k in _RULE_KEYS}
    text = _recur_text(kept)
    untils = parts.get("UNTIL")
    endless = "COUNT" not in kept and not untils
    if untils:
        text += ";UNTIL=" + _until(untils[0], tz, all_day)
    if not _feasible(parts, start):
        return None, False
    if lo is not None and "COUNT" not in kept:
        start = _fast_forward(freq, parts, start, lo, master)
    rule = du.rrulestr(text, dtstart=start, forceset=False)
    assert isinstance(rule, du.rrule)
    return rule, endless


# RFC 5545 §3.3.10 value ranges; dateutil loops forever on INTERVAL=0 and accepts some others
_RANGES = {"INTERVAL": (1, 1, None), "COUNT": (1, 1, None), "BYSECOND": (0, 0, 60),
           "BYMINUTE": (0, 0, 59), "BYHOUR": (0, 0, 23), "BYMONTHDAY": (-31, 1, 31),
           "BYYEARDAY": (-366, 1, 366), "BYWEEKNO": (-53, 1, 53), "BYMONTH": (1, 1, 12),
           "BYSETPOS": (-366, 1, 366)}


def _check_ranges(parts: dict[str, Any]) -> None:
    """``ValueError`` for a rule part outside its RFC 5545 §3.3.10 range (zero is never valid
    for the signed ones)."""
    for key, (lo, pos_lo, hi) in _RANGES.items():
        for raw in parts.get(key, []):
            v = int(raw)
            ok = (v >= pos_lo or (lo < 0 and lo <= v <= -1)) and (hi is None or v <= hi)
            if not ok:
                raise ValueError(f"RRULE {key}={v} is out of range")


def _recur_text(parts: dict[str, Any]) -> str:
    """RRULE parts back to text (icalendar's vRecur.to_ical is untyped)."""
    out: list[str] = []
    for k, vals in parts.items():
        items = vals if isinstance(vals, list) else [vals]
        out.append(k + "=" + ",".join(str(v) for v in items))
    return ";".join(out)


def _until(u: date, tz: tzinfo | None, all_day: bool) -> str:
    """UNTIL in the form dateutil accepts for this DTSTART (aware start: UTC; naive: naive).
    A DATE UNTIL on a DATE-TIME series includes that whole day."""
    if all_day:
        d = u if not isinstance(u, datetime) else (
            u.astimezone(UTC) if u.tzinfo else u).date()
        return d.strftime("%Y%m%dT000000")
    if not isinstance(u, datetime):
        u = datetime(u.year, u.month, u.day, 23, 59, 59)
        if tz is not None:
            u = u.replace(tzinfo=tz)
    if tz is None:
        naive = u.astimezone(UTC).replace(tzinfo=None) if u.tzinfo else u
        return naive.strftime("%Y%m%dT%H%M%S")
    aware = u if u.tzinfo else u.replace(tzinfo=tz)
    return aware.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _feasible(parts: dict[str, Any], start: datetime) -> bool:
    """Whether the rule's day filters (BYMONTH, BYMONTHDAY, BYYEARDAY, BYWEEKNO, BYDAY without
    ordinals) match any day within _FEASIBLE_YEARS of ``start``. Checked day by day here,
    because dateutil searches an impossible rule until the year 9999 whatever its UNTIL.
    A superset test: ordinals and BYSETPOS may still make a feasible-looking rule empty,
    which the bounded expansion then handles."""
    if not any(k in parts for k in _DAY_FILTERS):
        return True

    def ints(key: str) -> set[int] | None:
        return {int(x) for x in parts[key]} if key in parts else None

    months, mdays, ydays, weeks = (ints("BYMONTH"), ints("BYMONTHDAY"), ints("BYYEARDAY"),
                                   ints("BYWEEKNO"))
    wdays = None
    if "BYDAY" in parts:
        wdays = {_WEEKDAYS.get(str(d).upper()[-2:], -1) for d in parts["BYDAY"]}
    day = start.date()
    try:
        last = day.replace(year=min(9999, day.year + _FEASIBLE_YEARS))
    except ValueError:  # 29 February
        last = day + timedelta(days=365 * _FEASIBLE_YEARS)
    one = timedelta(days=1)
    while day <= last:
        if months is not None and day.month not in months:
            # jump to the first day of the next month
            nxt = date(day.year + (day.month == 12), day.month % 12 + 1, 1) \
                if day.year < 9999 or day.month < 12 else None
            if nxt is None:
                return False
            day = nxt
            continue
        if _day_ok(day, mdays, ydays, weeks, wdays):
            return True
        if day == date.max:
            return False
        day += one
    return False


def _day_ok(day: date, mdays: set[int] | None, ydays: set[int] | None,
            weeks: set[int] | None, wdays: set[int] | None) -> bool:
    if wdays is not None and day.weekday() not in wdays:
        return False
    if mdays is not None:
        month_len = calendar.monthrange(day.year, day.month)[1]
        if day.day not in mdays and day.day - month_len - 1 not in mdays:
            return False
    if ydays is not None:
        year_len = 366 if calendar.isleap(day.year) else 365
        yday = day.timetuple().tm_yday
        if yday not in ydays and yday - year_len - 1 not in ydays:
            return False
    if weeks is not None:
        week = day.isocalendar()[1]
        if week not in weeks and week - 53 - 1 not in weeks and week - 52 - 1 not in weeks:
            return False
    return True


_UNIT = {"SECONDLY": 1, "MINUTELY": 60, "HOURLY": 3600, "DAILY": times.DAY,
         "WEEKLY": 7 * times.DAY}


def _fast_forward(freq: str, parts: dict[str, Any], start: datetime, lo: int,
                  master: Component) -> datetime:
    """Move a rule without COUNT or BYSETPOS to shortly before ``lo`` by whole periods of
    INTERVAL x FREQ (which keeps its phase; dateutil counts periods in wall-clock time, and
    so does the shift). MONTHLY/YEARLY rules (at most 12 periods a year) stay as they are."""
    if freq not in _UNIT or "COUNT" in parts or "BYSETPOS" in parts:
        return start
    interval = int(parts.get("INTERVAL", [1])[0] or 1)
    period = interval * _UNIT[freq]
    longest = times.component_span(master)
    length = 0
    if longest.start is not None and longest.end is not None:
        length = longest.end - longest.start
    target = lo - length
    periods = (target - times.epoch(start)) // period - 1
    if periods <= 0:
        return start

    def shifted(n: int) -> datetime:
        if period % times.DAY == 0:
            return start + timedelta(days=n * (period // times.DAY))
        return start + timedelta(seconds=n * period)

    try:
        moved = shifted(periods)
        # the shift is wall-clock time: a DST change in between may have overshot the target
        over = times.epoch(moved) - target
        if over >= 0:
            periods -= over // period + 1
            moved = shifted(periods) if periods > 0 else start
        return moved
    except OverflowError:
        return start


def rid_text(o: Occurrence) -> str | None:
    """The RECURRENCE-ID of an instance as text: UTC, a DATE for all-day, floating as is."""
    rid = o.recurrence_id
    if rid is None:
        return None
    if not isinstance(rid, datetime):
        return rid.strftime("%Y%m%d")
    if rid.tzinfo is None or rid.tzinfo.utcoffset(rid) is None:
        return rid.strftime("%Y%m%dT%H%M%S")
    return rid.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _instance(o: Occurrence) -> Instance:
    comp = o.comp
    status = str(comp.get("STATUS", "")).upper()
    transp = str(comp.get("TRANSP", "")).upper() == "TRANSPARENT" or status == "CANCELLED"
    start = o.span.start if o.span.start is not None else times.MIN_EPOCH
    end = o.span.end if o.span.end is not None else times.MAX_EPOCH
    return Instance(start=start, end=end, recurrence_id=rid_text(o),
                    all_day=times.is_all_day(o.start), summary=str(comp.get("SUMMARY", "")),
                    transparent=transp, status=status)


def instances_of(cal: icalendar.Calendar, span: TimeRange, component: str | None,
                 max_instances: int, budget: Budget | None = None) -> list[Instance]:
    """``instances`` on a parsed calendar (callers that parsed already use this)."""
    out: list[Instance] = []
    for s in series_of(cal, component):
        try:
            occs, _ = occurrences(s, span.start, span.end, max_instances, budget)
        except times.LIB_ERRORS:
            continue
        out.extend(_instance(o) for o in occs)
    out.sort(key=lambda i: (i.start, i.end))
    return out


@times.guarded
def instances(data: bytes, span: TimeRange, *, component: str | None = None,
              max_instances: int = 10_000, budget: Budget | None = None) -> list[Instance]:
    """Instances overlapping ``span`` (RFC 4791 §9.9 overlap rules), in start order."""
    return instances_of(times.parse_shared(data), span, component, max_instances, budget)


@times.guarded
def expand(data: bytes, span: TimeRange, max_instances: int = 10_000) -> bytes:
    """RFC 4791 §9.6.5: the object with every instance in ``span`` as its own component with a
    RECURRENCE-ID, in UTC, no RRULE/RDATE/EXDATE, no VTIMEZONE."""
    return times.to_bytes(expand_cal(times.parse_shared(data), span, max_instances))


def expand_cal(cal: icalendar.Calendar, span: TimeRange, max_instances: int,
               budget: Budget | None = None) -> icalendar.Calendar:
    out = icalendar.Calendar()
    for k, v in cal.items():
        out[k] = v
    for s in series_of(cal):
        try:
            occs, _ = occurrences(s, span.start, span.end, max_instances, budget)
        except times.LIB_ERRORS:
            continue
        recurring = s.recurring
        for o in occs:
            out.add_component(_expanded(o, recurring))
    return out


_DROP = frozenset({"RRULE", "RDATE", "EXDATE", "EXRULE", "DTSTART", "DTEND", "DUE",
                   "RECURRENCE-ID"})


def _expanded(o: Occurrence, recurring: bool) -> Component:
    """One instance as a standalone component with times in UTC (DATE stays DATE)."""
    src = o.comp
    new = type(src)()
    for k, v in src.items():
        if k.upper() not in _DROP:
            new[k] = v
    for sub in src.subcomponents:
        new.add_component(sub)
    all_day = times.is_all_day(o.start)

    def utc(v: date) -> date:
        if not isinstance(v, datetime):
            return v
        if v.tzinfo is None or v.tzinfo.utcoffset(v) is None:
            return v.replace(tzinfo=UTC)
        return v.astimezone(UTC)

    if times.value(src, "DTSTART") is not None:
        new.add("DTSTART", utc(o.start))
    shift = None
    own = times.value(src, "DTSTART")
    if own is not None:  # generated instances (also of a THISANDFUTURE override) move
        shift = times.epoch(o.start) - times.epoch(own)
    for name in ("DTEND", "DUE"):
        v = times.value(src, name)
        if v is None:
            continue
        if shift:
            if isinstance(v, datetime):
                v = utc(v) + timedelta(seconds=shift)
            else:
                v = v + timedelta(days=shift // times.DAY)
        new.add(name, utc(v))
    if recurring and o.recurrence_id is not None:
        rid = o.recurrence_id
        new.add("RECURRENCE-ID", rid if all_day and not isinstance(rid, datetime) else utc(rid))
    return new
