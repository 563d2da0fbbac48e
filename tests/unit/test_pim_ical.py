"""pim.ical: validation (RFC 4791 §4.1) and the index (RFC 4791 §9.9 spans)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from postroom.pim import ical
from postroom.pim.model import CALDAV_NS, InvalidItem


def ts(*a: int) -> int:
    return int(datetime(*a, tzinfo=UTC).timestamp())


def cal(*body: str, head: str = "VERSION:2.0\r\nPRODID:-//test//EN\r\n") -> bytes:
    return ("BEGIN:VCALENDAR\r\n" + head + "".join(body) + "END:VCALENDAR\r\n").encode()


def ev(*lines: str, uid: str = "u1", name: str = "VEVENT") -> str:
    return (f"BEGIN:{name}\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\n"
            + "".join(line + "\r\n" for line in lines) + f"END:{name}\r\n")


BERLIN_TZ = """BEGIN:VTIMEZONE\r
TZID:Europe/Berlin\r
BEGIN:DAYLIGHT\r
TZOFFSETFROM:+0100\r
TZOFFSETTO:+0200\r
TZNAME:CEST\r
DTSTART:19700329T020000\r
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r
END:DAYLIGHT\r
BEGIN:STANDARD\r
TZOFFSETFROM:+0200\r
TZOFFSETTO:+0100\r
TZNAME:CET\r
DTSTART:19701025T030000\r
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r
END:STANDARD\r
END:VTIMEZONE\r
"""


def reason(data: bytes, allowed: tuple[str, ...] = ("VEVENT", "VTODO", "VJOURNAL")) -> str:
    with pytest.raises(InvalidItem) as info:
        ical.index_calendar(data, allowed)
    assert info.value.precondition[0] == CALDAV_NS
    return info.value.precondition[1]


def test_simple_event_indexed() -> None:
    idx = ical.index_calendar(cal(ev("DTSTART:20260301T100000Z", "DTEND:20260301T110000Z",
                                     "SUMMARY:Team  Meeting", "LOCATION:Room 1",
                                     "CATEGORIES:Work,Planning")))
    assert (idx.component, idx.uid) == ("VEVENT", "u1")
    assert (idx.start, idx.end) == (ts(2026, 3, 1, 10), ts(2026, 3, 1, 11))
    assert not idx.recurring
    assert idx.summary == "Team Meeting"
    assert idx.text.splitlines() == ["team meeting", "room 1", "work,planning"]
    assert idx.content_type.startswith("text/calendar")


def test_tzid_with_vtimezone_and_iana_name() -> None:
    data = cal(BERLIN_TZ, ev("DTSTART;TZID=Europe/Berlin:20260701T100000", "DURATION:PT1H"))
    idx = ical.index_calendar(data)
    assert (idx.start, idx.end) == (ts(2026, 7, 1, 8), ts(2026, 7, 1, 9))
    # no VTIMEZONE: the IANA name is still understood
    idx = ical.index_calendar(cal(ev("DTSTART;TZID=America/New_York:20260115T090000")))
    assert idx.start == idx.end == ts(2026, 1, 15, 14)


def test_custom_vtimezone_name() -> None:
    data = cal(BERLIN_TZ.replace("Europe/Berlin", "W. Europe Standard Time"),
               ev("DTSTART;TZID=W. Europe Standard Time:20260115T090000"))
    assert ical.index_calendar(data).start == ts(2026, 1, 15, 8)


def test_defaults_rfc4791_9_9() -> None:
    # all-day, no DTEND: one day, as UTC (floating rule)
    idx = ical.index_calendar(cal(ev("DTSTART;VALUE=DATE:20260301")))
    assert (idx.start, idx.end) == (ts(2026, 3, 1), ts(2026, 3, 2))
    # date-time without DTEND: zero length
    idx = ical.index_calendar(cal(ev("DTSTART:20260301T100000")))
    assert idx.start == idx.end == ts(2026, 3, 1, 10)
    # nominal day across DST: P1D from 12:00 Berlin on the spring change is 23 hours
    idx = ical.index_calendar(cal(BERLIN_TZ, ev("DTSTART;TZID=Europe/Berlin:20260328T120000",
                                                "DURATION:P1D")))
    assert idx.end is not None and idx.start is not None
    assert idx.end - idx.start == 23 * 3600


def test_todo_table() -> None:
    allowed = ("VTODO",)
    t = ical.index_calendar(cal(ev("DUE:20260310T120000Z", name="VTODO")), allowed)
    assert (t.component, t.start, t.end) == ("VTODO", ts(2026, 3, 10, 12), ts(2026, 3, 10, 12))
    t = ical.index_calendar(cal(ev("DTSTART:20260301T000000Z", "DUE:20260310T000000Z",
                                   name="VTODO")), allowed)
    assert (t.start, t.end) == (ts(2026, 3, 1), ts(2026, 3, 10))
    t = ical.index_calendar(cal(ev("CREATED:20260301T000000Z", name="VTODO")), allowed)
    assert (t.start, t.end) == (ts(2026, 3, 1), None)
    t = ical.index_calendar(cal(ev(name="VTODO")), allowed)
    assert (t.start, t.end) == (None, None)


def test_recurring_spans() -> None:
    idx = ical.index_calendar(cal(ev("DTSTART:20260302T090000Z", "DURATION:PT1H",
                                     "RRULE:FREQ=DAILY;COUNT=5")))
    assert idx.recurring
    assert (idx.start, idx.end) == (ts(2026, 3, 2, 9), ts(2026, 3, 6, 10))
    idx = ical.index_calendar(cal(ev("DTSTART:20260302T090000Z", "RRULE:FREQ=WEEKLY")))
    assert (idx.start, idx.end) == (ts(2026, 3, 2, 9), None)
    idx = ical.index_calendar(cal(BERLIN_TZ, ev(
        "DTSTART;TZID=Europe/Berlin:20260302T090000", "DTEND;TZID=Europe/Berlin:20260302T100000",
        "RRULE:FREQ=WEEKLY;UNTIL=20260406T070000Z")))
    assert idx.end == ts(2026, 4, 6, 8)  # summer time: 10:00 CEST
    # more instances than max_instances: indexed as endless
    idx = ical.index_calendar(cal(ev("DTSTART:20260302T090000Z", "RRULE:FREQ=DAILY;COUNT=50")),
                              max_instances=10)
    assert idx.end is None


def test_override_moved_out_widens_span() -> None:
    data = cal(ev("DTSTART:20260302T090000Z", "DURATION:PT1H", "RRULE:FREQ=DAILY;COUNT=3",
                  "SUMMARY:Master"),
               ev("RECURRENCE-ID:20260304T090000Z", "DTSTART:20260320T090000Z",
                  "DURATION:PT1H", "SUMMARY:Moved"))
    idx = ical.index_calendar(data)
    assert (idx.start, idx.end) == (ts(2026, 3, 2, 9), ts(2026, 3, 20, 10))
    assert idx.summary == "Master"
    assert "moved" in idx.text.splitlines()


@pytest.mark.parametrize(("data", "why"), [
    (b"", "valid-calendar-data"),
    (b"\xff\xfe garbage", "valid-calendar-data"),
    (b"BEGIN:VCALENDAR\r\nnot a line\r\nEND:VCALENDAR\r\n", "valid-calendar-data"),
    (cal(ev("DTSTART:20260301T100000Z")) * 2, "valid-calendar-data"),
    (cal(ev("DTSTART:garbage")), "valid-calendar-data"),
    (cal(ev("DTSTART:20260301T100000Z", "RRULE:FREQ=NEVER")), "valid-calendar-data"),
    # dateutil would loop forever on INTERVAL=0; out-of-range parts (RFC 5545 §3.3.10)
    (cal(ev("DTSTART:20260301T100000Z", "RRULE:FREQ=DAILY;INTERVAL=0")), "valid-calendar-data"),
    (cal(ev("DTSTART:20260301T100000Z", "RRULE:FREQ=DAILY;COUNT=0")), "valid-calendar-data"),
    (cal(ev("DTSTART:20260301T100000Z", "RRULE:FREQ=MONTHLY;BYMONTHDAY=0")),
     "valid-calendar-data"),
    (cal(ev("DTSTART:20260301T100000Z", "RRULE:FREQ=YEARLY;BYWEEKNO=54")),
     "valid-calendar-data"),
    (cal(ev("DTSTART:20260301T100000Z", "RRULE:FREQ=SECONDLY;INTERVAL=13;BYWEEKNO=53;"
            "BYDAY=SU;BYHOUR=23;BYMINUTE=59;BYSECOND=59")), "valid-calendar-data"),
    (cal(ev("SUMMARY:no start")), "valid-calendar-data"),
    (cal(ev("DTSTART:20260301T100000Z", "DTEND:20260301T110000Z", "DURATION:PT1H")),
     "valid-calendar-data"),
    (cal(), "valid-calendar-object-resource"),
    (cal(ev("DTSTART:20260301T100000Z"), head="METHOD:REQUEST\r\n"),
     "valid-calendar-object-resource"),
    (cal(ev("DTSTART:20260301T100000Z"), ev("DTSTART:20260301T100000Z", uid="u2")),
     "valid-calendar-object-resource"),
    (cal(ev("DTSTART:20260301T100000Z"), ev("DTSTART:20260301T100000Z")),
     "valid-calendar-object-resource"),
    (cal(ev("DTSTART:20260301T100000Z"), ev("DUE:20260301T100000Z", name="VTODO")),
     "valid-calendar-object-resource"),
    (cal("BEGIN:VEVENT\r\nDTSTART:20260301T100000Z\r\nEND:VEVENT\r\n"),
     "valid-calendar-object-resource"),
    (cal(ev("DTSTART:20260301T100000Z", "RRULE:FREQ=DAILY"),
         ev("RECURRENCE-ID:20260302T100000Z", "DTSTART:20260302T110000Z"),
         ev("RECURRENCE-ID:20260302T100000Z", "DTSTART:20260302T120000Z")),
     "valid-calendar-object-resource"),
])
def test_rejected(data: bytes, why: str) -> None:
    assert reason(data) == why


def test_unsupported_component() -> None:
    assert reason(cal(ev("DUE:20260301T100000Z", name="VTODO")),
                  ("VEVENT",)) == "supported-calendar-component"


def test_lenient_inputs() -> None:
    # no VERSION/PRODID, LF line ends, a broken X- property, a BOM
    data = b"\xef\xbb\xbfBEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:x\nDTSTART:20260301T100000Z\n" \
           b"X-ODD;VALUE=DATE:nonsense\nEND:VEVENT\nEND:VCALENDAR\n"
    assert ical.index_calendar(data).uid == "x"
    # an X- component beside the event is kept and does not count as a second type
    data = cal(ev("DTSTART:20260301T100000Z"), "BEGIN:X-VENDOR\r\nX-A:b\r\nEND:X-VENDOR\r\n")
    assert ical.index_calendar(data).component == "VEVENT"
    # overrides only (an attendee invited to one instance)
    data = cal(ev("RECURRENCE-ID:20260302T100000Z", "DTSTART:20260302T110000Z"))
    assert ical.index_calendar(data).start == ts(2026, 3, 2, 11)


def test_deep_nesting_rejected() -> None:
    body = "BEGIN:X\r\n" * 200 + "END:X\r\n" * 200
    assert reason(cal(ev("DTSTART:20260301T100000Z"), body)) == "valid-calendar-data"


def test_endless_secondly_is_bounded() -> None:
    import time
    t0 = time.perf_counter()
    idx = ical.index_calendar(cal(ev("DTSTART:20260301T100000Z",
                                     "RRULE:FREQ=SECONDLY;BYMONTH=2;BYMONTHDAY=30;COUNT=3")))
    assert idx.start == ts(2026, 3, 1, 10)
    idx = ical.index_calendar(cal(ev("DTSTART:20260301T100000Z",
                                     "RRULE:FREQ=SECONDLY;UNTIL=20300101T000000Z")),
                              max_instances=1000)
    assert idx.end is None
    assert time.perf_counter() - t0 < 2


def test_scheduling_info() -> None:
    data = cal(ev("DTSTART:20260301T100000Z", "ORGANIZER;CN=Alice:mailto:Alice@Example.test",
                  "ATTENDEE;PARTSTAT=ACCEPTED:mailto:alice@example.test",
                  "ATTENDEE;RSVP=TRUE;CN=Bob:MAILTO:bob@example.test", "SEQUENCE:2",
                  "SUMMARY:Plan"))
    info = ical.scheduling_info(data)
    assert info is not None
    assert info.organizer == "alice@example.test"
    assert [a.address for a in info.attendees] == ["alice@example.test", "bob@example.test"]
    assert info.attendees[1].rsvp and info.attendees[1].partstat == "NEEDS-ACTION"
    assert (info.sequence, info.uid, info.summary) == (2, "u1", "Plan")
    assert ical.scheduling_info(cal(ev("DTSTART:20260301T100000Z"))) is None
