"""Calendar ApplicationData ↔ VEVENT (web/eas/pim/events.py, recur.py; MS-ASCAL)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import icalendar
import pytest
from hypothesis import given
from hypothesis import strategies as st

from postroom.protocols.eas.element import E, Element
from postroom.web.eas.pim import dates, events, recur

C = "Calendar"


def app(*children: Element) -> Element:
    return E("AirSync", "ApplicationData", *children)


def c(name: str, text: str | int | None = None, *children: Element) -> Element:
    return E(C, name, *children, text=text)


def master(data: bytes) -> icalendar.cal.component.Component:
    cal = icalendar.Calendar.from_ical(data)
    return next(e for e in cal.walk("VEVENT") if e.get("RECURRENCE-ID") is None)


PHONE = app(
    c("Timezone", dates.timezone_blob("Europe/Berlin")),
    c("StartTime", "20261207T090000Z"), c("EndTime", "20261207T100000Z"),
    c("Subject", "Standup"), c("Reminder", 10), c("BusyStatus", 2), c("Sensitivity", 0),
    c("Recurrence", None, c("Type", 1), c("DayOfWeek", 62), c("Occurrences", 10)),
    c("Exceptions", None,
      c("Exception", None, c("Deleted", 1), c("ExceptionStartTime", "20261208T090000Z")),
      c("Exception", None, c("ExceptionStartTime", "20261209T090000Z"),
        c("StartTime", "20261209T110000Z"), c("EndTime", "20261209T120000Z"),
        c("Subject", "Moved"))))


def test_a_phone_event_becomes_a_vevent_with_rrule_exdate_and_override() -> None:
    data = events.merge(None, PHONE, "me@example.test")
    cal = icalendar.Calendar.from_ical(data)
    vevents = list(cal.walk("VEVENT"))
    assert len(vevents) == 2
    m = master(data)
    assert m.get("DTSTART").params["TZID"] == "Europe/Berlin"
    assert m.get("DTSTART").dt.replace(tzinfo=None) == datetime(2026, 12, 7, 10, 0)
    assert dict(m.get("RRULE")) == {"FREQ": ["WEEKLY"], "COUNT": [10],
                                    "BYDAY": ["MO", "TU", "WE", "TH", "FR"]}
    assert b"EXDATE;TZID=Europe/Berlin:20261208T100000" in data
    override = next(e for e in vevents if e.get("RECURRENCE-ID") is not None)
    assert str(override.get("SUMMARY")) == "Moved"
    assert override.get("RECURRENCE-ID").dt.replace(tzinfo=None) == datetime(2026, 12, 9, 10)
    assert b"TRIGGER:-PT10M" in data


def test_the_event_goes_back_to_the_phone_as_it_came() -> None:
    out = events.to_app(events.merge(None, PHONE, "me@example.test"), "me@example.test")
    assert out.value("StartTime") == "20261207T090000Z"
    assert out.value("EndTime") == "20261207T100000Z"
    assert out.value("Subject") == "Standup" and out.value("Reminder") == "10"
    assert out.value("MeetingStatus") == "0" and out.value("AllDayEvent") == "0"
    assert out.value("Timezone") == dates.timezone_blob("Europe/Berlin")
    rec = out.find("Recurrence")
    assert rec is not None
    assert (rec.value("Type"), rec.value("DayOfWeek"), rec.value("Occurrences")) == \
        ("1", "62", "10")
    exceptions = out.find("Exceptions")
    assert exceptions is not None
    deleted, moved = exceptions.findall("Exception")
    assert deleted.value("Deleted") == "1"
    assert deleted.value("ExceptionStartTime") == "20261208T090000Z"
    assert moved.value("ExceptionStartTime") == "20261209T090000Z"
    assert moved.value("StartTime") == "20261209T110000Z" and moved.value("Subject") == "Moved"


STORED = b"""BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//test//EN\r
BEGIN:VEVENT\r
UID:keep-1\r
DTSTAMP:20260101T000000Z\r
DTSTART:20261210T150000Z\r
DTEND:20261210T160000Z\r
SUMMARY:Old title\r
LOCATION:Room 1\r
X-CUSTOM-THING:keep me\r
ORGANIZER;CN=Org:mailto:org@example.test\r
ATTENDEE;PARTSTAT=ACCEPTED;CN=Me:mailto:me@example.test\r
ATTENDEE;PARTSTAT=NEEDS-ACTION;ROLE=OPT-PARTICIPANT:mailto:other@example.test\r
BEGIN:VALARM\r
ACTION:DISPLAY\r
DESCRIPTION:first\r
TRIGGER:-PT15M\r
END:VALARM\r
BEGIN:VALARM\r
ACTION:AUDIO\r
TRIGGER:-PT1H\r
END:VALARM\r
END:VEVENT\r
END:VCALENDAR\r
"""


def test_a_phone_edit_keeps_x_properties_alarms_and_attendees() -> None:
    data = events.merge(STORED, app(c("Subject", "New title"), c("Location", "Room 1")),
                        "me@example.test")
    m = master(data)
    assert str(m.get("SUMMARY")) == "New title"
    assert str(m.get("X-CUSTOM-THING")) == "keep me"
    assert str(m.get("LOCATION")) == "Room 1"
    assert len(list(m.walk("VALARM"))) == 2
    assert str(m.get("UID")) == "keep-1"
    assert len(m.get("ATTENDEE")) == 2


def test_a_location_the_phone_left_out_of_a_change_was_cleared() -> None:
    m = master(events.merge(STORED, app(c("Subject", "Old title")), "me@example.test"))
    assert m.get("LOCATION") is None and str(m.get("X-CUSTOM-THING")) == "keep me"
    assert len(list(m.walk("VALARM"))) == 2


def test_a_reminder_change_edits_the_first_alarm_only() -> None:
    data = events.merge(STORED, app(c("Reminder", 5)), "me@example.test")
    triggers = [a.get("TRIGGER").dt.total_seconds() for a in master(data).walk("VALARM")]
    assert triggers == [-300, -3600]


def test_attendees_and_meeting_status_of_a_received_meeting() -> None:
    out = events.to_app(STORED, "me@example.test")
    assert out.value("MeetingStatus") == "3"
    assert out.value("OrganizerEmail") == "org@example.test"
    assert out.value("OrganizerName") == "Org"
    assert out.value("ResponseType") == "3"
    attendees = out.find("Attendees")
    assert attendees is not None
    got = [(a.value("Email"), a.value("AttendeeStatus"), a.value("AttendeeType"))
           for a in attendees.findall("Attendee")]
    assert got == [("me@example.test", "3", "1"), ("other@example.test", "5", "2")]
    assert out.value("Location") == "Room 1"


def test_16_sends_location_in_airsyncbase() -> None:
    out = events.to_app(STORED, "me@example.test", version="16.1")
    loc = out.find("Location", "AirSyncBase")
    assert loc is not None and loc.value("DisplayName") == "Room 1"
    assert out.find("Location", C) is None


def test_an_all_day_event_is_a_date() -> None:
    data = events.merge(None, app(c("Timezone", dates.timezone_blob("Europe/Berlin")),
                                  c("AllDayEvent", 1), c("StartTime", "20261224T230000Z"),
                                  c("EndTime", "20261225T230000Z"), c("Subject", "Xmas")),
                        "me@example.test")
    m = master(data)
    assert m.get("DTSTART").dt == date(2026, 12, 25)
    assert m.get("DTEND").dt == date(2026, 12, 26)
    out = events.to_app(data, "me@example.test")
    assert out.value("AllDayEvent") == "1"
    assert out.value("StartTime") == "20261225T000000Z"


def test_a_phone_event_without_a_start_is_refused() -> None:
    with pytest.raises(events.BadItem):
        events.merge(None, app(c("Subject", "no time")), "me@example.test")


def test_answer_sets_partstat_of_me_only() -> None:
    data = events.answer(STORED, "me@example.test", "DECLINED")
    assert data is not None
    assert b"PARTSTAT=DECLINED" in data and b"PARTSTAT=NEEDS-ACTION" in data
    assert events.answer(STORED, "stranger@example.test", "ACCEPTED") is None


@pytest.mark.parametrize(("rule", "elements"), [
    ({"FREQ": ["DAILY"], "INTERVAL": [2]}, {"Type": "0", "Interval": "2"}),
    ({"FREQ": ["WEEKLY"], "BYDAY": ["MO", "WE"]}, {"Type": "1", "DayOfWeek": "10"}),
    ({"FREQ": ["MONTHLY"], "BYMONTHDAY": [15]}, {"Type": "2", "DayOfMonth": "15"}),
    ({"FREQ": ["MONTHLY"], "BYDAY": ["-1FR"]},
     {"Type": "3", "DayOfWeek": "32", "WeekOfMonth": "5"}),
    ({"FREQ": ["YEARLY"], "BYMONTH": [5], "BYMONTHDAY": [1]},
     {"Type": "5", "DayOfMonth": "1", "MonthOfYear": "5"}),
    ({"FREQ": ["YEARLY"], "BYMONTH": [11], "BYDAY": ["4TH"]},
     {"Type": "6", "DayOfWeek": "16", "WeekOfMonth": "4", "MonthOfYear": "11"}),
])
def test_recurrence_types(rule: dict[str, list[object]], elements: dict[str, str]) -> None:
    start = datetime(2026, 1, 5, 9, tzinfo=UTC)
    parts = recur.from_rrule(rule, start, C)
    assert parts is not None
    assert {p.name: p.text for p in parts} == elements
    back = recur.to_rrule(E(C, "Recurrence", *parts), start)
    assert back is not None
    assert recur.from_rrule({k: v if isinstance(v, list) else [v] for k, v in back.items()},
                            start, C) == parts


def test_a_daily_rule_on_weekdays_is_weekly() -> None:
    start = datetime(2026, 1, 5, 9, tzinfo=UTC)
    parts = recur.from_rrule({"FREQ": ["DAILY"], "BYDAY": ["MO", "TU", "WE", "TH", "FR"]},
                             start, C)
    assert parts is not None and {p.name: p.text for p in parts} == \
        {"Type": "1", "DayOfWeek": "62"}


def test_rules_eas_cannot_say_are_not_sent() -> None:
    start = datetime(2026, 1, 5, 9, tzinfo=UTC)
    assert recur.from_rrule({"FREQ": ["HOURLY"]}, start, C) is None
    assert recur.from_rrule({"FREQ": ["DAILY"], "BYHOUR": [9, 17]}, start, C) is None
    assert recur.to_rrule(E(C, "Recurrence", E(C, "Type", text="4")), start) is None


@given(st.integers(min_value=1, max_value=127), st.integers(min_value=1, max_value=30),
       st.integers(min_value=1, max_value=999))
def test_weekly_round_trip(mask: int, interval: int, count: int) -> None:
    start = datetime(2026, 1, 5, 9, tzinfo=UTC)
    rec = E(C, "Recurrence", E(C, "Type", text="1"), E(C, "DayOfWeek", text=str(mask)),
            E(C, "Interval", text=str(interval)), E(C, "Occurrences", text=str(count)))
    rule = recur.to_rrule(rec, start)
    assert rule is not None
    parts = recur.from_rrule(rule, start, C)
    assert parts is not None
    got = {p.name: p.text for p in parts}
    assert got["DayOfWeek"] == str(mask) and got["Occurrences"] == str(count)
    assert got.get("Interval", "1") == str(interval)


OUTLOOK = b"""BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//Microsoft Corporation//Outlook 16.0 MIMEDIR//EN\r
BEGIN:VTIMEZONE\r
TZID:W. Europe Standard Time\r
BEGIN:STANDARD\r
DTSTART:16011028T030000\r
RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10\r
TZOFFSETFROM:+0200\r
TZOFFSETTO:+0100\r
END:STANDARD\r
BEGIN:DAYLIGHT\r
DTSTART:16010325T020000\r
RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3\r
TZOFFSETFROM:+0100\r
TZOFFSETTO:+0200\r
END:DAYLIGHT\r
END:VTIMEZONE\r
BEGIN:VEVENT\r
UID:outlook-1\r
DTSTAMP:20260101T000000Z\r
DTSTART;TZID=W. Europe Standard Time:20300701T100000\r
DTEND;TZID=W. Europe Standard Time:20300701T110000\r
RRULE:FREQ=WEEKLY\r
SUMMARY:Outlook's\r
END:VEVENT\r
END:VCALENDAR\r
"""


def test_a_windows_tzid_with_its_vtimezone_gets_the_zones_rules() -> None:
    out = events.to_app(OUTLOOK, "me@example.test")
    assert out.value("StartTime") == "20300701T080000Z"
    blob = dates.decode_blob(out.value("Timezone"))
    assert blob is not None
    name, _zone = dates.zone_of_blob(blob, datetime.now(UTC).year)
    assert name is not None  # the same rules as an IANA zone (Europe/Berlin or a twin)
    berlin = dates.decode_blob(dates.timezone_blob("Europe/Berlin"))
    assert berlin is not None and blob[:4] == berlin[:4] and blob[68:80] == berlin[68:80]
