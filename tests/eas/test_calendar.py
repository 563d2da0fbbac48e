"""Calendar items over ActiveSync on a real server (web/eas/calendar.py over
services/eas/pim.py over services/dav/): one event, three protocols. A device's event with
recurrence and exceptions is what a CalDAV client reads; a CalDAV event reaches the device's
next Sync; a device's edit keeps what it cannot express; a read-only share refuses the
device's changes with the Sync statuses of web/eas/pim/items.py and re-sends the server's
version; FilterType windows."""

from __future__ import annotations

from typing import Any

import icalendar
import pytest

from postroom.protocols.eas.element import E
from postroom.web.eas import calendar
from postroom.web.eas.classes import SyncOptions
from postroom.web.eas.pim import dates
from tests.eas.pim_helpers import app, context, folder, kinds, run, sync_all, user
from tests.support.dav import Dav
from tests.support.server import RunningServer

CAL = calendar.ITEM_CLASS  # the item class as Sync calls it

C = "Calendar"


@pytest.fixture(scope="module")
def eas_extra() -> list[str]:
    """This module's limits for the shared ActiveSync server (tests/eas/conftest.py)."""
    return ["web.eas.require_provisioning=false"]


def caldav_calendar(dav: Dav, address: str, name: str = "Calendar") -> Any:
    return next(c for c in dav.caldav(address).principal().calendars()
                if c.get_display_name() == name)


def event(uid: str, summary: str, start: str = "20300310T090000Z",
          end: str = "20300310T100000Z", extra: str = "") -> str:
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\n"
            f"UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:{start}\r\nDTEND:{end}\r\n"
            f"SUMMARY:{summary}\r\n{extra}END:VEVENT\r\nEND:VCALENDAR\r\n")


def c(name: str, text: str | int | None = None, *children: Any) -> Any:
    return E(C, name, *children, text=text)


def test_a_device_event_with_recurrence_and_exceptions_is_read_by_caldav(
        srv: RunningServer, dav: Dav) -> None:
    me = user(dav, "phone")
    ctx = context(srv, me)
    cal = folder(srv, me, "Calendar")
    phone_event = app(
        c("Timezone", dates.timezone_blob("Europe/Berlin")),
        c("StartTime", "20301202T090000Z"), c("EndTime", "20301202T093000Z"),
        c("Subject", "Standup"), c("UID", "phone-standup-1"),
        c("Recurrence", None, c("Type", 0), c("Occurrences", 5)),
        c("Exceptions", None,
          c("Exception", None, c("Deleted", 1), c("ExceptionStartTime", "20301203T090000Z")),
          c("Exception", None, c("ExceptionStartTime", "20301204T090000Z"),
            c("StartTime", "20301204T130000Z"), c("EndTime", "20301204T133000Z"),
            c("Subject", "Standup (late)"))))
    state: dict[str, Any] = {}
    status, sid = run(srv, CAL.add(ctx, cal, phone_event, state))
    assert status == 1 and sid is not None and sid.startswith(f"{cal.server_id}:")
    assert len(sid) <= 64 and state["items"][sid]
    fetched = caldav_calendar(dav, me).event_by_uid("phone-standup-1")
    data = fetched.data if isinstance(fetched.data, str) else fetched.data.decode()
    assert "RRULE:FREQ=DAILY;COUNT=5" in data
    assert "EXDATE;TZID=Europe/Berlin:20301203T100000" in data
    assert "RECURRENCE-ID;TZID=Europe/Berlin:20301204T100000" in data
    assert "Standup (late)" in data
    # the device's own add is not echoed back
    assert kinds(sync_all(srv, calendar, ctx, cal, state)) == []


