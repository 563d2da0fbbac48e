"""Sharing rules through the services (both backends): inheritance, visibility, flags."""

from __future__ import annotations

import pytest

from postroom.access.ops import Op
from postroom.app import Services
from postroom.core import flags as F
from postroom.core.actor import Origin
from postroom.core.errors import Kind, MailError
from postroom.core.principal import Principal
from tests.support.factory import account, message

TEST_ORIGIN = Origin("test", "local")


async def _error(coro: object) -> MailError:
    with pytest.raises(MailError) as exc:
        await coro  # type: ignore[misc]
    return exc.value


async def test_inheritance_at_creation_without_propagation(services: Services) -> None:
    alice = await account(services, "alice@example.com")
    await account(services, "bob@example.com")
    await services.mailboxes.create(alice, "Projects")
    await services.acl.set(alice, "Projects", "bob@example.com", "lr", TEST_ORIGIN)
    await services.mailboxes.create(alice, "Projects/Alpha")
    assert [(e.identifier, e.rights) for e in await services.acl.get(alice, "Projects/Alpha")] \
        == [("bob@example.com", "lr")]
    await services.acl.set(alice, "Projects", "bob@example.com", "+w", TEST_ORIGIN)
    assert [e.rights for e in await services.acl.get(alice, "Projects/Alpha")] == ["lr"]
    # Intermediate levels created on the way inherit too.
    await services.mailboxes.create(alice, "Projects/Beta/Deep")
    assert [e.rights for e in await services.acl.get(alice, "Projects/Beta")] == ["lrw"]


async def test_apply_to_subfolders_is_admin_only(services: Services) -> None:
    alice = await account(services, "alice@example.com")
    await services.mailboxes.create(alice, "P/A/B")
    await services.acl.set(alice, "P", "anyone", "lr", TEST_ORIGIN)
    err = await _error(services.acl.apply_to_subfolders(alice, "P", TEST_ORIGIN))
    assert err.kind is Kind.NO_PERM
    op = Principal(alice.account_id, alice.address, alice.domain_id, global_admin=True,
                   system=True)
    assert await services.acl.apply_to_subfolders(op, "P", TEST_ORIGIN) == 2
    assert [e.rights for e in await services.acl.get(alice, "P/A/B")] == ["lr"]


async def test_invisible_folder_is_indistinguishable_from_missing(services: Services) -> None:
    alice = await account(services, "alice@example.com")
    bob = await account(services, "bob@example.com")
    await services.mailboxes.create(alice, "Secret")
    # p alone: invisible
    await services.acl.set(alice, "Secret", "bob@example.com", "p", TEST_ORIGIN)
    for name in ("Other Users/alice@example.com/Secret",
                 "Other Users/alice@example.com/Missing"):
        errors = []
        for call in (services.mailboxes.open(bob, name, Op.SELECT),
                     services.acl.get(bob, name), services.acl.myrights(bob, name),
                     services.acl.set(bob, name, "bob@example.com", "lr", TEST_ORIGIN),
                     services.mailboxes.delete(bob, name),
                     services.messages.append(bob, name, [(message(), [], None)])):
            err = await _error(call)
            errors.append((err.kind, err.text.replace("Missing", "Secret")))
        assert all(e == (Kind.NOT_FOUND, "Mailbox doesn't exist: Other Users/alice@example.com/"
                                         "Secret") for e in errors), errors
    names = [m.name for m in await services.mailboxes.list(bob)]
    assert not any("alice" in n for n in names)


