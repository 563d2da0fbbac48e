"""Contacts items over ActiveSync on a real server (web/eas/contacts.py): a CardDAV card
reaches the device; the device's edit is what CardDAV then serves, with the new value and
the old unmapped properties kept, in the vCard version it was stored as (a field the device
leaves out of its Change is cleared, as the device cleared it); a device's new contact is a
vCard CardDAV serves; a delete goes both ways."""

from __future__ import annotations

from typing import Any

import pytest

from postroom.protocols.eas.element import E
from postroom.web.eas import contacts
from tests.eas.pim_helpers import app, context, folder, kinds, run, sync_all, user
from tests.support.dav import Dav
from tests.support.server import RunningServer

CARDS = contacts.ITEM_CLASS  # the item class as Sync calls it

CARD = ("BEGIN:VCARD\r\nVERSION:{version}\r\nUID:{uid}\r\nFN:Ann Old\r\nN:Old;Ann;;;\r\n"
        "EMAIL:ann@x.test\r\nTEL;TYPE={cell}:+1 555\r\nX-PHONETIC-NOTE:keep me\r\n"
        "item1.X-ABLABEL:_$!<Friend>!$_\r\nEND:VCARD\r\n")


@pytest.fixture(scope="module")
def eas_extra() -> list[str]:
    """This module's limits for the shared ActiveSync server (tests/eas/conftest.py)."""
    return ["web.eas.require_provisioning=false"]


def book(dav: Dav, me: str) -> str:
    return dav.collection_href(me, "Contacts", "addressbooks")


@pytest.mark.parametrize(("version", "cell"), [("3.0", "CELL"), ("4.0", "cell")])
def test_a_device_edit_is_served_by_carddav_with_unmapped_properties_kept(
        srv: RunningServer, dav: Dav, version: str, cell: str) -> None:
    me = user(dav, "cards")
    href = book(dav, me) + "ann.vcf"
    status, _, _ = dav.request(me, "PUT", href, CARD.format(version=version, uid="ann-1",
                                                             cell=cell),
                               {"Content-Type": "text/vcard"})
    assert status == 201
    ctx = context(srv, me)
    where = folder(srv, me, "Contacts")
    state: dict[str, Any] = {}
    batch = sync_all(srv, contacts, ctx, where, state)
    assert [k for k, _ in kinds(batch)] == ["Add"]
    change = batch.changes[0]
    assert change.server_id == f"{where.server_id}:ann"
    assert change.data is not None and change.data.value("MobilePhoneNumber") == "+1 555"
    # a Change carries the whole item (MS-ASCMD §2.2.3.24): what the device has, edited
    edit = app(*[child for child in change.data.children
                 if child.name != "MobilePhoneNumber"],
               E("Contacts", "MobilePhoneNumber", text="+1 777"),
               E("Contacts", "JobTitle", text="Chief"))
    assert run(srv, CARDS.change(ctx, where, change.server_id, edit, state)) == 1
    status, _, body = dav.request(me, "GET", href)
    assert status == 200
    text = body.decode()
    assert f"VERSION:{version}" in text
    assert "+1 777" in text and "TITLE:Chief" in text and "+1 555" not in text
    assert "X-PHONETIC-NOTE:keep me" in text and "item1.X-ABLABEL" in text.replace(
        "ITEM1.", "item1.")
    assert "UID:ann-1" in text and "EMAIL:ann@x.test" in text
    # the device's own edit is not echoed back; the ServerId is stable across the edit
    assert kinds(sync_all(srv, contacts, ctx, where, state)) == []
    # a field the device leaves out of a Change was cleared on it; unmapped ones stay
    without_email = app(*[child for child in edit.children if child.name != "Email1Address"])
    assert run(srv, CARDS.change(ctx, where, change.server_id, without_email, state)) == 1
    text = dav.request(me, "GET", href)[2].decode()
    assert "EMAIL" not in text and "X-PHONETIC-NOTE:keep me" in text and "+1 777" in text


def test_a_device_contact_is_a_carddav_card_and_deletes_go_both_ways(
        srv: RunningServer, dav: Dav) -> None:
    me = user(dav, "newcard")
    ctx = context(srv, me)
    where = folder(srv, me, "Contacts")
    state: dict[str, Any] = {}
    new = app(E("Contacts", "FirstName", text="Cy"), E("Contacts", "LastName", text="Press"),
              E("Contacts", "Email1Address", text="cy@x.test"))
    status, sid = run(srv, CARDS.add(ctx, where, new, state))
    assert status == 1 and sid is not None
    status, _, body = dav.request(me, "PROPFIND", book(dav, me), "", {"Depth": "1"})
    assert status == 207
    name = sid.split(":", 1)[1] + ".vcf"
    assert name.encode() in body
    status, _, card = dav.request(me, "GET", book(dav, me) + name)
    assert status == 200 and b"FN:Cy Press" in card and b"EMAIL:cy@x.test" in card
    assert run(srv, CARDS.delete(ctx, where, sid, state, to_trash=True)) == 1
    assert dav.request(me, "GET", book(dav, me) + name)[0] == 404
    # a card deleted over CardDAV is a Delete for the device
    href = book(dav, me) + "gone.vcf"
    assert dav.request(me, "PUT", href, CARD.format(version="3.0", uid="gone", cell="CELL"),
                       {"Content-Type": "text/vcard"})[0] == 201
    added, = kinds(sync_all(srv, contacts, ctx, where, state))
    assert added[0] == "Add"
    assert dav.request(me, "DELETE", href)[0] == 204
    assert kinds(sync_all(srv, contacts, ctx, where, state)) == [("Delete", added[1])]
