"""The webmail event form as iCalendar (services/webmail/calendar_ical.py): what is written
(TZID with its VTIMEZONE, UTC, all-day DATEs, RRULE with UNTIL in UTC, VALARM, attendees), read
back to the same form, edits keeping foreign properties and overrides, and PARTSTAT answers."""

from __future__ import annotations

from datetime import date, datetime

import icalendar
import pytest

from postroom.core.errors import MailError
from postroom.services.webmail.calendar_ical import (
    EventDraft,
    build,
    read_event,
    set_partstat,
    update,
)

START = datetime(2026, 3, 27, 9, 0)
END = datetime(2026, 3, 27, 10, 0)


def flat(data: bytes) -> str:
    return data.decode().replace("\r\n ", "")


def test_zoned_weekly_with_until_reminder_and_attendees() -> None:
    draft = EventDraft(summary="Standup", start=START, end=END, zone="Europe/Berlin",
                       repeat="weekly", byday=("MO", "FR"), until=date(2026, 4, 30),
                       reminder=10, attendees=("bob@example.test",),
                       organizer="alice@example.test")
    _uid, data = build(draft)
    text = flat(data)
    assert "DTSTART;TZID=Europe/Berlin:20260327T090000" in text
    assert "BEGIN:VTIMEZONE" in text and "TZID:Europe/Berlin" in text
    # RFC 5545 §3.3.10: UNTIL in UTC with a zoned DTSTART; 23:59:59 CEST is 21:59:59Z
    assert "RRULE:FREQ=WEEKLY;UNTIL=20260430T215959Z;BYDAY=MO,FR" in text
    assert "TRIGGER:-PT10M" in text and "ACTION:DISPLAY" in text
    assert "ORGANIZER:mailto:alice@example.test" in text
    assert "RSVP=TRUE" in text and "mailto:bob@example.test" in text
    back = read_event(data, "Europe/Berlin").draft
    assert (back.start, back.end, back.repeat, back.byday, back.until, back.reminder) == \
        (START, END, "weekly", ("MO", "FR"), date(2026, 4, 30), 10)
    assert back.attendees == ("bob@example.test",)
    # shown in another zone, the wall clock moves
    assert read_event(data, "UTC").draft.start == datetime(2026, 3, 27, 8, 0)


def test_utc_and_all_day() -> None:
    _uid, data = build(EventDraft(summary="Call", start=START, end=END))
    assert "DTSTART:20260327T090000Z" in flat(data)
    assert "VTIMEZONE" not in flat(data)
    _uid, data = build(EventDraft(summary="Trip", start=START, end=datetime(2026, 3, 29),
                                  all_day=True, repeat="yearly", count=2))
    text = flat(data)
    # RFC 5545 §3.6.1: DTEND of an all-day event is the day after the last
    assert "DTSTART;VALUE=DATE:20260327" in text and "DTEND;VALUE=DATE:20260330" in text
    assert "RRULE:FREQ=YEARLY;COUNT=2" in text
    back = read_event(data, "Asia/Tokyo").draft
    assert back.all_day and back.start.date() == date(2026, 3, 27) \
        and back.end.date() == date(2026, 3, 29)


