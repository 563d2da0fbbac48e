"""FolderCreate, FolderUpdate, FolderDelete on a real server: the service decisions
(services/eas/folders.py: kinds by type, names, parents, default folders, rights through the
gate, subfolders) and the commands with their SyncKeys (web/eas/folders.py)."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any, cast

import pytest

from postroom.core.principal import Principal
from postroom.protocols.eas.element import E, Element
from postroom.protocols.eas.request import CommandLine
from postroom.services.eas.folders import FolderRefused, Refusal
from postroom.services.eas.model import Device, FolderRef
from postroom.web.eas import folders as commands
from postroom.web.eas.common import CommandContext
from tests.support.dav import Dav
from tests.support.eas import eas_of, principal
from tests.support.server import RunningServer

_names = itertools.count(1)
NS = "FolderHierarchy"


@pytest.fixture(scope="module")
def eas_extra() -> list[str]:
    """This module's limits for the shared ActiveSync server (tests/eas/conftest.py)."""
    return ["web.eas.require_provisioning=false"]




def folders(srv: RunningServer, address: str) -> dict[str, FolderRef]:
    return {r.name: r for r in srv.call(eas_of(srv).folders.hierarchy(
        principal(srv, address)))}


def refused(srv: RunningServer, coro: Any) -> Refusal:
    with pytest.raises(FolderRefused) as info:
        srv.call(coro)
    return info.value.refusal


def test_create_makes_the_kind_of_its_type_under_its_parent(srv: RunningServer,
                                                            dav: Dav) -> None:
    me = dav.account(f"maker{next(_names)}@example.test")
    who = principal(srv, me)
    service = eas_of(srv).folders
    top = srv.call(service.create(who, "0", "Receipts", 12))
    assert top.eas_type == 12 and top.parent_id == "0" and top.kind == "mail"
    child = srv.call(service.create(who, top.server_id, "2026", 1))
    assert child.parent_id == top.server_id and child.name == "Receipts/2026"
    cal = srv.call(service.create(who, "0", "Holidays", 13))
    assert cal.kind == "calendar" and cal.eas_type == 13 and cal.item_class == "Calendar"
    assert srv.call(service.create(who, "0", "Friends", 14)).kind == "contacts"
    assert srv.call(service.create(who, "0", "Chores", 15)).kind == "tasks"
    # IMAP sees what the phone made
    imap = dav.imap(me)
    try:
        listing = b"".join(line for line in imap.list()[1] if isinstance(line, bytes))
        assert b"Receipts/2026" in listing
    finally:
        imap.logout()
    assert refused(srv, service.create(who, "0", "Receipts", 12)) is Refusal.EXISTS
    assert refused(srv, service.create(who, "0", "inbox", 12)) is Refusal.EXISTS
    assert refused(srv, service.create(who, "999999999", "X", 12)) is Refusal.PARENT_MISSING
    assert refused(srv, service.create(who, "0", "a/b", 12)) is Refusal.INVALID
    assert refused(srv, service.create(who, "0", "  ", 12)) is Refusal.INVALID
    assert refused(srv, service.create(who, "0", "x" * 201, 12)) is Refusal.INVALID
    assert refused(srv, service.create(who, "0", "Inbox2", 2)) is Refusal.INVALID
    assert refused(srv, service.create(who, "0", "Notes", 17)) is Refusal.INVALID


def test_rights_decide_in_shared_folders(srv: RunningServer, dav: Dav) -> None:
    alice = dav.account(f"sharer{next(_names)}@example.test")
    bob = dav.account(f"guest{next(_names)}@example.test")
    imap = dav.imap(alice)
    try:
        assert imap.create("Team")[0] == "OK"
        assert imap.create("Secret")[0] == "OK"
        assert imap._simple_command("SETACL", "Team", bob, "lr")[0] == "OK"
        who = principal(srv, bob)
        service = eas_of(srv).folders
        team = folders(srv, bob)[f"Other Users/{alice}/Team"]
        assert refused(srv, service.create(who, team.server_id, "Sub", 12)) is Refusal.DENIED
        assert refused(srv, service.delete(who, team.server_id)) is Refusal.DENIED
        assert refused(srv, service.update(who, team.server_id, "0", "Renamed")) \
            is Refusal.DENIED
        secret = folders(srv, alice)["Secret"]
        # a folder bob cannot see is missing, whatever he asks of it
        assert refused(srv, service.create(who, secret.server_id, "Sub", 12)) \
            is Refusal.PARENT_MISSING
        assert refused(srv, service.delete(who, secret.server_id)) is Refusal.MISSING
        assert refused(srv, service.update(who, secret.server_id, "0", "Mine")) \
            is Refusal.MISSING
        assert imap._simple_command("SETACL", "Team", bob, "lrkx")[0] == "OK"
        sub = srv.call(service.create(who, team.server_id, "Sub", 12))
        assert sub.name == f"Other Users/{alice}/Team/Sub" and sub.parent_id == team.server_id
        renamed = srv.call(service.update(who, sub.server_id, team.server_id, "Sub2"))
        assert renamed.name == f"Other Users/{alice}/Team/Sub2"
        # the root of a shared folder is its owner's namespace, where only alice makes
        # top-level folders: refused, never moved into bob's own folders
        assert refused(srv, service.update(who, sub.server_id, "0", "Moved")) \
            is Refusal.DENIED
    finally:
        imap.logout()


