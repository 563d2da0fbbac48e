"""iTIP (RFC 5546) messages for scheduling (RFC 6638 implicit scheduling; RFC 6047 iMIP).

SEQUENCE and DTSTAMP (RFC 5546 §2.1.4, §2.1.5): a message's DTSTAMP is when it was made
(``now``); SEQUENCE is the organiser's revision. REQUEST carries the stored SEQUENCE (the
organiser's client bumps it on a significant change); CANCEL carries the stored SEQUENCE + 1
(the cancellation is itself a revision, so attendees holding the latest copy accept it);
REPLY echoes the SEQUENCE of the attendee's copy. ``apply_reply`` refuses a reply whose
SEQUENCE is older than the organiser's copy (it answers an outdated version); ordering of
replies with equal SEQUENCE by DTSTAMP is left to the caller, which knows what it applied.

``apply_reply`` edits the organiser's copy as text: only the replying attendee's ATTENDEE line
changes (re-folded), every other byte stays as the organiser's client wrote it, so its ETag
based change detection and its own formatting survive. A reply for an instance that has no
override yet gets one appended (built from the master).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import icalendar

from postroom.pim import times, vcard
from postroom.pim.ical import address, info_of
from postroom.pim.model import CALDAV_NS, InvalidItem, SchedulingInfo

Component = icalendar.cal.component.Component

_PARTSTATS = frozenset({"NEEDS-ACTION", "ACCEPTED", "DECLINED", "TENTATIVE", "DELEGATED",
                        "COMPLETED", "IN-PROCESS"})
# What a REPLY component carries besides the attendee (RFC 5546 §3.2.3 table)
_REPLY_PROPS = ("UID", "SEQUENCE", "ORGANIZER", "RECURRENCE-ID", "DTSTART", "DTEND",
                "DURATION", "DUE", "SUMMARY", "REQUEST-STATUS")
_CANCEL_PROPS = ("UID", "SEQUENCE", "ORGANIZER", "RECURRENCE-ID", "DTSTART", "DTEND",
                 "DURATION", "DUE", "SUMMARY", "LOCATION", "COMMENT")


def _bad(text: str) -> InvalidItem:
    return InvalidItem((CALDAV_NS, "valid-calendar-data"), text)


def _wrong(text: str) -> InvalidItem:
    """A well-formed message that does not fit (RFC 6638 §3.2.4.3 valid-scheduling-message)."""
    return InvalidItem((CALDAV_NS, "valid-scheduling-message"), text)


# Server-side parameters that never travel in iTIP (RFC 6638 §7.1-7.3)
_SERVER_PARAMS = ("SCHEDULE-AGENT", "SCHEDULE-STATUS", "SCHEDULE-FORCE-SEND")


def _clean_address(prop: object) -> object:
    """A copy of an ORGANIZER/ATTENDEE without the server-side scheduling parameters."""
    params = getattr(prop, "params", None)
    if params is None or not any(k.upper() in _SERVER_PARAMS for k in params):
        return prop
    new = icalendar.vCalAddress(str(prop))
    for k, v in params.items():
        if k.upper() not in _SERVER_PARAMS:
            new.params[k] = v
    return new


def _clean_component(comp: Component) -> None:
    for name in ("ORGANIZER", "ATTENDEE"):
        vals = comp.get(name)
        if vals is None:
            continue
        comp.pop(name)
        for v in vals if isinstance(vals, list) else [vals]:
            comp.add(name, _clean_address(v))


def _comps(cal: icalendar.Calendar) -> list[Component]:
    comps = [c for c in cal.subcomponents if c.name in ("VEVENT", "VTODO", "VJOURNAL")]
    if not comps:
        raise _bad("no VEVENT, VTODO or VJOURNAL to schedule")
    return comps


def _seq(comp: Component) -> int:
    try:
        return max(0, int(str(comp.get("SEQUENCE", 0))))
    except ValueError:
        return 0


def _envelope(cal: icalendar.Calendar, method: str) -> icalendar.Calendar:
    out = icalendar.Calendar()
    out.add("PRODID", "-//Postroom//iTIP//EN")
    out.add("VERSION", "2.0")
    out.add("METHOD", method)
    for tz in cal.subcomponents:
        if tz.name == "VTIMEZONE":
            out.add_component(tz)
    return out


def _stamp(comp: Component, now: datetime | None) -> None:
    comp.pop("DTSTAMP", None)
    comp.add("DTSTAMP", (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0))


def _copy(src: Component, keep: tuple[str, ...] | None) -> Component:
    new = type(src)()
    for k, v in src.items():
        if keep is None or k.upper() in keep:
            new[k] = v
    return new


def _attendee_list(comp: Component) -> list[object]:
    v = comp.get("ATTENDEE")
    if v is None:
        return []
    return v if isinstance(v, list) else [v]


@times.guarded
def request(data: bytes, *, now: datetime | None = None) -> bytes:
    """METHOD:REQUEST for a stored organiser's object (RFC 5546 §3.2.2): every component,
    VALARMs removed (the attendee's alarms are the attendee's), DTSTAMP now."""
    cal = times.parse_calendar(data)
    comps = _comps(cal)
    if all(c.get("ORGANIZER") is None for c in comps):
        raise _bad("a REQUEST needs an ORGANIZER")
    out = _envelope(cal, "REQUEST")
    for c in comps:
        new = _copy(c, None)
        for sub in c.subcomponents:
            if sub.name != "VALARM":
                new.add_component(sub)
        _clean_component(new)
        _stamp(new, now)
        out.add_component(new)
    return times.to_bytes(out)


@times.guarded
def cancel(data: bytes, attendees: tuple[str, ...] = (), *,
           now: datetime | None = None) -> bytes:
    """METHOD:CANCEL (RFC 5546 §3.2.5), for all or the listed attendees: the master (or each
    override when there is no master) with STATUS:CANCELLED and SEQUENCE + 1."""
    cal = times.parse_calendar(data)
    comps = _comps(cal)
    masters = [c for c in comps if c.get("RECURRENCE-ID") is None] or comps
    wanted = {address(a) for a in attendees}
    out = _envelope(cal, "CANCEL")
    for c in masters:
        new = _copy(c, _CANCEL_PROPS)
        new.pop("SEQUENCE", None)
        new.add("SEQUENCE", _seq(c) + 1)
        for att in _attendee_list(c):
            if not wanted or address(att) in wanted:
                new.add("ATTENDEE", att)
        new.add("STATUS", "CANCELLED")
        _clean_component(new)
        _stamp(new, now)
        out.add_component(new)
    return times.to_bytes(out)


@times.guarded
def reply(data: bytes, attendee: str, partstat: str, *, now: datetime | None = None) -> bytes:
    """METHOD:REPLY from ``attendee`` with ``partstat`` (RFC 5546 §3.2.3): one component per
    master/override of the attendee's copy, carrying only that attendee."""
    status = partstat.upper()
    if status not in _PARTSTATS:
        raise _bad(f"unknown PARTSTAT {partstat[:30]!r}")
    who = address(attendee)
    cal = times.parse_calendar(data)
    out = _envelope(cal, "REPLY")
    for c in _comps(cal):
        new = _copy(c, _REPLY_PROPS)
        found = [a for a in _attendee_list(c) if address(a) == who]
        prop = icalendar.vCalAddress(str(found[0]) if found else f"mailto:{who}")
        if found:
            for k, v in getattr(found[0], "params", {}).items():
                if k.upper() not in ("RSVP", "PARTSTAT", *_SERVER_PARAMS):
                    prop.params[k] = v
        prop.params["PARTSTAT"] = status
        new.add("ATTENDEE", prop)
        _clean_component(new)
        _stamp(new, now)
        out.add_component(new)
    return times.to_bytes(out)