async def test_grantee_rights_and_flag_filtering(services: Services) -> None:
    alice = await account(services, "alice@example.com")
    bob = await account(services, "bob@example.com")
    await services.mailboxes.create(alice, "Projects")
    await services.messages.append(alice, "Projects", [(message("p1"), [], None)])
    await services.acl.set(alice, "Projects", "bob", "lr", TEST_ORIGIN)
    shared = "Other Users/alice@example.com/Projects"
    listed = {m.name: m.rights.storage() for m in await services.mailboxes.list(bob)}
    assert listed[shared] == "lr"
    h = await services.mailboxes.open(bob, shared, Op.SELECT)
    changed, _ = await services.messages.store_flags(bob, h, [1], "add", ["\\Flagged"])
    assert changed == []  # no w: nothing changes, still no error (RFC 4314 §4)
    err = await _error(services.messages.expunge(h))
    assert err.kind is Kind.NO_PERM
    err = await _error(services.acl.get(bob, shared))
    assert err.kind is Kind.NO_PERM  # visible, but no a
    await services.acl.set(alice, "Projects", "bob", "+wis", TEST_ORIGIN)
    h = await services.mailboxes.open(bob, shared, Op.SELECT)
    changed, _ = await services.messages.store_flags(bob, h, [1], "add",
                                                     ["\\Flagged", "\\Deleted"])
    assert changed[0].flags == F.FLAGGED  # \Deleted needs t
    # COPY into the shared folder keeps only flags Bob may set (no t: \Deleted dropped).
    await services.messages.append(bob, "INBOX", [(message("b"), ["\\Deleted", "\\Seen"],
                                                   None)])
    own = await services.mailboxes.open(bob, "INBOX", Op.READ)
    await services.messages.copy(bob, own, [1], shared)
    rows = {r.uid: r.flags for r in await services.messages.view(bob, h)}
    assert rows[2] == F.SEEN


async def test_seen_is_per_user_in_shared_folders(services: Services) -> None:
    alice = await account(services, "alice@example.com")
    bob = await account(services, "bob@example.com")
    await services.mailboxes.create(alice, "Team")
    await services.messages.append(alice, "Team", [(message("t"), [], None)])
    await services.acl.set(alice, "Team", "bob", "lrs", TEST_ORIGIN)
    shared = "Other Users/alice@example.com/Team"
    hb = await services.mailboxes.open(bob, shared, Op.SELECT)
    await services.messages.store_flags(bob, hb, [1], "add", ["\\Seen"])
    assert (await services.messages.view(bob, hb))[0].flags == F.SEEN
    ha = await services.mailboxes.open(alice, "Team", Op.SELECT)
    assert (await services.messages.view(alice, ha))[0].flags == 0
    await services.messages.store_flags(alice, ha, [1], "add", ["\\Seen"])
    await services.messages.store_flags(bob, hb, [1], "remove", ["\\Seen"])
    assert (await services.messages.view(alice, ha))[0].flags == F.SEEN
    assert (await services.messages.view(bob, hb))[0].flags == 0


async def test_public_folders_and_groups(services: Services) -> None:
    alice = await account(services, "alice@example.com")
    bob = await account(services, "bob@example.com")
    await services.directory.add_group("team@example.com", ["bob@example.com"])
    bob = await services.directory.principal_for(
        await services.directory.require_account("bob@example.com"))
    op = Principal.operator()
    await services.mailboxes.create(op, "Public Folders/News", address="news@example.com")
    await services.acl.set(op, "Public Folders/News", "$team@example.com", "lri", TEST_ORIGIN)
    err = await _error(services.mailboxes.create(alice, "Public Folders/Other"))
    assert err.kind is Kind.NO_PERM
    names = [m.name for m in await services.mailboxes.list(bob)]
    assert "Public Folders/News" in names
    assert "Public Folders/News" not in [m.name for m in await services.mailboxes.list(alice)]
    await services.messages.append(bob, "Public Folders/News", [(message("n"), [], None)])
    h = await services.mailboxes.open(bob, "Public Folders/News", Op.SELECT)
    assert len(await services.messages.view(bob, h)) == 1
    post = await services.mailboxes.open(op, "Public Folders/News")
    assert post.mailbox.owner_id is None


