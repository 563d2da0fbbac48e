"""Sieve scripts and memory on both stores (store/repo/sieve.py, migration 0023) and the script
service over them (services/sieve/scripts.py): names (RFC 5804 §1.6), limits, one active script,
rename and delete rules, who may manage whose scripts, administrators' scripts, the audit
record, the compile cache and the chain a delivery reads."""

from __future__ import annotations

import pytest

from postroom.app import Services
from postroom.core.actor import Actor, Origin
from postroom.core.errors import Kind, MailError
from postroom.core.principal import Principal
from postroom.core.records import MemoryRow
from postroom.services.admin.directory import NewAccount
from postroom.sieve.errors import SieveSyntaxError
from postroom.store.engine import Tx
from postroom.store.repo.sieve import remember_in

SCRIPT = 'require "fileinto";\r\nif header :contains "subject" "x" { fileinto "Lists"; }\r\n'


async def _people(services: Services) -> dict[str, Principal]:
    """ann (user of a.example), boss (administrator of a.example), bob (b.example),
    root (global administrator)."""
    op = Actor.operator()
    admin = services.admin
    for domain in ("a.example", "b.example"):
        await admin.domains.add(op, domain)
    out = {}
    for address in ("ann@a.example", "boss@a.example", "bob@b.example", "root@b.example"):
        await admin.users.add(op, NewAccount(address, "pw-123456789"))
    await admin.roles.set(op, "boss@a.example", "a.example", True)
    await admin.roles.set(op, "root@b.example", None, True)
    for address in ("ann@a.example", "boss@a.example", "bob@b.example", "root@b.example"):
        rec = await services.directory.require_account(address)
        out[address.split("@")[0]] = await services.directory.principal_for(rec)
    return out


async def _kind(coro: object) -> Kind:
    try:
        await coro  # type: ignore[misc]
    except MailError as exc:
        return exc.kind
    raise AssertionError("no error")


async def test_put_list_get_activate_rename_delete(services: Services) -> None:
    p = await _people(services)
    scripts = services.sieve_scripts
    ann = p["ann"]
    assert await scripts.list(ann) == []
    assert await scripts.put(ann, "main", SCRIPT) == [
        "line 2: fileinto 'Lists': no such folder (messages would be kept in the default "
        "folder instead)"]
    await services.mailboxes.create(ann, "Lists")
    assert await scripts.put(ann, "main", SCRIPT.encode()) == []  # replaced, no warning now
    await scripts.put(ann, "other", "keep;")
    listed = await scripts.list(ann)
    assert [(i.name, i.active, i.size) for i in listed] == [
        ("main", False, len(SCRIPT)), ("other", False, 5)]
    assert await scripts.get(ann, "main") == SCRIPT
    await scripts.activate(ann, "main")
    assert await scripts.active(ann) == "main"
    await scripts.activate(ann, "other")  # one active at a time (RFC 5804 §2.8)
    assert [i.name for i in await scripts.list(ann) if i.active] == ["other"]
    assert await _kind(scripts.delete(ann, "other")) is Kind.IN_USE
    assert await _kind(scripts.rename(ann, "other", "main")) is Kind.EXISTS
    await scripts.rename(ann, "other", "renamed")
    assert await scripts.active(ann) == "renamed"  # the active state goes with the script
    await scripts.activate(ann, "")
    assert await scripts.active(ann) is None
    await scripts.delete(ann, "renamed")
    assert [i.name for i in await scripts.list(ann)] == ["main"]
    for call in (scripts.get(ann, "renamed"), scripts.delete(ann, "nope"),
                 scripts.activate(ann, "nope"), scripts.rename(ann, "nope", "x")):
        assert await _kind(call) is Kind.NOT_FOUND
    # every change was audited, under the origin given (or the service's own)
    await scripts.put(ann, "x", "keep;", origin=Origin("managesieve", "192.0.2.1"))
    records = await services.audit.list(actor="ann@a.example")
    actions = [r.action for r in records]
    assert {"sieve.put", "sieve.activate", "sieve.delete", "sieve.rename"} <= set(actions)
    assert any(r.origin == "managesieve:192.0.2.1" for r in records)


async def test_bad_scripts_are_refused_and_nothing_is_stored(services: Services) -> None:
    p = await _people(services)
    scripts = services.sieve_scripts
    ann = p["ann"]
    with pytest.raises(SieveSyntaxError) as bad:
        await scripts.put(ann, "bad", 'require "fileinto";\nfileinot "x";\n')
    assert bad.value.line == 2
    with pytest.raises(SieveSyntaxError) as bad:
        await scripts.check(ann, b'keep;\n# \xff\n')
    assert (bad.value.line, bad.value.column) == (2, 3)
    assert await scripts.list(ann) == []
    assert await scripts.check(ann, "keep;") == []


