"""iTIP messages (RFC 5546) as scheduling needs them, and their mail form, iMIP (RFC 6047).

Two halves:

- iTIP content beyond pim.itip (which builds REQUEST, REPLY, CANCEL and applies a REPLY): the
  METHOD a message carries, an attendee's PARTSTAT, the attendee's copy of an invitation, a
  cancelled copy, what counts as a change worth a new REQUEST, and a free-busy request. Each
  goes through ``icalendar`` and keeps everything it does not change.
- iMIP mail: a multipart/alternative message with a text part for people and the
  text/calendar part with ``method=`` (RFC 6047 §2.4), and, for mail coming in, the
  text/calendar parts of a delivered message.

Pure functions, no I/O.
"""

from __future__ import annotations

import email.policy
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime, getaddresses
from typing import Any

import icalendar

from postroom.pim.ical import address
from postroom.pim.model import CALDAV_NS, InvalidItem

TIME_COMPONENTS = ("VEVENT", "VTODO", "VJOURNAL")
# Properties whose change alone does not make an organiser's edit worth a new REQUEST
# (RFC 5546 §2.1.4: DTSTAMP is the message's time; attendees' answers are theirs)
_VOLATILE = ("DTSTAMP", "LAST-MODIFIED", "CREATED")
_ANSWER_PARAMS = ("PARTSTAT", "SCHEDULE-STATUS", "RSVP")
PARTSTATS = frozenset({"NEEDS-ACTION", "ACCEPTED", "DECLINED", "TENTATIVE", "DELEGATED"})


def _parse(data: bytes) -> icalendar.Calendar:
    try:
        cal = icalendar.Calendar.from_ical(data)
    except (ValueError, IndexError, KeyError, TypeError) as exc:
        raise InvalidItem((CALDAV_NS, "valid-calendar-data"), f"not iCalendar: {exc}") from None
    if not isinstance(cal, icalendar.Calendar):
        raise InvalidItem((CALDAV_NS, "valid-calendar-data"), "not one VCALENDAR")
    return cal


def _components(cal: icalendar.Calendar) -> list[Any]:
    return [c for c in cal.subcomponents if c.name in TIME_COMPONENTS]


def _attendee_props(comp: Any) -> list[Any]:
    props = comp.get("ATTENDEE")
    if props is None:
        return []
    return list(props) if isinstance(props, list) else [props]


# -- iTIP content (RFC 5546): what pim.itip does not do -------------------------------------------
def method_of(data: bytes) -> str:
    """METHOD of an iTIP message, upper-case; "" when there is none."""
    return str(_parse(data).get("METHOD", "")).upper()


def partstat_of(data: bytes, attendee: str) -> str | None:
    """The attendee's PARTSTAT in the master component (or the first), None if not invited."""
    comps = _components(_parse(data))
    comps.sort(key=lambda c: c.get("RECURRENCE-ID") is not None)
    for comp in comps[:1]:
        for p in _attendee_props(comp):
            if address(p) == attendee.lower():
                return str(p.params.get("PARTSTAT", "NEEDS-ACTION")).upper()
    return None


def attendee_copy(organizer_data: bytes, attendee: str, partstat: str | None) -> bytes:
    """What lands in a local attendee's calendar: the organiser's object without METHOD, with
    the attendee's own PARTSTAT (NEEDS-ACTION for a new invitation, what they answered before
    for an update of the same revision)."""
    cal = _parse(organizer_data)
    cal.pop("METHOD", None)
    for comp in _components(cal):
        for p in _attendee_props(comp):
            p.params.pop("SCHEDULE-STATUS", None)
            if address(p) == attendee.lower():
                p.params["PARTSTAT"] = partstat or "NEEDS-ACTION"
    return bytes(cal.to_ical())


def mark_cancelled(data: bytes) -> bytes:
    """The attendee's copy after the organiser cancelled: STATUS:CANCELLED (RFC 5546 §3.2.5);
    kept rather than deleted so that the attendee sees what happened."""
    cal = _parse(data)
    cal.pop("METHOD", None)
    for comp in _components(cal):
        comp.pop("STATUS", None)
        comp.add("STATUS", "CANCELLED")
    return bytes(cal.to_ical())


