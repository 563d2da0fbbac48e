"""The folder hierarchy a device sees (services/eas/folders.py) and FolderSync over HTTP, on a
real server: default folders and their types, folders shared over IMAP (SETACL) appear with
``l``+``r`` and go when either is taken away (a hidden folder resolves as a missing one),
FolderSync keys (0 → everything, deltas, the same answer for a repeated key, Status 9)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from postroom.core.principal import Principal
from postroom.services.eas.model import FolderRef
from tests.support.dav import DAV, Dav
from tests.support.server import RunningServer, server_config

_names = itertools.count(1)


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = RunningServer(server_config(Path(tmp_path_factory.mktemp("eas-folders")),
                                         extra=[*DAV, "web.eas.require_provisioning=false"]))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def dav(srv: RunningServer) -> Dav:
    return Dav(srv)


def user(dav: Dav, name: str) -> str:
    return dav.account(f"{name}{next(_names)}@example.test")


def principal(srv: RunningServer, address: str) -> Principal:
    async def find() -> Principal:
        rec = await srv.services.store.directory.get_account(address)
        assert rec is not None
        return await srv.services.directory.principal_for(rec)
    return srv.call(find())


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