def test_a_caldav_event_reaches_the_next_sync_and_its_edits_and_delete_follow(
        srv: RunningServer, dav: Dav) -> None:
    me = user(dav, "sync")
    ctx = context(srv, me)
    cal = folder(srv, me, "Calendar")
    state: dict[str, Any] = {}
    assert kinds(sync_all(srv, calendar, ctx, cal, state)) == []
    remote = caldav_calendar(dav, me)
    remote.save_event(event("dav-1@test", "From CalDAV"))
    first = sync_all(srv, calendar, ctx, cal, state)
    assert [k for k, _ in kinds(first)] == ["Add"]
    data = first.changes[0].data
    assert data is not None and data.value("Subject") == "From CalDAV"
    assert data.value("StartTime") == "20300310T090000Z" and data.value("UID") == "dav-1@test"
    sid = first.changes[0].server_id
    # an edit over CalDAV: a Change with the same ServerId (the store's UID changed, the id not)
    item = remote.event_by_uid("dav-1@test")
    item.data = event("dav-1@test", "Renamed")
    item.save()
    assert kinds(sync_all(srv, calendar, ctx, cal, state)) == [("Change", sid)]
    remote.event_by_uid("dav-1@test").delete()
    assert kinds(sync_all(srv, calendar, ctx, cal, state)) == [("Delete", sid)]


def test_a_device_edit_keeps_the_x_property_and_alarm_it_did_not_send(
        srv: RunningServer, dav: Dav) -> None:
    me = user(dav, "edit")
    ctx = context(srv, me)
    cal = folder(srv, me, "Calendar")
    extra = ("X-POSTROOM-TEST:keep me\r\nBEGIN:VALARM\r\nACTION:AUDIO\r\n"
             "TRIGGER:-PT2H\r\nEND:VALARM\r\n")
    caldav_calendar(dav, me).save_event(event("edit-1@test", "Before", extra=extra))
    state: dict[str, Any] = {}
    (sid, _), = [(ch.server_id, ch) for ch in sync_all(srv, calendar, ctx, cal, state).changes]
    status = run(srv, CAL.change(ctx, cal, sid, app(c("Subject", "After")), state))
    assert status == 1
    data = caldav_calendar(dav, me).event_by_uid("edit-1@test").data
    data = data if isinstance(data, str) else data.decode()
    assert "SUMMARY:After" in data and "X-POSTROOM-TEST:keep me" in data
    vevent = next(iter(icalendar.Calendar.from_ical(data).walk("VEVENT")))
    triggers = sorted(a.get("TRIGGER").dt.total_seconds() for a in vevent.walk("VALARM"))
    assert triggers == [-7200]
    # the device's own change is not echoed back
    assert kinds(sync_all(srv, calendar, ctx, cal, state)) == []


def share(dav: Dav, owner: str, name: str, who: str, rights: str) -> None:
    imap = dav.imap(owner)
    try:
        assert imap._simple_command("SETACL", name, who, rights)[0] == "OK"
    finally:
        imap.logout()


def test_a_read_only_calendar_refuses_device_changes_and_resends_the_server_version(
        srv: RunningServer, dav: Dav) -> None:
    alice, bob = user(dav, "owner"), user(dav, "reader")
    caldav_calendar(dav, alice).save_event(event("shared-1@test", "Alice's"))
    share(dav, alice, "Calendar", bob, "lr")
    ctx = context(srv, bob)
    cal = folder(srv, bob, f"Other Users/{alice}/Calendar")
    assert cal.read_only
    state: dict[str, Any] = {}
    (sid, _kind), = [(ch.server_id, ch.kind) for ch in
                     sync_all(srv, calendar, ctx, cal, state).changes]
    # Change refused: Status 7 (conflict, the server wins) and its version goes back
    assert run(srv, CAL.change(ctx, cal, sid, app(c("Subject", "Bob's")), state)) == 7
    assert kinds(sync_all(srv, calendar, ctx, cal, state)) == [("Change", sid)]
    # Delete refused: Status 7, and the item comes back as an Add
    assert run(srv, CAL.delete(ctx, cal, sid, state, to_trash=False)) == 7
    assert kinds(sync_all(srv, calendar, ctx, cal, state)) == [("Add", sid)]
    # Add refused: Status 6, nothing stored
    new = app(c("StartTime", "20300101T090000Z"), c("EndTime", "20300101T100000Z"),
              c("Subject", "Sneaky"))
    assert run(srv, CAL.add(ctx, cal, new, state)) == (6, None)
    summaries = [str(e.icalendar_component.get("SUMMARY"))
                 for e in caldav_calendar(dav, alice).events()]
    assert summaries == ["Alice's"]
    # with i: the Add works, a Change is still refused (an edit needs the delete rights)
    share(dav, alice, "Calendar", bob, "lri")
    status, added = run(srv, CAL.add(ctx, cal, new, state))
    assert status == 1 and added is not None
    assert run(srv, CAL.change(ctx, cal, sid, app(c("Subject", "Bob's")), state)) == 7
    assert sorted(str(e.icalendar_component.get("SUMMARY"))
                  for e in caldav_calendar(dav, alice).events()) == ["Alice's", "Sneaky"]


