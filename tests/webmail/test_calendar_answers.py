"""Answering an invitation in webmail (HTTP): an event in the user's calendar organised by
someone else (stored by a CalDAV client) shows Accept / Tentative / Decline and no edit form;
the answer sets the user's PARTSTAT in the stored object (what a CalDAV client then reads);
an attendee's edit is refused (403) and an unknown answer is 422."""

from __future__ import annotations

import re
from datetime import date, timedelta
from urllib.parse import urlencode

from tests.support.dav import Dav
from tests.support.web import Page, WebClient
from tests.support.webmail import Webmail

ALICE = "alice@answers.test"
DAY = date.today() + timedelta(days=5)


def post(web: WebClient, path: str, pairs: list[tuple[str, str]]) -> Page:
    body = urlencode([("csrf", web.csrf), *pairs]).encode()
    return web.request("POST", path, body, {"Content-Type": "application/x-www-form-urlencoded"})


def test_answer_an_invitation(mail: Webmail) -> None:
    mail.account(ALICE)
    web = mail.client(ALICE)
    page = web.get("/webmail/calendar")
    cal = re.search(r'id="cal-on-(\d+)"', page.text)
    assert cal
    fid = cal.group(1)
    stamp = DAY.strftime("%Y%m%d")
    ics = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Test//EN\r\nBEGIN:VEVENT\r\n"
           "UID:invite-1\r\nDTSTAMP:20260101T000000Z\r\n"
           f"DTSTART:{stamp}T150000Z\r\nDTEND:{stamp}T160000Z\r\nSUMMARY:Review\r\n"
           "ORGANIZER:mailto:carol@elsewhere.example\r\n"
           f"ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:{ALICE}\r\n"
           "END:VEVENT\r\nEND:VCALENDAR\r\n")
    dav = Dav(mail.server)
    status, _, body = dav.request(ALICE, "PUT", f"/dav/calendars/{ALICE}/{fid}/invite-1.ics",
                                  ics, {"Content-Type": "text/calendar"})
    assert status == 201, body
    url = f"/webmail/calendar/event?{urlencode({'cal': fid, 'item': 'invite-1.ics'})}"
    event = web.get(url)
    assert event.status == 200
    assert "Your answer" in event.text and "Save event" not in event.text
    assert "carol@elsewhere.example" in event.text
    assert "/webmail/compose?to=carol%40elsewhere.example" in event.text
    etag = re.search(r'name="etag" value="([^"]*)"', event.text)
    assert etag
    tag = etag.group(1).replace("&#34;", '"')
    edit = post(web, "/webmail/calendar/save", [
        ("cal", fid), ("item", "invite-1.ics"), ("etag", tag), ("calendar", fid),
        ("title", "Mine"), ("start_date", DAY.isoformat()), ("start_time", "10:00"),
        ("end_date", DAY.isoformat()), ("end_time", "11:00")])
    assert edit.status == 403 and "Only the organiser" in edit.text
    bad = post(web, "/webmail/calendar/answer", [("cal", fid), ("item", "invite-1.ics"),
                                                 ("etag", tag), ("partstat", "MAYBE")])
    assert bad.status == 422
    done = post(web, "/webmail/calendar/answer", [("cal", fid), ("item", "invite-1.ics"),
                                                  ("etag", tag), ("partstat", "tentative")])
    assert done.status == 303, done.text
    status, _, body = dav.request(ALICE, "GET", f"/dav/calendars/{ALICE}/{fid}/invite-1.ics")
    assert status == 200
    line = next(x for x in body.decode().replace("\r\n ", "").splitlines()
                if x.startswith("ATTENDEE"))
    assert "PARTSTAT=TENTATIVE" in line
    assert "(now: tentative)" in web.get(url).text