def test_update_keeps_foreign_properties_and_overrides() -> None:
    stored = (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Other//EN\r\n"
              b"BEGIN:VEVENT\r\nUID:u1\r\nDTSTAMP:20260101T000000Z\r\n"
              b"DTSTART:20260301T100000Z\r\nDTEND:20260301T110000Z\r\nSUMMARY:Old\r\n"
              b"RRULE:FREQ=DAILY;COUNT=5\r\nX-OTHER-CLIENT:keep me\r\nCATEGORIES:Work\r\n"
              b"ORGANIZER:mailto:alice@example.test\r\n"
              b"ATTENDEE;PARTSTAT=ACCEPTED:mailto:bob@example.test\r\nSEQUENCE:3\r\n"
              b"END:VEVENT\r\n"
              b"BEGIN:VEVENT\r\nUID:u1\r\nDTSTAMP:20260101T000000Z\r\n"
              b"RECURRENCE-ID:20260302T100000Z\r\nDTSTART:20260302T120000Z\r\n"
              b"DTEND:20260302T130000Z\r\nSUMMARY:Moved\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    info = read_event(stored, "UTC")
    assert info.overrides == 1 and info.organizer == "alice@example.test"
    draft = EventDraft(summary="New", start=datetime(2026, 3, 1, 10), end=datetime(
        2026, 3, 1, 12), repeat="daily", count=5, attendees=("bob@example.test",),
        organizer="alice@example.test")
    text = flat(update(stored, draft))
    assert "SUMMARY:New" in text and "SUMMARY:Moved" in text and "SUMMARY:Old" not in text
    assert "X-OTHER-CLIENT:keep me" in text and "CATEGORIES:Work" in text
    assert "SEQUENCE:4" in text
    assert "PARTSTAT=ACCEPTED" in text  # bob's answer survives the edit
    cal = icalendar.Calendar.from_ical(text)
    assert len(list(cal.walk("VEVENT"))) == 2


def test_partstat() -> None:
    _uid, data = build(EventDraft(summary="Party", start=START, end=END,
                                  attendees=("bob@example.test",),
                                  organizer="alice@example.test"))
    text = flat(set_partstat(data, "BOB@example.test".lower(), "DECLINED"))
    line = next(x for x in text.splitlines() if x.startswith("ATTENDEE"))
    assert "PARTSTAT=DECLINED" in line and "RSVP" not in line
    with pytest.raises(MailError):
        set_partstat(data, "carol@example.test", "ACCEPTED")
    with pytest.raises(MailError):
        set_partstat(data, "bob@example.test", "MAYBE")
    with pytest.raises(MailError):
        read_event(b"not a calendar", "UTC")


def test_exclude_one_occurrence() -> None:
    from postroom.services.webmail.calendar_ical import exclude, valid_rid

    _uid, data = build(EventDraft(summary="Daily", start=START, end=END, zone="Europe/Berlin",
                                  repeat="daily", count=5))
    text = flat(exclude(data, "20260328T080000Z"))
    # the same instant in DTSTART's zone: 09:00 CET on the 28th is 08:00Z
    assert "EXDATE;TZID=Europe/Berlin:20260328T090000" in text
    assert "SEQUENCE:1" in text
    assert valid_rid("20260328") and valid_rid("20260328T080000Z")
    assert not valid_rid("2026-03-28") and not valid_rid("x")
    _uid, single = build(EventDraft(summary="Once", start=START, end=END))
    with pytest.raises(MailError):
        exclude(single, "20260327T090000Z")
    stored = (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//T//EN\r\nBEGIN:VEVENT\r\nUID:u\r\n"
              b"DTSTAMP:20260101T000000Z\r\nDTSTART:20260301T100000Z\r\n"
              b"RRULE:FREQ=DAILY;COUNT=3\r\nSUMMARY:S\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\n"
              b"UID:u\r\nDTSTAMP:20260101T000000Z\r\nRECURRENCE-ID:20260302T100000Z\r\n"
              b"DTSTART:20260302T120000Z\r\nSUMMARY:Moved\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    text = flat(exclude(stored, "20260302T100000Z"))
    assert "Moved" not in text and "EXDATE:20260302T100000Z" in text


def test_edit_keeps_what_the_form_cannot_show() -> None:
    from postroom.services.webmail.calendar_ical import KEEP

    stored = (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//T//EN\r\nBEGIN:VEVENT\r\nUID:u\r\n"
              b"DTSTAMP:20260101T000000Z\r\nDTSTART:20260310T100000Z\r\n"
              b"DTEND:20260310T110000Z\r\nSUMMARY:Club\r\n"
              b"RRULE:FREQ=MONTHLY;BYDAY=2TU\r\n"
              b"ORGANIZER;CN=Alice:mailto:alice@example.test\r\n"
              b"ATTENDEE;CN=Bob;ROLE=CHAIR;PARTSTAT=ACCEPTED:mailto:bob@example.test\r\n"
              b"BEGIN:VALARM\r\nACTION:AUDIO\r\nTRIGGER:-PT30M\r\nEND:VALARM\r\n"
              b"BEGIN:VALARM\r\nACTION:EMAIL\r\nTRIGGER:-P1D\r\nSUMMARY:x\r\n"
              b"DESCRIPTION:x\r\nATTENDEE:mailto:alice@example.test\r\nEND:VALARM\r\n"
              b"END:VEVENT\r\nEND:VCALENDAR\r\n")
    info = read_event(stored, "UTC")
    assert info.draft.repeat == KEEP and info.rule_text == "FREQ=MONTHLY;BYDAY=2TU"
    assert info.draft.reminder == 30
    draft = info.draft
    from dataclasses import replace
    text = flat(update(stored, replace(draft, summary="Book club")))
    assert "SUMMARY:Book club" in text
    assert "RRULE:FREQ=MONTHLY;BYDAY=2TU" in text  # kept: the form cannot show it
    assert "ACTION:AUDIO" in text and "ACTION:EMAIL" in text  # reminder unchanged: kept
    assert "CN=Bob" in text and "ROLE=CHAIR" in text and "PARTSTAT=ACCEPTED" in text
    assert "ORGANIZER;CN=Alice" in text
    # choosing a repetition and a reminder in the form replaces them
    text = flat(update(stored, replace(draft, repeat="weekly", reminder=5)))
    assert "RRULE:FREQ=WEEKLY" in text and "BYDAY=2TU" not in text
    assert "TRIGGER:-PT5M" in text and "ACTION:AUDIO" not in text


def test_override_one_occurrence() -> None:
    from postroom.services.webmail.calendar_ical import (
        OccurrenceDraft,
        override,
        read_occurrence,
    )

    _uid, data = build(EventDraft(summary="Daily", start=START, end=END, zone="Europe/Berlin",
                                  repeat="daily", count=3, reminder=5))
    rid = "20260328T080000Z"  # the 28th, 09:00 CET
    assert read_occurrence(data, rid, "Europe/Berlin") == OccurrenceDraft(
        "Daily", datetime(2026, 3, 28, 9), datetime(2026, 3, 28, 10))
    moved = override(data, rid, OccurrenceDraft("Late", datetime(2026, 3, 28, 18),
                                                datetime(2026, 3, 28, 19)), "Europe/Berlin")
    text = flat(moved)
    assert "RECURRENCE-ID;TZID=Europe/Berlin:20260328T090000" in text
    assert "SUMMARY:Late" in text and "DTSTART;TZID=Europe/Berlin:20260328T180000" in text
    assert text.count("RRULE") == 1 and text.count("BEGIN:VALARM") == 2
    assert read_occurrence(moved, rid, "Europe/Berlin").summary == "Late"
    again = override(moved, rid, OccurrenceDraft("Later", datetime(2026, 3, 28, 20),
                                                 datetime(2026, 3, 28, 21)), "Europe/Berlin")
    assert flat(again).count("RECURRENCE-ID") == 1 and "SUMMARY:Later" in flat(again)
    _uid, single = build(EventDraft(summary="Once", start=START, end=END))
    with pytest.raises(MailError):
        override(single, "20260327T090000Z", OccurrenceDraft("x", START, END), "UTC")