def significant(data: bytes) -> bytes:
    """The object without what changes on every save or with every answer (DTSTAMP,
    LAST-MODIFIED, attendees' PARTSTAT/RSVP/SCHEDULE-STATUS): two versions with the same
    ``significant`` need no new REQUEST."""
    cal = _parse(data)
    for comp in _components(cal):
        for name in _VOLATILE:
            comp.pop(name, None)
        for p in _attendee_props(comp):
            for param in _ANSWER_PARAMS:
                p.params.pop(param, None)
    return bytes(cal.to_ical())


# -- iMIP mail (RFC 6047) ------------------------------------------------------------------------
_SUBJECTS = {"REQUEST": "Invitation", "REPLY": "Answer", "CANCEL": "Cancelled"}


def build_mail(sender: str, recipients: list[str], method: str, ical_data: bytes,
               summary: str, hostname: str, text: str) -> bytes:
    """One iMIP message (RFC 6047 §2.4): multipart/alternative, a text/plain part saying
    what it is, and the iTIP object as text/calendar; charset=utf-8; method=... ."""
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    title = " ".join(summary.split())[:150] or "(no title)"
    msg["Subject"] = f"{_SUBJECTS.get(method, method.title())}: {title}"
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = f"<{secrets.token_hex(16)}@{hostname}>"
    msg.set_content(text)
    msg.add_alternative(ical_data.decode("utf-8", "replace"), subtype="calendar",
                        params={"method": method})
    return msg.as_bytes()


def calendar_parts(data: bytes, most: int) -> list[bytes]:
    """The text/calendar parts of a mail message (RFC 6047 §2.4), each at most ``most``
    octets (larger ones are skipped: an invitation is small)."""
    msg = BytesParser(policy=email.policy.default).parsebytes(data)
    out: list[bytes] = []
    for part in msg.walk():
        if part.get_content_type() != "text/calendar" or part.is_multipart():
            continue
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes) and 0 < len(payload) <= most:
            out.append(payload)
    return out


def from_address(data: bytes) -> str:
    """The From address of a message, lower-cased ("" when there is none)."""
    msg = BytesParser(policy=email.policy.compat32).parsebytes(data, headersonly=True)
    found = getaddresses([str(v) for v in msg.get_all("From", [])])
    return found[0][1].lower() if found else ""


# -- free-busy requests (RFC 6638 §5) ---------------------------------------------------------
@dataclass(frozen=True, slots=True)
class FreeBusyRequest:
    """What a POST to the scheduling outbox asks (RFC 6638 §5.1, RFC 5546 §3.3.2)."""

    uid: str
    organizer: str
    attendees: tuple[str, ...]
    start: int
    end: int


def _scheduling_error(text: str) -> InvalidItem:
    return InvalidItem((CALDAV_NS, "valid-scheduling-message"), text)


def freebusy_request(data: bytes) -> FreeBusyRequest:
    """The VFREEBUSY REQUEST of an outbox POST: METHOD:REQUEST, one VFREEBUSY with
    ORGANIZER, ATTENDEEs, DTSTART and DTEND (RFC 5546 §3.3.2); ``InvalidItem`` else."""
    cal = _parse(data)
    if str(cal.get("METHOD", "")).upper() != "REQUEST":
        raise _scheduling_error("a free-busy request has METHOD:REQUEST")
    comps = [c for c in cal.subcomponents if c.name == "VFREEBUSY"]
    if len(comps) != 1:
        raise _scheduling_error("a free-busy request has exactly one VFREEBUSY")
    fb = comps[0]
    org = fb.get("ORGANIZER")
    people = tuple(dict.fromkeys(address(p) for p in _attendee_props(fb)))
    start, end = fb.get("DTSTART"), fb.get("DTEND")
    if org is None or not people or start is None or end is None:
        raise _scheduling_error("VFREEBUSY needs ORGANIZER, ATTENDEE, DTSTART and DTEND")
    lo, hi = _epoch(start.dt), _epoch(end.dt)
    if hi <= lo:
        raise _scheduling_error("DTEND must be after DTSTART")
    return FreeBusyRequest(str(fb.get("UID", "")), address(org), people, lo, hi)


def _epoch(value: object) -> int:
    if isinstance(value, datetime):
        when = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return int(when.timestamp())
    if isinstance(value, date):
        return int(datetime(value.year, value.month, value.day, tzinfo=UTC).timestamp())
    raise _scheduling_error("DTSTART and DTEND must be dates or date-times")
