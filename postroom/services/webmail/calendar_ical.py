"""Webmail's event form as iCalendar (RFC 5545) and back.

The webmail calendar writes the same calendar object resources a CalDAV client reads
(RFC 4791 §4.1: one UID, one VCALENDAR), so everything here is plain iCalendar built with the
``icalendar`` library. ``EventDraft`` is what the form edits; ``build`` turns a draft into a new
object, ``update`` writes a draft into an existing one *keeping what the form does not know*
(properties of other clients, overridden instances, X- properties), ``read_draft`` fills the
form from an object, and ``set_partstat`` is an attendee's answer (RFC 5546 §3.2.3: an attendee
changes only their own PARTSTAT; scheduling turns the saved change into the REPLY).
"""

from __future__ import annotations

import copy
import re
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import icalendar

from postroom.core.errors import invalid

PRODID = "-//Postroom//Webmail Calendar//EN"
FREQS = ("daily", "weekly", "monthly", "yearly")
KEEP = "keep"  # ``repeat`` of a draft whose stored RRULE the form cannot show: left as it is
_FORM_RULE_PARTS = frozenset({"FREQ", "INTERVAL", "COUNT", "UNTIL", "WKST", "BYDAY"})
WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
PARTSTATS = ("ACCEPTED", "TENTATIVE", "DECLINED")
MAX_TEXT = 4000  # characters of a description (below web.form_max_field); a title at most 500
MAX_ATTENDEES = 200
MAX_REMINDER = 60 * 24 * 28  # minutes: four weeks before


@dataclass(frozen=True, slots=True)
class EventDraft:
    """An event as the form shows it, in the user's time zone (``zone``).

    ``start``/``end``: local wall-clock times (naive); for an all-day event the first day and
    the last day (inclusive, as people say it; iCalendar's DTEND is the day after, RFC 5545
    §3.6.1). ``repeat``: "" or one of FREQS; ``byday``: weekdays for weekly; ``count`` or
    ``until`` (a local date, inclusive) end it. ``reminder``: minutes before the start of a
    DISPLAY alarm, None for none."""

    summary: str
    start: datetime
    end: datetime
    zone: str = "UTC"
    all_day: bool = False
    location: str = ""
    description: str = ""
    repeat: str = ""
    interval: int = 1
    byday: tuple[str, ...] = ()
    count: int | None = None
    until: date | None = None
    reminder: int | None = None
    attendees: tuple[str, ...] = ()
    organizer: str = ""


@dataclass(frozen=True, slots=True)
class Participant:
    address: str
    name: str = ""
    partstat: str = "NEEDS-ACTION"


@dataclass(frozen=True, slots=True)
class EventInfo:
    """An object read for display: the draft, who organises and attends, and whether the
    object holds things the form cannot show (overridden instances)."""

    uid: str
    draft: EventDraft
    organizer: str
    participants: tuple[Participant, ...] = field(default_factory=tuple)
    overrides: int = 0
    rule_text: str = ""  # the stored RRULE when the form cannot show it (repeat == KEEP)


def new_name() -> str:
    """A resource name for a new event (RFC 4791 §5.3.2: the client chooses it)."""
    return f"{uuid.uuid4()}.ics"


def _addr(value: object) -> str:
    text = str(value)
    if text.lower().startswith("mailto:"):
        text = text[7:]
    return text.strip().lower()


def _zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError, OSError):
        return UTC


def check(draft: EventDraft) -> None:
    """The form's rules, each a clear INVALID (422) naming the field."""
    if not draft.summary.strip():
        raise invalid("title: an event needs a title")
    if len(draft.summary) > 500 or len(draft.location) > 500:
        raise invalid("title: the title and place are at most 500 characters")
    if len(draft.description) > MAX_TEXT:
        raise invalid(f"description: at most {MAX_TEXT} characters")
    if draft.end < draft.start or (draft.end == draft.start and not draft.all_day):
        raise invalid("end: the end must be after the start")
    if draft.repeat and draft.repeat not in FREQS and draft.repeat != KEEP:
        raise invalid("repeat: choose daily, weekly, monthly or yearly")
    if not 1 <= draft.interval <= 999:
        raise invalid("interval: between 1 and 999")
    if any(d not in WEEKDAYS for d in draft.byday):
        raise invalid("byday: unknown weekday")
    if draft.count is not None and not 1 <= draft.count <= 9999:
        raise invalid("count: between 1 and 9999 times")
    if draft.until is not None and draft.until < draft.start.date():
        raise invalid("until: the last day is before the first")
    if draft.reminder is not None and not 0 <= draft.reminder <= MAX_REMINDER:
        raise invalid(f"reminder: between 0 and {MAX_REMINDER} minutes before")
    if len(draft.attendees) > MAX_ATTENDEES:
        raise invalid(f"attendees: at most {MAX_ATTENDEES}")
    for a in draft.attendees:
        local, at, domain = a.partition("@")
        if not at or not local or "." not in domain or any(c in a for c in " <>,;:\"\\"):
            raise invalid(f"attendees: {a[:100]} is not an address")