@pytest.mark.parametrize("name", ["", "a\x00b", "tab\there", "del\x7f", "c1\x85",
                                  "line\u2028sep", "para\u2029sep", "x" * 129,
                                  "cafe\u0301"])  # not NFC
async def test_bad_names_are_invalid(services: Services, name: str) -> None:
    p = await _people(services)
    scripts = services.sieve_scripts
    assert await _kind(scripts.put(p["ann"], name, "keep;")) is Kind.INVALID
    assert await _kind(scripts.have_space(p["ann"], name, 10)) is Kind.INVALID


async def test_names_may_be_any_net_unicode(services: Services) -> None:
    p = await _people(services)
    scripts = services.sieve_scripts
    for name in ("café", "with space", "x" * 128, "дом", "a/b\\c\"d"):
        await scripts.put(p["ann"], name, "keep;")
        assert await scripts.get(p["ann"], name) == "keep;"


async def test_limits_from_the_configuration(services: Services) -> None:
    p = await _people(services)
    scripts = services.sieve_scripts
    ann = p["ann"]
    most, size = scripts.limits.max_scripts, scripts.limits.max_script_size
    assert await _kind(scripts.have_space(ann, "big", size + 1)) is Kind.LIMIT
    assert await _kind(scripts.put(ann, "big", "#" * size + "\nkeep;")) is Kind.LIMIT
    await scripts.have_space(ann, "fits", size)
    for n in range(most):
        await scripts.put(ann, f"s{n}", "keep;")
    assert await _kind(scripts.put(ann, "one-more", "keep;")) is Kind.OVER_QUOTA
    assert await _kind(scripts.have_space(ann, "one-more", 10)) is Kind.OVER_QUOTA
    await scripts.have_space(ann, "s0", 10)  # replacing is not one more
    await scripts.put(ann, "s0", "discard;")
    assert len(await scripts.list(ann)) == most


async def test_who_may_manage_whose_scripts(services: Services) -> None:
    p = await _people(services)
    scripts = services.sieve_scripts
    await scripts.put(p["ann"], "mine", "keep;")
    # the domain's administrator and a global administrator manage ann's scripts
    assert await scripts.get(p["boss"], "mine", owner="ann@a.example") == "keep;"
    await scripts.put(p["root"], "root-wrote", "keep;", owner="ANN@a.example")
    await scripts.activate(p["boss"], "root-wrote", owner="ann@a.example")
    assert await scripts.active(p["ann"]) == "root-wrote"
    assert await scripts.get(Principal.operator(), "mine", owner="ann@a.example") == "keep;"
    # anyone else gets what a missing account gets: NOT_FOUND, same text
    for who, owner in ((p["bob"], "ann@a.example"), (p["ann"], "boss@a.example"),
                       (p["boss"], "bob@b.example")):
        with pytest.raises(MailError) as hidden:
            await scripts.list(who, owner)
        with pytest.raises(MailError) as missing:
            await scripts.list(who, owner.replace("@", "nobody@"))
        assert hidden.value.kind is missing.value.kind is Kind.NOT_FOUND
        assert hidden.value.text.replace(owner, "") == \
            missing.value.text.replace(owner.replace("@", "nobody@"), "")
        assert await _kind(scripts.put(who, "x", "keep;", owner=owner)) is Kind.NOT_FOUND
    assert await _kind(scripts.list(p["bob"], "not an address")) is Kind.NOT_FOUND
    # check names the owner's folders (ann has no Lists; the operator has no folders at all)
    assert await scripts.check(p["boss"], SCRIPT, owner="ann@a.example") != []
    assert await scripts.check(Principal.operator(), SCRIPT) == []
    await services.mailboxes.create(p["ann"], "Lists")
    assert await scripts.check(p["boss"], SCRIPT, owner="ann@a.example") == []
    assert await _kind(scripts.check(p["bob"], SCRIPT, owner="ann@a.example")) is \
        Kind.NOT_FOUND
    # one's own address is one's own
    assert [i.name for i in await scripts.list(p["bob"], "bob@b.example")] == []
    # the operator has no account of its own
    assert await _kind(scripts.list(Principal.operator())) is Kind.NOT_FOUND


