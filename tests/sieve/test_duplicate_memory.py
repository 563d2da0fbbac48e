"""The duplicate test's memory (RFC 7352) and the memory's expiry, on both stores
(services/sieve/memory.py over store/repo/sieve.py). Rows are committed by the delivery's
settlement; here ``remember`` stands in for it (tests/contract and the SMTP tests show the
settlement doing it)."""

from __future__ import annotations

from postroom.app import Services
from postroom.core.records import MemoryRow
from postroom.services.sieve.memory import DUPLICATE, VACATION, SieveMemory, key_hash
from tests.support.factory import account

NOW = 1_800_000_000


async def ids(s: Services) -> tuple[int, int]:
    a = await account(s, "alice@a.example")
    b = await account(s, "bob@a.example")
    assert a.account_id is not None and b.account_id is not None
    return a.account_id, b.account_id


async def test_seen_only_after_the_delivery_commits(services: Services) -> None:
    alice, bob = await ids(services)
    memory = SieveMemory(services.store, services.cfg.sieve)
    pending: list[MemoryRow] = []
    assert not await memory.duplicate(alice, "<m1@x>", 3600, False, pending, NOW)
    assert pending == [MemoryRow(alice, DUPLICATE, key_hash("<m1@x>"), NOW + 3600)]
    # not committed (a failed or deferred delivery): still unseen
    assert not await memory.duplicate(alice, "<m1@x>", 3600, False, [], NOW + 1)
    await services.store.sieve.remember(pending)
    later: list[MemoryRow] = []
    assert await memory.duplicate(alice, "<m1@x>", 3600, False, later, NOW + 10)
    assert later == []  # without :last the first sighting's period stands
    assert not await memory.duplicate(bob, "<m1@x>", 3600, False, [], NOW + 10)  # per user
    assert not await memory.duplicate(alice, "<m2@x>", 3600, False, [], NOW + 10)
    # past the period: forgotten
    assert not await memory.duplicate(alice, "<m1@x>", 3600, False, [], NOW + 3600)


async def test_last_restarts_the_period(services: Services) -> None:
    alice, _ = await ids(services)
    memory = SieveMemory(services.store, services.cfg.sieve)
    first: list[MemoryRow] = []
    await memory.duplicate(alice, "t", 100, True, first, NOW)
    await services.store.sieve.remember(first)
    again: list[MemoryRow] = []
    assert await memory.duplicate(alice, "t", 100, True, again, NOW + 90)
    assert again == [MemoryRow(alice, DUPLICATE, key_hash("t"), NOW + 190)]  # RFC 7352 §3.3
    await services.store.sieve.remember(again)
    assert await memory.duplicate(alice, "t", 100, True, [], NOW + 150)


async def test_period_bounds(services: Services) -> None:
    alice, _ = await ids(services)
    cfg = services.cfg.sieve
    memory = SieveMemory(services.store, cfg)
    rows: list[MemoryRow] = []
    await memory.duplicate(alice, "long", 10 * cfg.duplicate_max_seconds, False, rows, NOW)
    await memory.duplicate(alice, "default", -1, False, rows, NOW)
    await memory.duplicate(alice, "zero", 0, False, rows, NOW)  # never remembered
    assert [r.expires - NOW for r in rows] == [cfg.duplicate_max_seconds,
                                               cfg.duplicate_default_seconds]


async def test_expired_rows_are_swept(services: Services) -> None:
    alice, bob = await ids(services)
    memory = SieveMemory(services.store, services.cfg.sieve)
    await services.store.sieve.remember([
        MemoryRow(alice, DUPLICATE, key_hash("old"), NOW - 1),
        MemoryRow(bob, VACATION, key_hash("old"), NOW),
        MemoryRow(alice, VACATION, key_hash("new"), NOW + 1)])
    assert await memory.expire(NOW) == 2
    assert await memory.expire(NOW) == 0
    assert await memory.recall(alice, VACATION, key_hash("new"), NOW)
