"""iCalendar calendar object resources (RFC 5545; RFC 4791 §4.1): parse, validate, index.

Lenient where clients are sloppy: VERSION and PRODID may be missing, unknown and broken
non-essential properties are kept, a TZID without VTIMEZONE is looked up as an IANA name
(else floating), DTEND before DTSTART counts as zero length. Strict where it matters: one
VCALENDAR, one component type, one UID, at most one master and unique RECURRENCE-IDs, no
METHOD (RFC 4791 §4.1), DTSTART on every VEVENT (RFC 5545 §3.6.1), parseable date, duration
and recurrence properties.
"""

from __future__ import annotations

import icalendar

from postroom.pim import recurrence, times
from postroom.pim.model import (
    CALDAV_NS,
    Attendee,
    InvalidItem,
    ItemIndex,
    SchedulingInfo,
)

Component = icalendar.cal.component.Component

_TEXT_PROPS = ("SUMMARY", "LOCATION", "DESCRIPTION", "CATEGORIES")


def parse(data: bytes) -> icalendar.Calendar:
    """The parsed VCALENDAR, ``InvalidItem(valid-calendar-data)`` if it is not one. Shared
    through ``times.parse_shared``: a PUT indexes, then scheduling reads the same bytes, then
    queries do; all of them only read it."""
    return times.parse_shared(data)


def check_object(cal: icalendar.Calendar, allowed: tuple[str, ...]) -> list[Component]:
    """RFC 4791 §4.1 structure of a calendar object resource; returns its non-VTIMEZONE
    components. Raises ``InvalidItem`` with the precondition RFC 4791 §5.3.2.1 names."""
    if cal.get("METHOD") is not None:
        raise times.invalid_object("a stored calendar object must not have METHOD "
                                   "(RFC 4791 §4.1)")
    # VTIMEZONEs travel with the object; X- components (RFC 5545 §3.6 x-comp) are kept as
    # sent but are not the object's component
    comps = [c for c in cal.subcomponents
             if c.name != "VTIMEZONE" and not str(c.name).upper().startswith("X-")]
    if not comps:
        raise times.invalid_object("no VEVENT, VTODO or VJOURNAL in the VCALENDAR")
    names = {c.name for c in comps}
    if len(names) > 1:
        raise times.invalid_object("one calendar object holds one component type, found "
                                   + ", ".join(sorted(str(n) for n in names)))
    name = comps[0].name
    if name not in allowed:
        raise InvalidItem((CALDAV_NS, "supported-calendar-component"),
                          f"this collection does not hold {name}")
    uids = {str(c.get("UID", "")).strip() for c in comps}
    if "" in uids:
        raise times.invalid_object(f"{name} without UID")
    if len(uids) > 1:
        raise times.invalid_object("all components of a calendar object share one UID")
    masters = 0
    rids: set[int] = set()
    for c in comps:
        times.check_critical(c)
        for sub in c.subcomponents:
            times.check_critical(sub)
        rid = times.value(c, "RECURRENCE-ID")
        if c.get("RECURRENCE-ID") is not None and rid is None:
            raise times.invalid_data("RECURRENCE-ID is not a date")
        if rid is None:
            masters += 1
        else:
            key = times.epoch(rid)
            if key in rids:
                raise times.invalid_object("two overrides with the same RECURRENCE-ID")
            rids.add(key)
        if name == "VEVENT" and times.value(c, "DTSTART") is None:
            raise times.invalid_data("VEVENT without DTSTART (RFC 5545 §3.6.1)")
        if c.get("DTEND") is not None and c.get("DURATION") is not None:
            raise times.invalid_data(f"{name} with both DTEND and DURATION (RFC 5545 §3.6.1)")
    if masters > 1:
        raise times.invalid_object("more than one component without RECURRENCE-ID")
    return comps


