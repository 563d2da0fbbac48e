"""Calendar items (MS-ASCAL §2.2.2) ↔ VEVENT objects (RFC 5545 §3.6.1).

``to_app`` renders a stored object as AirSync ApplicationData; ``merge`` applies a phone's
ApplicationData to the stored object (or a new one): only what the phone sent is changed, so
unmapped properties (X-, a second VALARM, ATTACH…) survive a phone's edit. Exceptions
(MS-ASCAL §2.2.2.20) are EXDATEs (Deleted) and RECURRENCE-ID overrides.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

import icalendar

from postroom.protocols.eas.element import Element
from postroom.web.eas.classes import SyncOptions
from postroom.web.eas.pim import body, dates, recur

NS = "Calendar"
Component = icalendar.cal.component.Component
_PARTSTAT_OUT = {"ACCEPTED": 3, "TENTATIVE": 2, "DECLINED": 4, "NEEDS-ACTION": 5}
_PARTSTAT_IN = {3: "ACCEPTED", 2: "TENTATIVE", 4: "DECLINED", 5: "NEEDS-ACTION", 0: "NEEDS-ACTION"}
_CLASS_OUT = {"PUBLIC": 0, "PRIVATE": 2, "CONFIDENTIAL": 3}
_CLASS_IN = {0: "PUBLIC", 1: "PRIVATE", 2: "PRIVATE", 3: "CONFIDENTIAL"}


def _addr(value: object) -> str:
    text = str(value or "")
    return text[7:] if text.lower().startswith("mailto:") else text


def _events(cal: icalendar.Calendar) -> tuple[Component | None, list[Component]]:
    """(the master VEVENT, its RECURRENCE-ID overrides)."""
    master, overrides = None, []
    for comp in cal.walk("VEVENT"):
        if comp.get("RECURRENCE-ID") is None:
            master = master or comp
        else:
            overrides.append(comp)
    return master, overrides


def _zone_of(comp: Component) -> tuple[str | None, tzinfo | None]:
    start = comp.get("DTSTART")
    if start is None:
        return None, None
    tzid = start.params.get("TZID")
    value = start.dt
    if tzid:
        return str(tzid), dates.zone_for(str(tzid)) or getattr(value, "tzinfo", None)
    if isinstance(value, datetime) and value.tzinfo is not None:
        key = getattr(value.tzinfo, "key", None)
        return (str(key) if key else None), value.tzinfo
    return None, None


def _end_of(comp: Component, start: date | datetime) -> date | datetime:
    end = comp.get("DTEND")
    if end is not None:
        value: date | datetime = end.dt
        return value
    duration = comp.get("DURATION")
    if duration is not None:
        return start + duration.dt  # type: ignore[no-any-return]
    return start + timedelta(days=1) if not isinstance(start, datetime) else start


def _reminder(comp: Component) -> int | None:
    for alarm in comp.walk("VALARM"):
        trigger = alarm.get("TRIGGER")
        if trigger is None or not isinstance(trigger.dt, timedelta):
            continue
        if str(trigger.params.get("RELATED", "START")).upper() != "START":
            continue
        return max(0, int(-trigger.dt.total_seconds() // 60))
    return None


def _common(comp: Component, app: Element, zone: tzinfo | None, options: SyncOptions | None,
            version: str, exception: bool) -> None:
    """The properties an event and an exception share (MS-ASCAL §2.2.2.20 children)."""
    start = comp.get("DTSTART")
    if start is not None:
        value = start.dt
        all_day = not isinstance(value, datetime)
        end = _end_of(comp, value)
        app.add(NS, "AllDayEvent", 1 if all_day else 0)
        app.add(NS, "StartTime", dates.compact(dates.as_utc(value, zone)))
        app.add(NS, "EndTime", dates.compact(dates.as_utc(end, zone)))
    if comp.get("SUMMARY") is not None:
        app.add(NS, "Subject", str(comp.get("SUMMARY")))
    location = comp.get("LOCATION")
    if location is not None:
        if _v16(version):
            loc = app.add("AirSyncBase", "Location")
            loc.add("AirSyncBase", "DisplayName", str(location))
        else:
            app.add(NS, "Location", str(location))
    description = comp.get("DESCRIPTION")
    if description is not None or not exception:
        app.append(body.element(str(description or ""), options))
    klass = str(comp.get("CLASS", "PUBLIC")).upper()
    app.add(NS, "Sensitivity", _CLASS_OUT.get(klass, 0))
    transp = str(comp.get("TRANSP", "OPAQUE")).upper()
    status = str(comp.get("STATUS", "")).upper()
    app.add(NS, "BusyStatus", 0 if transp == "TRANSPARENT" else 1 if status == "TENTATIVE"
            else 2)
    minutes = _reminder(comp)
    if minutes is not None:
        app.add(NS, "Reminder", minutes)
    if comp.get("DTSTAMP") is not None:
        app.add(NS, "DtStamp", dates.compact(dates.as_utc(comp.get("DTSTAMP").dt)))
    cats = _categories(comp)
    if cats:
        c = app.add(NS, "Categories")
        for cat in cats:
            c.add(NS, "Category", cat)


def _v16(version: str) -> bool:
    try:
        return float(version) >= 16.0
    except ValueError:
        return False


def _categories(comp: Component) -> list[str]:
    out: list[str] = []
    raw = comp.get("CATEGORIES")
    for prop in raw if isinstance(raw, list) else [raw] if raw is not None else []:
        cats = getattr(prop, "cats", None)
        out += [str(c) for c in (cats if cats is not None else [prop])]
    return out


def to_app(data: bytes, me: str, options: SyncOptions | None = None,
           version: str = "14.1") -> Element:
    """The ApplicationData of a stored event (MS-ASCAL §2.2.2, order of §2.2.2 examples)."""
    cal = icalendar.Calendar.from_ical(data)
    master, overrides = _events(cal)
    app = Element("AirSync", "ApplicationData")
    if master is None:
        master = overrides[0] if overrides else icalendar.Event()
    tzid, zone = _zone_of(master)
    if not _v16(version) or tzid:
        app.add(NS, "Timezone", dates.timezone_blob(tzid, zone=zone))
    _common(master, app, zone, options, version, exception=False)
    uid = str(master.get("UID", ""))
    if uid:
        app.add(NS, "UID", uid)
    organizer = master.get("ORGANIZER")
    attendees = master.get("ATTENDEE")
    attendees = attendees if isinstance(attendees, list) else [attendees] if attendees else []
    me = me.lower()
    if organizer is not None:
        app.add(NS, "OrganizerEmail", _addr(organizer))
        if organizer.params.get("CN"):
            app.add(NS, "OrganizerName", str(organizer.params.get("CN")))
    cancelled = str(master.get("STATUS", "")).upper() == "CANCELLED"
    if attendees:
        mine = organizer is None or _addr(organizer).lower() == me
        app.add(NS, "MeetingStatus", (1 if mine else 3) + (4 if cancelled else 0))
        node = app.add(NS, "Attendees")
        for att in attendees:
            a = node.add(NS, "Attendee")
            a.add(NS, "Email", _addr(att))
            a.add(NS, "Name", str(att.params.get("CN") or _addr(att)))
            status = _PARTSTAT_OUT.get(str(att.params.get("PARTSTAT", "NEEDS-ACTION")).upper())
            a.add(NS, "AttendeeStatus", status if status is not None else 0)
            cutype = str(att.params.get("CUTYPE", "")).upper()
            role = str(att.params.get("ROLE", "REQ-PARTICIPANT")).upper()
            a.add(NS, "AttendeeType", 3 if cutype in ("RESOURCE", "ROOM") else
                  1 if role in ("REQ-PARTICIPANT", "CHAIR") else 2)
            if not mine and _addr(att).lower() == me:
                app.add(NS, "ResponseType", {3: 3, 2: 2, 4: 4}.get(status or 5, 5))
    else:
        app.add(NS, "MeetingStatus", 0)
    rrule = master.get("RRULE")
    start = master.get("DTSTART")
    if rrule is not None and start is not None:
        parts = recur.from_rrule(dict(rrule), start.dt, NS)
        if parts is not None:
            rec = app.add(NS, "Recurrence")
            rec.children.extend(parts)
            _exceptions(master, overrides, app, zone, options, version)
    return app


def _exceptions(master: Component, overrides: list[Component], app: Element,
                zone: tzinfo | None, options: SyncOptions | None, version: str) -> None:
    deleted: list[datetime] = []
    raw = master.get("EXDATE")
    for prop in raw if isinstance(raw, list) else [raw] if raw is not None else []:
        deleted += [dates.as_utc(d.dt, zone) for d in prop.dts]
    if not deleted and not overrides:
        return
    node = app.add(NS, "Exceptions")
    for moment in sorted(deleted):
        e = node.add(NS, "Exception")
        e.add(NS, "Deleted", 1)
        _instance(e, moment, version)
    for comp in overrides:
        e = node.add(NS, "Exception")
        _instance(e, dates.as_utc(comp.get("RECURRENCE-ID").dt, zone), version)
        _common(comp, e, zone, options, version, exception=True)


def _instance(exc: Element, moment: datetime, version: str) -> None:
    if _v16(version):
        exc.add("AirSyncBase", "InstanceId", dates.compact(moment))
    else:
        exc.add(NS, "ExceptionStartTime", dates.compact(moment))


# -- writing -----------------------------------------------------------------------------------

class BadItem(ValueError):
    """The phone's ApplicationData cannot be an event (Sync Status 6, MS-ASCMD §2.2.3.177.17)."""


