"""Webmail calendar over HTTP (a real server, WebClient): every view draws the events of the
calendars shown; create, edit, delete through the form; stale edits are refused; a calendar
shared read-only shows no edit controls and the server refuses edits with a clear 403; bad
input is a clear 4xx (404 for anything that cannot be an id, 422 with the field's message),
never a 500."""

from __future__ import annotations

import re
from datetime import date, timedelta
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from tests.support.web import WebClient
from tests.support.webmail import Webmail

ALICE = "alice@calpages.test"
BOB = "bob@calpages.test"
DAY = date.today() + timedelta(days=2)


def own_calendar(web: WebClient) -> str:
    page = web.get("/webmail/calendar")
    assert page.status == 200, page.text
    found = re.search(r'id="cal-on-(\d+)"', page.text)
    assert found, page.text
    return found.group(1)


def post(web: WebClient, path: str, pairs: list[tuple[str, str]]):  # type: ignore[no-untyped-def]
    body = urlencode([("csrf", web.csrf), *pairs]).encode()
    return web.request("POST", path, body,
                       {"Content-Type": "application/x-www-form-urlencoded"})


def event_fields(cal: str, title: str, **more: str) -> list[tuple[str, str]]:
    fields = {"calendar": cal, "title": title, "start_date": DAY.isoformat(),
              "start_time": "10:00", "end_date": DAY.isoformat(), "end_time": "11:00",
              "repeat": "", "ends": "never", "reminder": "", **more}
    return list(fields.items())


def item_of(web: WebClient, cal: str, title: str) -> tuple[str, str]:
    """(event URL, etag) of the event titled ``title`` in the day view (etag "" when the
    page offers no form: a read-only event)."""
    page = web.get(f"/webmail/calendar?view=day&date={DAY.isoformat()}")
    found = re.search(r'href="(/webmail/calendar/event\?[^"]+)"[^>]*>(?:(?!</a>).)*' +
                      re.escape(title), page.text, re.S)
    assert found, page.text
    url = found.group(1).replace("&amp;", "&")
    event = web.get(url)
    etag = re.search(r'name="etag" value="([^"]*)"', event.text)
    return url, etag.group(1).replace("&#34;", '"').replace("&quot;", '"') if etag else ""


def test_create_and_every_view_shows_it(mail: Webmail) -> None:
    mail.account(ALICE)
    web = mail.client(ALICE)
    cal = own_calendar(web)
    page = post(web, "/webmail/calendar/save", event_fields(
        cal, "Dentist", repeat="daily", ends="count", count="3", reminder="30",
        location="Main St"))
    assert page.status == 303, page.text
    assert web.follow(page).status == 200
    for view in ("day", "week", "month", "agenda"):
        shown = web.get(f"/webmail/calendar?view={view}&date={DAY.isoformat()}")
        assert shown.status == 200
        assert "Dentist" in shown.text, view
    # three instances: the agenda shows one a day
    agenda = web.get(f"/webmail/calendar?view=agenda&date={DAY.isoformat()}")
    assert agenda.text.count(">Dentist<") == 3
    # hiding the calendar hides its events
    hidden = web.get(f"/webmail/calendar?view=day&date={DAY.isoformat()}&toggles=1")
    assert "Dentist" not in hidden.text
    shown = web.get(f"/webmail/calendar?view=day&date={DAY.isoformat()}&toggles=1&on={cal}")
    assert "Dentist" in shown.text


