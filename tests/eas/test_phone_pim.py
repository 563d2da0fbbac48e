"""Contacts and calendar as a phone does it, over HTTPS and WBXML (the PyPI client
pyactivesync, EAS 16.1): a phone's new contact is a CardDAV card, a phone's edit is what
CardDAV serves with the unmapped properties kept, and a CalDAV event arrives on the phone's
next Sync. Skipped until the codec (part 1), the sync states and Sync (part 4) exist."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import Any

import pytest

from postroom.protocols.eas.element import E
from tests.eas.pim_helpers import eas_of, user
from tests.support.dav import Dav
from tests.support.server import RunningServer


@pytest.fixture(scope="module")
def eas_extra() -> list[str]:
    """This module's limits for the shared ActiveSync server (tests/eas/conftest.py)."""
    return ["web.eas.require_provisioning=false"]


def ready(srv: RunningServer) -> bool:
    """The request line, WBXML codec, sync states and the Sync command are there."""
    from postroom.protocols.eas import request as request_line
    from postroom.protocols.eas import wbxml
    from postroom.services.eas.model import Device
    try:
        importlib.import_module("postroom.web.eas.sync")
        request_line.parse("Cmd=Sync&User=u&DeviceId=probe&DeviceType=probe")
        wbxml.encode(E("AirSync", "Sync"))
        srv.call(eas_of(srv).states.current(Device(0, 0, "", "probe", "probe"), "probe"))
    except (ImportError, NotImplementedError):
        return False
    return True


@pytest.fixture
def phone(srv: RunningServer, dav: Dav) -> Iterator[tuple[Any, str]]:
    if not ready(srv):
        pytest.skip("the codec, sync states or Sync (issue 25 parts 1, 2, 4) are not in yet")
    pyactivesync = pytest.importorskip("pyactivesync")
    from tests.support.webmail import PASSWORD
    me = user(dav, "phonepim")
    client = pyactivesync.Client(f"127.0.0.1:{srv.port('https')}", me, PASSWORD,
                                 device_id="PimPhone1", device_type="Phone",
                                 verify_ssl=False, timeout=30)
    client._provisioned = True  # this server is run with require_provisioning=false
    # a CA bundle named in the environment (REQUESTS_CA_BUNDLE) would override verify=False
    client._transport.session.trust_env = False
    try:
        yield client, me
    finally:
        client.close()


def folder_id(client: Any, name: str) -> str:
    return str(next(f.id for f in client.list_folders() if f.name == name))


def primed(client: Any, folder: str) -> Any:
    return client.sync_folder(folder, client.sync_folder(folder, "0").sync_key)


def test_a_phone_contact_is_a_carddav_card_and_its_edit_keeps_unmapped_properties(
        phone: tuple[Any, str], dav: Dav) -> None:
    from pyactivesync.models import Contact, ContactChange  # type: ignore[import-untyped]
    client, me = phone
    contacts = folder_id(client, "Contacts")
    key = primed(client, contacts).sync_key
    added = client.create_contact(contacts, key, Contact(
        first_name="Dee", last_name="Phone", email1_address="dee@x.test",
        mobile_phone_number="+1 100"))
    assert added.status == "1" and added.server_id
    book = dav.collection_href(me, "Contacts", "addressbooks")
    name = added.server_id.split(":", 1)[1] + ".vcf"
    status, headers, card = dav.request(me, "GET", book + name)
    assert status == 200 and b"FN:Dee Phone" in card and b"+1 100" in card
    # CardDAV adds what a phone cannot show; the phone's next edit must keep it
    kept = card.replace(b"END:VCARD", b"X-POSTROOM-KEEP:yes\r\nEND:VCARD")
    assert dav.request(me, "PUT", book + name, kept,
                       {"Content-Type": "text/vcard", "If-Match": headers["etag"]})[0] == 204
    key = client.sync_folder(contacts, added.sync_key).sync_key
    changed = client.apply_contact_changes(contacts, key, [ContactChange(
        added.server_id, Contact(first_name="Dee", last_name="Phone",
                                 email1_address="dee@x.test", mobile_phone_number="+1 200"))])
    assert changed.statuses[added.server_id] == "1"
    status, _, card = dav.request(me, "GET", book + name)
    assert status == 200 and b"+1 200" in card and b"+1 100" not in card
    assert b"X-POSTROOM-KEEP:yes" in card


def test_a_caldav_event_arrives_on_the_phone(phone: tuple[Any, str], dav: Dav) -> None:
    client, me = phone
    calendar = folder_id(client, "Calendar")
    key = primed(client, calendar).sync_key
    cal = next(c for c in dav.caldav(me).principal().calendars()
               if c.get_display_name() == "Calendar")
    cal.save_event("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\n"
                   "UID:phone-sees@test\r\nDTSTAMP:20260101T000000Z\r\n"
                   "DTSTART:20300310T090000Z\r\nDTEND:20300310T100000Z\r\n"
                   "SUMMARY:Seen on the phone\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    result = client.sync_folder(calendar, key)
    # pyactivesync has no names for the Calendar code page (page 4): it reports its tags by
    # token, MS-ASWBXML §2.1.2.1.5 Subject 0x26, StartTime 0x27, UID 0x28

    def field(item: Any, name: str, token: str) -> str | None:
        got = item.fields.get(f"Calendar.{name}", item.fields.get(f"page4.{token}"))
        return str(got) if got is not None else None
    subjects = [field(item, "Subject", "0x26") for item in result.added]
    assert subjects == ["Seen on the phone"]
    assert field(result.added[0], "StartTime", "0x27") == "20300310T090000Z"
    assert field(result.added[0], "UID", "0x28") == "phone-sees@test"
