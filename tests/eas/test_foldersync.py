"""The folder hierarchy a device sees (services/eas/folders.py) and FolderSync over HTTP, on a
real server: default folders and their types, folders shared over IMAP (SETACL) appear with
``l``+``r`` and go when either is taken away (a hidden folder resolves as a missing one),
FolderSync keys (0 → everything, deltas, the same answer for a repeated key, Status 9)."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any, cast

import pytest

from postroom.core.principal import Principal
from postroom.protocols.eas.element import E, Element
from postroom.protocols.eas.request import CommandLine
from postroom.services.eas.model import Device, FolderRef
from postroom.web.eas import folders as commands
from postroom.web.eas.common import CommandContext
from tests.support.dav import Dav
from tests.support.eas import principal
from tests.support.server import RunningServer

_names = itertools.count(1)


@pytest.fixture(scope="module")
def eas_extra() -> list[str]:
    """This module's limits for the shared ActiveSync server (tests/eas/conftest.py)."""
    return ["web.eas.require_provisioning=false"]


def user(dav: Dav, name: str) -> str:
    return dav.account(f"{name}{next(_names)}@example.test")



def hierarchy(srv: RunningServer, address: str) -> dict[str, FolderRef]:
    """The folders by IMAP name."""
    eas = srv.services.eas
    assert eas is not None
    refs = srv.call(eas.folders.hierarchy(principal(srv, address)))
    return {r.name: r for r in refs}


def resolve(srv: RunningServer, address: str, server_id: str) -> Any:
    eas = srv.services.eas
    assert eas is not None
    return srv.call(eas.folders.resolve(principal(srv, address), server_id))


def test_a_new_account_has_every_default_folder_once(srv: RunningServer, dav: Dav) -> None:
    me = user(dav, "fresh")
    folders = hierarchy(srv, me)
    types = {name: ref.eas_type for name, ref in folders.items()}
    assert types == {"INBOX": 2, "Drafts": 3, "Sent": 5, "Trash": 4, "Junk": 12,
                     "Archive": 12, "Calendar": 8, "Contacts": 9, "Tasks": 7}
    assert all(ref.parent_id == "0" for ref in folders.values())
    assert folders["INBOX"].display_name == "Inbox"
    assert folders["Calendar"].item_class == "Calendar"
    assert folders["Contacts"].item_class == "Contacts"
    assert folders["Tasks"].item_class == "Tasks"
    assert all(ref.server_id == str(ref.mailbox_id) for ref in folders.values())
    assert not any(ref.read_only for ref in folders.values())
    # the same again: ServerIds are stable
    assert {n: r.server_id for n, r in hierarchy(srv, me).items()} == \
        {n: r.server_id for n, r in folders.items()}


def test_nested_own_folders_keep_their_parent(srv: RunningServer, dav: Dav) -> None:
    me = user(dav, "nest")
    imap = dav.imap(me)
    try:
        assert imap.create("Work/Clients/Acme")[0] == "OK"
    finally:
        imap.logout()
    folders = hierarchy(srv, me)
    work, clients, acme = (folders["Work"], folders["Work/Clients"],
                           folders["Work/Clients/Acme"])
    assert work.parent_id == "0" and clients.parent_id == work.server_id
    assert acme.parent_id == clients.server_id and acme.display_name == "Acme"
    assert acme.eas_type == 12