@times.guarded
def parse_message(data: bytes) -> SchedulingInfo:
    """METHOD, UID, ORGANIZER, ATTENDEEs of an iTIP message (text/calendar with METHOD)."""
    cal = times.parse_calendar(data)
    comps = _comps(cal)
    info = info_of(cal)
    if info is None:
        c = comps[0]
        info = SchedulingInfo(uid=str(c.get("UID", "")), organizer=None, sequence=_seq(c),
                              method=str(cal.get("METHOD", "")).upper(),
                              summary=str(c.get("SUMMARY", "")))
    if not info.uid:
        raise _bad("an iTIP message needs a UID")
    return info


# --- apply_reply: a text edit of the organiser's copy ------------------------------------

def _rid_key(comp: Component) -> int | None:
    rid = times.value(comp, "RECURRENCE-ID")
    return None if rid is None else times.epoch(rid)


@times.guarded
def apply_reply(organizer_copy: bytes, reply_data: bytes, *,
                attendee: str | None = None) -> bytes:
    """The organiser's object with the replying attendee's PARTSTAT set (RFC 5546 §3.2.3);
    raise ``InvalidItem`` when the reply does not belong to it (UID, older SEQUENCE).

    ``attendee``: who sent the reply (the user, or a mail's From). RFC 5546 §3.2.3: a REPLY
    speaks for one attendee only, so every component must carry exactly one ATTENDEE and, when
    ``attendee`` is given, that ATTENDEE must be the sender; otherwise the whole reply is
    refused (the caller checked the sender against the master only, and a second component
    could otherwise answer for somebody else). One component per RECURRENCE-ID: a repeated
    one is refused (the later would silently override the earlier)."""
    org_cal = times.parse_calendar(organizer_copy)
    rep_cal = times.parse_calendar(reply_data)
    org_comps = _comps(org_cal)
    rep_comps = _comps(rep_cal)
    uid = str(org_comps[0].get("UID", ""))
    if any(str(c.get("UID", "")) != uid for c in rep_comps):
        raise _wrong("the reply is for another event (UID)")
    master = next((c for c in org_comps if c.get("RECURRENCE-ID") is None), None)
    by_rid = {_rid_key(c): c for c in org_comps}
    changes: dict[int | None, tuple[str, str]] = {}  # rid -> (attendee, partstat)
    sender = address(attendee) if attendee is not None else None
    for rc in rep_comps:
        if _rid_key(rc) in changes:
            raise _wrong("a REPLY answers each instance once (repeated RECURRENCE-ID)")
        target = by_rid.get(_rid_key(rc), master)
        if target is not None and _seq(rc) < _seq(target):
            raise _wrong(f"the reply answers SEQUENCE {_seq(rc)}, the event is at "
                         f"{_seq(target)}")
        atts = _attendee_list(rc)
        if len(atts) != 1:
            raise _wrong("a REPLY carries exactly one ATTENDEE (RFC 5546 §3.2.3)")
        if sender is not None and address(atts[0]) != sender:
            raise _wrong("a REPLY may only answer for its sender (RFC 5546 §3.2.3)")
        params = getattr(atts[0], "params", {})
        status = str(params.get("PARTSTAT", "NEEDS-ACTION")).upper()
        changes[_rid_key(rc)] = (address(atts[0]), status)
    text = times.decode(organizer_copy)
    edited, done = _edit_attendees(text, org_comps, changes)
    extra = [(rid, change) for rid, change in changes.items() if rid not in done]
    invited = {address(a) for c in org_comps for a in _attendee_list(c)}
    for rid, (who, _) in extra:
        if who not in invited:
            raise _wrong(f"{who} is not invited to this event")
        if rid is None or master is None or rid in by_rid:
            raise _wrong(f"{who} is not an attendee of the instance replied to")
    if extra:
        assert master is not None
        edited = _append_overrides(edited, master, rep_comps, extra)
    return edited.encode()