def _times(draft: EventDraft) -> tuple[date | datetime, date | datetime]:
    if draft.all_day:
        return draft.start.date(), draft.end.date() + timedelta(days=1)
    tz = _zone(draft.zone)
    start = draft.start.replace(tzinfo=tz)
    end = draft.end.replace(tzinfo=tz)
    if draft.zone == "UTC" or tz is UTC:
        return start.astimezone(UTC), end.astimezone(UTC)
    return start, end


def _rrule(draft: EventDraft) -> dict[str, object] | None:
    """RFC 5545 §3.3.10. UNTIL is a DATE for an all-day event, else the end of the last day
    in UTC (it must be UTC when DTSTART has a TZID)."""
    if not draft.repeat or draft.repeat == KEEP:
        return None
    rule: dict[str, object] = {"FREQ": draft.repeat.upper()}
    if draft.interval > 1:
        rule["INTERVAL"] = draft.interval
    if draft.repeat == "weekly" and draft.byday:
        rule["BYDAY"] = list(draft.byday)
    if draft.count is not None:
        rule["COUNT"] = draft.count
    elif draft.until is not None:
        if draft.all_day:
            rule["UNTIL"] = draft.until
        else:
            last = datetime.combine(draft.until, time(23, 59, 59), _zone(draft.zone))
            rule["UNTIL"] = last.astimezone(UTC)
    return rule


def _write(event: icalendar.Event, draft: EventDraft, sequence: int | None, *,
           alarms: bool = True) -> None:
    """Put the draft's properties into ``event``, replacing the ones the form owns (the RRULE
    only when the form could show it, the alarms only when ``alarms``)."""
    owned = ["SUMMARY", "LOCATION", "DESCRIPTION", "DTSTART", "DTEND", "DURATION", "ORGANIZER",
             "ATTENDEE", "DTSTAMP", "LAST-MODIFIED", "SEQUENCE"]
    if draft.repeat != KEEP:
        owned.append("RRULE")
    for name in owned:
        while name in event:
            del event[name]
    start, end = _times(draft)
    now = datetime.now(UTC).replace(microsecond=0)
    event.add("DTSTAMP", now)
    event.add("LAST-MODIFIED", now)
    event.add("SUMMARY", draft.summary.strip())
    event.add("DTSTART", start)
    event.add("DTEND", end)
    if draft.location.strip():
        event.add("LOCATION", draft.location.strip())
    if draft.description.strip():
        event.add("DESCRIPTION", draft.description.strip())
    rule = _rrule(draft)
    if rule is not None:
        event.add("RRULE", rule)
    if sequence is not None:
        event.add("SEQUENCE", sequence)
    if draft.attendees:
        organizer = icalendar.vCalAddress(f"mailto:{draft.organizer}")
        event.add("ORGANIZER", organizer)
        for a in draft.attendees:
            att = icalendar.vCalAddress(f"mailto:{a}")
            att.params["ROLE"] = "REQ-PARTICIPANT"
            att.params["PARTSTAT"] = "NEEDS-ACTION"
            att.params["RSVP"] = "TRUE"
            event.add("ATTENDEE", att)
    if not alarms:
        return
    event.subcomponents = [c for c in event.subcomponents if c.name != "VALARM"]
    if draft.reminder is not None:
        alarm = icalendar.Alarm()
        alarm.add("ACTION", "DISPLAY")
        alarm.add("DESCRIPTION", draft.summary.strip())
        alarm.add("TRIGGER", timedelta(minutes=-draft.reminder))
        event.add_component(alarm)


def _finish(cal: icalendar.Calendar) -> bytes:
    """Add the VTIMEZONEs the TZIDs need (RFC 5545 §3.6.5) and serialise."""
    cal.add_missing_timezones()
    return bytes(cal.to_ical())