def test_a_shared_folder_needs_l_and_r_and_losing_either_removes_it(
        srv: RunningServer, dav: Dav) -> None:
    alice, bob = user(dav, "alice"), user(dav, "bob")
    imap = dav.imap(alice)
    try:
        assert imap.create("Projects")[0] == "OK"
        assert imap.create("Projects/2026")[0] == "OK"
        assert imap._simple_command("SETACL", "Projects", bob, "lr")[0] == "OK"
        assert imap._simple_command("SETACL", "Projects/2026", bob, "lrs")[0] == "OK"
        shared = hierarchy(srv, bob)
        top = shared[f"Other Users/{alice}/Projects"]
        sub = shared[f"Other Users/{alice}/Projects/2026"]
        assert top.parent_id == "0" and top.display_name == f"Projects ({alice})"
        assert top.eas_type == 12 and top.read_only
        assert sub.parent_id == top.server_id and sub.display_name == "2026"
        assert not sub.read_only  # s: the device may mark mail read
        assert resolve(srv, bob, top.server_id) == top
        # l without r: a folder the phone could not read is not offered
        assert imap._simple_command("SETACL", "Projects", bob, "l")[0] == "OK"
        now = hierarchy(srv, bob)
        assert f"Other Users/{alice}/Projects" not in now
        assert now[f"Other Users/{alice}/Projects/2026"].parent_id == "0"
        assert now[f"Other Users/{alice}/Projects/2026"].display_name == f"2026 ({alice})"
        # no l at all: gone, and resolving it is what resolving a missing id is
        assert imap._simple_command("DELETEACL", "Projects/2026", bob)[0] == "OK"
        assert not any(name.startswith("Other Users/") for name in hierarchy(srv, bob))
        assert resolve(srv, bob, sub.server_id) is None
        assert resolve(srv, bob, "999999999") is None
        assert resolve(srv, bob, "not-a-number") is None
    finally:
        imap.logout()


# -- FolderSync (web/eas/folders.py), with the durable hierarchy states -------------------------
NS = "FolderHierarchy"


def registered(srv: RunningServer, who: Principal, device: str, kind: str) -> Device:
    """The device as the registry admits it (a row of its own: states hang on it)."""
    eas = srv.services.eas
    assert eas is not None
    admission = srv.call(eas.devices.admit(who, device, kind, "FolderSync", "16.1", None,
                                           "tests"))
    assert admission.device is not None
    return admission.device


def folder_sync(srv: RunningServer, address: str, key: str | None,
                device: str = "phone1") -> Element:
    """FolderSync as app.py would dispatch it (the HTTP and WBXML layers are part 1's)."""
    eas = srv.services.eas
    assert eas is not None
    who = principal(srv, address)
    ctx = CommandContext(
        request=cast(Any, None), line=CommandLine("FolderSync", address, device, "iPhone"),
        version="16.1", principal=who, device=registered(srv, who, device, "iPhone"),
        eas=eas, services=cast(Any, None), settings=cast(Any, None), raw=b"")
    body = E(NS, "FolderSync") if key is None else E(NS, "FolderSync",
                                                    E(NS, "SyncKey", text=key))
    answer = asyncio.run_coroutine_threadsafe(commands.handle(ctx, body), srv.loop).result(30)
    assert isinstance(answer, Element)
    return answer


def changes(answer: Element) -> dict[str, list[tuple[str, ...]]]:
    """The Changes of a FolderSync answer, by kind: (ServerId, ParentId, DisplayName, Type)."""
    out: dict[str, list[tuple[str, ...]]] = {"Add": [], "Update": [], "Delete": []}
    listed = answer.find("Changes")
    assert listed is not None
    count = int(listed.value("Count") or "-1")
    for child in listed.children:
        if child.name in out:
            out[child.name].append(tuple(child.value(n) or "" for n in (
                "ServerId", "ParentId", "DisplayName", "Type") if child.has(n)))
    assert count == sum(len(v) for v in out.values())
    return out


