"""services/dav/imip.py on its own: the attendee's copy, cancellation, what counts as a
change, free-busy requests (and their refusals), iMIP mail built and read back."""

from __future__ import annotations

import email
import email.policy

import pytest

from postroom.pim.model import InvalidItem
from postroom.services.dav import imip, scheduling
from postroom.services.dav.scheduling import item_name

EVENT = (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\n"
         b"UID:u1@x.test\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260410T090000Z\r\n"
         b"DTEND:20260410T100000Z\r\nSUMMARY:Plan\r\nORGANIZER:mailto:alice@x.test\r\n"
         b"ATTENDEE;PARTSTAT=ACCEPTED:mailto:alice@x.test\r\n"
         b"ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE;SCHEDULE-STATUS=1.2:mailto:Bob@X.test\r\n"
         b"END:VEVENT\r\nEND:VCALENDAR\r\n")


def test_partstat_and_attendee_copy() -> None:
    assert imip.partstat_of(EVENT, "bob@x.test") == "NEEDS-ACTION"
    assert imip.partstat_of(EVENT, "alice@x.test") == "ACCEPTED"
    assert imip.partstat_of(EVENT, "carol@x.test") is None
    copy = imip.attendee_copy(EVENT.replace(b"VERSION:2.0", b"VERSION:2.0\r\nMETHOD:REQUEST"),
                              "bob@x.test", "TENTATIVE")
    assert b"METHOD" not in copy and b"SCHEDULE-STATUS" not in copy
    assert imip.partstat_of(copy, "bob@x.test") == "TENTATIVE"
    assert imip.partstat_of(imip.attendee_copy(EVENT, "bob@x.test", None),
                            "bob@x.test") == "NEEDS-ACTION"


def test_cancelled_copy_and_significant_changes() -> None:
    assert b"STATUS:CANCELLED" in imip.mark_cancelled(EVENT)
    answered = EVENT.replace(b"PARTSTAT=NEEDS-ACTION", b"PARTSTAT=ACCEPTED").replace(
        b"DTSTAMP:20260101T000000Z", b"DTSTAMP:20260301T000000Z")
    assert imip.significant(answered) == imip.significant(EVENT)
    moved = EVENT.replace(b"DTSTART:20260410T090000Z", b"DTSTART:20260410T080000Z")
    assert imip.significant(moved) != imip.significant(EVENT)
    more = EVENT.replace(b"END:VEVENT", b"ATTENDEE:mailto:carl@x.test\r\nEND:VEVENT")
    assert imip.significant(more) != imip.significant(EVENT)


def test_method_of() -> None:
    assert imip.method_of(EVENT) == ""
    assert imip.method_of(EVENT.replace(b"VERSION:2.0", b"VERSION:2.0\r\nMETHOD:reply")) \
        == "REPLY"
    with pytest.raises(InvalidItem):
        imip.method_of(b"not a calendar")


FB = (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nMETHOD:REQUEST\r\n"
      b"BEGIN:VFREEBUSY\r\nUID:fb@x.test\r\nDTSTAMP:20260101T000000Z\r\n"
      b"DTSTART:20260512T000000Z\r\nDTEND:20260513T000000Z\r\n"
      b"ORGANIZER:mailto:alice@x.test\r\nATTENDEE:mailto:bob@x.test\r\n"
      b"ATTENDEE:mailto:BOB@x.test\r\nEND:VFREEBUSY\r\nEND:VCALENDAR\r\n")


def test_freebusy_request() -> None:
    req = imip.freebusy_request(FB)
    assert req.organizer == "alice@x.test" and req.attendees == ("bob@x.test",)
    assert req.end - req.start == 86400 and req.uid == "fb@x.test"
    for bad in (FB.replace(b"METHOD:REQUEST\r\n", b""),
                FB.replace(b"ATTENDEE:mailto:bob@x.test\r\nATTENDEE:mailto:BOB@x.test\r\n", b""),
                FB.replace(b"DTEND:20260513T000000Z", b"DTEND:20260511T000000Z"),
                FB.replace(b"VFREEBUSY", b"VEVENT"),
                b"garbage"):
        with pytest.raises(InvalidItem):
            imip.freebusy_request(bad)


def test_mail_built_and_read_back() -> None:
    raw = imip.build_mail("alice@x.test", ["carol@y.example"], "REQUEST",
                          EVENT.replace(b"VERSION:2.0", b"VERSION:2.0\r\nMETHOD:REQUEST"),
                          "Plan\r\nBcc: evil@z", "mail.x.test", "Alice invites you.\n")
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert str(msg["Subject"]).startswith("Invitation: Plan")
    assert msg["Bcc"] is None  # no header injection through the summary
    assert msg["Message-ID"].endswith("@mail.x.test>")
    (part,) = imip.calendar_parts(raw, 100_000)
    assert b"METHOD:REQUEST" in part and b"UID:u1@x.test" in part
    assert imip.calendar_parts(raw, 10) == []  # larger than allowed: skipped
    assert imip.from_address(raw) == "alice@x.test"
    assert imip.from_address(b"Subject: x\r\n\r\nbody") == ""


def test_item_names() -> None:
    assert item_name("u1@x.test") == "u1@x.test.ics"
    odd = item_name("a uid/with spaces")
    assert odd.endswith(".ics") and "/" not in odd and " " not in odd


PRIVATE = (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\n"
           b"UID:u1@x.test\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260410T090000Z\r\n"
           b"SUMMARY:Dentist\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


def test_only_the_organiser_changes_a_copy() -> None:
    """Review fix (RFC 5546 §2.1): a REQUEST or CANCEL changes the recipient's copy only when
    that copy is a scheduling object organised by the sender; the recipient's own organiser
    copy and an outdated revision are refused."""
    request = EVENT.replace(b"VERSION:2.0", b"VERSION:2.0\r\nMETHOD:REQUEST").replace(
        b"SUMMARY:Plan", b"SUMMARY:Plan (moved)")
    bob = imip.attendee_copy(EVENT, "bob@x.test", "ACCEPTED")
    updated = scheduling._updated(bob, request, "bob@x.test", "alice@x.test", 0)
    assert b"Plan (moved)" in updated and imip.partstat_of(updated, "bob@x.test") == "ACCEPTED"
    asked_again = scheduling._updated(bob, request, "bob@x.test", "alice@x.test", 1)
    assert imip.partstat_of(asked_again, "bob@x.test") == "NEEDS-ACTION"
    assert b"STATUS:CANCELLED" in scheduling._cancelled(bob, "alice@x.test", "bob@x.test")
    refused = [
        lambda: scheduling._updated(bob, request, "bob@x.test", "mallory@x.test", 9),
        lambda: scheduling._updated(PRIVATE, request, "bob@x.test", "alice@x.test", 0),
        lambda: scheduling._updated(EVENT, request, "alice@x.test", "alice@x.test", 0),
        lambda: scheduling._updated(bob.replace(b"UID:", b"SEQUENCE:2\r\nUID:"), request,
                                    "bob@x.test", "alice@x.test", 1),
        lambda: scheduling._cancelled(bob, "mallory@x.test", "bob@x.test"),
        lambda: scheduling._cancelled(PRIVATE, "alice@x.test", "bob@x.test"),
        lambda: scheduling._replied(bob, request, "alice@x.test", "bob@x.test"),
    ]
    for attempt in refused:
        with pytest.raises(scheduling.Refused):
            attempt()
