"""Cluster-wide locks (core/locks.py, store/postgres/locks.py) on a real PostgreSQL: one holder
at a time, slots, and a lock that dies with its holder's connection."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import psycopg
import pytest
import pytest_asyncio

from postroom.core.locks import LocalLocks, Locks, singleton, slot
from postroom.store.postgres.locks import PgLocks, key
from tests.support import pg


@pytest.fixture
def dsn(pg_admin_dsn: str) -> Iterator[str]:
    with pg.database(pg_admin_dsn) as name:
        yield name


@pytest_asyncio.fixture
async def two(dsn: str) -> AsyncIterator[tuple[PgLocks, PgLocks]]:
    a, b = PgLocks(dsn, "n1"), PgLocks(dsn, "n2")
    try:
        yield a, b
    finally:
        await a.close()
        await b.close()


async def _contract(a: Locks, b: Locks) -> None:
    assert await a.try_lock("job")
    assert not await a.try_lock("job")  # not re-entrant
    assert not await b.try_lock("job")
    assert a.held() == ["job"]
    await a.unlock("job")
    assert await b.try_lock("job")
    await b.unlock("job")
    async with singleton(a, "gc") as mine_a, singleton(b, "gc") as mine_b:
        assert (mine_a, mine_b) == (True, False)
    async with singleton(b, "gc") as mine_b:
        assert mine_b  # released on exit
    async with slot(a, "dest:x", 2) as s1, slot(b, "dest:x", 2) as s2, \
            slot(a, "dest:x", 2) as s3:
        assert {s1, s2} == {0, 1} and s3 is None
    async with slot(b, "dest:x", 2) as again:
        assert again == 0


async def test_postgresql_locks(two: tuple[PgLocks, PgLocks]) -> None:
    await _contract(*two)


async def test_local_locks() -> None:
    a = LocalLocks("n1")
    assert await a.try_lock("job") and not await a.try_lock("job")
    await a.unlock("job")
    assert a.held() == [] and a.backend_pid is None


async def test_locks_die_with_the_holders_connection(two: tuple[PgLocks, PgLocks],
                                                      dsn: str) -> None:
    a, b = two
    assert await a.try_lock("housekeeping")
    assert a.backend_pid is not None
    with psycopg.connect(dsn, autocommit=True) as admin:
        row = admin.execute("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND "
                            "((classid::bigint << 32) | objid::bigint) = %s",
                            (key("housekeeping"),)).fetchone()
        assert row is not None and row[0] == a.backend_pid
        admin.execute("SELECT pg_terminate_backend(%s)", (a.backend_pid,))
    assert await b.try_lock("housekeeping")  # the node "died": its lock went with it
    with pytest.raises(psycopg.Error):
        await a.try_lock("other")  # a finds out on its next call …
    assert a.held() == []  # … and knows it holds nothing
    assert await a.try_lock("other")  # then reconnects