def _local(text: str | None, zone: tzinfo, all_day: bool) -> date | datetime | None:
    moment = dates.parse(text)
    if moment is None:
        return None
    if all_day:
        if text and not text.rstrip().endswith("Z"):
            return moment.date()  # 16.x sends all-day times as local (no Z)
        return moment.astimezone(zone).date()
    return moment.astimezone(zone) if zone is not UTC else moment


def _set(comp: Component, name: str, value: Any, **params: str) -> None:
    comp.pop(name, None)
    if value is None:
        return
    if params:
        comp.add(name, value, parameters=params)
    else:
        comp.add(name, value)


def _set_time(comp: Component, name: str, value: date | datetime, tzid: str | None) -> None:
    comp.pop(name, None)
    if isinstance(value, datetime) and tzid and tzid != "UTC":
        comp.add(name, value.replace(tzinfo=None), parameters={"TZID": tzid})
    elif isinstance(value, datetime):
        comp.add(name, value.astimezone(UTC))
    else:
        comp.add(name, value)


def _apply(comp: Component, app: Element, zone: tzinfo, tzid: str | None,
           default_all_day: bool, replace: bool = False) -> None:
    """The fields an event and an exception share, from the phone onto ``comp``.
    ``replace`` (a Change of the event itself): a Change carries the whole item (MS-ASCMD
    §2.2.3.24), so a Location or Categories the device leaves out was cleared on it; the
    body, reminder and attendees are kept when not sent (devices ghost bodies, and an
    alarm or attendee list the device cannot show must survive its edit)."""
    all_day_text = app.value("AllDayEvent")
    all_day = all_day_text == "1" if all_day_text not in (None, "") else default_all_day
    start = _local(app.value("StartTime"), zone, all_day)
    end = _local(app.value("EndTime"), zone, all_day)
    if start is not None:
        _set_time(comp, "DTSTART", start, None if all_day else tzid)
        comp.pop("DURATION", None)
        if end is None or end < start:
            end = start + timedelta(days=1) if all_day else start
        if all_day and end == start:
            end = start + timedelta(days=1)
        _set_time(comp, "DTEND", end, None if all_day else tzid)
    if app.has("Subject"):
        _set(comp, "SUMMARY", app.value("Subject") or "")
    loc = app.find("Location", "AirSyncBase")
    if loc is not None:
        _set(comp, "LOCATION", loc.value("DisplayName") or None)
    elif app.find("Location", NS) is not None:
        _set(comp, "LOCATION", app.value("Location") or None)
    elif replace:
        comp.pop("LOCATION", None)
    text = body.text_of(app)
    if text is not None:
        _set(comp, "DESCRIPTION", text or None)
    sens = app.value("Sensitivity")
    if sens not in (None, "") and sens.isdigit():
        _set(comp, "CLASS", _CLASS_IN.get(int(sens), "PUBLIC"))
    busy = app.value("BusyStatus")
    if busy not in (None, "") and busy.isdigit():
        _set(comp, "TRANSP", "TRANSPARENT" if busy == "0" else "OPAQUE")
    reminder = app.value("Reminder")
    if reminder not in (None, "") and reminder.isdigit():
        _set_reminder(comp, int(reminder))
    cats = app.find("Categories", NS)
    if cats is not None or replace:
        comp.pop("CATEGORIES", None)
    if cats is not None:
        names = [c.text or "" for c in cats.findall("Category")]
        if names:
            comp.add("CATEGORIES", names)


