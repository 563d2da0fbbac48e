"""Bad input never makes a 500 nor a hang: DTDs and entities (billion laughs, external
entities: the file is never read), deep nesting, huge bodies, malformed XML, malformed
iCalendar and vCards, wrong content types (RFC 4791 §5.3.2.1, RFC 6352 §6.3.2.1 preconditions
where they exist)."""

from __future__ import annotations

import re

import pytest

from tests.support.dav import Dav

LAUGHS = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
          '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
          '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
          '<D:propfind xmlns:D="DAV:"><D:prop><D:displayname>&lol3;</D:displayname>'
          '</D:prop></D:propfind>')
EXTERNAL = ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            '<D:propfind xmlns:D="DAV:"><D:prop><D:displayname>&x;</D:displayname>'
            '</D:prop></D:propfind>')
CAL = {"Content-Type": "text/calendar; charset=utf-8"}


def _collection(dav: Dav, address: str, family: str, name: str) -> str:
    body = ('<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:displayname/>'
            '</D:prop></D:propfind>')
    status, _, out = dav.request(address, "PROPFIND", f"/dav/{family}/{address}/", body,
                                 {"Depth": "1"})
    assert status == 207
    for resp in re.findall(rb"<D:response>.*?</D:response>", out, re.S):
        if f"<D:displayname>{name}</D:displayname>".encode() in resp:
            m = re.search(rb"<D:href>([^<]+)</D:href>", resp)
            assert m is not None
            return m.group(1).decode()
    raise AssertionError(out)


@pytest.mark.parametrize("body", [LAUGHS, EXTERNAL, "<D:propfind xmlns:D='DAV:'>",
                                  "not xml at all", "<a>" * 100 + "</a>" * 100,
                                  '<?xml version="1.0" encoding="bogus"?><a/>',
                                  "<D:propfind xmlns:D='DAV:'><D:prop>\x00</D:prop>"
                                  "</D:propfind>"])
def test_bad_xml_is_400(dav: Dav, body: str) -> None:
    alice = dav.account("alice@example.test")
    for method in ("PROPFIND", "REPORT", "PROPPATCH"):
        status, _, out = dav.request(alice, method, "/dav/calendars/alice@example.test/",
                                     body, {"Depth": "0"})
        assert status == 400, (method, out)
        assert b"root:" not in out  # /etc/passwd never read into anything


def test_huge_xml_body_is_413(dav: Dav) -> None:
    alice = dav.account("alice@example.test")
    body = "<D:propfind xmlns:D='DAV:'><D:prop>" + "<D:displayname/>" * 200_000 + \
        "</D:prop></D:propfind>"
    status, _, _ = dav.request(alice, "PROPFIND", "/dav/", body, {"Depth": "0"})
    assert status == 413


def test_bad_depth_and_unknown_report(dav: Dav) -> None:
    alice = dav.account("alice@example.test")
    status, _, _ = dav.request(alice, "PROPFIND", "/dav/", "", {"Depth": "2"})
    assert status == 400
    status, _, body = dav.request(alice, "REPORT", "/dav/", "<x:y xmlns:x='urn:x'/>")
    assert status == 403 and b"supported-report" in body


def test_malformed_icalendar_and_wrong_types(dav: Dav) -> None:
    alice = dav.account("alice@example.test")
    path = _collection(dav, alice, "calendars", "Calendar")
    for data in ("BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n", "garbage", "\xff\xfe",
                 "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nSUMMARY:no uid\r\n"
                 "END:VEVENT\r\nEND:VCALENDAR\r\n"):
        status, _, body = dav.request(alice, "PUT", path + "bad.ics", data.encode("latin-1"),
                                      CAL)
        assert status in (400, 403, 415), body
        assert status != 403 or b"urn:ietf:params:xml:ns:caldav" in body
    status, _, body = dav.request(alice, "PUT", path + "bad.ics", b"hello",
                                  {"Content-Type": "text/plain"})
    assert status in (403, 415) and b"supported-calendar-data" in body
    card = ("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:c@t\r\nFN:C\r\nEND:VCARD\r\n")
    status, _, body = dav.request(alice, "PUT", path + "card.vcf", card,
                                  {"Content-Type": "text/vcard"})
    assert status in (403, 415)
    book = _collection(dav, alice, "addressbooks", "Contacts")
    for data in ("BEGIN:VCARD\r\nFN:no uid\r\nEND:VCARD\r\n", "nonsense"):
        status, _, body = dav.request(alice, "PUT", book + "bad.vcf", data,
                                      {"Content-Type": "text/vcard"})
        assert status in (400, 403), body
    status, _, _ = dav.request(alice, "GET", path + "bad.ics")
    assert status == 404