def _logical_lines(text: str) -> list[str]:
    """Physical lines grouped: each item is one content line with its folds, as written."""
    out: list[str] = []
    for phys in text.splitlines(keepends=True):
        if out and phys[:1] in (" ", "\t"):
            out[-1] += phys
        else:
            out.append(phys)
    return out


def _edit_attendees(text: str, comps: list[Component],
                    changes: dict[int | None, tuple[str, str]]
                    ) -> tuple[str, set[int | None]]:
    """Rewrite PARTSTAT on matching ATTENDEE lines of the top-level components whose
    RECURRENCE-ID is in ``changes``; returns the text and the RIDs that were applied."""
    keys = [_rid_key(c) for c in comps]  # same order as in the text
    out: list[str] = []
    depth = 0
    index = -1
    inside = False  # within a top-level VEVENT/VTODO/VJOURNAL
    current: int | None = None  # its RECURRENCE-ID key
    done: set[int | None] = set()
    for raw in _logical_lines(text):
        body = raw.rstrip("\r\n")
        ending = raw[len(body):]
        flat = body.replace("\r\n ", "").replace("\r\n\t", "").replace("\n ", "") \
            .replace("\n\t", "")
        name = vcard.line_name(flat)
        if name == "BEGIN":
            depth += 1
            kind = flat.split(":", 1)[-1].strip().upper()
            if depth == 2 and kind in ("VEVENT", "VTODO", "VJOURNAL"):
                index += 1
                inside = index < len(keys)
                current = keys[index] if inside else None
        elif name == "END":
            if depth == 2:
                inside = False
            depth -= 1
        elif depth == 2 and name == "ATTENDEE" and inside and current in changes:
            who, status = changes[current]
            try:
                prop = vcard.parse_line(flat)
            except InvalidItem:
                prop = None
            if prop is not None and address(prop.value) == who:
                prop.params["PARTSTAT"] = [status]
                prop.params.pop("RSVP", None)
                head = (prop.group + "." if prop.group else "") + prop.name
                line = head + "".join(
                    f";{k}=" + ",".join(f'"{v}"' if any(c in v for c in ":;,") else v
                                        for v in vals)
                    for k, vals in prop.params.items()) + ":" + prop.value
                raw = vcard.fold(line).rstrip("\r\n") + (ending or "\r\n")
                done.add(current)
        out.append(raw)
    return "".join(out), done


