"""Tasks items over ActiveSync on a real server (web/eas/tasks.py): a device's task is a
VTODO CalDAV serves; FilterType 8 sends incomplete tasks only, and completing one on the
device is a VTODO with STATUS:COMPLETED."""

from __future__ import annotations

from typing import Any

import pytest

from postroom.protocols.eas.element import E
from postroom.web.eas import tasks
from postroom.web.eas.classes import SyncOptions
from tests.eas.pim_helpers import app, context, folder, kinds, run, sync_all, user
from tests.support.dav import Dav
from tests.support.server import RunningServer

TODO = tasks.ITEM_CLASS  # the item class as Sync calls it

T = "Tasks"


@pytest.fixture(scope="module")
def eas_extra() -> list[str]:
    """This module's limits for the shared ActiveSync server (tests/eas/conftest.py)."""
    return ["web.eas.require_provisioning=false"]


def todo_list(dav: Dav, me: str) -> Any:
    return next(c for c in dav.caldav(me).principal().calendars()
                if c.get_display_name() == "Tasks")


def todo(uid: str, summary: str, done: bool = False) -> str:
    status = "STATUS:COMPLETED\r\nCOMPLETED:20260101T000000Z\r\n" if done else ""
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VTODO\r\n"
            f"UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:{summary}\r\n{status}"
            "END:VTODO\r\nEND:VCALENDAR\r\n")


def test_a_device_task_is_a_vtodo_and_completing_it_is_seen_by_caldav(
        srv: RunningServer, dav: Dav) -> None:
    me = user(dav, "tasks")
    ctx = context(srv, me)
    where = folder(srv, me, "Tasks")
    state: dict[str, Any] = {}
    new = app(E(T, "Subject", text="Buy milk"),
              E(T, "UtcDueDate", text="2030-12-10T17:00:00.000Z"),
              E(T, "DueDate", text="2030-12-10T17:00:00.000Z"), E(T, "Importance", text="2"))
    status, sid = run(srv, TODO.add(ctx, where, new, state))
    assert status == 1 and sid is not None
    listed = todo_list(dav, me).todos()
    assert [str(t.icalendar_component.get("SUMMARY")) for t in listed] == ["Buy milk"]
    assert run(srv, TODO.change(ctx, where, sid, app(E(T, "Complete", text="1")),
                                 state)) == 1
    listed = todo_list(dav, me).todos(include_completed=True)
    assert str(listed[0].icalendar_component.get("STATUS")) == "COMPLETED"


def test_filter_8_sends_incomplete_tasks_only(srv: RunningServer, dav: Dav) -> None:
    me = user(dav, "incomplete")
    remote = todo_list(dav, me)
    remote.save_todo(todo("open@test", "Open"))
    remote.save_todo(todo("done@test", "Done", done=True))
    ctx = context(srv, me)
    where = folder(srv, me, "Tasks")
    state: dict[str, Any] = {}
    batch = sync_all(srv, tasks, ctx, where, state, SyncOptions(filter_type=8))
    assert [ch.data.value("Subject") for ch in batch.changes if ch.data is not None] == ["Open"]
    every = sync_all(srv, tasks, ctx, where, {}, SyncOptions(filter_type=0))
    assert len(every.changes) == 2
    # completing the open one over CalDAV: it leaves the device's filtered view
    item = remote.todo_by_uid("open@test")
    item.data = todo("open@test", "Open", done=True)
    item.save()
    assert [k for k, _ in kinds(sync_all(srv, tasks, ctx, where, state,
                                         SyncOptions(filter_type=8)))] == ["SoftDelete"]


def test_a_task_completed_on_the_device_leaves_the_incomplete_view(
        srv: RunningServer, dav: Dav) -> None:
    me = user(dav, "complete")
    todo_list(dav, me).save_todo(todo("mine@test", "Mine"))
    ctx = context(srv, me)
    where = folder(srv, me, "Tasks")
    state: dict[str, Any] = {}
    incomplete = SyncOptions(filter_type=8)
    (kind, sid), = kinds(sync_all(srv, tasks, ctx, where, state, incomplete))
    assert kind == "Add"
    # an unchanged list is judged from the state: nothing to send, nothing to read
    assert kinds(sync_all(srv, tasks, ctx, where, state, incomplete)) == []
    assert state["open"] and not state.get("done")
    assert run(srv, TODO.change(ctx, where, sid, app(E(T, "Subject", text="Mine"),
                                                       E(T, "Complete", text="1")),
                                 state)) == 1
    assert kinds(sync_all(srv, tasks, ctx, where, state, incomplete)) == [("SoftDelete", sid)]
    assert state["done"]