def _set_reminder(comp: Component, minutes: int) -> None:
    """The first relative VALARM gets the new trigger; others are kept as they are."""
    trigger = timedelta(minutes=-minutes)
    for alarm in comp.walk("VALARM"):
        old = alarm.get("TRIGGER")
        if old is not None and isinstance(old.dt, timedelta):
            alarm.pop("TRIGGER")
            alarm.add("TRIGGER", trigger)
            return
    alarm = icalendar.Alarm()
    alarm.add("ACTION", "DISPLAY")
    alarm.add("DESCRIPTION", "Reminder")
    alarm.add("TRIGGER", trigger)
    comp.add_component(alarm)


def merge(existing: bytes | None, app: Element, me: str) -> bytes:
    """The stored object after a phone's Add (``existing`` None) or Change."""
    if existing is not None:
        cal = icalendar.Calendar.from_ical(existing)
    else:
        cal = icalendar.Calendar()
        cal.add("PRODID", "-//Postroom//ActiveSync//EN")
        cal.add("VERSION", "2.0")
    master, overrides = _events(cal)
    if master is None:
        master = icalendar.Event()
        cal.add_component(master)
    uid = str(master.get("UID") or app.value("UID") or app.value("ClientUid")
              or uuid.uuid4())
    _set(master, "UID", uid)
    old_tzid, old_zone = _zone_of(master)
    blob = dates.decode_blob(app.value("Timezone"))
    if blob is not None:
        tzid, zone = dates.zone_of_blob(blob, datetime.now(UTC).year)
    else:
        tzid, zone = old_tzid, old_zone or UTC
    default_all_day = master.get("DTSTART") is not None and \
        not isinstance(master.get("DTSTART").dt, datetime)
    _apply(master, app, zone, tzid, default_all_day, replace=existing is not None)
    if master.get("DTSTART") is None:
        raise BadItem("an event needs a StartTime")
    _set(master, "DTSTAMP", datetime.now(UTC).replace(microsecond=0))
    _attendees(master, app, me)
    rec = app.find("Recurrence", NS)
    if rec is not None:
        rule = recur.to_rrule(rec, master.get("DTSTART").dt)
        if rule is None:
            raise BadItem("a Recurrence without a known Type")
        _set(master, "RRULE", rule)
    exceptions = app.find("Exceptions", NS)
    if exceptions is not None and master.get("RRULE") is not None:
        _merge_exceptions(cal, master, overrides, exceptions, zone, tzid)
    return cal.to_ical()  # type: ignore[no-any-return]


