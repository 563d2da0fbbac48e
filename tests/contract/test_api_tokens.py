"""API tokens on both stores (services/apitokens.py, migration 0018): only the hash is
stored, a token stands for its owner cut down to its scope, and revoked, expired, disabled or
out-of-scope tokens authenticate nobody; revocation through the service is immediate even
with the cache."""

from __future__ import annotations

import hashlib

import pytest

from postroom.app import Services
from postroom.core.actor import Actor, Origin
from postroom.core.errors import Kind, MailError
from postroom.services.admin.directory import NewAccount
from postroom.services.apitokens import ApiTokens

API = Origin("api", "198.51.100.9")


async def setup(services: Services) -> ApiTokens:
    op = Actor.operator()
    admin = services.admin
    for domain in ("a.example", "b.example"):
        await admin.domains.add(op, domain)
    for address in ("root@a.example", "boss@a.example", "ann@a.example"):
        await admin.users.add(op, NewAccount(address, "pw-123456789"))
    await admin.roles.set(op, "root@a.example", None, True)
    await admin.roles.set(op, "boss@a.example", "a.example", True)
    await admin.roles.set(op, "boss@a.example", "b.example", True)
    assert services.tokens is not None
    return ApiTokens(services.store, services.directory, services.audit, cache_seconds=60)


async def test_scopes_cut_the_owner_down(services: Services) -> None:
    tokens = await setup(services)
    op = Actor.operator()
    a_id = (await services.store.directory.get_domain("a.example"))
    assert a_id is not None
    token, rec = await tokens.create(op, "ci", "admin", owner="root@a.example")
    assert token.startswith("prt_") and rec.scope == "admin" and rec.owner == "root@a.example"
    # the store has the hash, never the token
    row = await services.store.api_tokens.by_hash(hashlib.sha256(token.encode()).hexdigest())
    assert row is not None and row.id == rec.id
    found = await tokens.authenticate(token)
    assert found is not None and found[0].global_admin
    token, _ = await tokens.create(op, "a only", "domain:A.example", owner="boss@a.example")
    found = await tokens.authenticate(token)
    assert found is not None
    p = found[0]
    assert not p.global_admin and p.admin_domain_ids == frozenset({a_id.id})
    token, _ = await tokens.create(op, "me", "self", owner="boss@a.example")
    found = await tokens.authenticate(token)
    assert found is not None and not found[0].admin_domain_ids and \
        found[0].address == "boss@a.example"
    assert await tokens.authenticate("prt_nonsense") is None
    assert await tokens.authenticate("Basic x") is None


async def test_no_token_wider_than_its_maker(services: Services) -> None:
    tokens = await setup(services)
    op = Actor.operator()
    for owner, scope in (("ann@a.example", "admin"), ("boss@a.example", "domain:c.example"),
                         ("ann@a.example", "domain:a.example")):
        with pytest.raises(MailError):
            await tokens.create(op, "x", scope, owner=owner)
    # through the API, with a self-scoped principal, an admin token cannot be minted
    token, _ = await tokens.create(op, "me", "self", owner="boss@a.example")
    found = await tokens.authenticate(token)
    assert found is not None
    narrow = Actor(found[0], API)
    with pytest.raises(MailError) as exc:
        await tokens.create(narrow, "escalate", "admin")
    assert exc.value.kind is Kind.INVALID
    with pytest.raises(MailError) as exc:
        await tokens.create(narrow, "escalate", "domain:a.example")
    assert exc.value.kind is Kind.NOT_FOUND
    with pytest.raises(MailError) as exc:  # only the operator names another owner
        await tokens.create(narrow, "x", "self", owner="ann@a.example")
    assert exc.value.kind is Kind.NO_PERM
    # a domain token of an administrator of a.example and b.example: neither an admin token
    # (the owner's every right) nor another domain's, only its own domain or self (review)
    token, dom = await tokens.create(op, "a only", "domain:a.example", owner="boss@a.example")
    found = await tokens.authenticate(token)
    assert found is not None
    scoped = Actor(found[0], API)
    for wider in ("admin", "domain:b.example"):
        with pytest.raises(MailError) as exc:
            await tokens.create(scoped, "escalate", wider, parent_scope=dom.scope)
        assert exc.value.kind is Kind.NO_PERM
    for narrower in ("domain:a.example", "self"):
        await tokens.create(scoped, "narrower", narrower, parent_scope=dom.scope)
    with pytest.raises(MailError) as exc:
        await tokens.create(narrow, "x", "domain:a.example", parent_scope="self")
    assert exc.value.kind is Kind.NO_PERM
    for bad in ("", "x" * 101):
        with pytest.raises(MailError):
            await tokens.create(op, bad, "self", owner="ann@a.example")
    with pytest.raises(MailError):
        await tokens.create(op, "x", "root", owner="ann@a.example")


async def test_revoked_expired_disabled_and_lost_roles_stop(services: Services) -> None:
    tokens = await setup(services)
    op = Actor.operator()
    token, rec = await tokens.create(op, "t", "admin", owner="root@a.example")
    assert await tokens.authenticate(token) is not None  # now cached for 60 s
    owner = await tokens.authenticate(token)
    assert owner is not None
    other = Actor(owner[0], API)
    revoked = await tokens.revoke(other, rec.id)
    assert revoked.revoked_at is not None
    assert await tokens.authenticate(token) is None  # at once, despite the cache
    with pytest.raises(MailError) as exc:
        await tokens.revoke(op, rec.id)
    assert exc.value.kind is Kind.EXISTS
    # someone else's token is not found
    token2, rec2 = await tokens.create(op, "t2", "self", owner="root@a.example")
    found = await tokens.authenticate((await tokens.create(op, "a", "self",
                                                          owner="ann@a.example"))[0])
    assert found is not None
    with pytest.raises(MailError) as exc:
        await tokens.revoke(Actor(found[0], API), rec2.id)
    assert exc.value.kind is Kind.NOT_FOUND
    assert [t.name for t in await tokens.list(Actor(found[0], API))] == ["a"]
    # a disabled owner
    await services.admin.users.update(op, "root@a.example", state="disabled")
    fresh = ApiTokens(services.store, services.directory, services.audit)
    assert await fresh.authenticate(token2) is None
    # a domain scope whose role was revoked
    dtoken, _ = await tokens.create(op, "d", "domain:b.example", owner="boss@a.example")
    assert await fresh.authenticate(dtoken) is not None
    await services.admin.roles.set(op, "boss@a.example", "b.example", False)
    assert await ApiTokens(services.store, services.directory,
                           services.audit).authenticate(dtoken) is None
    # an expired token
    etoken, erec = await tokens.create(op, "e", "self", 1, owner="ann@a.example")
    await services.store.engine.write(lambda tx: tx.execute(
        "UPDATE api_tokens SET expires_at = 1 WHERE id = ?", (erec.id,)))
    assert await ApiTokens(services.store, services.directory,
                           services.audit).authenticate(etoken) is None
    # removing the account removes its tokens; every change is audited
    await services.admin.users.remove(op, "ann@a.example")
    assert all(t.owner != "ann@a.example" for t in await tokens.list(op))
    actions = [r.action for r in await services.admin.audit(op, action="token.")]
    assert actions.count("token.create") >= 5 and "token.revoke" in actions
