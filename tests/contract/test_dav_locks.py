"""WebDAV locks on both stores (store/repo/davlocks.py, services/dav/locks.py): conflicts of
exclusive and shared locks over a resource, its ancestors and descendants (RFC 4918 §6.2,
§9.10.3), what each kind of change must hold (§7.4, §7.5), tokens that belong to one principal
(§6.4), refresh and expiry (§10.7), and removal with the resource (§7.7)."""

from __future__ import annotations

import time

import pytest

from postroom.app import Services
from postroom.core.errors import MailError
from postroom.core.principal import Principal
from postroom.services.dav.locks import Change, Locked, Locks, is_below, parent_of
from postroom.store.repo.davlocks import LockRow

AREA = "alice@example.com"


async def _principal(services: Services, name: str) -> Principal:
    if not await services.directory.is_local_domain("example.com"):
        await services.directory.add_domain("example.com")
    rec = await services.directory.add_account(f"{name}@example.com", "Pass-word-1234")
    return await services.directory.principal_for(rec)


def _locks(services: Services) -> Locks:
    assert services.dav is not None
    return services.dav.locks


async def test_repo_create_refresh_expire_delete(services: Services) -> None:
    repo = services.store.dav_locks
    now = int(time.time())
    row = LockRow("urn:uuid:1", AREA, "a/b", 7, True, 0, "<o/>", 60, now, now + 60)
    assert await repo.create(row, lambda active: False)
    assert await repo.create(LockRow("urn:uuid:2", AREA, "c", 7, True, -1, "", 60, now,
                                     now + 60), lambda active: len(active) > 0) is False
    [got] = await repo.active(AREA, now)
    assert got == row
    assert await repo.get("urn:uuid:1", now) == row
    assert await repo.active("bob@example.com", now) == []
    assert await repo.refresh("urn:uuid:1", 600, now + 30)
    assert (await repo.get("urn:uuid:1", now + 100)) is not None  # refreshed past 60
    assert await repo.active(AREA, now + 700) == []  # expired: ignored
    assert await repo.refresh("urn:uuid:1", 600, now + 700) is False
    assert await repo.sweep(now + 700) == 1
    assert await repo.delete([]) == 0


async def test_conflicts(services: Services) -> None:
    alice = await _principal(services, "alice")
    locks = _locks(services)
    first = await locks.lock(alice, AREA, "docs/a.txt", exclusive=True, infinite=False,
                             owner="", timeout=None)
    assert first.token.startswith("urn:uuid:")
    assert first.timeout == 3600  # Infinite gets web.dav.lock_timeout (default 3600)
    with pytest.raises(Locked) as caught:
        await locks.lock(alice, AREA, "docs/a.txt", exclusive=False, infinite=False,
                         owner="", timeout=60)
    assert caught.value.conflict
    # Depth infinity on an ancestor conflicts with the lock below it
    with pytest.raises(Locked):
        await locks.lock(alice, AREA, "docs", exclusive=True, infinite=True, owner="",
                         timeout=60)
    # Depth 0 on the ancestor does not
    zero = await locks.lock(alice, AREA, "docs", exclusive=True, infinite=False, owner="",
                            timeout=60)
    assert zero.timeout == 60
    # shared locks share
    s1 = await locks.lock(alice, AREA, "other", exclusive=False, infinite=True, owner="",
                          timeout=60)
    s2 = await locks.lock(alice, AREA, "other", exclusive=False, infinite=True, owner="",
                          timeout=60)
    assert s1.token != s2.token
    with pytest.raises(Locked):
        await locks.lock(alice, AREA, "other/deep/x", exclusive=True, infinite=False,
                         owner="", timeout=60)
    assert {lk.token for lk in await locks.covering(AREA, "other/deep/x")} == {s1.token,
                                                                                s2.token}


async def test_what_a_change_must_hold(services: Services) -> None:
    alice = await _principal(services, "alice")
    bob = await _principal(services, "bob")
    locks = _locks(services)
    coll = await locks.lock(alice, AREA, "c", exclusive=True, infinite=False, owner="",
                            timeout=60)
    inner = await locks.lock(alice, AREA, "d/x", exclusive=True, infinite=False, owner="",
                             timeout=60)
    # a Depth 0 lock on a collection protects its membership, not its members' content
    await locks.require(alice, AREA, [Change("c/m")], [])
    with pytest.raises(Locked) as caught:
        await locks.require(alice, AREA, [Change("c/m", membership=True)], [])
    assert caught.value.path == "c"
    await locks.require(alice, AREA, [Change("c/m", membership=True)], [coll.token])
    # deleting a collection needs the locks below it
    with pytest.raises(Locked):
        await locks.require(alice, AREA, [Change("d", membership=True, subtree=True)], [])
    await locks.require(alice, AREA, [Change("d", membership=True, subtree=True)],
                        [inner.token])
    # a token is the lock owner's only
    with pytest.raises(Locked):
        await locks.require(bob, AREA, [Change("d/x")], [inner.token])
    with pytest.raises(MailError):
        await locks.unlock(bob, AREA, "d/x", inner.token, may_unlock_others=False)
    await locks.unlock(bob, AREA, "d/x", inner.token, may_unlock_others=True)
    await locks.require(bob, AREA, [Change("d/x")], [])


async def test_refresh_and_release(services: Services) -> None:
    alice = await _principal(services, "alice")
    locks = _locks(services)
    lk = await locks.lock(alice, AREA, "t", exclusive=True, infinite=True, owner="<o/>",
                          timeout=100)
    again = await locks.refresh(alice, AREA, "t/member", [lk.token], 500)  # indirect
    assert again.token == lk.token and again.timeout == 500
    with pytest.raises(MailError):
        await locks.refresh(alice, AREA, "elsewhere", [lk.token], 500)
    await locks.release(AREA, "")
    assert await locks.active(AREA) == []


def test_path_helpers() -> None:
    assert is_below("a/b", "a") and is_below("a", "") and not is_below("ab", "a")
    assert not is_below("a", "a")
    assert parent_of("a/b/c") == "a/b" and parent_of("a") == "" and parent_of("") is None