def test_edit_delete_and_stale_etag(mail: Webmail) -> None:
    mail.account(ALICE)
    web = mail.client(ALICE)
    cal = own_calendar(web)
    assert post(web, "/webmail/calendar/save", event_fields(cal, "Lunch")).status == 303
    url, etag = item_of(web, cal, "Lunch")
    item = re.search(r"item=([^&]+)", url)
    assert item
    name = unquote(item.group(1))
    form = [*event_fields(cal, "Long lunch"), ("cal", cal), ("item", name), ("etag", etag)]
    assert post(web, "/webmail/calendar/save", form).status == 303
    assert "Long lunch" in web.get(url).text
    # the form drawn from the old version may not overwrite the new one (If-Match)
    stale = post(web, "/webmail/calendar/save", [*event_fields(cal, "Short lunch"), ("cal", cal),
                                                ("item", name), ("etag", etag)])
    assert stale.status == 409
    assert "changed meanwhile" in stale.text
    _url, etag2 = item_of(web, cal, "Long lunch")
    gone = post(web, "/webmail/calendar/delete", [("cal", cal), ("item", name),
                                                  ("etag", etag2)])
    assert gone.status == 303
    assert "Long lunch" not in web.get(f"/webmail/calendar?view=day&date={DAY}").text
    assert web.get(url).status == 404


def test_bad_input_is_a_clear_4xx(mail: Webmail) -> None:
    mail.account(ALICE)
    web = mail.client(ALICE)
    cal = own_calendar(web)
    cases = [
        (event_fields(cal, ""), "needs a title"),
        (event_fields(cal, "x", start_date="2026-13-45"), "yyyy-mm-dd"),
        (event_fields(cal, "x", start_time="25:99"), "hh:mm"),
        (event_fields(cal, "x", end_time="09:00"), "after the start"),
        (event_fields(cal, "x", repeat="weekly", ends="count", count="0"), "between 1"),
        (event_fields(cal, "x", repeat="daily", interval="abc"), "whole number"),
        (event_fields(cal, "x", attendees="not an address"), "is not an address"),
        (event_fields(cal, "x", reminder="99999999"), "whole number"),
        (event_fields(cal, "x" * 600), "at most 500"),
        (event_fields(cal, "x", start_date="0001-01-01"), "a year from"),
        (event_fields(cal, "x", end_date="9999-12-31"), "a year from"),
        (event_fields(cal, "x", repeat="daily", ends="until", until="2000-01-01"),
         "before the first"),
        (event_fields(cal, "x", repeat="weekly", byday="XX"), "unknown weekday"),
    ]
    for fields, message in cases:
        page = post(web, "/webmail/calendar/save", fields)
        assert page.status == 422, (fields, page.status)
        assert message.lower() in page.text.lower(), message
    for path in ("/webmail/calendar/event?cal=abc&item=x", "/webmail/calendar/event?cal=1",
                 "/webmail/calendar/event?cal=999999&item=x.ics",
                 "/webmail/calendar/event?cal=%C2%B2&item=x",
                 f"/webmail/calendar/event?cal={cal}&item=missing.ics",
                 "/webmail/calendar/new?cal=-1"):
        assert web.get(path).status == 404, path
    for path in ("/webmail/calendar?view=bogus&date=junk", "/webmail/calendar?date=2026-02-31",
                 "/webmail/calendar?view=month&date=9999-12-31",
                 "/webmail/calendar?view=month&date=0001-01-01",
                 "/webmail/calendar?view=month&date=1900-01-01",
                 "/webmail/calendar?view=agenda&date=2199-12-31",
                 "/webmail/calendar?view=week&date=2199-12-31&toggles=1&on=x&on=-1"):
        assert web.get(path).status == 200, path
    # a calendar id the user may not see is the same 404 as a missing one
    assert post(web, "/webmail/calendar/save", event_fields("999999", "x")).status == 404
    assert post(web, "/webmail/calendar/save", event_fields(cal, "x"), ).status == 303
    no_csrf = web.request("POST", "/webmail/calendar/save",
                          urlencode(event_fields(cal, "y")).encode(),
                          {"Content-Type": "application/x-www-form-urlencoded"})
    assert no_csrf.status == 403


