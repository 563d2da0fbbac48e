"""Every [web.dav] limit is enforced where the request enters or the item is stored, with
small limits set in this module's server: max_resource_size (403 max-resource-size),
max_xml_size (413), max_xml_depth (400), max_multiget (403), max_results (507
number-of-matches-within-limits), max_instances (an endless rule stops), and the names of the
default folders."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.dav import DAV, Dav
from tests.support.server import RunningServer, server_config

LIMITS = ["web.dav.max_resource_size=2048", "web.dav.max_xml_size=4096",
          "web.dav.max_xml_depth=8", "web.dav.max_multiget=10", "web.dav.max_results=100",
          "web.dav.max_instances=100", "web.dav.calendar_name=Agenda",
          "web.dav.contacts_name=People"]
CAL = {"Content-Type": "text/calendar; charset=utf-8"}
EVENT = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\n"
         "DTSTAMP:20260101T000000Z\r\nDTSTART:20260301T090000Z\r\nDTEND:20260301T100000Z\r\n"
         "SUMMARY:{summary}\r\n{extra}END:VEVENT\r\nEND:VCALENDAR\r\n")


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dav]:
    srv = RunningServer(server_config(Path(tmp_path_factory.mktemp("davlimits")),
                                      extra=DAV + LIMITS))
    try:
        yield Dav(srv)
    finally:
        srv.stop()


def _agenda(dav: Dav, address: str) -> str:
    return dav.collection_href(address, "Agenda")


def test_default_names_come_from_the_config(small: Dav) -> None:
    alice = small.account("alice@example.test")
    _agenda(small, alice)
    body = ('<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:displayname/>'
            '</D:prop></D:propfind>')
    status, _, out = small.request(alice, "PROPFIND", f"/dav/addressbooks/{alice}/", body,
                                   {"Depth": "1"})
    assert status == 207 and b"<D:displayname>People</D:displayname>" in out


def test_resource_and_xml_limits(small: Dav) -> None:
    alice = small.account("alice@example.test")
    path = _agenda(small, alice)
    big = EVENT.format(uid="big@t", summary="x" * 1500, extra="DESCRIPTION:" + "y" * 600
                       + "\r\n")
    status, _, body = small.request(alice, "PUT", path + "big.ics", big, CAL)
    assert status == 403 and b"max-resource-size" in body
    status, _, _ = small.request(alice, "PUT", path + "ok.ics",
                                 EVENT.format(uid="ok@t", summary="ok", extra=""), CAL)
    assert status == 201
    deep = "<D:propfind xmlns:D='DAV:'>" + "<D:prop>" * 9 + "</D:prop>" * 9 + "</D:propfind>"
    status, _, _ = small.request(alice, "PROPFIND", path, deep, {"Depth": "0"})
    assert status == 400
    wide = ("<D:propfind xmlns:D='DAV:'><D:prop>" + "<D:displayname/>" * 300
            + "</D:prop></D:propfind>")
    status, _, _ = small.request(alice, "PROPFIND", path, wide, {"Depth": "0"})
    assert status == 413


def test_multiget_and_result_limits(small: Dav) -> None:
    bob = small.account("bob@example.test")
    path = _agenda(small, bob)
    hrefs = "".join(f"<D:href>{path}{n}.ics</D:href>" for n in range(11))
    multiget = ('<?xml version="1.0"?><C:calendar-multiget xmlns:D="DAV:" '
                'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/></D:prop>'
                f'{hrefs}</C:calendar-multiget>')
    status, _, body = small.request(bob, "REPORT", path, multiget, {"Depth": "1"})
    assert status == 403 and b"number-of-matches-within-limits" in body
    for n in range(101):
        assert small.request(bob, "PUT", f"{path}{n}.ics",
                             EVENT.format(uid=f"{n}@t", summary=str(n), extra=""), CAL)[0] == 201
    status, _, body = small.request(bob, "PROPFIND", path, "", {"Depth": "1"})
    assert status == 507 and b"number-of-matches-within-limits" in body
    query = ('<?xml version="1.0"?><C:calendar-query xmlns:D="DAV:" '
             'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/></D:prop>'
             '<C:filter><C:comp-filter name="VCALENDAR"/></C:filter></C:calendar-query>')
    status, _, body = small.request(bob, "REPORT", path, query, {"Depth": "1"})
    assert status == 507 and b"number-of-matches-within-limits" in body


def test_endless_rules_stop_at_max_instances(small: Dav) -> None:
    carl = small.account("carl@example.test")
    path = _agenda(small, carl)
    daily = EVENT.format(uid="daily@t", summary="Daily", extra="RRULE:FREQ=DAILY\r\n")
    assert small.request(carl, "PUT", path + "daily.ics", daily, CAL)[0] == 201
    query = ('<?xml version="1.0"?><C:calendar-query xmlns:D="DAV:" '
             'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><C:calendar-data>'
             '<C:expand start="20260301T000000Z" end="20300101T000000Z"/></C:calendar-data>'
             '</D:prop><C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">'
             '<C:time-range start="20260301T000000Z" end="20300101T000000Z"/></C:comp-filter>'
             '</C:comp-filter></C:filter></C:calendar-query>')
    status, _, body = small.request(carl, "REPORT", path, query, {"Depth": "1"})
    assert status in (207, 403, 507), body
    if status == 207:
        assert body.count(b"RECURRENCE-ID") <= 100


def test_an_object_far_over_the_limit_gets_the_precondition_not_a_bare_413(
        small: Dav) -> None:
    """RFC 4791 §5.3.2.1: the DAV application, not the web guard, judges a declared length
    (web/app.py gives /dav/ the largest DAV limit as the guard's backstop)."""
    alice = small.account("alice@example.test")
    href = _agenda(small, alice)
    big = EVENT.format(uid="far-over", summary="x", extra="DESCRIPTION:" + "y" * 3_000_000
                       + "\r\n")
    status, _, out = small.request(alice, "PUT", href + "far-over.ics", big, CAL)
    assert status == 403 and b"max-resource-size" in out