def _append_overrides(text: str, master: Component, rep_comps: list[Component],
                      extra: list[tuple[int | None, tuple[str, str]]]) -> str:
    """New overrides (copies of the master at the replied instance) before END:VCALENDAR."""
    blocks: list[str] = []
    rids = {_rid_key(rc): rc for rc in rep_comps}
    mstart = times.value(master, "DTSTART")
    for rid, (who, status) in extra:
        rc = rids.get(rid)
        rid_value = times.value(rc, "RECURRENCE-ID") if rc is not None else None
        if rid is None or rid_value is None or mstart is None:
            continue
        new = _copy(master, None)
        for k in ("RRULE", "RDATE", "EXDATE", "DTSTART", "DTEND", "ATTENDEE"):
            new.pop(k, None)
        shift = timedelta(seconds=times.epoch(rid_value) - times.epoch(mstart))
        new.add("RECURRENCE-ID", rid_value)
        new.add("DTSTART", rid_value)
        mend = times.value(master, "DTEND")
        if mend is not None:
            new.add("DTEND", mend + shift)
        for att in _attendee_list(master):
            if address(att) == who:
                att = icalendar.vCalAddress(str(att), params=dict(getattr(att, "params", {})))
                att.params["PARTSTAT"] = status
                att.params.pop("RSVP", None)
            new.add("ATTENDEE", att)
        blocks.append(times.to_bytes(new).decode())
    if not blocks:
        return text
    at = text.upper().rfind("END:VCALENDAR")
    return text[:at] + "".join(blocks) + text[at:]
