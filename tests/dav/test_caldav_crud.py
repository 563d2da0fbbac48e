"""CalDAV with the caldav library: create, read, update, delete of events and todos,
MKCALENDAR, time-range searches over recurring events (RFC 4791 §7.8, §9.9), and the
byte-identical store (GET returns what PUT stored, with the same ETag)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tests.support.dav import Dav

EVENT = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//Postroom tests//EN\r
BEGIN:VEVENT\r
UID:{uid}\r
DTSTAMP:20260101T000000Z\r
DTSTART:{start}\r
DTEND:{end}\r
SUMMARY:{summary}\r
{extra}END:VEVENT\r
END:VCALENDAR\r
"""

TODO = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//Postroom tests//EN\r
BEGIN:VTODO\r
UID:{uid}\r
DTSTAMP:20260101T000000Z\r
SUMMARY:{summary}\r
END:VTODO\r
END:VCALENDAR\r
"""


def event(uid: str, summary: str = "Meeting", start: str = "20260310T090000Z",
          end: str = "20260310T100000Z", extra: str = "") -> str:
    return EVENT.format(uid=uid, summary=summary, start=start, end=end, extra=extra)


def _calendar(dav: Dav, address: str, name: str = "Calendar") -> Any:
    principal = dav.caldav(address).principal()
    return next(c for c in principal.calendars() if c.get_display_name() == name)


def test_event_create_read_update_delete(dav: Dav) -> None:
    alice = dav.account("alice@example.test")
    cal = _calendar(dav, alice)
    created = cal.save_event(event("crud-1@test", "First"))
    fetched = cal.event_by_uid("crud-1@test")
    assert "First" in fetched.data
    fetched.icalendar_component["summary"] = "Second"
    fetched.save()
    again = cal.event_by_uid("crud-1@test")
    assert "Second" in again.data and "First" not in again.data
    assert len([e for e in cal.events() if "crud-1@test" in e.data]) == 1
    again.delete()
    assert not [e for e in cal.events() if "crud-1@test" in e.data]
    del created


def test_todo_create_and_list(dav: Dav) -> None:
    alice = dav.account("alice@example.test")
    tasks = _calendar(dav, alice, "Tasks")
    tasks.save_todo(TODO.format(uid="todo-1@test", summary="Buy milk"))
    assert any("Buy milk" in t.data for t in tasks.todos())
    tasks.todo_by_uid("todo-1@test").delete()
    assert not any("Buy milk" in t.data for t in tasks.todos())


def test_get_returns_the_put_bytes_and_etag(dav: Dav) -> None:
    alice = dav.account("alice@example.test")
    data = event("bytes-1@test", "Exact  bytes", extra="X-ODD:  spaces kept \r\n").encode()
    path = "/dav/calendars/alice@example.test/" + _segment(dav, alice) + "/bytes-1.ics"
    status, headers, _ = dav.request(alice, "PUT", path, data,
                                     {"Content-Type": "text/calendar; charset=utf-8"})
    assert status == 201, _
    etag = headers["etag"]
    status, got_headers, body = dav.request(alice, "GET", path)
    assert status == 200 and body == data
    assert got_headers["etag"] == etag
    assert got_headers["content-type"].startswith("text/calendar")
    status, headers, _ = dav.request(alice, "PUT", path, data.replace(b"Exact", b"Other"),
                                     {"Content-Type": "text/calendar", "If-Match": etag})
    assert status == 204 and headers["etag"] != etag
    status, _, _ = dav.request(alice, "DELETE", path)
    assert status == 204
    status, _, _ = dav.request(alice, "GET", path)
    assert status == 404


def _segment(dav: Dav, address: str, name: str = "Calendar") -> str:
    return str(_calendar(dav, address, name).url).rstrip("/").rsplit("/", 1)[1]


def test_make_calendar_and_delete_it(dav: Dav) -> None:
    carol = dav.account("carol@example.test")
    principal = dav.caldav(carol).principal()
    made = principal.make_calendar(name="Holidays", cal_id="holidays")
    assert str(made.url).endswith("/dav/calendars/carol%40example.test/holidays/") or \
        str(made.url).endswith("/dav/calendars/carol@example.test/holidays/")
    names = [c.get_display_name() for c in principal.calendars()]
    assert "Holidays" in names
    made.save_event(event("hol-1@test", "Party"))
    assert len(made.events()) == 1
    made.delete()
    assert "Holidays" not in [c.get_display_name() for c in principal.calendars()]
    # the folder is gone over IMAP too
    imap = dav.imap(carol)
    try:
        typ, data = imap.list()
        assert typ == "OK" and not any(b"Holidays" in line for line in data
                                       if isinstance(line, bytes))
    finally:
        imap.logout()


def test_time_range_search_expands_recurring_events(dav: Dav) -> None:
    dave = dav.account("dave@example.test")
    cal = _calendar(dav, dave)
    cal.save_event(event("weekly@test", "Weekly", "20260105T090000Z", "20260105T100000Z",
                         "RRULE:FREQ=WEEKLY;COUNT=10\r\n"))
    cal.save_event(event("single@test", "Single", "20260401T090000Z", "20260401T100000Z"))
    cal.save_event(event("far@test", "Far away", "20270101T090000Z", "20270101T100000Z"))
    start = datetime(2026, 2, 1, tzinfo=UTC)
    end = datetime(2026, 2, 15, tzinfo=UTC)
    found = cal.search(start=start, end=end, event=True, expand=True)
    summaries = sorted(str(e.icalendar_component["summary"]) for e in found)
    assert summaries == ["Weekly", "Weekly"]  # 2 Feb and 9 Feb
    starts = sorted(e.icalendar_component["dtstart"].dt for e in found)
    assert [s.day for s in starts] == [2, 9]
    plain = cal.search(start=datetime(2026, 3, 25, tzinfo=UTC),
                       end=datetime(2026, 4, 5, tzinfo=UTC), event=True)
    # COUNT=10 from 5 January ends on 9 March: only the single event is there
    assert sorted(str(e.icalendar_component["summary"]) for e in plain) == ["Single"]
    unexpanded = cal.search(start=datetime(2026, 3, 1, tzinfo=UTC),
                            end=datetime(2026, 3, 31, tzinfo=UTC), event=True)
    assert sorted(str(e.icalendar_component["summary"]) for e in unexpanded) == ["Weekly"]
    assert "RRULE" in unexpanded[0].data
    none = cal.search(start=datetime(2026, 6, 1, tzinfo=UTC),
                      end=datetime(2026, 7, 1, tzinfo=UTC), event=True)
    assert none == []


def test_items_are_well_formed_messages_over_imap(dav: Dav) -> None:
    gina = dav.account("gina@example.test")
    data = event("imap-1@test", "Seen from IMAP").encode()
    path = "/dav/calendars/gina@example.test/" + _segment(dav, gina) + "/imap-1.ics"
    assert dav.request(gina, "PUT", path, data, {"Content-Type": "text/calendar"})[0] == 201
    imap = dav.imap(gina)
    try:
        typ, _ = imap.select("Calendar", readonly=True)
        assert typ == "OK"
        typ, got = imap.fetch("1", "(ENVELOPE BODYSTRUCTURE BODY.PEEK[TEXT])")
        assert typ == "OK"
        head = got[0][0] if isinstance(got[0], tuple) else got[0]
        assert isinstance(head, bytes)
        assert b'"Seen from IMAP"' in head
        assert b'"text" "calendar"' in head.lower()
        assert got[0][1] == data  # type: ignore[index]
    finally:
        imap.logout()


def test_move_and_copy_between_calendars(dav: Dav) -> None:
    hank = dav.account("hank@example.test")
    principal = dav.caldav(hank).principal()
    other = principal.make_calendar(name="Other", cal_id="other")
    home = "/dav/calendars/hank@example.test/"
    src = home + _segment(dav, hank) + "/m.ics"
    data = event("move-1@test", "Moving")
    assert dav.request(hank, "PUT", src, data, {"Content-Type": "text/calendar"})[0] == 201
    dst = f"https://127.0.0.1:{dav.port}{home}other/m.ics"
    status, headers, _ = dav.request(hank, "MOVE", src, "", {"Destination": dst})
    assert status == 201 and headers["etag"]
    assert dav.request(hank, "GET", src)[0] == 404
    status, _, body = dav.request(hank, "GET", home + "other/m.ics")
    assert status == 200 and body == data.encode()
    # renaming inside one collection keeps the UID
    status, _, _ = dav.request(hank, "MOVE", home + "other/m.ics", "",
                               {"Destination": home + "other/renamed.ics"})
    assert status == 201
    assert len(other.events()) == 1
    # COPY to a collection already holding the UID is refused with no-uid-conflict
    assert dav.request(hank, "PUT", src, data, {"Content-Type": "text/calendar"})[0] == 201
    status, _, body = dav.request(hank, "COPY", src, "",
                                  {"Destination": home + "other/copy.ics"})
    assert status == 403 and b"no-uid-conflict" in body
    status, _, _ = dav.request(hank, "COPY", src, "", {"Destination": home + "other/renamed.ics",
                                                       "Overwrite": "F"})
    assert status == 412
    status, _, _ = dav.request(hank, "MOVE", src, "",
                               {"Destination": "/dav/addressbooks/hank@example.test/x/m.ics"})
    assert status == 403


def test_concurrent_creates_one_wins(dav: Dav) -> None:
    import concurrent.futures
    ivy = dav.account("ivy@example.test")
    path = "/dav/calendars/ivy@example.test/" + _segment(dav, ivy) + "/race.ics"

    def attempt(n: int) -> int:
        return dav.request(ivy, "PUT", path, event("race@test", f"Racer {n}"),
                           {"Content-Type": "text/calendar", "If-None-Match": "*"})[0]
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        results = sorted(pool.map(attempt, range(6)))
    assert results.count(201) == 1 and results.count(412) == 5, results


def test_concurrent_same_uid_under_two_names_one_wins(dav: Dav) -> None:
    import concurrent.futures
    jo = dav.account("jo@example.test")
    base = "/dav/calendars/jo@example.test/" + _segment(dav, jo) + "/"

    def attempt(n: int) -> int:
        return dav.request(jo, "PUT", f"{base}same{n}.ics", event("same@test", f"Twin {n}"),
                           {"Content-Type": "text/calendar"})[0]
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        results = sorted(pool.map(attempt, range(6)))
    assert results.count(201) == 1 and results.count(403) == 5, results


def test_a_deleted_default_calendar_stays_deleted(dav: Dav) -> None:
    kay = dav.account("kay@example.test")
    principal = dav.caldav(kay).principal()
    tasks = next(c for c in principal.calendars() if c.get_display_name() == "Tasks")
    tasks.delete()
    again = dav.caldav(kay).principal()
    assert sorted(str(c.get_display_name()) for c in again.calendars()) == ["Calendar",
                                                                           "Notes"]