async def test_rename_moves_children_and_inbox_rename(services: Services) -> None:
    alice = await account(services, "alice@example.com")
    await services.mailboxes.create(alice, "A/B/C")
    await services.mailboxes.rename(alice, "A", "Z/A")
    names = sorted(m.name for m in await services.mailboxes.list(alice))
    assert "Z/A/B/C" in names and "A" not in names
    err = await _error(services.mailboxes.rename(alice, "Z", "Z/A/Inside"))
    assert err.kind in (Kind.INVALID, Kind.EXISTS)
    await services.messages.append(alice, "INBOX", [(message("i"), [], None)])
    await services.mailboxes.rename(alice, "INBOX", "Old Inbox")
    inbox = await services.mailboxes.open(alice, "INBOX", Op.READ)
    assert await services.messages.view(alice, inbox) == []
    old = await services.mailboxes.open(alice, "Old Inbox", Op.READ)
    assert len(await services.messages.view(alice, old)) == 1
    err = await _error(services.mailboxes.delete(alice, "INBOX"))
    assert err.kind is Kind.NO_PERM
    err = await _error(services.mailboxes.delete(alice, "Z"))
    assert err.kind is Kind.IN_USE


async def test_posting_to_a_public_folder_address(services: Services) -> None:
    """``p`` lets mail reach a public folder's address (RFC 4314 §2.1); anonymous senders
    need ``p`` for ``anyone``; posting needs neither ``i`` nor visibility, and adds no flags."""
    bob = await account(services, "bob@example.com")
    op = Principal.operator()
    await services.mailboxes.create(op, "Public Folders/Sales", address="sales@example.com")
    anon = Principal.anonymous()
    for sender in (anon, bob):
        err = await _error(services.messages.post(sender, "sales@example.com", message("x")))
        assert err.kind is Kind.NO_PERM
    await services.acl.set(op, "Public Folders/Sales", "bob@example.com", "p", TEST_ORIGIN)
    err = await _error(services.messages.post(anon, "Sales@Example.com", message("x")))
    assert err.kind is Kind.NO_PERM  # bob's p is bob's; outside senders need anyone
    res = await services.messages.post(bob, "Sales@Example.com", message("from bob"))
    assert res.uids == (1,)
    await services.acl.set(op, "Public Folders/Sales", "anyone", "p", TEST_ORIGIN)
    await services.messages.post(anon, "sales@example.com", message("from outside"))
    h = await services.mailboxes.open(op, "Public Folders/Sales", Op.READ)
    assert [r.flags for r in await services.messages.view(op, h)] == [0, 0]
    err = await _error(services.messages.post(bob, "nobody@example.com", message("x")))
    assert err.kind is Kind.NOT_FOUND
    # Bob holds p alone: the folder stays invisible to him everywhere else.
    assert "Public Folders/Sales" not in [m.name for m in await services.mailboxes.list(bob)]


async def test_groupware_folders_ignore_s_w_p(services: Services) -> None:
    """Product decision 3: on calendars and the like, s w p are stored but mean nothing, and
    editing an item needs i plus the delete rights."""
    alice = await account(services, "alice@example.com")
    bob = await account(services, "bob@example.com")
    await services.mailboxes.create(alice, "Calendar", kind="calendar")
    await services.acl.set(alice, "Calendar", "bob", "lrswpi", TEST_ORIGIN)
    assert [e.rights for e in await services.acl.get(alice, "Calendar")] == ["lrswip"]
    shared = "Other Users/alice@example.com/Calendar"
    assert (await services.acl.myrights(bob, shared)).storage() == "lri"
    h = await services.mailboxes.open(bob, shared)
    assert h.allows(Op.ITEM_CREATE) and not h.allows(Op.ITEM_EDIT)
    await services.acl.set(alice, "Calendar", "bob", "+te", TEST_ORIGIN)
    h = await services.mailboxes.open(bob, shared)
    assert h.allows(Op.ITEM_EDIT)