def test_read_only_shared_calendar(mail: Webmail) -> None:
    mail.account(ALICE)
    mail.account(BOB)
    web = mail.client(ALICE)
    cal = own_calendar(web)
    assert post(web, "/webmail/calendar/save", event_fields(cal, "Board meeting")).status == 303
    imap = mail.imap(ALICE)
    try:
        typ, _ = imap.setacl("Calendar", BOB, "lr")
        assert typ == "OK"
    finally:
        imap.logout()
    bob = mail.client(BOB)
    page = bob.get(f"/webmail/calendar?view=day&date={DAY.isoformat()}")
    assert "Board meeting" in page.text
    assert "(read-only)" in page.text
    _url, etag = item_of(web, cal, "Board meeting")
    url, none = item_of(bob, cal, "Board meeting")
    assert none == ""
    event = bob.get(url)
    assert "This calendar is read-only for you." in event.text
    assert "Save event" not in event.text and "Delete event" not in event.text
    name = parse_qs(urlsplit(url).query)["item"][0]
    refused = post(bob, "/webmail/calendar/save", [*event_fields(cal, "Hijacked"), ("cal", cal),
                                                  ("item", name), ("etag", etag)])
    assert refused.status == 403
    assert "does not allow this change" in refused.text
    refused = post(bob, "/webmail/calendar/delete", [("cal", cal), ("item", name),
                                                     ("etag", etag)])
    assert refused.status == 403
    new = post(bob, "/webmail/calendar/save", event_fields(cal, "Sneaky"))
    assert new.status == 403
    assert "Hijacked" not in web.get(f"/webmail/calendar?view=day&date={DAY}").text
    # the sharing screen works for the calendar (folder-id based) and is linked from the view
    assert f'/webmail/f/{cal}/sharing' in page.text
    # taking the share back: the calendar and its events are 404 for bob, as if missing
    imap = mail.imap(ALICE)
    try:
        assert imap.deleteacl("Calendar", BOB)[0] == "OK"
    finally:
        imap.logout()
    assert bob.get(url).status == 404
    assert f'id="cal-on-{cal}"' not in bob.get("/webmail/calendar").text
    assert post(bob, "/webmail/calendar/save", event_fields(cal, "Late")).status == 404


def test_times_follow_the_users_time_zone(mail: Webmail) -> None:
    carol, dave = "carol@calpages.test", "dave@calpages.test"
    mail.account(carol)
    mail.account(dave)
    web = mail.client(carol)
    web.get("/webmail/settings")
    saved = post(web, "/webmail/settings", [("density", "comfortable"),
                                            ("timezone", "America/New_York"),
                                            ("language", "en"), ("page_size", "50")])
    assert saved.status == 303, saved.text
    cal = own_calendar(web)
    page = web.get("/webmail/calendar")
    assert "Times in America/New_York" in page.text
    assert post(web, "/webmail/calendar/save", event_fields(cal, "Zoned")).status == 303
    view = web.get(f"/webmail/calendar?view=day&date={DAY.isoformat()}")
    assert re.search(r'cal-time">10:00<', view.text), view.text
    imap = mail.imap(carol)
    try:
        assert imap.setacl("Calendar", dave, "lr")[0] == "OK"
    finally:
        imap.logout()
    # dave (UTC) sees the same instant on his clock: 10:00 in New York is 14:00 or 15:00 UTC
    other = mail.client(dave).get(f"/webmail/calendar?view=day&date={DAY.isoformat()}")
    assert re.search(r'cal-time">1[45]:00<', other.text), other.text


