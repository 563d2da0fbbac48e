"""Directory contract: the same behaviour on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest

from postroom.app import Services
from postroom.core.errors import Kind, MailError
from postroom.core.principal import Principal
from postroom.directory.service import ToAccount, ToAlias, ToGroup, ToPublicFolder, Unknown
from tests.support.factory import account


async def test_domains_idn_and_duplicates(services: Services) -> None:
    assert await services.directory.add_domain("Bücher.Example") == "xn--bcher-kva.example"
    with pytest.raises(MailError) as exc:
        await services.directory.add_domain("xn--bcher-kva.example")
    assert exc.value.kind is Kind.EXISTS
    with pytest.raises(MailError):
        await services.directory.add_domain("under_score.example")
    assert [d.name for d in await services.store.directory.list_domains()] == [
        "xn--bcher-kva.example"]


async def test_accounts_authenticate_and_states(services: Services) -> None:
    p = await account(services, "Alice@Example.com", "correct horse")
    assert p.address == "alice@example.com"
    ok = await services.directory.authenticate("alice@EXAMPLE.com", "correct horse")
    assert ok is not None and ok.account_id == p.account_id
    assert await services.directory.authenticate("alice@example.com", "wrong") is None
    assert await services.directory.authenticate("nobody@example.com", "x") is None
    await services.directory.set_state("alice@example.com", "disabled")
    with pytest.raises(MailError) as exc:
        await services.directory.authenticate("alice@example.com", "correct horse")
    assert exc.value.kind is Kind.DISABLED
    rec = await services.directory.require_account("alice@example.com")
    assert rec.password_hash.startswith("$argon2id$")
    assert rec.scram.startswith("SCRAM-SHA-256$4096:")
    with pytest.raises(MailError) as exc:
        await services.directory.add_account("alice@example.com", "x")
    assert exc.value.kind is Kind.EXISTS
    with pytest.raises(MailError) as exc:
        await services.directory.add_account("zed@unknown.example", "x")
    assert exc.value.kind is Kind.NOT_FOUND
    with pytest.raises(MailError):
        await services.directory.add_account("bob@example.com", "")


async def test_remembered_login_never_outlives_the_password(services: Services) -> None:
    """The login cache (directory/login_cache.py) remembers successes only, and a new password
    voids it, whether set here or written to the store by another process (a cluster node,
    an import): the stored hash is part of what is remembered."""
    d = services.directory
    assert d.login_cache.enabled  # on by default
    await account(services, "alice@example.com", "first secret")
    assert await d.authenticate("alice@example.com", "first secret") is not None
    assert len(d.login_cache) == 1
    assert await d.authenticate("alice@example.com", "wrong") is None
    assert await d.authenticate("alice@example.com", "first secret") is not None
    await d.set_password("alice@example.com", "second secret")
    assert await d.authenticate("alice@example.com", "first secret") is None
    assert await d.authenticate("alice@example.com", "second secret") is not None
    # Behind the directory's back, as another node would: the old digest cannot match.
    creds = await d.credentials("third secret")
    await services.store.directory.update_account("alice@example.com", **creds)
    assert await d.authenticate("alice@example.com", "second secret") is None
    assert await d.authenticate("alice@example.com", "third secret") is not None


async def test_identical_logins_at_once_share_one_check(services: Services) -> None:
    """A burst of logins with the same password (phones reconnecting together) runs argon2id
    once, not once per login; different passwords are each checked, and a wrong one fails
    for every caller."""
    d = services.directory
    await account(services, "bob@example.com", "right secret")
    d.login_cache.forget("bob@example.com")
    before = d.verifications
    results = await asyncio.gather(*(d.authenticate("bob@example.com", "right secret")
                                     for _ in range(10)))
    assert all(p is not None for p in results)
    assert d.verifications - before == 1
    wrong = await asyncio.gather(*(d.authenticate("bob@example.com", f"guess {i % 3}")
                                   for i in range(9)))
    assert wrong == [None] * 9  # a wrong password fails for every caller
    # Whether nine logins overlap depends on the store's speed (PostgreSQL reads the account
    # for each in its own time, and a finished failure is never remembered), so the sharing
    # of failed checks is shown one step lower, where all nine are in flight at once:
    rec = await services.store.directory.get_account("bob@example.com")
    assert rec is not None
    before = d.verifications
    checks = await asyncio.gather(*(d._verify(rec.address, rec.password_hash, f"guess {i % 3}")
                                    for i in range(9)))
    assert checks == [False] * 9
    assert d.verifications - before == 3  # one check per distinct guess in flight together
    assert not d._in_flight  # nothing left behind


async def test_resolution_order(services: Services) -> None:
    await account(services, "alice@example.com")
    await account(services, "bob@example.com")
    d = services.directory
    await d.add_alias("info@example.com", ["alice@example.com", "bob@example.com"])
    await d.add_group("team@example.com", ["alice@example.com", "bob@example.com"])
    r = await d.resolve_recipient("alice@example.com")
    assert isinstance(r, ToAccount) and r.account.address == "alice@example.com"
    r = await d.resolve_recipient("alice+lists@example.com")
    assert isinstance(r, ToAccount) and r.tag == "lists"
    assert isinstance(await d.resolve_recipient("info@example.com"), ToAlias)
    assert isinstance(await d.resolve_recipient("team@example.com"), ToGroup)
    r = await d.resolve_recipient("nobody@example.com")
    assert isinstance(r, Unknown) and r.local_domain
    assert isinstance(await d.resolve_recipient("x@elsewhere.example"), Unknown)
    await d.add_alias("@example.com", ["alice@example.com"])
    r = await d.resolve_recipient("nobody@example.com")
    assert isinstance(r, ToAlias) and r.alias.targets == ("alice@example.com",)
    # A catch-all never shadows a real address.
    assert isinstance(await d.resolve_recipient("bob@example.com"), ToAccount)
    op = Principal.operator()
    await services.mailboxes.create(op, "Public Folders/News", address="news@example.com")
    assert isinstance(await d.resolve_recipient("news@example.com"), ToPublicFolder)
    # Address uniqueness across kinds.
    with pytest.raises(MailError) as exc:
        await d.add_group("info@example.com", [])
    assert "alias" in exc.value.text


async def test_groups_nested_and_loop_safe(services: Services) -> None:
    await account(services, "alice@example.com")
    d = services.directory
    await d.add_group("inner@example.com", ["alice@example.com"])
    await d.add_group("outer@example.com", ["inner@example.com"])
    await services.store.directory.set_group_member("inner@example.com", "outer@example.com",
                                                    True)  # a loop
    assert await d.groups_of("alice@example.com") == {"inner@example.com", "outer@example.com"}
    assert await d.expand("outer@example.com") == ["alice@example.com"]
    p = await d.principal_for(await d.require_account("alice@example.com"))
    assert p.groups == {"$inner@example.com", "$outer@example.com"}


async def test_admin_roles(services: Services) -> None:
    await account(services, "alice@example.com")
    await services.directory.add_domain("other.example")
    repo = services.store.directory
    await repo.set_admin("alice@example.com", "other.example", True)
    with pytest.raises(MailError):
        await repo.set_admin("alice@example.com", "other.example", True)
    p = await services.directory.principal_for(
        await services.directory.require_account("alice@example.com"))
    other = await repo.get_domain("other.example")
    assert other is not None and p.administers(other.id) and not p.global_admin
    await repo.set_admin("alice@example.com", None, True)
    assert (await repo.admin_scopes(p.account_id or 0))[0]


async def test_domain_removal_refused_while_used(services: Services) -> None:
    await account(services, "alice@example.com")
    with pytest.raises(MailError) as exc:
        await services.store.directory.remove_domain("example.com")
    assert exc.value.kind is Kind.IN_USE
    await services.store.directory.remove_account("alice@example.com")
    await services.store.directory.remove_domain("example.com")
