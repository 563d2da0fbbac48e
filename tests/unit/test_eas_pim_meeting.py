"""The invitation inside a meeting request mail (web/eas/meeting.py, RFC 6047 §2.4) and a
hypothesis round trip of a phone's simple event (web/eas/pim/events.py)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from postroom.pim import ical
from postroom.protocols.eas.element import E
from postroom.web.eas import meeting
from postroom.web.eas.pim import events

ICS = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//o//EN\r\nMETHOD:REQUEST\r\n"
       "BEGIN:VEVENT\r\nUID:inv-1@remote.test\r\nDTSTAMP:20260101T000000Z\r\n"
       "DTSTART:20300310T090000Z\r\nDTEND:20300310T100000Z\r\nSUMMARY:Review\r\n"
       "ORGANIZER:mailto:boss@remote.test\r\n"
       "ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:me@example.test\r\n"
       "END:VEVENT\r\nEND:VCALENDAR\r\n")
MAIL = ("From: boss@remote.test\r\nTo: me@example.test\r\nSubject: Invitation: Review\r\n"
        "MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n"
        "--b\r\nContent-Type: text/plain\r\n\r\nYou are invited.\r\n"
        "--b\r\nContent-Type: text/calendar; method=REQUEST; charset=utf-8\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(ICS.encode()).decode().replace("\n", "\r\n")
        + "--b--\r\n").encode()


def test_the_invitation_of_a_request_mail_is_a_storable_object() -> None:
    found = meeting._invitation(MAIL)
    assert found is not None
    uid, stored = found
    assert uid == "inv-1@remote.test"
    assert b"METHOD" not in stored
    ical.index_calendar(stored, ("VEVENT",), 1000)  # what a DAV put validates


def test_a_mail_without_an_invitation_or_a_cancel_is_none() -> None:
    assert meeting._invitation(b"Subject: hi\r\n\r\nno calendar here\r\n") is None
    cancel = MAIL.replace(b"method=REQUEST", b"method=CANCEL")
    assert meeting._invitation(cancel) is not None  # the part's METHOD is what counts
    body_cancel = ICS.replace("METHOD:REQUEST", "METHOD:CANCEL").encode()
    assert events.invitation_object(body_cancel) is None


@settings(max_examples=50, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1,
               max_size=80),
       st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1)),
       st.integers(min_value=0, max_value=7 * 24 * 60))
def test_a_phone_event_round_trips(subject: str, start: datetime, minutes: int) -> None:
    start = start.replace(second=0, microsecond=0, tzinfo=UTC)
    end = start + timedelta(minutes=minutes)
    compact = "%Y%m%dT%H%M%SZ"
    sent = E("AirSync", "ApplicationData", E("Calendar", "Subject", text=subject),
             E("Calendar", "StartTime", text=start.strftime(compact)),
             E("Calendar", "EndTime", text=end.strftime(compact)))
    stored = events.merge(None, sent, "me@example.test")
    ical.index_calendar(stored, ("VEVENT",), 1000)
    back = events.to_app(stored, "me@example.test")
    assert back.value("Subject") == subject
    assert back.value("StartTime") == start.strftime(compact)
    assert back.value("EndTime") == end.strftime(compact)