def build(draft: EventDraft) -> tuple[str, bytes]:
    """A new calendar object resource: (UID, bytes)."""
    check(draft)
    uid = f"{uuid.uuid4()}"
    cal = icalendar.Calendar()
    cal.add("PRODID", PRODID)
    cal.add("VERSION", "2.0")
    event = icalendar.Event()
    event.add("UID", uid)
    _write(event, draft, None)
    cal.add_component(event)
    return uid, _finish(cal)


def _parse(data: bytes) -> icalendar.Calendar:
    try:
        return icalendar.Calendar.from_ical(data)
    except (ValueError, KeyError, IndexError) as exc:
        raise invalid(f"the stored event cannot be read: {str(exc)[:200]}") from None


def _master(cal: icalendar.Calendar) -> Any:
    """The master VEVENT (the one without RECURRENCE-ID). Typed Any: icalendar types a
    property as the union of every value class, which no caller can narrow usefully."""
    events: list[Any] = list(cal.walk("VEVENT"))
    for ev in events:
        if "RECURRENCE-ID" not in ev:
            return ev
    if events:
        return events[0]
    raise invalid("the stored object holds no event")


def update(data: bytes, draft: EventDraft) -> bytes:
    """The stored object with the draft written into its master event; SEQUENCE is raised
    (RFC 5546 §2.1.4: a change attendees must see); overrides and other properties stay."""
    check(draft)
    cal = _parse(data)
    event = _master(cal)
    try:
        sequence = int(event.get("SEQUENCE", 0)) + 1
    except (TypeError, ValueError):
        sequence = 1
    old = {_addr(a): a for a in _list(event.get("ATTENDEE"))}
    old_organizer = event.get("ORGANIZER")
    if draft.repeat == KEEP and "RRULE" not in event:
        draft = replace(draft, repeat="")
    _write(event, draft, sequence, alarms=draft.reminder != _reminder_of(event))
    if old:  # an attendee still invited keeps their property: PARTSTAT, CN, ROLE, ...
        kept = [old.get(_addr(a), a) for a in _list(event.get("ATTENDEE"))]
        while "ATTENDEE" in event:
            del event["ATTENDEE"]
        for att in kept:
            event.add("ATTENDEE", att)
    if old_organizer is not None and "ORGANIZER" in event and \
            _addr(old_organizer) == _addr(event["ORGANIZER"]):
        del event["ORGANIZER"]
        event.add("ORGANIZER", old_organizer)
    return _finish(cal)


