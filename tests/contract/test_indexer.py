"""The full-text indexer's schedule (services/indexer.py): it keeps out of a burst's way, keeps
the backlog bounded, and catches up once mail stops arriving; on both backends (PostgreSQL
indexes as it writes, so nothing is ever pending there)."""

from __future__ import annotations

from postroom.app import Services
from postroom.core.principal import Principal
from postroom.services.indexer import TextIndexer
from tests.support import factory


async def _deliver(s: Services, who: Principal, n: int, start: int) -> None:
    handle = await s.mailboxes.open(who, "INBOX")
    prepared = [await s.messages.prepare(factory.message(f"m{start + i}", f"body {start + i}"))
                for i in range(n)]
    await s.messages.append_prepared(who, handle, prepared)


async def test_waits_during_a_burst_bounds_the_backlog_then_catches_up(
        services: Services) -> None:
    who = await factory.account(services, "indexed@example.com")
    indexer = TextIndexer(services.store, delay=1.0, batch=4, backlog=10)
    sqlite = services.store.engine.dialect == "sqlite"
    await _deliver(services, who, 6, 0)
    assert await indexer.tick() == 0  # still arriving, under the backlog: wait
    assert await services.store.count_unindexed(100) == (6 if sqlite else 0)
    await _deliver(services, who, 8, 6)  # 14 pending, still growing, over the backlog
    done = await indexer.tick()
    assert await services.store.count_unindexed(100) == (14 - done if sqlite else 0)
    if sqlite:
        assert done == 8 and 14 - done < 10  # batches of 4 until under the backlog
    assert await indexer.tick() == (6 if sqlite else 0)  # quiet now: everything
    assert await services.store.count_unindexed(100) == 0
    assert await indexer.tick() == 0
