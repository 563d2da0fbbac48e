"""Findings of the security review of the DAV items (each failed before its fix):

- a MOVE within one collection refused for lack of a right deleted the item (the rename was
  delete-then-put, and the put was refused);
- an add-only sharee (``li``) learnt a hidden item's name from no-uid-conflict's href;
- GET of a whole collection is streamed and complete.
"""

from __future__ import annotations

from tests.dav.test_rights import CAL, EVENT, _home, _setacl, _shared_segment
from tests.support.dav import Dav


def _own_calendar(dav: Dav, address: str) -> str:
    return dav.collection_href(address)


def test_a_refused_move_within_a_collection_changes_nothing(dav: Dav) -> None:
    alice = dav.account("mover-alice@example.test")
    bob = dav.account("mover-bob@example.test")
    own = _own_calendar(dav, alice)
    assert dav.request(alice, "PUT", own + "e1.ics", EVENT.format(uid="e1@t", summary="One"),
                       CAL)[0] == 201
    _setacl(dav, alice, "Calendar", bob, "lrte")  # may delete, may not insert
    seg = _shared_segment(_home(dav, bob), alice)
    assert seg is not None
    base = f"https://127.0.0.1:{dav.port}/dav/calendars/{bob}/{seg}/"
    status, _, body = dav.request(bob, "MOVE", f"/dav/calendars/{bob}/{seg}/e1.ics",
                                  headers={"Destination": base + "renamed.ics"})
    assert status == 403, body
    status, _, got = dav.request(alice, "GET", own + "e1.ics")
    assert status == 200 and b"SUMMARY:One" in got
    assert dav.request(alice, "GET", own + "renamed.ics")[0] == 404


def test_a_move_within_a_collection_is_one_step(dav: Dav) -> None:
    alice = dav.account("mover2@example.test")
    own = _own_calendar(dav, alice)
    data = EVENT.format(uid="m2@t", summary="Moved")
    assert dav.request(alice, "PUT", own + "a.ics", data, CAL)[0] == 201
    assert dav.request(alice, "PUT", own + "b.ics", EVENT.format(uid="other@t", summary="B"),
                       CAL)[0] == 201
    dest = f"https://127.0.0.1:{dav.port}{own}b.ics"
    # Overwrite: F and the target exists: 412, both stay
    assert dav.request(alice, "MOVE", own + "a.ics",
                       headers={"Destination": dest, "Overwrite": "F"})[0] == 412
    status, _, _ = dav.request(alice, "MOVE", own + "a.ics", headers={"Destination": dest})
    assert status == 204
    assert dav.request(alice, "GET", own + "a.ics")[0] == 404
    status, _, got = dav.request(alice, "GET", own + "b.ics")
    assert status == 200 and got == data.encode()
    # the UID moved with it: storing it again under a third name is a conflict
    status, _, err = dav.request(alice, "PUT", own + "c.ics", data, CAL)
    assert status == 403 and b"no-uid-conflict" in err and b"b.ics" in err


def test_an_add_only_sharee_does_not_learn_hidden_names(dav: Dav) -> None:
    alice = dav.account("secret-alice@example.test")
    bob = dav.account("secret-bob@example.test")
    own = _own_calendar(dav, alice)
    assert dav.request(alice, "PUT", own + "secret-meeting-with-lawyer.ics",
                       EVENT.format(uid="u1@t", summary="Secret"), CAL)[0] == 201
    _setacl(dav, alice, "Calendar", bob, "li")
    seg = _shared_segment(_home(dav, bob), alice)
    assert seg is not None
    status, _, err = dav.request(bob, "PUT", f"/dav/calendars/{bob}/{seg}/probe.ics",
                                 EVENT.format(uid="u1@t", summary="Probe"), CAL)
    assert status == 403 and b"no-uid-conflict" in err
    assert b"secret-meeting" not in err


def test_get_of_a_collection_streams_every_item(dav: Dav) -> None:
    alice = dav.account("export-alice@example.test")
    own = _own_calendar(dav, alice)
    for i in range(60):
        assert dav.request(alice, "PUT", own + f"x{i}.ics",
                           EVENT.format(uid=f"x{i}@t", summary=f"Item {i}"), CAL)[0] == 201
    status, head, body = dav.request(alice, "GET", own)
    assert status == 200 and head["content-type"].startswith("text/calendar")
    assert body.count(b"BEGIN:VEVENT") == 60 and body.count(b"BEGIN:VCALENDAR") == 1
    assert dav.request(alice, "HEAD", own)[0] == 200
