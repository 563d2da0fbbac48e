"""CalDAV reports with raw XML (RFC 4791 §7.8-§7.10): calendar-query with a time range and
calendar-data expand, a VTODO filter, multiget with a missing href, free-busy-query, filters
that are not valid (403 valid-filter / supported-collation), PROPFIND of one item."""

from __future__ import annotations

import re

from tests.support.dav import Dav

C_NS = 'xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"'
EVENT = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\n"
         "DTSTAMP:20260101T000000Z\r\nDTSTART:{start}\r\nDTEND:{end}\r\nSUMMARY:{summary}\r\n"
         "{extra}END:VEVENT\r\nEND:VCALENDAR\r\n")
CAL = {"Content-Type": "text/calendar; charset=utf-8"}


def _path(dav: Dav, address: str) -> str:
    return dav.collection_href(address)


def _fill(dav: Dav, address: str) -> str:
    path = _path(dav, address)
    items = {
        "daily.ics": EVENT.format(uid="daily@t", start="20260301T080000Z",
                                  end="20260301T083000Z", summary="Standup",
                                  extra="RRULE:FREQ=DAILY;COUNT=5\r\n"),
        "lunch.ics": EVENT.format(uid="lunch@t", start="20260310T120000Z",
                                  end="20260310T130000Z", summary="Lunch", extra=""),
        "free.ics": EVENT.format(uid="free@t", start="20260302T140000Z",
                                 end="20260302T150000Z", summary="Optional",
                                 extra="TRANSP:TRANSPARENT\r\n"),
    }
    for name, data in items.items():
        assert dav.request(address, "PUT", path + name, data, CAL)[0] == 201
    return path


def test_calendar_query_time_range_and_expand(dav: Dav) -> None:
    alice = dav.account("lena@example.test")
    path = _fill(dav, alice)
    query = (f'<?xml version="1.0"?><C:calendar-query {C_NS}><D:prop><D:getetag/>'
             '<C:calendar-data><C:expand start="20260302T000000Z" end="20260304T000000Z"/>'
             '</C:calendar-data></D:prop><C:filter><C:comp-filter name="VCALENDAR">'
             '<C:comp-filter name="VEVENT"><C:time-range start="20260302T000000Z" '
             'end="20260304T000000Z"/></C:comp-filter></C:comp-filter></C:filter>'
             '</C:calendar-query>')
    status, _, body = dav.request(alice, "REPORT", path, query, {"Depth": "1"})
    assert status == 207, body
    assert b"daily.ics" in body and b"free.ics" in body and b"lunch.ics" not in body
    daily = next(r for r in re.findall(rb"<D:response>.*?</D:response>", body, re.S)
                 if b"daily.ics" in r)
    assert daily.count(b"RECURRENCE-ID") == 2 and b"RRULE" not in daily


def test_todo_filter_finds_nothing_in_a_calendar_of_events(dav: Dav) -> None:
    alice = dav.account("mona@example.test")
    path = _fill(dav, alice)
    query = (f'<?xml version="1.0"?><C:calendar-query {C_NS}><D:prop><D:getetag/></D:prop>'
             '<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VTODO"/>'
             '</C:comp-filter></C:filter></C:calendar-query>')
    status, _, body = dav.request(alice, "REPORT", path, query, {"Depth": "1"})
    assert status == 207 and b"<D:response>" not in body


def test_text_match_and_bad_filters(dav: Dav) -> None:
    alice = dav.account("nina@example.test")
    path = _fill(dav, alice)
    query = (f'<?xml version="1.0"?><C:calendar-query {C_NS}><D:prop><D:getetag/></D:prop>'
             '<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">'
             '<C:prop-filter name="SUMMARY"><C:text-match{coll}>lunch</C:text-match>'
             '</C:prop-filter></C:comp-filter></C:comp-filter></C:filter></C:calendar-query>')
    status, _, body = dav.request(alice, "REPORT", path, query.format(coll=""), {"Depth": "1"})
    assert status == 207 and b"lunch.ics" in body and b"daily.ics" not in body
    status, _, body = dav.request(alice, "REPORT", path,
                                  query.format(coll=' collation="i;klingon"'), {"Depth": "1"})
    assert status == 403 and b"supported-collation" in body
    bad_range = (f'<?xml version="1.0"?><C:calendar-query {C_NS}><D:prop><D:getetag/>'
                 '</D:prop><C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter '
                 'name="VEVENT"><C:time-range start="yesterday"/></C:comp-filter>'
                 '</C:comp-filter></C:filter></C:calendar-query>')
    status, _, body = dav.request(alice, "REPORT", path, bad_range, {"Depth": "1"})
    assert status == 403 and b"valid-filter" in body
    no_filter = (f'<?xml version="1.0"?><C:calendar-query {C_NS}><D:prop><D:getetag/>'
                 '</D:prop></C:calendar-query>')
    status, _, body = dav.request(alice, "REPORT", path, no_filter, {"Depth": "1"})
    assert status == 403 and b"valid-filter" in body


def test_multiget_and_item_propfind(dav: Dav) -> None:
    alice = dav.account("olga@example.test")
    path = _fill(dav, alice)
    multiget = (f'<?xml version="1.0"?><C:calendar-multiget {C_NS}><D:prop><D:getetag/>'
                f'<C:calendar-data/></D:prop><D:href>{path}lunch.ics</D:href>'
                f'<D:href>{path}nothing.ics</D:href>'
                '<D:href>/dav/calendars/someone@else/x/y.ics</D:href></C:calendar-multiget>')
    status, _, body = dav.request(alice, "REPORT", path, multiget, {"Depth": "1"})
    assert status == 207
    responses = re.findall(rb"<D:response>.*?</D:response>", body, re.S)
    assert len(responses) == 3
    assert b"SUMMARY:Lunch" in responses[0] and b"200 OK" in responses[0]
    assert all(b"404" in r for r in responses[1:])
    props = ('<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:getetag/>'
             '<D:getcontenttype/><D:getcontentlength/><D:resourcetype/></D:prop></D:propfind>')
    status, _, body = dav.request(alice, "PROPFIND", path + "lunch.ics", props, {"Depth": "0"})
    assert status == 207 and b"text/calendar" in body and b"<D:resourcetype/>" in body
    status, headers, _ = dav.request(alice, "HEAD", path + "lunch.ics")
    assert status == 200 and headers["etag"] in body.decode()


def test_free_busy_query(dav: Dav) -> None:
    alice = dav.account("pia@example.test")
    path = _fill(dav, alice)
    query = (f'<?xml version="1.0"?><C:free-busy-query {C_NS}><C:time-range '
             'start="20260301T000000Z" end="20260303T000000Z"/></C:free-busy-query>')
    status, headers, body = dav.request(alice, "REPORT", path, query, {"Depth": "1"})
    assert status == 200 and headers["content-type"].startswith("text/calendar")
    assert b"VFREEBUSY" in body and b"20260301T080000Z" in body
    assert b"20260302T140000Z" not in body  # transparent: not busy


def test_get_of_a_collection_exports_it(dav: Dav) -> None:
    alice = dav.account("quin@example.test")
    path = _fill(dav, alice)
    status, headers, body = dav.request(alice, "GET", path)
    assert status == 200 and headers["content-type"].startswith("text/calendar")
    assert body.startswith(b"BEGIN:VCALENDAR") and body.count(b"BEGIN:VCALENDAR") == 1
    assert body.count(b"BEGIN:VEVENT") == 3 and b"SUMMARY:Lunch" in body