def test_too_large_resource_is_403_max_resource_size(dav: Dav) -> None:
    alice = dav.account("alice@example.test")
    path = _collection(dav, alice, "calendars", "Calendar")
    big = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:big@t\r\n"
           "DTSTAMP:20260101T000000Z\r\nDTSTART:20260101T000000Z\r\nDESCRIPTION:"
           + "x" * (1 << 20) + "\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    status, _, body = dav.request(alice, "PUT", path + "big.ics", big, CAL)
    assert status in (403, 413)
    if status == 403:
        assert b"max-resource-size" in body
    status, _, _ = dav.request(alice, "PUT", path + "../../x.ics", "x", CAL)
    assert status in (400, 404)


def test_conditional_puts(dav: Dav) -> None:
    alice = dav.account("alice@example.test")
    path = _collection(dav, alice, "calendars", "Calendar") + "cond.ics"
    data = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\n"
            "UID:cond@t\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260101T090000Z\r\n"
            "SUMMARY:{s}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    status, headers, _ = dav.request(alice, "PUT", path, data.format(s="a"),
                                     {**CAL, "If-None-Match": "*"})
    assert status == 201
    etag = headers["etag"]
    status, _, _ = dav.request(alice, "PUT", path, data.format(s="b"),
                               {**CAL, "If-None-Match": "*"})
    assert status == 412
    status, headers, _ = dav.request(alice, "PUT", path, data.format(s="c"),
                                     {**CAL, "If-Match": etag})
    assert status == 204
    status, _, _ = dav.request(alice, "PUT", path, data.format(s="d"),
                               {**CAL, "If-Match": etag})  # stale now
    assert status == 412
    status, _, _ = dav.request(alice, "DELETE", path, "", {"If-Match": etag})
    assert status == 412
    status, _, body = dav.request(alice, "GET", path)
    assert status == 200 and b"SUMMARY:c" in body
    # the same UID under another name
    status, _, body = dav.request(alice, "PUT", path.replace("cond.ics", "other.ics"),
                                  data.format(s="e"), CAL)
    assert status == 403 and b"no-uid-conflict" in body and b"cond.ics" in body


def test_no_method_path_body_combination_is_a_500(dav: Dav) -> None:
    """Every method on every kind of path with every kind of body: answers, never 500."""
    alice = dav.account("alice@example.test")
    cal = _collection(dav, alice, "calendars", "Calendar")
    book = _collection(dav, alice, "addressbooks", "Contacts")
    paths = ["/", "/dav", "/dav/", "/dav/principals/", f"/dav/principals/{alice}/",
             "/dav/calendars/", f"/dav/calendars/{alice}/", cal, cal + "x.ics",
             book, book + "x.vcf", f"/dav/addressbooks/{alice}/directory/",
             f"/dav/calendars/{alice}/inbox/", "/dav/nothing/here/", "/dav/calendars/%00/",
             f"/dav/calendars/{alice}/{'x' * 300}/"]
    bodies = ["", "<x/>", "<D:propfind xmlns:D='DAV:'><D:prop/></D:propfind>",
              "<C:calendar-query xmlns:C='urn:ietf:params:xml:ns:caldav'/>",
              "<D:sync-collection xmlns:D='DAV:'/>",
              "<C:mkcalendar xmlns:C='urn:ietf:params:xml:ns:caldav'/>", "BEGIN:VCALENDAR"]
    methods = ["OPTIONS", "GET", "HEAD", "PUT", "DELETE", "PROPFIND", "PROPPATCH", "REPORT",
               "MKCOL", "MKCALENDAR", "COPY", "MOVE", "LOCK", "UNLOCK", "POST", "ACL", "BREW"]
    for path in paths:
        for method in methods:
            with_body = method in ("PUT", "PROPFIND", "PROPPATCH", "REPORT", "MKCALENDAR")
            for body in bodies if with_body else [""]:
                status, _, out = dav.request(alice, method, path, body,
                                             {"Depth": "1", "Destination": cal + "y.ics"})
                assert status < 500 or status in (501, 507), (method, path, body, out)
