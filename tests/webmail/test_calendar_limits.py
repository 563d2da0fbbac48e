"""The limits webmail's calendar and contacts honour (web.dav.max_results, lowered here to
its minimum, 100): a view or list over more items than that is a clear message with its
status, not a slow page or a 500; at the limit it is drawn. So is a view with more than
web.dav.max_view_instances occurrences over all its events, which are expanded in a worker
thread, never on the event loop."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from postroom.pim import recurrence
from tests.support.dav import Dav
from tests.support.server import RunningServer, server_config
from tests.support.webmail import WEBMAIL

ALICE = "alice@limits.test"
DAY = date.today() + timedelta(days=3)
LIMIT = 100


@pytest.fixture(scope="module")
def dav(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dav]:
    srv = RunningServer(server_config(Path(tmp_path_factory.mktemp("wmlimits")),
                                      extra=[*WEBMAIL, f"web.dav.max_results={LIMIT}"]))
    try:
        yield Dav(srv)
    finally:
        srv.stop()


def _put_events(dav: Dav, fid: str, first: int, count: int) -> None:
    stamp = DAY.strftime("%Y%m%d")
    for i in range(first, first + count):
        ics = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//T//EN\r\nBEGIN:VEVENT\r\n"
               f"UID:ev-{i}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:{stamp}T100000Z\r\n"
               f"DTEND:{stamp}T110000Z\r\nSUMMARY:Event {i}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
        status, _, body = dav.request(ALICE, "PUT", f"/dav/calendars/{ALICE}/{fid}/ev-{i}.ics",
                                      ics, {"Content-Type": "text/calendar"})
        assert status == 201, body


def _put_cards(dav: Dav, fid: str, first: int, count: int) -> None:
    for i in range(first, first + count):
        card = (f"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:c-{i}\r\nFN:Person {i}\r\n"
                f"EMAIL:p{i}@example.org\r\nEND:VCARD\r\n")
        status, _, body = dav.request(ALICE, "PUT",
                                      f"/dav/addressbooks/{ALICE}/{fid}/c-{i}.vcf", card,
                                      {"Content-Type": "text/vcard"})
        assert status == 201, body


def test_calendar_view_limit(dav: Dav) -> None:
    dav.account(ALICE)
    web = dav.client(ALICE)
    found = re.search(r'id="cal-on-(\d+)"', web.get("/webmail/calendar").text)
    assert found
    fid = found.group(1)
    _put_events(dav, fid, 0, LIMIT)
    view = f"/webmail/calendar?view=day&date={DAY.isoformat()}"
    page = web.get(view)
    assert page.status == 200 and page.text.count("Event ") >= LIMIT
    _put_events(dav, fid, LIMIT, 1)
    page = web.get(view)
    assert page.status == 409  # web/forms.py: LIMIT is 409
    assert f"more than {LIMIT} events" in page.text and "shorter view" in page.text


def test_contacts_list_limit(dav: Dav) -> None:
    dav.account(ALICE)
    web = dav.client(ALICE)
    found = re.search(r'href="/webmail/contacts\?book=(\d+)"', web.get("/webmail/contacts").text)
    assert found
    fid = found.group(1)
    _put_cards(dav, fid, 0, LIMIT)
    page = web.get(f"/webmail/contacts?book={fid}")
    assert page.status == 200 and "Person 99" in page.text
    _put_cards(dav, fid, LIMIT, 1)
    page = web.get(f"/webmail/contacts?book={fid}")
    assert page.status == 409  # web/forms.py: LIMIT is 409
    assert f"more than {LIMIT} contacts" in page.text


# -- occurrences per view (web.dav.max_view_instances) and expansion off the event loop -----
# Review of issue 24: a month view over a few RRULE:FREQ=MINUTELY events expanded 50,000
# occurrences on the event loop (3.5 s with every protocol stalled, a 14.5 MB page).

VIEW_LIMIT = 100
BOB = "bob@limits.test"


@pytest.fixture(scope="module")
def viewdav(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dav]:
    srv = RunningServer(server_config(
        Path(tmp_path_factory.mktemp("wmview")),
        extra=[*WEBMAIL, f"web.dav.max_view_instances={VIEW_LIMIT}"]))
    try:
        yield Dav(srv)
    finally:
        srv.stop()


def _minutely(dav: Dav, address: str, fid: str, uid: str, count: int) -> None:
    stamp = DAY.strftime("%Y%m%d")
    ics = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//T//EN\r\nBEGIN:VEVENT\r\n"
           f"UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:{stamp}T100000Z\r\n"
           f"DTEND:{stamp}T100030Z\r\nRRULE:FREQ=MINUTELY;COUNT={count}\r\n"
           f"SUMMARY:Tick {uid}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    status, _, body = dav.request(address, "PUT", f"/dav/calendars/{address}/{fid}/{uid}.ics",
                                  ics, {"Content-Type": "text/calendar"})
    assert status == 201, body


def _calendar_id(web: Any) -> str:
    found = re.search(r'id="cal-on-(\d+)"', web.get("/webmail/calendar").text)
    assert found
    return found.group(1)


def test_calendar_view_occurrence_limit(viewdav: Dav) -> None:
    viewdav.account(ALICE)
    web = viewdav.client(ALICE)
    fid = _calendar_id(web)
    _minutely(viewdav, ALICE, fid, "ticks", VIEW_LIMIT)  # at the limit: drawn
    view = f"/webmail/calendar?view=day&date={DAY.isoformat()}"
    page = web.get(view)
    assert page.status == 200 and page.text.count("Tick ticks") >= VIEW_LIMIT
    _minutely(viewdav, ALICE, fid, "one-more", 1)  # past it: the message, not the page
    page = web.get(view)
    assert page.status == 409
    assert f"more than {VIEW_LIMIT} occurrences" in page.text and "shorter view" in page.text
    assert "Tick ticks" not in page.text


def test_calendar_view_expands_off_the_event_loop(viewdav: Dav,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    viewdav.account(BOB)
    web = viewdav.client(BOB)
    fid = _calendar_id(web)
    _minutely(viewdav, BOB, fid, "slow", 3)
    real = recurrence.instances

    def blocking(*args: Any, **kwargs: Any) -> Any:
        time.sleep(1.0)  # holds whichever thread runs it, as a long expansion would
        return real(*args, **kwargs)
    monkeypatch.setattr(recurrence, "instances", blocking)
    imap = viewdav.imap(BOB)
    status: list[int] = []
    loader = threading.Thread(target=lambda: status.append(
        web.get(f"/webmail/calendar?view=week&date={DAY.isoformat()}").status))
    try:
        loader.start()
        time.sleep(0.3)  # the view is now expanding
        started = time.perf_counter()
        imap.noop()
        took = time.perf_counter() - started
        loader.join()
    finally:
        imap.logout()
    assert status == [200]
    assert took < 0.5, f"IMAP NOOP waited {took:.2f} s while a calendar view expanded"