def test_filter_type_leaves_out_events_that_ended_before_the_window(
        srv: RunningServer, dav: Dav) -> None:
    me = user(dav, "filter")
    ctx = context(srv, me)
    cal = folder(srv, me, "Calendar")
    remote = caldav_calendar(dav, me)
    remote.save_event(event("old@test", "Long ago", "20200101T090000Z", "20200101T100000Z"))
    remote.save_event(event("future@test", "Ahead"))
    remote.save_event(event("weekly-old@test", "Every week since 2020", "20200106T090000Z",
                            "20200106T100000Z", "RRULE:FREQ=WEEKLY\r\n"))
    state: dict[str, Any] = {}
    two_weeks = sync_all(srv, calendar, ctx, cal, state, SyncOptions(filter_type=4))
    subjects = sorted(ch.data.value("Subject") or "" for ch in two_weeks.changes
                      if ch.data is not None)
    assert subjects == ["Ahead", "Every week since 2020"]
    everything = sync_all(srv, calendar, ctx, cal, {}, SyncOptions(filter_type=0))
    assert len(everything.changes) == 3


def test_the_window_bounds_a_batch_and_says_more(srv: RunningServer, dav: Dav) -> None:
    me = user(dav, "window")
    ctx = context(srv, me)
    cal = folder(srv, me, "Calendar")
    remote = caldav_calendar(dav, me)
    for n in range(5):
        remote.save_event(event(f"w{n}@test", f"E{n}"))
    state: dict[str, Any] = {}
    assert run(srv, CAL.estimate(ctx, cal, state, SyncOptions())) == 5
    first = sync_all(srv, calendar, ctx, cal, state, window=3)
    assert len(first.changes) == 3 and first.more
    second = sync_all(srv, calendar, ctx, cal, state, window=3)
    assert len(second.changes) == 2 and not second.more
    assert run(srv, CAL.estimate(ctx, cal, state, SyncOptions())) == 0
    sid = first.changes[0].server_id
    fetched = run(srv, CAL.fetch(ctx, cal, sid, SyncOptions()))
    assert not isinstance(fetched, int) and (fetched.value("Subject") or "").startswith("E")
    assert run(srv, CAL.fetch(ctx, cal, f"{cal.server_id}:nope", SyncOptions())) == 8
    assert run(srv, CAL.change(ctx, cal, f"{cal.server_id}:nope", app(), state)) == 8
    assert run(srv, CAL.delete(ctx, cal, sid, state, to_trash=True)) == 1
    assert remote.events() and len(remote.events()) == 4