async def test_administrators_scripts(services: Services) -> None:
    p = await _people(services)
    scripts = services.sieve_scripts
    boss, root, ann = p["boss"], p["root"], p["ann"]
    assert await scripts.admin_get(boss, "a.example", "before") is None
    await scripts.admin_put(boss, "a.example", "before", 'require "fileinto"; keep;')
    await scripts.admin_put(root, "global", "after", "keep;")
    await scripts.admin_put(root, "global", "before", "keep;")
    assert await scripts.admin_get(root, "a.example", "before") == 'require "fileinto"; keep;'
    assert await _kind(scripts.admin_get(boss, "global", "after")) is Kind.NO_PERM
    with pytest.raises(SieveSyntaxError):
        await scripts.admin_put(boss, "a.example", "after", "nonsense")
    assert await _kind(scripts.admin_put(boss, "a.example", "during", "keep;")) is Kind.INVALID
    assert await _kind(scripts.admin_get(boss, "b.example", "before")) is Kind.NOT_FOUND
    assert await _kind(scripts.admin_get(boss, "nowhere.example", "before")) is \
        Kind.NOT_FOUND
    assert await _kind(scripts.admin_put(ann, "a.example", "before", "keep;")) is \
        Kind.NOT_FOUND
    assert await _kind(scripts.admin_put(boss, "global", "before", "keep;")) is Kind.NO_PERM
    # the chain a delivery to ann reads: server before, domain before, hers, server after
    await scripts.put(ann, "mine", "discard;")
    await scripts.put(ann, "inactive", "keep;")
    await scripts.activate(ann, "mine")
    assert ann.account_id is not None and ann.domain_id is not None
    chain = await services.store.sieve.chain(ann.account_id, ann.domain_id)
    assert [(r.scope, r.phase, r.content) for r in chain] == [
        ("global", "before", "keep;"), ("domain", "before", 'require "fileinto"; keep;'),
        ("user", "user", "discard;"), ("global", "after", "keep;")]
    bob = p["bob"]
    assert bob.account_id is not None and bob.domain_id is not None
    assert [r.scope for r in await services.store.sieve.chain(
        bob.account_id, bob.domain_id)] == ["global", "global"]
    await scripts.admin_put(boss, "a.example", "before", None)  # removed
    assert await scripts.admin_get(boss, "a.example", "before") is None
    assert [r.scope for r in await services.store.sieve.chain(
        ann.account_id, ann.domain_id)] == ["global", "user", "global"]
    # the server's named scripts, for include :global
    await scripts.global_put(root, "common", "keep;")
    assert [i.name for i in await scripts.global_list(root)] == ["common"]
    assert await scripts.global_get(root, "common") == "keep;"
    assert await scripts.included(ann.account_id, "common", "global") is not None
    assert await scripts.included(ann.account_id, "mine", "personal") is not None
    assert await scripts.included(ann.account_id, "common", "personal") is None
    assert await _kind(scripts.global_put(boss, "x", "keep;")) is Kind.NO_PERM
    await scripts.global_put(root, "common", None)
    assert await scripts.global_list(root) == []
    actions = {r.action for r in await services.audit.list()}
    assert {"sieve.admin-put", "sieve.admin-remove", "sieve.global-put",
            "sieve.global-remove"} <= actions


async def test_compile_cache_and_change_listeners(services: Services) -> None:
    p = await _people(services)
    scripts = services.sieve_scripts
    told: list[int | None] = []
    scripts.changed.append(told.append)
    first = scripts.compile("keep;", "a")
    assert scripts.compile(b"keep;", "a") is first  # cached by content
    assert scripts.compile("keep; ", "a") is not first
    ann = p["ann"]
    await scripts.put(ann, "main", "keep;")
    await scripts.activate(ann, "main")
    await scripts.admin_put(p["root"], "global", "before", "keep;")
    assert told == [ann.account_id, ann.account_id, None]
    assert "fileinto" in scripts.capabilities()


async def test_scripts_and_memory_go_with_the_account(services: Services) -> None:
    p = await _people(services)
    ann = p["ann"]
    assert ann.account_id is not None
    await services.sieve_scripts.put(ann, "main", "keep;")
    repo = services.store.sieve
    await repo.remember([MemoryRow(ann.account_id, "vacation", "h1", 2000)])

    def in_tx(tx: Tx) -> None:  # as the settling of a delivery does
        remember_in(tx, [MemoryRow(ann.account_id or 0, "duplicate", "h2", 1500),
                         MemoryRow(ann.account_id or 0, "vacation", "h1", 1000)])
    await services.store.engine.write(in_tx)
    assert await repo.recall(ann.account_id, "vacation", "h1", 1999)  # later expiry kept
    assert not await repo.recall(ann.account_id, "vacation", "h1", 2000)
    assert await repo.recall(ann.account_id, "duplicate", "h2", 1000)
    assert not await repo.recall(ann.account_id, "duplicate", "h1", 1000)
    assert await repo.forget_expired(1600) == 1
    assert not await repo.recall(ann.account_id, "duplicate", "h2", 1000)
    assert await repo.forget(ann.account_id, "vacation") == 1
    await repo.remember([MemoryRow(ann.account_id, "vacation", "h3", 5000)])
    await services.admin.users.remove(Actor.operator(), "ann@a.example")

    def count(tx: Tx) -> tuple[int, int]:
        a = tx.one("SELECT count(*) FROM sieve_scripts")
        b = tx.one("SELECT count(*) FROM sieve_memory")
        return int(a[0]) if a else -1, int(b[0]) if b else -1
    assert await services.store.engine.read(count) == (0, 0)
