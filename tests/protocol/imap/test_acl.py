"""RFC 4314 over IMAP: the ACL commands, their replies and codes, namespaces and discovery,
live rights changes, administrators and public folders (specs.md §2, Product decisions)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from postroom.core.actor import Origin
from postroom.core.principal import Principal
from tests.protocol.imap.conftest import message
from tests.support.imapclient import RawImap
from tests.support.server import RunningServer

TEST_ORIGIN = Origin("test", "local")


@pytest.fixture
def pair(imap_server: RunningServer) -> Iterator[tuple[RawImap, str, RawImap, str]]:
    """Alice and Bob, logged in: (alice, her address, bob, his address)."""
    (a, pa), (b, pb) = imap_server.add_user("alice"), imap_server.add_user("bob")
    ca, cb = RawImap(imap_server.port("imap")), RawImap(imap_server.port("imap"))
    ca.login(a, pa)
    cb.login(b, pb)
    yield ca, a, cb, b
    ca.close()
    cb.close()


def shared(owner: str, folder: str) -> str:
    return f'"Other Users/{owner}/{folder}"'


def test_capability_advertises_acl_and_rights(client: RawImap) -> None:
    caps = client.ok("CAPABILITY")[0].split()
    assert b"ACL" in caps and b"RIGHTS=texk" in caps


def test_owner_rights_and_getacl(pair: tuple[RawImap, str, RawImap, str]) -> None:
    alice, a, _, b = pair
    alice.ok("CREATE Projects")
    # Owner with an empty ACL still holds everything (Product decision 2).
    assert alice.ok("MYRIGHTS Projects") == [b'* MYRIGHTS "Projects" lrswipkxteacd']
    assert alice.ok("GETACL Projects") == [b'* ACL "Projects"']
    alice.ok(f"SETACL Projects {b} lr")
    assert alice.ok("GETACL Projects") == [f'* ACL "Projects" {b} lr'.encode()]
    # c and d expand to their members and come back (Product decision 1).
    alice.ok(f"SETACL Projects {b} +d")
    assert alice.ok("GETACL Projects") == [f'* ACL "Projects" {b} lrted'.encode()]
    alice.ok(f"SETACL Projects {b} -t")
    assert alice.ok("GETACL Projects") == [f'* ACL "Projects" {b} lred'.encode()]
    # A bare local part means the caller's domain (Product decision 5).
    local = b.split("@")[0]
    alice.ok(f"SETACL Projects {local} lrc")
    assert alice.ok("GETACL Projects") == [f'* ACL "Projects" {b} lrkxc'.encode()]
    # Setting the owner is stored but changes nothing (Product decision 2).
    alice.ok(f"SETACL Projects {a} l")
    assert alice.ok("MYRIGHTS Projects") == [b'* MYRIGHTS "Projects" lrswipkxteacd']
    alice.ok(f"DELETEACL Projects {b}")
    assert alice.ok("GETACL Projects") == [f'* ACL "Projects" {a} l'.encode()]
    # Negative entries are their own identifier (RFC 4314 §2): DELETEACL bob leaves -bob.
    alice.ok(f'SETACL Projects "-{b}" w')
    alice.ok(f"DELETEACL Projects {b}")
    assert f"-{b} w".encode() in alice.ok("GETACL Projects")[0]


def test_bad_rights_and_identifiers_are_bad(pair: tuple[RawImap, str, RawImap, str]) -> None:
    alice, _, _, b = pair
    alice.ok("CREATE Projects")
    for rights in ("lrQ", "LR", "lr1", "+z"):
        _, tagged = alice.cmd(f'SETACL Projects {b} "{rights}"')
        assert b" BAD " in tagged, rights
    _, tagged = alice.cmd('SETACL Projects "" lr')
    assert b" BAD " in tagged
    # BAD comes before the mailbox is looked at: nothing about existence leaks.
    _, t1 = alice.cmd(f'SETACL Missing {b} lrQ')
    _, t2 = alice.cmd(f'SETACL Projects {b} lrQ')
    assert t1.split(b" ", 1)[1] == t2.split(b" ", 1)[1]
    for wrong in ("GETACL", "MYRIGHTS Projects extra", "SETACL Projects x", "DELETEACL P"):
        assert b" BAD " in alice.cmd(wrong)[1]


def test_listrights(pair: tuple[RawImap, str, RawImap, str]) -> None:
    alice, a, _, b = pair
    alice.ok("CREATE Projects")
    assert alice.ok(f"LISTRIGHTS Projects {b}") == [
        f'* LISTRIGHTS "Projects" {b} "" l r s w i p k x t e a c d'.encode()]
    assert alice.ok(f"LISTRIGHTS Projects {a}") == [
        f'* LISTRIGHTS "Projects" {a} lrswipkxteacd'.encode()]


def test_non_admin_acl_commands(pair: tuple[RawImap, str, RawImap, str]) -> None:
    alice, a, bob, b = pair
    alice.ok("CREATE Projects")
    alice.ok(f"SETACL Projects {b} lr")
    name = shared(a, "Projects")
    assert bob.ok(f"MYRIGHTS {name}") == [f"* MYRIGHTS {name} lr".encode()]
    for cmd in (f"GETACL {name}", f"SETACL {name} {b} lrw", f"DELETEACL {name} {b}",
                f"LISTRIGHTS {name} {b}"):
        _, tagged = bob.cmd(cmd)
        assert b" NO [NOPERM] " in tagged, (cmd, tagged)
    # With a, Bob administers the folder's ACL (RFC 4314 §4).
    alice.ok(f"SETACL Projects {b} +a")
    assert b in bob.ok(f"GETACL {name}")[0].decode()


def test_namespace_and_discovery(imap_server: RunningServer,
                                 pair: tuple[RawImap, str, RawImap, str]) -> None:
    alice, a, bob, b = pair
    assert bob.ok("NAMESPACE") == [
        b'* NAMESPACE (("" "/")) (("Other Users/" "/")) (("Public Folders/" "/"))']
    alice.ok("CREATE Projects/Alpha/Deep")
    alice.ok(f"SETACL Projects/Alpha/Deep {b} lr")  # l on the deepest level only
    lines = bob.ok('LIST "" "Other Users/*"')
    assert lines == [
        f'* LIST (\\Noselect \\HasChildren) "/" "Other Users/{a}"'.encode(),
        f'* LIST (\\Noselect \\HasChildren) "/" "Other Users/{a}/Projects"'.encode(),
        f'* LIST (\\Noselect \\HasChildren) "/" "Other Users/{a}/Projects/Alpha"'.encode(),
        f'* LIST (\\HasNoChildren) "/" "Other Users/{a}/Projects/Alpha/Deep"'.encode()]
    # The levels in between are names, not folders Bob may use: as for a missing folder.
    _, tagged = bob.cmd(f'STATUS {shared(a, "Projects")} (MESSAGES)')
    assert b"NO [NONEXISTENT]" in tagged
    assert bob.ok('LIST "" "%"')[-1] == b'* LIST (\\Noselect \\HasChildren) "/" "Other Users"'
    # LIST-EXTENDED, LIST-STATUS and SUBSCRIBE across namespaces.
    deep = shared(a, "Projects/Alpha/Deep")
    alice.append("Projects/Alpha/Deep", message("d"))
    bob.ok(f"SUBSCRIBE {deep}")
    assert bob.ok('LIST (SUBSCRIBED) "" "Other Users/*"') == [
        f'* LIST (\\HasNoChildren \\Subscribed) "/" {deep}'.encode()]
    lines = bob.ok('LIST "" "Other Users/*" RETURN (STATUS (MESSAGES UNSEEN))')
    assert f'* STATUS {deep} (MESSAGES 1 UNSEEN 1)'.encode() in lines
    # Public folders, created by the operator, appear under their own namespace.
    op = Principal.operator()
    pub = f"News{a.split('@')[0]}"
    imap_server.call(imap_server.services.mailboxes.create(op, f"Public Folders/{pub}"))
    imap_server.call(imap_server.services.acl.set(op, f"Public Folders/{pub}", "anyone", "lr",
                                                  TEST_ORIGIN))
    assert f'* LIST (\\HasNoChildren) "/" "Public Folders/{pub}"'.encode() in \
        bob.ok('LIST "" "Public Folders/*"')
    assert bob.ok(f'MYRIGHTS "Public Folders/{pub}"') == [
        f'* MYRIGHTS "Public Folders/{pub}" lr'.encode()]
    _, tagged = bob.cmd(f'CREATE "Public Folders/{pub}/Mine"')
    assert b"NO [NOPERM]" in tagged


def test_per_user_seen_in_shared_folder(pair: tuple[RawImap, str, RawImap, str]) -> None:
    alice, a, bob, b = pair
    alice.ok("CREATE Team")
    alice.append("Team", message("t1"))
    alice.ok(f"SETACL Team {b} lrs")
    bob.ok(f"SELECT {shared(a, 'Team')}")
    assert b"\\Seen" in bob.ok("FETCH 1 (BODY[] FLAGS)")[0]
    alice.ok("SELECT Team")
    assert alice.ok("FETCH 1 FLAGS") == [b"* 1 FETCH (FLAGS ())"]
    alice.ok("STORE 1 +FLAGS (\\Seen)")
    bob.ok("STORE 1 -FLAGS (\\Seen)")
    # Bob's private \Seen is his alone: Alice is not even told that it changed. (Bob's
    # read-write SELECT was the first after the message arrived, so it is \Recent for him.)
    assert alice.ok("FETCH 1 FLAGS") == [b"* 1 FETCH (FLAGS (\\Seen))"]
    assert bob.ok("FETCH 1 FLAGS") == [b"* 1 FETCH (FLAGS (\\Recent))"]


def test_fetch_without_s_keeps_unseen_and_store_sets_what_it_may(
        pair: tuple[RawImap, str, RawImap, str]) -> None:
    alice, a, bob, b = pair
    alice.ok("CREATE Team")
    alice.append("Team", message("t1"))
    alice.ok(f"SETACL Team {b} lrw")
    name = shared(a, "Team")
    lines = bob.ok(f"SELECT {name}")
    assert b"\\Seen" not in next(ln for ln in lines if b"PERMANENTFLAGS" in ln)
    bob.ok("FETCH 1 BODY[]")
    # (\Recent: Bob's read-write SELECT is the first since the message arrived.)
    assert bob.ok("FETCH 1 FLAGS") == [b"* 1 FETCH (FLAGS (\\Recent))"]
    # \Seen is not Bob's to set, \Flagged is: OK, and only \Flagged changes.
    assert bob.ok("STORE 1 +FLAGS (\\Seen \\Flagged)") == [
        b"* 1 FETCH (UID 1 FLAGS (\\Flagged \\Recent))"]
    # CLOSE without e: OK, nothing expunged.
    alice.ok("SELECT Team")
    alice.ok("STORE 1 +FLAGS (\\Deleted)")
    bob.ok("CLOSE")
    assert b"MESSAGES 1" in alice.ok("STATUS Team (MESSAGES)")[0]


def test_live_rights_changes(pair: tuple[RawImap, str, RawImap, str]) -> None:
    alice, a, bob, b = pair
    alice.ok("CREATE Live")
    alice.append("Live", message("l1"))
    alice.ok(f"SETACL Live {b} lr")
    name = shared(a, "Live")
    assert bob.cmd(f"SELECT {name}")[1].endswith(b"OK [READ-ONLY] SELECT completed")
    alice.ok(f"SETACL Live {b} +w")
    lines = bob.ok("NOOP")
    assert any(b"[PERMANENTFLAGS (\\Answered \\Flagged \\Draft" in ln for ln in lines)
    assert b"* OK [READ-WRITE] Rights changed" in lines
    bob.ok("STORE 1 +FLAGS (\\Flagged)")
    assert bob.ok(f"MYRIGHTS {name}") == [f"* MYRIGHTS {name} lrw".encode()]
    # The owner's changes reach Bob's session like any other change.
    alice.ok("SELECT Live")
    alice.append("Live", message("l2"))
    assert b"* 2 EXISTS" in bob.ok("NOOP")
    # Losing r ends the session before the next command runs (RFC 4314 §4).
    alice.ok(f"SETACL Live {b} l")
    bob.send(b"F1 FETCH 1 BODY[]\r\n")
    assert bob.line().startswith(b"* BYE [NOPERM]")


def test_admin_override(imap_server: RunningServer,
                        pair: tuple[RawImap, str, RawImap, str]) -> None:
    alice, a, _, b = pair
    alice.ok("CREATE Private")
    admin, pw = imap_server.add_user("admin")
    imap_server.call(imap_server.services.store.directory.set_admin(admin, "example.test",
                                                                    True))
    c = RawImap(imap_server.port("imap"))
    c.login(admin, pw)
    name = shared(a, "Private")
    c.ok(f"SETACL {name} {b} lr")
    assert c.ok(f"GETACL {name}") == [f"* ACL {name} {b} lr".encode()]
    assert c.ok(f"MYRIGHTS {name}") == [f"* MYRIGHTS {name} a".encode()]
    # a is not r: an administrator reads mail only after granting it visibly.
    assert b"NO [NOPERM]" in c.cmd(f"SELECT {name}")[1]
    c.ok(f"DELETEACL {name} {b}")
    c.close()


def test_inheritance_and_apply_to_subfolders(imap_server: RunningServer,
                                             pair: tuple[RawImap, str, RawImap, str]) -> None:
    alice, a, _, b = pair
    alice.ok("CREATE P")
    alice.ok(f"SETACL P {b} lr")
    alice.ok("CREATE P/Child")
    assert alice.ok("GETACL P/Child") == [f'* ACL "P/Child" {b} lr'.encode()]
    alice.ok(f"SETACL P {b} lrw")  # no propagation of later parent changes
    assert alice.ok("GETACL P/Child") == [f'* ACL "P/Child" {b} lr'.encode()]
    alice.ok("CREATE P/Other/Deep")  # intermediate levels inherit too
    assert alice.ok("GETACL P/Other") == [f'* ACL "P/Other" {b} lrw'.encode()]
    # "Apply to subfolders" is the administrator's: through the CLI's service call.
    acct = imap_server.call(imap_server.services.directory.require_account(a))
    op = Principal.operator_as(acct.id, acct.address, acct.domain_id)
    assert imap_server.call(imap_server.services.acl.apply_to_subfolders(op, "P", TEST_ORIGIN)) == 3
    for child in ("P/Child", "P/Other", "P/Other/Deep"):
        assert alice.ok(f"GETACL {child}") == [f'* ACL "{child}" {b} lrw'.encode()]


def test_invisible_parent_does_not_leak_through_create(
        pair: tuple[RawImap, str, RawImap, str]) -> None:
    alice, a, bob, b = pair
    alice.ok("CREATE Hidden")
    alice.ok(f"SETACL Hidden {b} p")  # p alone: invisible
    out = []
    for folder in ("Hidden", "Nothing"):
        for cmd in (f"CREATE {shared(a, folder + '/x')}", f"CREATE {shared(a, folder)}",
                    f"RENAME {shared(a, folder)} {shared(a, folder + '2')}"):
            _, tagged = bob.cmd(cmd)
            out.append(re.sub(rb"^\S+ ", b"", tagged).replace(b"Nothing", b"Hidden"))
    assert out[:3] == out[3:]


def test_admin_of_another_domain_sees_nothing(imap_server: RunningServer,
                                              pair: tuple[RawImap, str, RawImap, str]) -> None:
    alice, a, _, _ = pair
    alice.ok("CREATE Private")
    svc = imap_server.services
    if not imap_server.call(svc.directory.is_local_domain("elsewhere.test")):
        imap_server.call(svc.directory.add_domain("elsewhere.test"))
    admin = f"admin-{a.split('@')[0]}@elsewhere.test"
    imap_server.call(svc.directory.add_account(admin, "pw-elsewhere-1"))
    imap_server.call(svc.store.directory.set_admin(admin, "elsewhere.test", True))
    c = RawImap(imap_server.port("imap"))
    c.login(admin, "pw-elsewhere-1")
    for cmd in ("GETACL", "MYRIGHTS"):
        _, tagged = c.cmd(f"{cmd} {shared(a, 'Private')}")
        assert b"NO [NONEXISTENT]" in tagged
    c.close()


def test_public_folder_seen_is_per_user(imap_server: RunningServer,
                                        pair: tuple[RawImap, str, RawImap, str]) -> None:
    alice, a, bob, _ = pair
    op = Principal.operator()
    pub = f"Public Folders/Board{a.split('@')[0]}"
    svc = imap_server.services
    imap_server.call(svc.mailboxes.create(op, pub))
    imap_server.call(svc.acl.set(op, pub, "authenticated", "lrsi", TEST_ORIGIN))
    alice.append(pub, message("notice"))
    alice.ok(f'SELECT "{pub}"')
    bob.ok(f'SELECT "{pub}"')
    alice.ok("FETCH 1 BODY[]")  # sets Alice's \Seen only
    # Alice selected first: the message is \Recent in her session, never in Bob's.
    assert alice.ok("FETCH 1 FLAGS") == [b"* 1 FETCH (FLAGS (\\Seen \\Recent))"]
    assert bob.ok("FETCH 1 FLAGS") == [b"* 1 FETCH (FLAGS ())"]
    assert bob.ok(f'STATUS "{pub}" (UNSEEN)') == [f'* STATUS "{pub}" (UNSEEN 1)'.encode()]


def test_setacl_for_nobody_is_refused_after_the_rights_check(
        pair: tuple[RawImap, str, RawImap, str]) -> None:
    """An identifier naming no account or group is refused (a typo would grant nothing,
    silently) -- but only once the caller holds ``a``, so the refusal says nothing about
    folders; DELETEACL of such an identifier stays possible for clean-up."""
    alice, a, bob, _ = pair
    alice.ok("CREATE Projects")
    _, reply = alice.cmd("SETACL Projects nosuchuser lr")
    assert b" NO [CANNOT]" in reply and b"no account nosuchuser@" in reply
    assert alice.ok("GETACL Projects") == [b'* ACL "Projects"']
    alice.ok("DELETEACL Projects nosuchuser")
    # Without a on the folder, the same command answers as for any hidden folder.
    _, hidden = bob.cmd(f"SETACL {shared(a, 'Projects')} nosuchuser lr")
    _, missing = bob.cmd(f"SETACL {shared(a, 'Nothing')} nosuchuser lr")
    assert b" NO " in hidden
    assert hidden.split(b" ", 1)[1] == missing.split(b" ", 1)[1].replace(b"Nothing", b"Projects")