def test_malformed_device_events_are_status_6_and_store_nothing(
        srv: RunningServer, dav: Dav) -> None:
    me = user(dav, "bad")
    ctx = context(srv, me)
    cal = folder(srv, me, "Calendar")
    state: dict[str, Any] = {}
    for bad in (app(c("Subject", "no start")),
                app(c("StartTime", "yesterday"), c("Subject", "garbage time")),
                app(c("StartTime", "20300101T090000Z"),
                    c("Recurrence", None, c("Type", 9))),
                app(c("Timezone", "not base64 at all!"), c("StartTime", "20301301T090000Z"))):
        assert run(srv, CAL.add(ctx, cal, bad, state)) == (6, None)
    assert caldav_calendar(dav, me).events() == []
    assert state.get("items", {}) == {}
    # lenient where a phone is sloppy: a weekly rule without days repeats on the start's day
    sloppy = app(c("Timezone", "not base64 at all!"), c("StartTime", "20300101T090000Z"),
                 c("Recurrence", None, c("Type", 1), c("DayOfWeek", "many")))
    status, _sid = run(srv, CAL.add(ctx, cal, sloppy, state))
    assert status == 1


def test_a_16x_delete_of_one_occurrence_is_an_exdate(srv: RunningServer, dav: Dav) -> None:
    me = user(dav, "instance")
    ctx = context(srv, me, "16.1")
    cal = folder(srv, me, "Calendar")
    state: dict[str, Any] = {}
    series = app(c("StartTime", "20301202T090000Z"), c("EndTime", "20301202T093000Z"),
                 c("Subject", "Daily"), c("Recurrence", None, c("Type", 0),
                                           c("Occurrences", 3)))
    status, sid = run(srv, CAL.add(ctx, cal, series, state))
    assert status == 1 and sid is not None
    assert run(srv, calendar.delete_instance(ctx, cal, sid, "20301203T090000Z", state)) == 1
    data = caldav_calendar(dav, me).events()[0].data
    data = data if isinstance(data, str) else data.decode()
    assert "EXDATE:20301203T090000Z" in data and "RRULE:FREQ=DAILY;COUNT=3" in data
    assert run(srv, calendar.delete_instance(ctx, cal, sid, "not a date", state)) == 6
    single = app(c("StartTime", "20301202T090000Z"), c("Subject", "Once"))
    _status, once = run(srv, CAL.add(ctx, cal, single, state))
    assert once is not None
    assert run(srv, calendar.delete_instance(ctx, cal, once, "20301202T090000Z", state)) == 6
    assert kinds(sync_all(srv, calendar, ctx, cal, state)) == []


def test_a_device_event_is_shown_in_webmail(srv: RunningServer, dav: Dav) -> None:
    from datetime import date, timedelta
    me = user(dav, "web")
    ctx = context(srv, me)
    cal = folder(srv, me, "Calendar")
    day = date.today() + timedelta(days=2)
    stamp = day.strftime("%Y%m%d")
    status, _sid = run(srv, CAL.add(ctx, cal, app(
        c("StartTime", f"{stamp}T100000Z"), c("EndTime", f"{stamp}T110000Z"),
        c("Subject", "Booked on the phone")), {}))
    assert status == 1
    page = dav.client(me).get(f"/webmail/calendar?view=agenda&date={day.isoformat()}")
    assert page.status == 200 and "Booked on the phone" in page.text


def test_a_device_re_adding_an_item_it_has_gets_that_item_not_a_duplicate(
        srv: RunningServer, dav: Dav) -> None:
    me = user(dav, "readd")
    ctx = context(srv, me)
    cal = folder(srv, me, "Calendar")
    caldav_calendar(dav, me).save_event(event("again@test", "Original"))
    state: dict[str, Any] = {}
    (_kind, sid), = kinds(sync_all(srv, calendar, ctx, cal, state))
    again = app(c("UID", "again@test"), c("StartTime", "20300310T090000Z"),
                c("EndTime", "20300310T100000Z"), c("Subject", "Re-sent"))
    assert run(srv, CAL.add(ctx, cal, again, {})) == (1, sid)
    listed = caldav_calendar(dav, me).events()
    assert [str(e.icalendar_component.get("SUMMARY")) for e in listed] == ["Re-sent"]