def _reminder_of(event: Any) -> int | None:
    """Minutes before the start of the event's first alarm relative to its start (what the
    form shows as the reminder), None for none."""
    for alarm in event.walk("VALARM"):
        trig = alarm.get("TRIGGER")
        if trig is not None and isinstance(trig.dt, timedelta) and trig.dt <= timedelta(0) \
                and str(trig.params.get("RELATED", "START")).upper() == "START":
            return int(-trig.dt.total_seconds() // 60)
    return None


def _form_rule(rule: Any) -> bool:
    """Whether the form can show this RRULE exactly (else it is kept as it is: ``KEEP``)."""
    if not set(rule.keys()) <= _FORM_RULE_PARTS:
        return False
    freq = str((rule.get("FREQ") or [""])[0]).lower()
    if freq not in FREQS:
        return False
    days = [str(d) for d in rule.get("BYDAY", [])]
    return not days or (freq == "weekly" and all(d in WEEKDAYS for d in days))


def _list(value: object) -> list[icalendar.vCalAddress]:
    if value is None:
        return []
    if isinstance(value, list):
        return value
    return [value]  # type: ignore[list-item]


def _local(value: object, tz: tzinfo) -> tuple[datetime, bool]:
    """A DTSTART/DTEND value as naive local time, and whether it is a date (all day)."""
    if isinstance(value, datetime):
        if value.tzinfo is None:  # floating time: the same wall clock everywhere
            return value, False
        return value.astimezone(tz).replace(tzinfo=None), False
    if isinstance(value, date):
        return datetime.combine(value, time()), True
    raise invalid("the stored event has no start")


def read_event(data: bytes, zone: str) -> EventInfo:
    """The master event as a draft in ``zone`` (what the form shows)."""
    cal = _parse(data)
    event = _master(cal)
    tz = _zone(zone)
    dtstart = event.get("DTSTART")
    start, all_day = _local(dtstart.dt if dtstart is not None else None, tz)
    if "DTEND" in event:
        end, _ = _local(event["DTEND"].dt, tz)
    elif "DURATION" in event:
        end = start + event["DURATION"].dt
    else:
        end = start + (timedelta(days=1) if all_day else timedelta(0))
    if all_day:
        end = max(start, end - timedelta(days=1))
    repeat, interval, count, until = "", 1, None, None
    byday: tuple[str, ...] = ()
    rule = event.get("RRULE")
    rule_text = ""
    if rule is not None and not _form_rule(rule):
        repeat = KEEP
        rule_text = rule.to_ical().decode("utf-8", "replace")[:300]
    elif rule is not None:
        freq = str((rule.get("FREQ") or [""])[0]).lower()
        repeat = freq
        interval = int((rule.get("INTERVAL") or [1])[0])
        byday = tuple(str(d) for d in rule.get("BYDAY", []) if str(d) in WEEKDAYS)
        if rule.get("COUNT"):
            count = int(rule["COUNT"][0])
        elif rule.get("UNTIL"):
            u = rule["UNTIL"][0]
            until = u.astimezone(tz).date() if isinstance(u, datetime) and u.tzinfo else \
                (u.date() if isinstance(u, datetime) else u)
    reminder = _reminder_of(event)
    organizer = _addr(event["ORGANIZER"]) if "ORGANIZER" in event else ""
    people = tuple(Participant(_addr(a), str(a.params.get("CN", "")),
                               str(a.params.get("PARTSTAT", "NEEDS-ACTION")).upper())
                   for a in _list(event.get("ATTENDEE")))
    draft = EventDraft(
        summary=str(event.get("SUMMARY", "")), start=start, end=end, zone=zone,
        all_day=all_day, location=str(event.get("LOCATION", "")),
        description=str(event.get("DESCRIPTION", "")), repeat=repeat, interval=interval,
        byday=byday, count=count, until=until, reminder=reminder,
        attendees=tuple(p.address for p in people if p.address != organizer),
        organizer=organizer)
    overrides = sum(1 for c in cal.walk("VEVENT") if "RECURRENCE-ID" in c)
    return EventInfo(str(event.get("UID", "")), draft, organizer, people, overrides,
                     rule_text)


def set_partstat(data: bytes, attendee: str, partstat: str) -> bytes:
    """The object with ``attendee``'s PARTSTAT set in every component they attend (the master
    and overrides); RSVP is answered, so it goes. INVALID if they are not invited."""
    if partstat not in PARTSTATS:
        raise invalid("answer: accept, tentative or decline")
    cal = _parse(data)
    found = False
    for event in cal.walk("VEVENT"):
        for att in _list(event.get("ATTENDEE")):
            if _addr(att) == attendee.lower():
                att.params["PARTSTAT"] = partstat
                att.params.pop("RSVP", None)
                found = True
    if not found:
        raise invalid("you are not invited to this event")
    return bytes(cal.to_ical())


_RID = re.compile(r"^(\d{8})(?:T(\d{6})(Z?))?$")


def valid_rid(text: str) -> bool:
    """A RECURRENCE-ID as pim.recurrence writes it: DATE, floating or UTC DATE-TIME."""
    return bool(_RID.match(text))


def _rid_value(text: str) -> date | datetime:
    found = _RID.match(text)
    if found is None:
        raise invalid("occurrence: not an occurrence of this event")
    day = datetime.strptime(found.group(1), "%Y%m%d")
    if found.group(2) is None:
        return day.date()
    clock = datetime.strptime(found.group(1) + found.group(2), "%Y%m%d%H%M%S")
    return clock.replace(tzinfo=UTC) if found.group(3) else clock


def exclude(data: bytes, rid: str) -> bytes:
    """The series without one occurrence (RFC 5545 §3.8.5.1 EXDATE on the master; an
    override of that occurrence goes too); SEQUENCE is raised so attendees are told."""
    value = _rid_value(rid)
    cal = _parse(data)
    event = _master(cal)
    if "RRULE" not in event and "RDATE" not in event:
        raise invalid("occurrence: this event does not repeat")
    start = event["DTSTART"].dt
    if isinstance(value, datetime) and value.tzinfo is not None and \
            isinstance(start, datetime) and start.tzinfo is not None:
        value = value.astimezone(start.tzinfo)  # the same instant, in DTSTART's zone
    event.add("EXDATE", value)
    try:
        sequence = int(event.get("SEQUENCE", 0)) + 1
    except (TypeError, ValueError):
        sequence = 1
    event.pop("SEQUENCE", None)
    event.add("SEQUENCE", sequence)
    parts: list[Any] = list(cal.subcomponents)
    cal.subcomponents = [c for c in parts if not (
        c.name == "VEVENT" and "RECURRENCE-ID" in c and _rid_text(c["RECURRENCE-ID"].dt) == rid)]
    return bytes(cal.to_ical())


def _rid_text(value: object) -> str:
    """A RECURRENCE-ID value as text the way pim.recurrence writes it (UTC when zoned)."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return value.strftime("%Y%m%dT%H%M%S")
        return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    if isinstance(value, date):
        return value.strftime("%Y%m%d")
    return ""


@dataclass(frozen=True, slots=True)
class OccurrenceDraft:
    """One occurrence of a series as its small form shows it (local, naive times)."""

    summary: str
    start: datetime
    end: datetime
    all_day: bool = False


def _same_type(value: date | datetime, like: object) -> date | datetime:
    """A RECURRENCE-ID with DTSTART's value type and zone (RFC 5545 §3.8.4.4)."""
    if isinstance(like, datetime):
        if not isinstance(value, datetime):
            return datetime.combine(value, like.timetz() if like.tzinfo else like.time())
        if like.tzinfo is not None:
            return value.astimezone(like.tzinfo) if value.tzinfo else value.replace(
                tzinfo=like.tzinfo)
        return value.replace(tzinfo=None)
    return value.date() if isinstance(value, datetime) else value


def _override_of(cal: icalendar.Calendar, rid: str) -> Any:
    events: list[Any] = list(cal.walk("VEVENT"))
    for c in events:
        if "RECURRENCE-ID" in c and _rid_text(c["RECURRENCE-ID"].dt) == rid:
            return c
    return None


def read_occurrence(data: bytes, rid: str, zone: str) -> OccurrenceDraft:
    """One occurrence as it is now: its override when there is one, else the master's
    title and length at the occurrence's start."""
    cal = _parse(data)
    tz = _zone(zone)
    over = _override_of(cal, rid)
    if over is not None and "DTSTART" in over:
        start, all_day = _local(over["DTSTART"].dt, tz)
        end = _local(over["DTEND"].dt, tz)[0] if "DTEND" in over else start
        if all_day:
            end = max(start, end - timedelta(days=1))
        return OccurrenceDraft(str(over.get("SUMMARY", "")), start, end, all_day)
    master = _master(cal)
    info = read_event(data, zone).draft
    first = _same_type(_rid_value(rid), master["DTSTART"].dt)
    start, all_day = _local(first, tz)
    return OccurrenceDraft(info.summary, start, start + (info.end - info.start), all_day)


def override(data: bytes, rid: str, change: OccurrenceDraft, zone: str) -> bytes:
    """The series with one occurrence changed (RFC 5545 §3.8.4.4: a VEVENT with the same UID
    and a RECURRENCE-ID): its existing override is updated, else one is made from the master
    (without RRULE/RDATE/EXDATE). SEQUENCE goes up on both, so attendees are told."""
    draft = EventDraft(summary=change.summary, start=change.start, end=change.end,
                       zone=zone, all_day=change.all_day)
    check(draft)
    cal = _parse(data)
    master = _master(cal)
    if "RRULE" not in master and "RDATE" not in master:
        raise invalid("occurrence: this event does not repeat")
    rid_value = _same_type(_rid_value(rid), master["DTSTART"].dt)
    try:
        sequence = int(master.get("SEQUENCE", 0)) + 1
    except (TypeError, ValueError):
        sequence = 1
    over = _override_of(cal, rid)
    if over is None:
        over = icalendar.Event()
        for key, value in master.items():
            if key not in ("RRULE", "RDATE", "EXDATE", "DTSTART", "DTEND", "DURATION",
                           "SEQUENCE", "RECURRENCE-ID"):
                over.add(key, copy.deepcopy(value))
        for sub in master.subcomponents:
            over.add_component(copy.deepcopy(sub))
        over.add("RECURRENCE-ID", rid_value)
        cal.add_component(over)
    start, end = _times(draft)
    for key in ("SUMMARY", "DTSTART", "DTEND", "DURATION", "SEQUENCE", "DTSTAMP"):
        while key in over:
            del over[key]
    over.add("SUMMARY", draft.summary.strip())
    over.add("DTSTART", start)
    over.add("DTEND", end)
    over.add("DTSTAMP", datetime.now(UTC).replace(microsecond=0))
    over.add("SEQUENCE", sequence)
    master.pop("SEQUENCE", None)
    master.add("SEQUENCE", sequence)
    return _finish(cal)
