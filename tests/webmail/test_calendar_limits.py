"""The limits webmail's calendar and contacts honour (web.dav.max_results, lowered here to
its minimum, 100): a view or list over more items than that is a clear message with its
status, not a slow page or a 500; at the limit it is drawn."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest

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
