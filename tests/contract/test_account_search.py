"""Paged, searched account listings (store/repo/directory.py ``search_accounts`` and
``UsersAdmin.search``), the same on both stores: what WebAdmin's user list draws."""

from __future__ import annotations

import pytest

from postroom.app import Services
from postroom.core.actor import Actor, Origin
from postroom.core.errors import Kind, MailError
from tests.support.factory import account

WEB = Origin("webadmin", "198.51.100.7")


async def _populate(services: Services) -> None:
    for domain in ("a.example", "b.example"):
        await services.directory.add_domain(domain)
    rows = [{"address": f"user{i:03d}@a.example", "display_name": f"Person {i:03d}",
             "password_hash": "x"} for i in range(120)]
    rows += [{"address": "odd_one@b.example", "display_name": "Zoë 100% Real",
              "password_hash": "x"},
             {"address": "oddxone@b.example", "display_name": "Other", "password_hash": "x"}]
    await services.store.directory.add_accounts(rows)


async def test_pages_count_and_order(services: Services) -> None:
    await _populate(services)
    repo = services.store.directory
    page, total = await repo.search_accounts(offset=0, limit=50)
    assert total == 122
    assert [r.address for r in page][:2] == ["odd_one@b.example", "oddxone@b.example"]
    last, total = await repo.search_accounts(offset=100, limit=50)
    assert total == 122 and len(last) == 22 and last[-1].address == "user119@a.example"
    beyond, total = await repo.search_accounts(offset=500, limit=50)
    assert beyond == [] and total == 122


async def test_search_matches_address_or_name_ignoring_case_and_wildcards(
        services: Services) -> None:
    await _populate(services)
    repo = services.store.directory
    page, total = await repo.search_accounts(text="PERSON 01", limit=5)
    assert total == 10 and [r.address for r in page] == [f"user{i:03d}@a.example"
                                                        for i in range(10, 15)]
    # "_" and "%" are literal: odd_one matches, oddxone does not
    page, total = await repo.search_accounts(text="odd_")
    assert [r.address for r in page] == ["odd_one@b.example"] and total == 1
    page, total = await repo.search_accounts(text="100%")
    assert [r.address for r in page] == ["odd_one@b.example"]
    a_id = (await repo.get_domain("a.example"))
    assert a_id is not None
    page, total = await repo.search_accounts(domain_ids=[a_id.id], text="odd")
    assert (page, total) == ([], 0)
    assert await repo.search_accounts(domain_ids=[]) == ([], 0)


async def test_service_scopes_the_search_to_what_the_actor_administers(
        services: Services) -> None:
    await _populate(services)
    admin = services.admin
    op = Actor.operator()
    await account(services, "boss@b.example")
    await admin.roles.set(op, "boss@b.example", "b.example", True)
    boss = Actor(await services.directory.principal_for(
        await services.directory.require_account("boss@b.example")), WEB)
    page = await admin.users.search(boss, limit=10)
    assert page.total == 3
    assert [r.address for r in page.items] == ["boss@b.example", "odd_one@b.example",
                                               "oddxone@b.example"]
    everyone = await admin.users.search(op, text="user", offset=10, limit=10)
    assert everyone.total == 120 and everyone.items[0].address == "user010@a.example"
    with pytest.raises(MailError) as exc:
        await admin.users.search(boss, domain="a.example")
    assert exc.value.kind in (Kind.NO_PERM, Kind.NOT_FOUND)
    plain = Actor(await account(services, "pleb@a.example"), WEB)
    assert (await admin.users.search(plain)).total == 0
    with pytest.raises(MailError) as exc:
        await admin.users.search(op, limit=0)
    assert exc.value.kind is Kind.INVALID
