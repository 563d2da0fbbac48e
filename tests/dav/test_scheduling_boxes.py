"""The scheduling inbox and outbox over raw HTTP (RFC 6638 §2, §5): the principal names them,
PROPFIND shows their resource types, the outbox answers a VFREEBUSY request with the
attendee's busy time, and refuses what it must (organizer-allowed, bad data, other users'
boxes: 404 like anything missing)."""

from __future__ import annotations

from lxml import etree

from tests.dav.test_scheduling import calendar
from tests.support.dav import Dav

ALICE = "alice@boxes.test"
BOB = "bob@boxes.test"
STRANGER = "eve@other-boxes.test"
NS = {"d": "DAV:", "c": "urn:ietf:params:xml:ns:caldav"}

PROPFIND = """<?xml version="1.0" encoding="utf-8"?>
<d:propfind xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">
  <d:prop><d:resourcetype/><d:displayname/><c:schedule-inbox-URL/>
  <c:schedule-outbox-URL/></d:prop>
</d:propfind>"""

BUSY = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//Postroom tests//EN\r
BEGIN:VEVENT\r
UID:busy-1@boxes.test\r
DTSTAMP:20260101T000000Z\r
DTSTART:20260512T090000Z\r
DTEND:20260512T110000Z\r
SUMMARY:Private dentist\r
END:VEVENT\r
END:VCALENDAR\r
"""

FB_REQUEST = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//Postroom tests//EN\r
METHOD:REQUEST\r
BEGIN:VFREEBUSY\r
UID:fb-1@boxes.test\r
DTSTAMP:20260101T000000Z\r
DTSTART:20260512T000000Z\r
DTEND:20260513T000000Z\r
ORGANIZER:mailto:{organizer}\r
ATTENDEE:mailto:{attendee}\r
ATTENDEE:mailto:nobody@boxes.test\r
END:VFREEBUSY\r
END:VCALENDAR\r
"""


def _xml(body: bytes) -> etree._Element:
    return etree.fromstring(body)


def test_principal_names_the_boxes_and_propfind_shows_their_types(dav: Dav) -> None:
    dav.account(ALICE)
    status, _, body = dav.request(ALICE, "PROPFIND", f"/dav/principals/{ALICE}/", PROPFIND,
                                  {"Depth": "0"})
    assert status == 207
    doc = _xml(body)
    inbox = doc.findtext(".//c:schedule-inbox-URL/d:href", namespaces=NS)
    outbox = doc.findtext(".//c:schedule-outbox-URL/d:href", namespaces=NS)
    assert inbox == f"/dav/calendars/{ALICE}/inbox/"
    assert outbox == f"/dav/calendars/{ALICE}/outbox/"
    for path, kind in ((inbox, "schedule-inbox"), (outbox, "schedule-outbox")):
        status, _, body = dav.request(ALICE, "PROPFIND", path, PROPFIND, {"Depth": "1"})
        assert status == 207, body
        doc = _xml(body)
        assert len(doc.findall("d:response", NS)) == 1  # processed at once: no members
        assert doc.find(f".//d:resourcetype/c:{kind}", NS) is not None
        assert doc.find(".//d:resourcetype/d:collection", NS) is not None


def test_inbox_sync_report_is_empty_with_a_token(dav: Dav) -> None:
    dav.account(ALICE)
    body = ('<d:sync-collection xmlns:d="DAV:"><d:sync-token/><d:sync-level>1</d:sync-level>'
            '<d:prop><d:getetag/></d:prop></d:sync-collection>')
    status, _, answer = dav.request(ALICE, "REPORT", f"/dav/calendars/{ALICE}/inbox/", body)
    assert status == 207
    doc = _xml(answer)
    assert doc.findtext("d:sync-token", namespaces=NS)
    assert doc.findall("d:response", NS) == []


def test_outbox_free_busy(dav: Dav) -> None:
    dav.account(ALICE)
    dav.account(BOB)
    calendar(dav, BOB).save_event(BUSY)
    status, _, body = dav.request(
        ALICE, "POST", f"/dav/calendars/{ALICE}/outbox/",
        FB_REQUEST.format(organizer=ALICE, attendee=BOB),
        {"Content-Type": "text/calendar; charset=utf-8"})
    assert status == 200, body
    doc = _xml(body)
    answers = {r.findtext("c:recipient/d:href", namespaces=NS):
               (r.findtext("c:request-status", namespaces=NS),
                r.findtext("c:calendar-data", namespaces=NS) or "")
               for r in doc.findall("c:response", NS)}
    status_bob, data = answers[f"mailto:{BOB}"]
    assert status_bob.startswith("2.0")
    assert "FREEBUSY" in data and "20260512T090000Z/20260512T110000Z" in data.replace(
        "\r\n ", "")
    assert "dentist" not in data  # when, never what
    assert answers["mailto:nobody@boxes.test"][0].startswith("3.7")