@times.guarded
def index_calendar(data: bytes, allowed: tuple[str, ...] = ("VEVENT", "VTODO", "VJOURNAL"),
                   max_instances: int = 10_000) -> ItemIndex:
    """Check that ``data`` is one calendar object resource a CalDAV collection may hold
    (RFC 4791 §4.1: one UID, one component type, overrides by RECURRENCE-ID, VTIMEZONEs it
    needs) and index it; raise ``InvalidItem`` (valid-calendar-data, supported-calendar-
    component, valid-calendar-object-resource) otherwise.

    ``start``/``end`` cover every instance (floating and all-day as UTC, see ``times``): a
    series with COUNT/UNTIL is enumerated (at most ``max_instances``; a longer one is
    indexed as endless), an endless RRULE has end None."""
    cal = parse(data)
    comps = check_object(cal, allowed)
    name = str(comps[0].name)
    uid = str(comps[0].get("UID")).strip()
    series = recurrence.series_of(cal, name)
    start: int | None = times.MAX_EPOCH
    end: int | None = times.MIN_EPOCH
    recurring = False
    for s in series:
        recurring = recurring or s.recurring
        # An endless series ends nowhere: expand only up to its first instance (which checks
        # the rule) instead of enumerating max_instances for nothing.
        hi = None
        if s.master is not None and recurrence.endless(s.master):
            first_start = times.component_span(s.master).start
            hi = None if first_start is None else first_start + 1
        try:
            occs, complete = recurrence.occurrences(s, None, hi, max_instances)
        except InvalidItem:
            raise
        except times.LIB_ERRORS as exc:
            raise times.invalid_data(f"bad recurrence rule: {str(exc)[:120]}") from None
        if s.master is not None and (s.master.get("RRULE") or s.master.get("RDATE")):
            first = times.component_span(s.master)
            start = _lower(start, first.start)
            if not complete:
                end = None
        for o in occs:
            start = _lower(start, o.span.start)
            end = _upper(end, o.span.end)
    text = _text(comps)
    master = next((c for c in comps if c.get("RECURRENCE-ID") is None), comps[0])
    summary = " ".join(str(master.get("SUMMARY", "")).split())
    return ItemIndex(component=name, uid=uid,
                     start=None if start == times.MAX_EPOCH else start,
                     end=None if end == times.MIN_EPOCH else end,
                     recurring=recurring, text=text, summary=summary[:500])


def _lower(a: int | None, b: int | None) -> int | None:
    if a is None or b is None:
        return None
    return min(a, b)


def _upper(a: int | None, b: int | None) -> int | None:
    if a is None or b is None:
        return None
    return max(a, b)


def _text(comps: list[Component]) -> str:
    """SUMMARY, LOCATION, DESCRIPTION, CATEGORIES of every component, lower-cased, one value
    per line, each value once."""
    seen: dict[str, None] = {}
    for c in comps:
        for p in _TEXT_PROPS:
            v = times.text_of(c.get(p)).strip().lower()
            if v:
                seen.setdefault(" ".join(v.split()), None)
    return "\n".join(seen)


def address(value: object) -> str:
    """A calendar user address without "mailto:", lower-cased (RFC 6638 §2.4.1 compares
    them case-insensitively in practice)."""
    text = str(value).strip()
    if text[:7].lower() == "mailto:":
        text = text[7:]
    return text.lower()


def attendees_of(comp: Component) -> tuple[Attendee, ...]:
    out: list[Attendee] = []
    props = comp.get("ATTENDEE")
    if props is None:
        return ()
    for p in props if isinstance(props, list) else [props]:
        params = getattr(p, "params", {})
        out.append(Attendee(address=address(p),
                            partstat=str(params.get("PARTSTAT", "NEEDS-ACTION")).upper(),
                            role=str(params.get("ROLE", "REQ-PARTICIPANT")).upper(),
                            rsvp=str(params.get("RSVP", "FALSE")).upper() == "TRUE",
                            name=str(params.get("CN", ""))))
    return tuple(out)


def info_of(cal: icalendar.Calendar) -> SchedulingInfo | None:
    comps = [c for c in cal.subcomponents if c.name in times.TIME_COMPONENTS]
    if not comps:
        return None
    master = next((c for c in comps if c.get("RECURRENCE-ID") is None), comps[0])
    org = master.get("ORGANIZER")
    attendees = attendees_of(master)
    if org is None and not attendees:
        return None
    try:
        seq = int(str(master.get("SEQUENCE", 0)))
    except ValueError:
        seq = 0
    return SchedulingInfo(uid=str(master.get("UID", "")),
                          organizer=address(org) if org is not None else None,
                          attendees=attendees, sequence=seq,
                          method=str(cal.get("METHOD", "")).upper(),
                          summary=str(master.get("SUMMARY", "")))


@times.guarded
def scheduling_info(data: bytes) -> SchedulingInfo | None:
    """ORGANIZER/ATTENDEEs of the object's master component, None when not a group event."""
    return info_of(parse(data))
