"""Recurrence expansion is bounded per request and never runs on the event loop (review of
issue 24: one ``RRULE:FREQ=MINUTELY`` event named ten times in a calendar-multiget with an
expand over a year stalled the whole server for 18 s and answered 18.5 MB).

- calendar-query, calendar-multiget and free-busy-query do their rendering, expansion and
  free-busy work in a worker job: an IMAP NOOP answers at once while they run;
- a multiget counts each member once, however many hrefs name it (``r.ics?1``, ``r.ics?2``);
- web.dav.max_request_instances bounds the instances of all items together and
  web.dav.max_response_size the octets of calendar-data: past them a REPORT stops before the
  member that overflowed and ends with a 507 DAV:number-of-matches-within-limits response for
  the request-URI (RFC 5323 §5.17); a free-busy-query answers 507 with that element.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.dav import DAV, Dav
from tests.support.server import RunningServer, server_config

CAL = {"Content-Type": "text/calendar; charset=utf-8"}
BUDGET = 200  # instances per request in the ``small`` server
SIZE = 64 << 10  # octets of calendar-data per answer in the ``small`` server
SERIES = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\n"
          "DTSTAMP:20260101T000000Z\r\nDTSTART:20260101T000000Z\r\nDTEND:20260101T000030Z\r\n"
          "RRULE:{rule}\r\nSUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
MULTIGET = ('<?xml version="1.0"?><C:calendar-multiget xmlns:D="DAV:" '
            'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/>{data}</D:prop>'
            '{hrefs}</C:calendar-multiget>')
QUERY = ('<?xml version="1.0"?><C:calendar-query xmlns:D="DAV:" '
         'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/>{data}</D:prop>'
         '<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"/>'
         '</C:comp-filter></C:filter></C:calendar-query>')
FREEBUSY = ('<?xml version="1.0"?><C:free-busy-query xmlns:C="urn:ietf:params:xml:ns:caldav">'
            '<C:time-range start="20260101T000000Z" end="20270101T000000Z"/>'
            '</C:free-busy-query>')
SYNC = ('<?xml version="1.0"?><D:sync-collection xmlns:D="DAV:" '
        'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:sync-token/><D:sync-level>1</D:sync-level>'
        '<D:prop><D:getetag/>{data}</D:prop></D:sync-collection>')
EXPAND = ('<C:calendar-data><C:expand start="20260101T000000Z" end="20270101T000000Z"/>'
          '</C:calendar-data>')
WITHIN = b"number-of-matches-within-limits"


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dav]:
    srv = RunningServer(server_config(
        Path(tmp_path_factory.mktemp("davexpand")),
        extra=[*DAV, f"web.dav.max_request_instances={BUDGET}",
               f"web.dav.max_response_size={SIZE}"]))
    try:
        yield Dav(srv)
    finally:
        srv.stop()


def _calendar(dav: Dav, address: str) -> str:
    return dav.collection_href(address)


def _fresh_calendar(dav: Dav, address: str, name: str) -> str:
    """A new, empty calendar of the account (each test its own)."""
    dav.account(address)
    path = f"/dav/calendars/{address}/{name}/"
    status, _, out = dav.request(address, "MKCALENDAR", path)
    assert status == 201, out
    return path


def _put(dav: Dav, address: str, path: str, ics: str) -> None:
    status, _, out = dav.request(address, "PUT", path, ics, CAL)
    assert status == 201, out


def _responses(body: bytes) -> list[bytes]:
    return re.findall(rb"<D:response>.*?</D:response>", body, re.S)


def _cut_at_request_uri(body: bytes, path: str) -> bool:
    last = _responses(body)[-1]
    return (WITHIN in last and b"507" in last
            and re.search(rb"<D:href>([^<]+)</D:href>", last).group(1).decode() == path)


# -- one member, many hrefs -----------------------------------------------------------------

def test_multiget_counts_a_member_once_however_it_is_named(dav: Dav) -> None:
    alice = "multi@example.test"
    cal = _fresh_calendar(dav, alice, "multi")
    _put(dav, alice, cal + "r.ics", SERIES.format(uid="r", rule="FREQ=DAILY;COUNT=5",
                                                  summary="daily"))
    hrefs = "".join(f"<D:href>{cal}r.ics?{i}</D:href>" for i in range(8))
    hrefs += f"<D:href>{cal}r.ics</D:href><D:href>{cal}%72.ics</D:href>"
    hrefs += f"<D:href>{cal}missing.ics</D:href><D:href>{cal}missing.ics?x</D:href>"
    status, _, out = dav.request(alice, "REPORT", cal,
                                 MULTIGET.format(data=EXPAND, hrefs=hrefs), {"Depth": "1"})
    assert status == 207
    assert out.count(b"<C:calendar-data") == 1, out[:2000]
    assert out.count(b"RECURRENCE-ID") == 5
    found = [r for r in _responses(out) if b"calendar-data" in r]
    assert len(found) == 1 and f"<D:href>{cal}r.ics</D:href>".encode() in found[0]
    missing = [r for r in _responses(out) if b"404" in r]
    assert len(missing) == 1  # one member, missing, however it was named


# -- the request budget ---------------------------------------------------------------------

def _daily_series(dav: Dav, address: str, cal: str, count: int, per_item: int) -> None:
    for i in range(count):
        _put(dav, address, cal + f"d{i}.ics",
             SERIES.format(uid=f"d{i}", rule=f"FREQ=DAILY;COUNT={per_item}",
                           summary=f"series {i}"))


def test_multiget_expansion_stops_at_the_request_budget(small: Dav) -> None:
    alice = "budget@example.test"
    cal = _fresh_calendar(small, alice, "budget")
    _daily_series(small, alice, cal, 3, 70)  # 210 instances in 2026, BUDGET is 200
    hrefs = "".join(f"<D:href>{cal}d{i}.ics</D:href>" for i in range(3))
    status, _, out = small.request(alice, "REPORT", cal,
                                   MULTIGET.format(data=EXPAND, hrefs=hrefs), {"Depth": "1"})
    assert status == 207
    assert out.count(b"<C:calendar-data") == 2  # the third would pass the budget
    assert out.count(b"BEGIN:VEVENT") == 140  # no member half there
    assert _cut_at_request_uri(out, cal)
    # two of them fit: whole answer, no 507
    two = "".join(f"<D:href>{cal}d{i}.ics</D:href>" for i in range(2))
    status, _, out = small.request(alice, "REPORT", cal,
                                   MULTIGET.format(data=EXPAND, hrefs=two), {"Depth": "1"})
    assert status == 207 and out.count(b"<C:calendar-data") == 2 and WITHIN not in out


def test_query_expansion_stops_at_the_request_budget(small: Dav) -> None:
    alice = "budget-q@example.test"
    cal = _fresh_calendar(small, alice, "budgetq")
    _daily_series(small, alice, cal, 3, 70)
    status, _, out = small.request(alice, "REPORT", cal, QUERY.format(data=EXPAND),
                                   {"Depth": "1"})
    assert status == 207
    assert out.count(b"<C:calendar-data") == 2 and out.count(b"BEGIN:VEVENT") == 140
    assert _cut_at_request_uri(out, cal)
    # without expand nothing is expanded: all three, whole
    status, _, out = small.request(alice, "REPORT", cal,
                                   QUERY.format(data="<C:calendar-data/>"), {"Depth": "1"})
    assert status == 207 and out.count(b"<C:calendar-data") == 3 and WITHIN not in out


def test_sync_expansion_past_the_request_budget_is_507(small: Dav) -> None:
    """sync-collection's token promises every change up to it: all or a 507, never cut."""
    alice = "budget-sync@example.test"
    cal = _fresh_calendar(small, alice, "budgetsync")
    _daily_series(small, alice, cal, 2, 70)
    status, _, out = small.request(alice, "REPORT", cal, SYNC.format(data=EXPAND))
    assert status == 207 and out.count(b"BEGIN:VEVENT") == 140 and b"sync-token" in out
    _put(small, alice, cal + "d2.ics",
         SERIES.format(uid="d2", rule="FREQ=DAILY;COUNT=70", summary="series 2"))
    status, _, out = small.request(alice, "REPORT", cal, SYNC.format(data=EXPAND))
    assert status == 507 and WITHIN in out and b"VEVENT" not in out


