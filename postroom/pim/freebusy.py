"""VFREEBUSY (RFC 4791 §7.10 free-busy-query; RFC 6638 §3.2.8 schedule outbox POST).

Busy time per RFC 4791 §7.10: VEVENT instances that are not TRANSP:TRANSPARENT and not
STATUS:CANCELLED count; STATUS:TENTATIVE is BUSY-TENTATIVE, everything else BUSY. VFREEBUSY
components stored in the calendar add their FREEBUSY periods (RFC 5545 §3.8.2.6). Periods are
clipped to the range and merged per FBTYPE (overlapping periods of the same type become one).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

import icalendar

from postroom.pim import recurrence, times
from postroom.pim.filters import TimeRange
from postroom.pim.model import BusyPeriod

# RFC 5545 §3.2.9: the stronger type wins where types overlap (not applied here: each type
# is merged on its own, as RFC 4791 §7.10 lets a server report them side by side)
_FBTYPES = ("BUSY", "BUSY-UNAVAILABLE", "BUSY-TENTATIVE")


def busy_periods(objects: Iterable[bytes], span: TimeRange, max_instances: int = 10_000,
                 budget: recurrence.Budget | None = None) -> list[BusyPeriod]:
    """Busy time of the objects in ``span``: opaque, non-cancelled instances; merged.
    Objects that do not parse are skipped (one bad item must not break free-busy); every
    instance is spent from ``budget`` (``recurrence.OverBudget`` past it)."""
    raw: list[BusyPeriod] = []
    for data in objects:
        try:
            _busy_of(times.parse_shared(data), span, max_instances, raw, budget)
        except times.BAD_INPUT:
            continue
    return merge(raw)


def _busy_of(cal: icalendar.Calendar, span: TimeRange, max_instances: int,
             raw: list[BusyPeriod], budget: recurrence.Budget | None = None) -> None:
    """Add the busy periods of one parsed object to ``raw``."""
    lo, hi = span.start, span.end
    for inst in recurrence.instances_of(cal, span, "VEVENT", max_instances, budget):
        if inst.transparent or inst.status == "CANCELLED":
            continue
        fbtype = "BUSY-TENTATIVE" if inst.status == "TENTATIVE" else "BUSY"
        _add(raw, inst.start, inst.end, fbtype, lo, hi)
    for comp in cal.walk("VFREEBUSY"):
        for prop in _as_list(comp.get("FREEBUSY")):
            fbtype = str(getattr(prop, "params", {}).get("FBTYPE", "BUSY")).upper()
            if fbtype == "FREE":
                continue
            for start, end in _periods(prop):
                _add(raw, start, end, fbtype if fbtype in _FBTYPES else "BUSY", lo, hi)


def _as_list(v: object) -> list[object]:
    if v is None:
        return []
    return v if isinstance(v, list) else [v]


def _periods(prop: object) -> list[tuple[int, int]]:
    """The periods of one FREEBUSY value (icalendar gives one vPeriod per period)."""
    dts = getattr(prop, "dts", None)
    values = [getattr(d, "dt", None) for d in dts] if dts else [getattr(prop, "dt", None)]
    out: list[tuple[int, int]] = []
    for v in values:
        if not (isinstance(v, tuple) and len(v) == 2 and isinstance(v[0], date)):
            continue
        start = times.epoch(v[0])
        if isinstance(v[1], timedelta):
            out.append((start, start + int(v[1].total_seconds())))
        elif isinstance(v[1], date):
            out.append((start, times.epoch(v[1])))
    return out


def _add(out: list[BusyPeriod], start: int, end: int, fbtype: str, lo: int | None,
         hi: int | None) -> None:
    if lo is not None:
        start = max(start, lo)
    if hi is not None:
        end = min(end, hi)
    if end > start:
        out.append(BusyPeriod(start, end, fbtype))


def merge(periods: Iterable[BusyPeriod]) -> list[BusyPeriod]:
    """Overlapping or touching periods of one FBTYPE joined; sorted by start."""
    out: list[BusyPeriod] = []
    for fbtype in _FBTYPES:
        cur: BusyPeriod | None = None
        for p in sorted((p for p in periods if p.fbtype == fbtype), key=lambda p: p.start):
            if cur is not None and p.start <= cur.end:
                cur = BusyPeriod(cur.start, max(cur.end, p.end), fbtype)
            else:
                if cur is not None:
                    out.append(cur)
                cur = p
        if cur is not None:
            out.append(cur)
    out.sort(key=lambda p: (p.start, p.end))
    return out


def _utc(t: int) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def vfreebusy(periods: list[BusyPeriod], span: TimeRange, *, organizer: str = "",
              attendee: str = "", uid: str = "") -> bytes:
    """A VCALENDAR with one VFREEBUSY (RFC 5545 §3.6.4): DTSTART/DTEND the range, one
    FREEBUSY line per period, in UTC. For an iTIP reply (RFC 6638 §3.2.8) pass organizer,
    attendee and the request's UID; METHOD:REPLY is then set."""
    cal = icalendar.Calendar()
    cal.add("VERSION", "2.0")
    cal.add("PRODID", "-//Postroom//DAV//EN")
    if organizer or attendee:
        cal.add("METHOD", "REPLY")
    fb = icalendar.FreeBusy()
    if uid:
        fb.add("UID", uid)
    fb.add("DTSTAMP", datetime.now(UTC).replace(microsecond=0))
    lo = span.start if span.start is not None else (periods[0].start if periods else 0)
    hi = span.end if span.end is not None else (periods[-1].end if periods else lo)
    fb.add("DTSTART", _utc(lo))
    fb.add("DTEND", _utc(hi))
    if organizer:
        fb.add("ORGANIZER", _mailto(organizer))
    if attendee:
        fb.add("ATTENDEE", _mailto(attendee))
    for p in periods:
        prop = icalendar.vPeriod((_utc(p.start), _utc(p.end)))
        prop.params["FBTYPE"] = p.fbtype
        fb.add("FREEBUSY", prop)
        added = fb["FREEBUSY"]
        last = added[-1] if isinstance(added, list) else added
        last.params.pop("VALUE", None)  # PERIOD is FREEBUSY's default type (RFC 5545 §3.8.2.6)
    cal.add_component(fb)
    return times.to_bytes(cal)


def _mailto(address: str) -> str:
    return address if ":" in address else "mailto:" + address
