"""Role scoping in the admin services (both backends): a domain administrator asking about a
domain they do not administer, or anything in it, gets NOT_FOUND with exactly the text a
nonexistent one gets; a user reaches only their own account (self-service); the operator's
CLI is unaffected. The JSON API's 404-for-other-domains rests on these (docs/api.md)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from postroom.app import Services
from postroom.core.actor import Actor, Origin
from postroom.core.errors import Kind, MailError
from postroom.services.admin.directory import NewAccount
from tests.support.factory import account

API = Origin("api", "198.51.100.9")


async def failure(call: Awaitable[Any]) -> MailError:
    with pytest.raises(MailError) as exc:
        await call
    return exc.value


async def setup(services: Services) -> tuple[Actor, Actor]:
    """(administrator of a.example only, plain user of a.example); b.example holds bob."""
    op = Actor.operator()
    admin = services.admin
    for domain in ("a.example", "b.example"):
        await admin.domains.add(op, domain)
    await admin.users.add(op, NewAccount("boss@a.example", "pw-123456789"))
    await admin.users.add(op, NewAccount("ann@a.example", "pw-123456789"))
    await admin.users.add(op, NewAccount("bob@b.example", "pw-123456789"))
    await admin.groups.add(op, "team@b.example", ["bob@b.example"])
    await admin.aliases.add(op, "info@b.example", ["bob@b.example"])
    await admin.roles.set(op, "boss@a.example", "a.example", True)
    d = services.directory
    boss = await d.principal_for(await d.require_account("boss@a.example"))
    ann = await d.principal_for(await d.require_account("ann@a.example"))
    return Actor(boss, API), Actor(ann, API)


async def test_another_domain_is_not_found_exactly_like_a_missing_one(
        services: Services) -> None:
    boss, _ = await setup(services)
    admin = services.admin
    pairs: list[tuple[Callable[[str], Awaitable[Any]], str, str]] = [
        (lambda d: admin.domains.show(boss, d), "b.example", "nowhere.example"),
        (lambda d: admin.users.list(boss, d), "b.example", "nowhere.example"),
        (lambda d: admin.aliases.list(boss, d), "b.example", "nowhere.example"),
        (lambda d: admin.groups.list(boss, d), "b.example", "nowhere.example"),
        (lambda d: admin.signing.dkim_list(boss, d), "b.example", "nowhere.example"),
        (lambda a: admin.users.show(boss, a), "bob@b.example", "nobody@b.example"),
        (lambda a: admin.users.set_password(boss, a, "pw-987654321"), "bob@b.example",
         "nobody@b.example"),
        (lambda a: admin.users.remove(boss, a), "bob@b.example", "nobody@b.example"),
        (lambda a: admin.folders.list(boss, a), "bob@b.example", "nobody@b.example"),
        (lambda a: admin.multipop.list(boss, a), "bob@b.example", "nobody@b.example"),
    ]
    for call, other, missing in pairs:
        hidden, absent = await failure(call(other)), await failure(call(missing))
        assert hidden.kind is absent.kind is Kind.NOT_FOUND, other
        assert hidden.text == absent.text.replace(missing, other), (hidden, absent)
    group = await failure(admin.groups.show(boss, "team@b.example"))
    assert group.kind is Kind.NOT_FOUND and "b.example" in group.text
    # their own domain works, and the other domain was not touched
    assert [r.address for r in await admin.users.list(boss, "a.example")] == [
        "ann@a.example", "boss@a.example"]
    assert (await admin.users.show(Actor.operator(), "bob@b.example")).account.state == \
        "active"


async def test_global_only_operations_stay_forbidden(services: Services) -> None:
    boss, _ = await setup(services)
    for call in (services.admin.domains.add(boss, "c.example"), services.admin.queue.list(boss),
                 services.admin.roles.list(boss)):
        assert (await failure(call)).kind is Kind.NO_PERM


async def test_a_user_reaches_only_their_own_account(services: Services) -> None:
    _, ann = await setup(services)
    admin = services.admin
    me = await admin.users.me(ann)
    assert me.account.address == "ann@a.example" and me.admin is None
    # self-service: their own remote accounts and their own folders' sharing
    remote = await admin.multipop.add(ann, "ann@a.example", host="pop.example.net",
                                      username="ann", password="remote-secret")
    assert [r.id for r in await admin.multipop.list(ann, "ann@a.example")] == [remote.id]
    await admin.folders.create(ann, "ann@a.example", "Shared")
    await admin.folders.set_acl(ann, "ann@a.example", "Shared", "boss@a.example", "lr")
    assert {e.identifier for e in await admin.folders.acl(ann, "ann@a.example", "Shared")} \
        >= {"boss@a.example"}
    # administration is not self-service: their own account's settings, other accounts
    for call in (admin.users.show(ann, "ann@a.example"),
                 admin.users.show(ann, "boss@a.example"),
                 admin.multipop.list(ann, "boss@a.example"),
                 admin.folders.list(ann, "boss@a.example")):
        assert (await failure(call)).kind is Kind.NOT_FOUND


async def test_the_operator_is_unaffected(services: Services) -> None:
    await setup(services)
    op = Actor.operator()
    assert (await services.admin.users.show(op, "bob@b.example")).account.address == \
        "bob@b.example"
    missing = await failure(services.admin.users.show(op, "nobody@b.example"))
    assert missing.kind is Kind.NOT_FOUND and missing.text == "no account nobody@b.example"
    assert (await failure(services.admin.users.me(op))).kind is Kind.NOT_FOUND
    await account(services, "carol@c.example")
    assert len(await services.admin.domains.list(op)) == 3


async def test_detail_is_show_and_spam_filter_in_one(services: Services) -> None:
    """UsersAdmin.detail (store/repo/accountview.py: one read for the account, its roles and
    its spam opt-out) says what show and spam_filter say, under the same scoping."""
    await setup(services)
    op = Actor.operator()
    admin = services.admin
    await admin.roles.set(op, "boss@a.example", None, True)
    await admin.roles.set(op, "ann@a.example", "b.example", True)
    await admin.groups.add(op, "team@a.example", ["ann@a.example"])
    await admin.users.set_spam_filter(op, "ann@a.example", False)
    for address in ("boss@a.example", "ann@a.example", "bob@b.example"):
        info, spam = await admin.users.detail(op, address.upper())
        assert info == await admin.users.show(op, address), address
        assert spam == await admin.users.spam_filter(op, address)
    info, spam = await admin.users.detail(op, "ann@a.example")
    assert info.admin == "b.example"
    assert info.groups == ("team@a.example",) and spam is False
    assert (await admin.users.detail(op, "boss@a.example"))[0].admin == "global"
    # scoping as everywhere: boss is now global, so ask as a plain domain administrator
    d = services.directory
    narrow = Actor(await d.principal_for(await d.require_account("ann@a.example")), API)
    hidden = await failure(admin.users.detail(narrow, "boss@a.example"))
    absent = await failure(admin.users.detail(narrow, "nobody@a.example"))
    assert hidden.kind is absent.kind is Kind.NOT_FOUND
    assert (await admin.users.detail(narrow, "bob@b.example"))[0].account.address == \
        "bob@b.example"


async def test_a_domain_admin_cannot_change_an_account_with_wider_rights(
        services: Services) -> None:
    """Review finding: root@a.example (a global administrator) and far@a.example (who
    administers b.example) have their mailboxes in the domain boss administers; boss may look,
    but setting their password, resetting their second factor or removing them would hand
    boss their rights: NO_PERM. A plain user of the domain is still boss's to manage."""
    boss, _ = await setup(services)
    op = Actor.operator()
    admin = services.admin
    await admin.users.add(op, NewAccount("root@a.example", "pw-123456789"))
    await admin.users.add(op, NewAccount("far@a.example", "pw-123456789"))
    await admin.roles.set(op, "root@a.example", None, True)
    await admin.roles.set(op, "far@a.example", "b.example", True)
    for target in ("root@a.example", "far@a.example"):
        assert (await admin.users.show(boss, target)).account.address == target
        for call in (admin.users.set_password(boss, target, "pw-987654321"),
                     admin.users.update(boss, target, state="disabled"),
                     admin.users.remove(boss, target),
                     admin.logins.reset_two_factor(boss, target),
                     admin.logins.end_sessions(boss, target),
                     admin.folders.list(boss, target)):
            assert (await failure(call)).kind is Kind.NO_PERM, target
    await admin.users.set_password(boss, "ann@a.example", "pw-987654321")
    await admin.logins.reset_two_factor(boss, "ann@a.example")
    # a fellow administrator of the same domain only: no wider rights, still manageable
    await admin.users.add(op, NewAccount("peer@a.example", "pw-123456789"))
    await admin.roles.set(op, "peer@a.example", "a.example", True)
    await admin.users.set_password(boss, "peer@a.example", "pw-987654321")
    # the global administrator and the operator may
    await admin.users.set_password(op, "root@a.example", "pw-987654321")