def _attendees(master: Component, app: Element, me: str) -> None:
    node = app.find("Attendees", NS)
    if node is None:
        return
    raw = master.get("ATTENDEE")
    old = {_addr(a).lower(): a for a in (raw if isinstance(raw, list) else
                                          [raw] if raw is not None else [])}
    master.pop("ATTENDEE", None)
    for att in node.findall("Attendee"):
        email = (att.value("Email") or "").strip()
        if not email:
            continue
        prev = old.get(email.lower())
        params: dict[str, str] = dict(prev.params) if prev is not None else {}
        name = att.value("Name")
        if name:
            params["CN"] = name
        kind = att.value("AttendeeType")
        if kind == "3":
            params["CUTYPE"] = "RESOURCE"
        elif kind in ("1", "2"):
            params["ROLE"] = "REQ-PARTICIPANT" if kind == "1" else "OPT-PARTICIPANT"
        status = att.value("AttendeeStatus")
        if status and status.isdigit() and prev is None:
            params["PARTSTAT"] = _PARTSTAT_IN.get(int(status), "NEEDS-ACTION")
        params.setdefault("PARTSTAT", "NEEDS-ACTION")
        master.add("ATTENDEE", f"mailto:{email}", parameters=params)
    if node.findall("Attendee") and master.get("ORGANIZER") is None and me:
        master.add("ORGANIZER", f"mailto:{me}")


def _rid_key(value: date | datetime, zone: tzinfo) -> datetime:
    return dates.as_utc(value, zone)