def test_delete_one_occurrence(mail: Webmail) -> None:
    erin = "erin@calpages.test"
    mail.account(erin)
    web = mail.client(erin)
    cal = own_calendar(web)
    assert post(web, "/webmail/calendar/save", event_fields(
        cal, "Yoga", repeat="daily", ends="count", count="3")).status == 303
    agenda = f"/webmail/calendar?view=agenda&date={DAY.isoformat()}"
    links = re.findall(r'href="(/webmail/calendar/event\?[^"]*at=[^"]+)"', web.get(agenda).text)
    assert len(links) == 3
    second = links[1].replace("&amp;", "&")
    page = web.get(second)
    assert "Delete only the occurrence of" in page.text
    query = parse_qs(urlsplit(second).query)
    etag = re.search(r'name="etag" value="([^"]*)"', page.text)
    assert etag
    gone = post(web, "/webmail/calendar/delete", [
        ("cal", cal), ("item", query["item"][0]), ("etag", etag.group(1).replace("&#34;", '"')),
        ("only", query["at"][0])])
    assert gone.status == 303, gone.text
    assert web.get(agenda).text.count(">Yoga<") == 2
    junk = post(web, "/webmail/calendar/delete", [("cal", cal), ("item", query["item"][0]),
                                                  ("only", "not-a-date")])
    assert junk.status == 404


def test_sharing_screen_serves_calendars(mail: Webmail) -> None:
    """The sharing screen is folder-id based: alice shares her calendar from it (the same
    AclService as IMAP SETACL) and bob then sees it read-only."""
    frank, gina = "frank@calpages.test", "gina@calpages.test"
    mail.account(frank)
    mail.account(gina)
    web = mail.client(frank)
    cal = own_calendar(web)
    screen = web.get(f"/webmail/f/{cal}/sharing")
    assert screen.status == 200, screen.text
    assert "Open the calendar" in screen.text
    shared = post(web, f"/webmail/f/{cal}/sharing", [
        ("action", "set"), ("kind", "user"), ("who", gina), ("preset", "read")])
    assert shared.status == 303, shared.text
    view = mail.client(gina).get("/webmail/calendar")
    assert f'id="cal-on-{cal}"' in view.text and "(read-only)" in view.text
    # someone who cannot see the folder gets the same 404 as for a missing one
    assert mail.client(gina).get(f"/webmail/f/{int(cal) + 100000}/sharing").status == 404


def test_sharee_editing_keeps_the_organiser(mail: Webmail) -> None:
    from tests.support.dav import Dav

    hank, ida = "hank@calpages.test", "ida@calpages.test"
    mail.account(hank)
    mail.account(ida)
    web = mail.client(hank)
    cal = own_calendar(web)
    assert post(web, "/webmail/calendar/save", event_fields(
        cal, "Planning", attendees="guest@elsewhere.example")).status == 303
    imap = mail.imap(hank)
    try:
        assert imap.setacl("Calendar", ida, "lrite")[0] == "OK"
    finally:
        imap.logout()
    ida_web = mail.client(ida)
    url, etag = item_of(ida_web, cal, "Planning")
    name = parse_qs(urlsplit(url).query)["item"][0]
    saved = post(ida_web, "/webmail/calendar/save", [
        *event_fields(cal, "Planning v2", attendees="guest@elsewhere.example"),
        ("cal", cal), ("item", name), ("etag", etag)])
    assert saved.status == 303, saved.text
    status, _, body = Dav(mail.server).request(
        hank, "GET", f"/dav/calendars/{hank}/{cal}/{name}")
    assert status == 200
    text = body.decode().replace("\r\n ", "")
    assert "SUMMARY:Planning v2" in text
    assert f"ORGANIZER:mailto:{hank}" in text and f"mailto:{ida}" not in text