def test_outbox_refusals(dav: Dav) -> None:
    dav.account(ALICE)
    dav.account(BOB)
    dav.account(STRANGER)
    outbox = f"/dav/calendars/{ALICE}/outbox/"
    ics = {"Content-Type": "text/calendar"}
    # someone else as organiser: RFC 6638 §5.1.1 organizer-allowed
    status, _, body = dav.request(ALICE, "POST", outbox,
                                  FB_REQUEST.format(organizer=BOB, attendee=BOB), ics)
    assert status == 403 and b"organizer-allowed" in body
    # not a VFREEBUSY request
    status, _, body = dav.request(ALICE, "POST", outbox, "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n",
                                  ics)
    assert status == 400
    status, _, body = dav.request(ALICE, "POST", outbox, "garbage", ics)
    assert status == 400
    # wrong media type
    status, _, _ = dav.request(ALICE, "POST", outbox, "<x/>")
    assert status == 415
    # a user of another domain gets no busy time of ours
    status, _, body = dav.request(STRANGER, "POST", f"/dav/calendars/{STRANGER}/outbox/",
                                  FB_REQUEST.format(organizer=STRANGER, attendee=BOB), ics)
    assert status == 200 and b"5.3" in body and b"FREEBUSY:" not in body
    # someone else's boxes do not exist for you; members of a box neither
    missing = dav.request(ALICE, "PROPFIND", f"/dav/calendars/{BOB}/inbox/", PROPFIND,
                          {"Depth": "0"})
    nothing = dav.request(ALICE, "PROPFIND", f"/dav/calendars/{ALICE}/nosuch/", PROPFIND,
                          {"Depth": "0"})
    assert missing[0] == nothing[0] == 404 and missing[2] == nothing[2]
    assert dav.request(ALICE, "GET", f"/dav/calendars/{ALICE}/inbox/x.ics")[0] == 404
    status, headers, _ = dav.request(ALICE, "PUT", f"/dav/calendars/{ALICE}/inbox/", "x")
    assert status == 405 and "PROPFIND" in headers["allow"]


def test_free_busy_through_the_caldav_library(dav: Dav) -> None:
    """The caldav library's own RFC 6638 free-busy request (principal → outbox POST)."""
    from datetime import UTC, datetime
    dav.account(ALICE)
    dav.account(BOB)
    calendar(dav, BOB).save_event(BUSY.replace("busy-1@", "busy-lib-1@"))
    principal = dav.caldav(ALICE).principal()
    answers = principal.freebusy_request(datetime(2026, 5, 12, tzinfo=UTC),
                                         datetime(2026, 5, 13, tzinfo=UTC),
                                         [f"mailto:{BOB}"])
    fb = answers[f"mailto:{BOB}"]
    text = str(fb.data).replace("\r\n ", "")
    assert "20260512T090000Z" in text, text[:2000]


def test_the_caldav_library_finds_the_invitation_in_the_inbox(dav: Dav) -> None:
    """Clients that poll the inbox (Thunderbird does) find the invitation there, METHOD and
    all (RFC 6638 §2.2); the server applied it to the calendar already."""
    dav.account(ALICE)
    dav.account(BOB)
    calendar(dav, ALICE).save_event(
        FB_REQUEST.replace("METHOD:REQUEST\r\n", "").replace("VFREEBUSY", "VEVENT")
        .replace("ATTENDEE:mailto:nobody@boxes.test\r\n", "")
        .format(organizer=ALICE, attendee=BOB).replace("fb-1@", "inbox-1@")
        .replace("BEGIN:VEVENT\r\n", "BEGIN:VEVENT\r\nSUMMARY:Poll\r\n"))
    principal = dav.caldav(BOB).principal()
    inbox = principal.schedule_inbox()
    assert inbox.url.path == f"/dav/calendars/{BOB}/inbox/"
    items = list(inbox.get_items())
    assert len(items) == 1 and "METHOD:REQUEST" in str(items[0].data)
    assert principal.schedule_outbox().url.path == f"/dav/calendars/{BOB}/outbox/"