def test_update_renames_and_moves_but_not_default_folders(srv: RunningServer,
                                                          dav: Dav) -> None:
    me = dav.account(f"mover{next(_names)}@example.test")
    who = principal(srv, me)
    service = eas_of(srv).folders
    a = srv.call(service.create(who, "0", "A", 12))
    b = srv.call(service.create(who, "0", "B", 12))
    renamed = srv.call(service.update(who, a.server_id, "0", "A2"))
    assert renamed.server_id == a.server_id and renamed.name == "A2"
    moved = srv.call(service.update(who, a.server_id, b.server_id, "A3"))
    assert moved.name == "B/A3" and moved.parent_id == b.server_id
    assert refused(srv, service.update(who, b.server_id, a.server_id, "B")) is Refusal.INVALID
    assert refused(srv, service.update(who, a.server_id, "999999999", "X")) \
        is Refusal.PARENT_MISSING
    mine = folders(srv, me)
    for name in ("INBOX", "Sent", "Calendar", "Contacts"):
        assert refused(srv, service.update(who, mine[name].server_id, "0", "Other")) \
            is Refusal.SPECIAL
    c = srv.call(service.create(who, "0", "C", 12))
    assert refused(srv, service.update(who, c.server_id, "0", "B")) is Refusal.EXISTS


def test_delete_takes_subfolders_but_not_default_folders(srv: RunningServer,
                                                         dav: Dav) -> None:
    me = dav.account(f"deleter{next(_names)}@example.test")
    who = principal(srv, me)
    service = eas_of(srv).folders
    top = srv.call(service.create(who, "0", "Old", 12))
    mid = srv.call(service.create(who, top.server_id, "Mid", 12))
    low = srv.call(service.create(who, mid.server_id, "Low", 13))
    gone = srv.call(service.delete(who, top.server_id))
    assert set(gone) == {top.server_id, mid.server_id, low.server_id}
    assert not any(n.startswith("Old") for n in folders(srv, me))
    assert refused(srv, service.delete(who, top.server_id)) is Refusal.MISSING
    for name in ("INBOX", "Trash", "Drafts", "Tasks"):
        assert refused(srv, service.delete(who, folders(srv, me)[name].server_id)) \
            is Refusal.SPECIAL


# -- the commands, with their SyncKeys -----------------------------------------------------------
def registered(srv: RunningServer, who: Principal, device: str, kind: str) -> Device:
    """The device as the registry admits it (a row of its own: states hang on it)."""
    eas = srv.services.eas
    assert eas is not None
    admission = srv.call(eas.devices.admit(who, device, kind, "FolderSync", "16.1", None,
                                           "tests"))
    assert admission.device is not None
    return admission.device


def command(srv: RunningServer, address: str, body: Element | None, name: str,
            device: str = "phone1") -> Element:
    who = principal(srv, address)
    ctx = CommandContext(
        request=cast(Any, None), line=CommandLine(name, address, device, "Android"),
        version="14.1", principal=who, device=registered(srv, who, device, "Android"),
        eas=eas_of(srv), services=cast(Any, None), settings=cast(Any, None), raw=b"")
    answer = asyncio.run_coroutine_threadsafe(commands.handle(ctx, body), srv.loop).result(30)
    assert isinstance(answer, Element)
    return answer


def sync(srv: RunningServer, address: str, key: str, device: str = "phone1") -> Element:
    return command(srv, address, E(NS, "FolderSync", E(NS, "SyncKey", text=key)), "FolderSync",
                   device)


def added(answer: Element) -> dict[str, str]:
    """DisplayName → ServerId of a FolderSync answer's Adds."""
    changes = answer.find("Changes")
    assert changes is not None
    return {a.value("DisplayName") or "": a.value("ServerId") or ""
            for a in changes.findall("Add")}