def test_free_busy_stops_at_the_request_budget(small: Dav) -> None:
    alice = "budget-fb@example.test"
    cal = _fresh_calendar(small, alice, "budgetfb")
    _daily_series(small, alice, cal, 2, 70)
    status, _, out = small.request(alice, "REPORT", cal, FREEBUSY, {"Depth": "1"})
    assert status == 200 and out.count(b"FREEBUSY;FBTYPE=BUSY:") == 70  # 140: within
    _put(small, alice, cal + "d2.ics",  # a third: 210
         SERIES.format(uid="d2", rule="FREQ=DAILY;COUNT=70", summary="series 2"))
    status, _, out = small.request(alice, "REPORT", cal, FREEBUSY, {"Depth": "1"})
    assert status == 507 and WITHIN in out


def test_calendar_data_stops_at_the_response_size(small: Dav) -> None:
    alice = "size@example.test"
    cal = _fresh_calendar(small, alice, "size")
    filler = "DESCRIPTION:" + "x" * 70 + "\r\n " + ("y" * 74 + "\r\n ") * 300 + "z\r\n"
    for i in range(4):  # about 23 KiB each: two fit in 64 KiB, not three
        ics = SERIES.format(uid=f"big{i}", rule="FREQ=DAILY;COUNT=1", summary="big")
        _put(small, alice, cal + f"big{i}.ics", ics.replace("SUMMARY:", filler + "SUMMARY:"))
    hrefs = "".join(f"<D:href>{cal}big{i}.ics</D:href>" for i in range(4))
    status, _, out = small.request(alice, "REPORT", cal,
                                   MULTIGET.format(data="<C:calendar-data/>", hrefs=hrefs),
                                   {"Depth": "1"})
    assert status == 207
    assert out.count(b"<C:calendar-data") == 2
    assert _cut_at_request_uri(out, cal)
    assert len(out) < SIZE