def _merge_exceptions(cal: icalendar.Calendar, master: Component,
                      overrides: list[Component], node: Element, zone: tzinfo,
                      tzid: str | None) -> None:
    """The phone's Exceptions are the whole list (MS-ASCAL §2.2.2.20): EXDATEs and overrides
    it no longer lists are removed, the others updated in place."""
    start = master.get("DTSTART").dt
    all_day = not isinstance(start, datetime)
    duration = _end_of(master, start) - start
    by_rid = {_rid_key(o.get("RECURRENCE-ID").dt, zone): o for o in overrides}
    deleted: list[date | datetime] = []
    keep: set[datetime] = set()
    for exc in node.findall("Exception"):
        when = dates.parse(exc.value("ExceptionStartTime") or exc.value("InstanceId"))
        if when is None:
            continue
        rid: date | datetime = when.astimezone(zone).date() if all_day else \
            when.astimezone(zone)
        if exc.value("Deleted") == "1":
            deleted.append(rid)
            continue
        keep.add(when)
        comp = by_rid.get(when)
        if comp is None:
            comp = icalendar.Event()
            comp.add("UID", master.get("UID"))
            _set_time(comp, "RECURRENCE-ID", rid, None if all_day else tzid)
            for name in ("SUMMARY", "LOCATION", "DESCRIPTION", "CLASS", "TRANSP"):
                if master.get(name) is not None:
                    comp.add(name, master.get(name))
            _set_time(comp, "DTSTART", rid, None if all_day else tzid)
            _set_time(comp, "DTEND", rid + duration, None if all_day else tzid)
            cal.add_component(comp)
        _apply(comp, exc, zone, tzid, all_day)
        _set(comp, "DTSTAMP", datetime.now(UTC).replace(microsecond=0))
    for key, comp in by_rid.items():
        if key not in keep:
            cal.subcomponents.remove(comp)
    master.pop("EXDATE", None)
    for rid in deleted:
        if isinstance(rid, datetime) and tzid and tzid != "UTC":
            master.add("EXDATE", rid.replace(tzinfo=None), parameters={"TZID": tzid})
        elif isinstance(rid, datetime):
            master.add("EXDATE", rid.astimezone(UTC))
        else:
            master.add("EXDATE", rid)


def answer(data: bytes, me: str, partstat: str) -> bytes | None:
    """The attendee's copy with ``me``'s PARTSTAT set in every component that lists them
    (MeetingResponse); None when ``me`` is not an attendee."""
    cal = icalendar.Calendar.from_ical(data)
    found = False
    for comp in cal.walk("VEVENT"):
        raw = comp.get("ATTENDEE")
        for att in raw if isinstance(raw, list) else [raw] if raw is not None else []:
            if _addr(att).lower() == me.lower():
                att.params["PARTSTAT"] = partstat
                att.params.pop("RSVP", None)
                found = True
    return cal.to_ical() if found else None


def invitation_object(data: bytes) -> tuple[str, bytes] | None:
    """(UID, a storable object) from an iMIP REQUEST (RFC 6047): METHOD removed, as a
    stored calendar object must not have it (RFC 4791 §4.1); None when it holds no event."""
    cal = icalendar.Calendar.from_ical(data)
    master, overrides = _events(cal)
    first = master or (overrides[0] if overrides else None)
    if first is None or not first.get("UID"):
        return None
    if str(cal.get("METHOD", "REQUEST")).upper() not in ("REQUEST", "PUBLISH"):
        return None
    cal.pop("METHOD", None)
    return str(first.get("UID")), cal.to_ical()


def exclude(data: bytes, instance: datetime) -> bytes:
    """The series without the occurrence that starts (originally) at ``instance`` (UTC):
    an EXDATE in the master's zone, and its override, if any, removed (a 16.x Sync Delete
    with AirSyncBase:InstanceId, MS-ASCMD §2.2.3.88.1). BadItem when the object has no
    series."""
    cal = icalendar.Calendar.from_ical(data)
    master, overrides = _events(cal)
    if master is None or master.get("RRULE") is None:
        raise BadItem("only an occurrence of a recurring event can be deleted alone")
    tzid, zone = _zone_of(master)
    zone = zone or UTC
    start = master.get("DTSTART").dt
    for comp in overrides:
        if dates.as_utc(comp.get("RECURRENCE-ID").dt, zone) == instance:
            cal.subcomponents.remove(comp)
    if not isinstance(start, datetime):
        master.add("EXDATE", instance.astimezone(zone).date())
    elif tzid and tzid != "UTC":
        master.add("EXDATE", instance.astimezone(zone).replace(tzinfo=None),
                   parameters={"TZID": tzid})
    else:
        master.add("EXDATE", instance.astimezone(UTC))
    return cal.to_ical()  # type: ignore[no-any-return]