def test_folder_commands_carry_the_hierarchy_key(srv: RunningServer, dav: Dav) -> None:
    me = dav.account(f"keys{next(_names)}@example.test")
    first = sync(srv, me, "0")
    key = first.value("SyncKey")
    assert first.value("Status") == "1" and key == "1"
    created = command(srv, me, E(NS, "FolderCreate", E(NS, "SyncKey", text=key),
                                 E(NS, "ParentId", text="0"),
                                 E(NS, "DisplayName", text="Phone made"),
                                 E(NS, "Type", text="12")), "FolderCreate")
    assert created.value("Status") == "1" and created.value("SyncKey") == "2"
    server_id = created.value("ServerId")
    assert server_id
    # the device knows of it: no Add at the next FolderSync
    again = sync(srv, me, "2")
    assert again.value("SyncKey") == "2"
    assert again.path("Changes", "Count").text == "0"  # type: ignore[union-attr]
    stale = command(srv, me, E(NS, "FolderCreate", E(NS, "SyncKey", text="1"),
                               E(NS, "ParentId", text="0"), E(NS, "DisplayName", text="X"),
                               E(NS, "Type", text="12")), "FolderCreate")
    assert stale.value("Status") == "9"
    exists = command(srv, me, E(NS, "FolderCreate", E(NS, "SyncKey", text="2"),
                                E(NS, "ParentId", text="0"),
                                E(NS, "DisplayName", text="Phone made"),
                                E(NS, "Type", text="12")), "FolderCreate")
    assert exists.value("Status") == "2"
    updated = command(srv, me, E(NS, "FolderUpdate", E(NS, "SyncKey", text="2"),
                                 E(NS, "ServerId", text=server_id),
                                 E(NS, "ParentId", text="0"),
                                 E(NS, "DisplayName", text="Renamed")), "FolderUpdate")
    assert updated.value("Status") == "1" and updated.value("SyncKey") == "3"
    inbox = added(sync(srv, me, "0", "other"))["Inbox"]
    special = command(srv, me, E(NS, "FolderDelete", E(NS, "SyncKey", text="3"),
                                 E(NS, "ServerId", text=inbox)), "FolderDelete")
    assert special.value("Status") == "3"
    missing = command(srv, me, E(NS, "FolderDelete", E(NS, "SyncKey", text="3"),
                                 E(NS, "ServerId", text="999999999")), "FolderDelete")
    assert missing.value("Status") == "4"
    deleted = command(srv, me, E(NS, "FolderDelete", E(NS, "SyncKey", text="3"),
                                 E(NS, "ServerId", text=server_id)), "FolderDelete")
    assert deleted.value("Status") == "1" and deleted.value("SyncKey") == "4"
    assert sync(srv, me, "4").path("Changes", "Count").text == "0"  # type: ignore[union-attr]


def test_malformed_folder_commands(srv: RunningServer, dav: Dav) -> None:
    me = dav.account(f"bad{next(_names)}@example.test")
    assert command(srv, me, None, "FolderSync").value("Status") == "10"
    assert command(srv, me, E(NS, "FolderSync"), "FolderSync").value("Status") == "10"
    assert command(srv, me, E("AirSync", "Sync"), "FolderSync").value("Status") == "10"
    for key in ("abc", "-1", "1" * 20, ""):
        answer = command(srv, me, E(NS, "FolderCreate", E(NS, "SyncKey", text=key)),
                         "FolderCreate")
        assert answer.value("Status") == "9", key


# -- as a phone does it, over HTTPS and WBXML (the PyPI client pyactivesync, EAS 16.1) ---------
def test_a_phone_creates_renames_and_deletes_folders(srv: RunningServer, dav: Dav) -> None:
    pyactivesync = pytest.importorskip("pyactivesync")
    from tests.support.webmail import PASSWORD
    me = dav.account(f"phone{next(_names)}@example.test")
    client = pyactivesync.Client(f"127.0.0.1:{srv.port('https')}", me, PASSWORD,
                                 device_id="FolderPhone1", device_type="Phone",
                                 verify_ssl=False, timeout=30)
    client._provisioned = True  # this server is run with require_provisioning=false
    # a CA bundle named in the environment (REQUESTS_CA_BUNDLE) would override verify=False
    client._transport.session.trust_env = False
    try:
        listed = {f.name: f for f in client.list_folders()}
        assert int(listed["Inbox"].type) == 2 and int(listed["Calendar"].type) == 8
        made = client.create_folder("From the phone")
        sub = client.create_folder("Inside", parent_id=made.id)
        client.update_folder(made.id, "Renamed on the phone")
        imap = dav.imap(me)
        try:
            listing = b"".join(line for line in imap.list()[1] if isinstance(line, bytes))
            assert b"Renamed on the phone/Inside" in listing
        finally:
            imap.logout()
        client.delete_folder(made.id)
        names = {f.id for f in client.list_folders()}
        assert made.id not in names and sub.id not in names
        with pytest.raises(pyactivesync.StatusError) as refused:
            client.delete_folder(listed["Inbox"].id)
        assert refused.value.code == "3"  # a default folder
    finally:
        client.close()