def test_move_one_occurrence(mail: Webmail) -> None:
    jo = "jo@calpages.test"
    mail.account(jo)
    web = mail.client(jo)
    cal = own_calendar(web)
    assert post(web, "/webmail/calendar/save", event_fields(
        cal, "Swim", repeat="daily", ends="count", count="3")).status == 303
    agenda = f"/webmail/calendar?view=agenda&date={DAY.isoformat()}"
    links = re.findall(r'href="(/webmail/calendar/event\?[^"]*at=[^"]+)"', web.get(agenda).text)
    assert len(links) == 3
    second = links[1].replace("&amp;", "&")
    page = web.get(second)
    assert "Only the occurrence of" in page.text and 'name="o_title" type="text" value="Swim"' \
        in page.text
    query = parse_qs(urlsplit(second).query)
    etag = re.search(r'name="etag" value="([^"]*)"', page.text)
    assert etag
    moved_day = (DAY + timedelta(days=1)).isoformat()
    fields = [("cal", cal), ("item", query["item"][0]),
              ("etag", etag.group(1).replace("&#34;", '"')), ("at", query["at"][0]),
              ("o_title", "Swim (late)"), ("o_start_date", moved_day), ("o_start_time", "18:00"),
              ("o_end_date", moved_day), ("o_end_time", "19:00")]
    bad = post(web, "/webmail/calendar/occurrence", [*fields[:5], ("o_start_date", moved_day),
                                                      ("o_start_time", "18:00"),
                                                      ("o_end_date", moved_day),
                                                      ("o_end_time", "17:00")])
    assert bad.status == 422 and "after the start" in bad.text
    done = post(web, "/webmail/calendar/occurrence", fields)
    assert done.status == 303, done.text
    text = web.get(agenda).text
    assert text.count(">Swim<") == 2 and text.count(">Swim (late)<") == 1
    assert "18:00" in text
    assert post(web, "/webmail/calendar/occurrence", [*fields[:3], ("at", "junk")]).status \
        == 404


def test_calendar_colour_set_by_a_client(mail: Webmail) -> None:
    from tests.support.dav import Dav

    kim = "kim@calpages.test"
    mail.account(kim)
    web = mail.client(kim)
    cal = own_calendar(web)
    body = ('<?xml version="1.0" encoding="utf-8"?><D:propertyupdate xmlns:D="DAV:" '
            'xmlns:A="http://apple.com/ns/ical/"><D:set><D:prop>'
            '<A:calendar-color>#AA3300FF</A:calendar-color></D:prop></D:set>'
            '</D:propertyupdate>')
    status, _, answer = Dav(mail.server).request(kim, "PROPPATCH",
                                                 f"/dav/calendars/{kim}/{cal}/", body)
    assert status == 207, answer
    page = web.get("/webmail/calendar")
    assert 'data-color="#AA3300"' in page.text
    # junk in the property is never drawn (the palette colours the calendar instead)
    status, _, _ = Dav(mail.server).request(kim, "PROPPATCH", f"/dav/calendars/{kim}/{cal}/",
                                            body.replace("#AA3300FF", "red;x:url(y)"))
    assert status == 207
    page = web.get("/webmail/calendar")
    assert 'data-color=""' in page.text and "url(y)" not in page.text


def test_add_only_calendar(mail: Webmail) -> None:
    """Issue 24's seed rule: with ``lri`` but no delete rights, creating works and editing
    (insert-new plus delete-old) is refused."""
    lea, max_ = "lea@calpages.test", "max@calpages.test"
    mail.account(lea)
    mail.account(max_)
    web = mail.client(lea)
    cal = own_calendar(web)
    imap = mail.imap(lea)
    try:
        assert imap.setacl("Calendar", max_, "lri")[0] == "OK"
    finally:
        imap.logout()
    other = mail.client(max_)
    view = other.get("/webmail/calendar")
    assert "(add only)" in view.text and 'id="cal-new"' in view.text
    form = other.get("/webmail/calendar/new")
    assert f'<option value="{cal}"' in form.text
    assert post(other, "/webmail/calendar/save", event_fields(cal, "Added by max")).status == 303
    url, _ = item_of(other, cal, "Added by max")
    page = other.get(url)
    assert "You may add events to this calendar but not change them." in page.text
    assert "Save event" not in page.text and "Delete event" not in page.text
    _url, etag = item_of(web, cal, "Added by max")
    name = parse_qs(urlsplit(url).query)["item"][0]
    refused = post(other, "/webmail/calendar/save", [
        *event_fields(cal, "Changed by max"), ("cal", cal), ("item", name), ("etag", etag)])
    assert refused.status == 403 and "does not allow this change" in refused.text
