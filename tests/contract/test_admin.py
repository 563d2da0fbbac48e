"""Administration as services: who may do what, and the audit record of every change
(both backends). The CLI, the JSON API and WebAdmin all call these."""

from __future__ import annotations

import pytest

from postroom.app import Services
from postroom.core.actor import Actor, Origin
from postroom.core.errors import Kind, MailError
from postroom.services.admin.directory import NewAccount
from tests.support.factory import account

WEB = Origin("api", "198.51.100.4")


async def test_scopes_of_domain_and_global_administrators(services: Services) -> None:
    admin = services.admin
    op = Actor.operator()
    await admin.domains.add(op, "a.example")
    await admin.domains.add(op, "b.example")
    boss = await account(services, "boss@a.example")
    await admin.roles.set(op, "boss@a.example", "a.example", True)
    boss = await services.directory.principal_for(
        await services.directory.require_account("boss@a.example"))
    actor = Actor(boss, WEB)
    rec = await admin.users.add(actor, NewAccount("new@a.example", "pw-123456789"))
    assert rec.address == "new@a.example"
    folders = [b.name for b in await admin.folders.list(actor, "new@a.example")]
    assert "INBOX" in folders and "Junk" in folders
    # another domain reads as a missing one (docs/api.md "Roles"); global-only operations
    # are refused as such
    with pytest.raises(MailError) as exc:
        await admin.users.add(actor, NewAccount("x@b.example", "pw-123456789"))
    assert exc.value.kind is Kind.NOT_FOUND
    for refused in (admin.domains.add(actor, "c.example"),
                    admin.roles.set(actor, "new@a.example", None, True),
                    admin.queue.list(actor),
                    admin.folders.list(actor, None)):  # public folders: global only
        with pytest.raises(MailError) as exc:
            await refused
        assert exc.value.kind is Kind.NO_PERM
    assert [i.domain.name for i in await admin.domains.list(actor)] == ["a.example"]
    assert [r.address for r in await admin.users.list(actor)] == ["boss@a.example",
                                                                  "new@a.example"]
    plain = Actor(await account(services, "pleb@a.example"), WEB)
    with pytest.raises(MailError):
        await admin.users.remove(plain, "new@a.example")


async def test_every_change_is_audited_with_who_and_where(services: Services) -> None:
    admin = services.admin
    op = Actor.operator()
    await admin.domains.add(op, "a.example")
    await admin.users.add(op, NewAccount("ann@a.example", "pw-123456789", "Ann"))
    await admin.users.update(op, "ann@a.example", quota_bytes=1024)
    await admin.users.set_password(op, "ann@a.example", "pw-987654321")
    await admin.folders.create(op, "ann@a.example", "Projects")
    await admin.folders.set_acl(op, "ann@a.example", "Projects", "anyone", "lr")
    await admin.aliases.add(op, "info@a.example", ["ann@a.example"])
    records = await admin.audit(op)
    actions = [r.action for r in reversed(records)]
    assert actions == ["domain.add", "user.add", "user.set", "user.passwd", "folder.create",
                       "acl.set", "alias.add"]
    newest = records[0]
    assert (newest.actor, newest.target) == ("operator", "info@a.example")
    assert newest.origin.startswith("cli:") and newest.detail == {"targets": ["ann@a.example"]}
    acl = next(r for r in records if r.action == "acl.set")
    assert acl.target == "ann@a.example:Projects"
    assert acl.detail == {"identifier": "anyone", "rights": "lr", "was": ""}
    assert all("pw-" not in str(r.detail) for r in records)  # no password ever recorded
    # filters: by action prefix, by target
    assert [r.action for r in await admin.audit(op, action="user.")] == \
        ["user.passwd", "user.set", "user.add"]
    assert {r.action for r in await admin.audit(op, target="ann@a.example")} >= \
        {"user.add", "acl.set", "folder.create"}
    # an ACL change from IMAP is recorded the same way, with the client's address
    ann = await services.directory.principal_for(
        await services.directory.require_account("ann@a.example"))
    await services.acl.set(ann, "Projects", "anyone", "+s", Origin("imap", "203.0.113.5"))
    last = (await admin.audit(op, limit=1))[0]
    assert (last.actor, last.origin, last.action) == ("ann@a.example", "imap:203.0.113.5",
                                                      "acl.set")
    # reading the log is for global administrators
    with pytest.raises(MailError):
        await admin.audit(Actor(ann, WEB))