# -- off the event loop ---------------------------------------------------------------------

def _noop_latency_during(dav: Dav, address: str, run: Callable[[], int]) -> tuple[float, int]:
    """The longest an IMAP NOOP (one every 50 ms) waited while ``run`` (a heavy request, in
    a thread) was served; and its status."""
    imap = dav.imap(address)
    waits: list[float] = []
    status: list[int] = []
    worker = threading.Thread(target=lambda: status.append(run()))
    try:
        worker.start()
        while worker.is_alive():
            started = time.perf_counter()
            imap.noop()
            waits.append(time.perf_counter() - started)
            time.sleep(0.05)
        worker.join()
    finally:
        imap.logout()
    assert status, "the request failed"
    return max(waits), status[0]


@pytest.mark.parametrize("report", ["calendar-multiget", "calendar-query", "free-busy-query",
                                    "sync-collection"])
def test_heavy_reports_run_off_the_event_loop(dav: Dav, report: str) -> None:
    alice = f"loop-{report}@example.test"
    cal = _fresh_calendar(dav, alice, "loop")
    # 10,000 instances (web.dav.max_instances) each: over a second of work per report
    for i in range(2):
        _put(dav, alice, cal + f"m{i}.ics",
             SERIES.format(uid=f"m{i}", rule="FREQ=MINUTELY", summary=f"minutely {i}"))
    body = {"calendar-multiget": MULTIGET.format(
                data=EXPAND, hrefs=f"<D:href>{cal}m0.ics</D:href><D:href>{cal}m1.ics</D:href>"),
            "calendar-query": QUERY.format(data=EXPAND), "free-busy-query": FREEBUSY,
            "sync-collection": SYNC.format(data=EXPAND)}[report]
    started = time.perf_counter()
    waited, status = _noop_latency_during(
        dav, alice, lambda: dav.request(alice, "REPORT", cal, body, {"Depth": "1"})[0])
    took = time.perf_counter() - started
    assert status in (200, 207)
    assert took > 0.5, f"the {report} was not heavy ({took:.2f} s): the test shows nothing"
    assert waited < 0.5, f"IMAP NOOP waited {waited:.2f} s during a {took:.1f} s {report}"