def test_folder_sync_gives_everything_then_changes(srv: RunningServer, dav: Dav) -> None:
    me = user(dav, "fsync")
    first = folder_sync(srv, me, "0")
    assert first.value("Status") == "1" and first.value("SyncKey") == "1"
    everything = changes(first)
    assert not everything["Update"] and not everything["Delete"]
    by_name = {display: (sid, parent, int(kind)) for sid, parent, display, kind
               in everything["Add"]}
    assert by_name["Inbox"][2] == 2 and by_name["Calendar"][2] == 8
    assert len(by_name) == 9
    # nothing changed: the same key, nothing written
    same = folder_sync(srv, me, "1")
    assert same.value("SyncKey") == "1" and changes(same)["Add"] == []
    imap = dav.imap(me)
    try:
        assert imap.create("Fresh")[0] == "OK"
        assert imap.rename("Archive", "Archived")[0] == "OK"
        assert imap.delete("Junk")[0] == "OK"
    finally:
        imap.logout()
    delta = folder_sync(srv, me, "1")
    assert delta.value("SyncKey") == "2"
    found = changes(delta)
    assert [a[2] for a in found["Add"]] == ["Fresh"]
    assert found["Update"] == [(by_name["Archive"][0], "0", "Archived", "12")]
    assert found["Delete"] == [(by_name["Junk"][0],)]
    # the device lost that answer and asks again with its old key: the same answer
    retried = folder_sync(srv, me, "1")
    assert retried.value("SyncKey") == "2" and changes(retried) == found
    assert changes(folder_sync(srv, me, "2"))["Add"] == []
    # a key never handed out, a malformed one, none at all
    assert folder_sync(srv, me, "7").value("Status") == "9"
    assert folder_sync(srv, me, "x").value("Status") == "9"
    assert folder_sync(srv, me, None).value("Status") == "10"
    # another device of the same user has its own keys
    assert folder_sync(srv, me, "2", device="tablet").value("Status") == "9"


def test_losing_l_removes_the_folder_at_the_next_folder_sync(srv: RunningServer,
                                                            dav: Dav) -> None:
    alice, bob = user(dav, "lender"), user(dav, "borrower")
    imap = dav.imap(alice)
    try:
        assert imap.create("Board")[0] == "OK"
        assert imap._simple_command("SETACL", "Board", bob, "lrs")[0] == "OK"
        first = changes(folder_sync(srv, bob, "0"))
        board = next(a for a in first["Add"] if a[2] == f"Board ({alice})")
        assert board[1] == "0" and board[3] == "12"
        assert imap._simple_command("SETACL", "Board", bob, "r")[0] == "OK"  # l taken away
        later = folder_sync(srv, bob, "1")
        assert later.value("SyncKey") == "2"
        assert changes(later) == {"Add": [], "Update": [], "Delete": [(board[0],)]}
        # given back: added again, same ServerId
        assert imap._simple_command("SETACL", "Board", bob, "lr")[0] == "OK"
        back = changes(folder_sync(srv, bob, "2"))
        assert [a[0] for a in back["Add"]] == [board[0]]
    finally:
        imap.logout()


def test_two_folder_syncs_of_one_device_at_once_get_the_same_answer(
        srv: RunningServer, dav: Dav) -> None:
    me = user(dav, "twice")
    assert folder_sync(srv, me, "0").value("SyncKey") == "1"
    imap = dav.imap(me)
    try:
        assert imap.create("Concurrent")[0] == "OK"
    finally:
        imap.logout()
    eas = srv.services.eas
    assert eas is not None
    who = principal(srv, me)
    phone = registered(srv, who, "phone1", "iPhone")

    async def both() -> list[Element | None]:
        def ctx() -> CommandContext:
            return CommandContext(
                request=cast(Any, None),
                line=CommandLine("FolderSync", me, "phone1", "iPhone"), version="16.1",
                principal=who, device=phone,
                eas=eas, services=cast(Any, None), settings=cast(Any, None), raw=b"")
        body = E(NS, "FolderSync", E(NS, "SyncKey", text="1"))
        answers = await asyncio.gather(commands.handle(ctx(), body),
                                       commands.handle(ctx(), body))
        return [a if isinstance(a, Element) else None for a in answers]

    first, second = srv.call(both())
    assert first is not None and second is not None
    assert first.value("SyncKey") == second.value("SyncKey") == "2"
    assert changes(first) == changes(second)
    assert [a[2] for a in changes(first)["Add"]] == ["Concurrent"]
