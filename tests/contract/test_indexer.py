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


async def test_a_transaction_stops_at_the_byte_budget_and_search_still_finds_all(
        services: Services) -> None:
    """Large messages are indexed a few per transaction (the writer is never held long), at
    least one each time, and none is skipped or indexed twice."""
    who = await factory.account(services, "big@example.com")
    handle = await services.mailboxes.open(who, "INBOX")
    body = "lorem ipsum " * 1000  # ~12 KB of text each
    prepared = [await services.messages.prepare(factory.message(f"big{i}", f"{body} tag{i}"))
                for i in range(5)]
    await services.messages.append_prepared(who, handle, prepared)
    if services.store.engine.dialect != "sqlite":
        assert await services.store.index_pending(100, 4096) == 0
        return
    assert await services.store.index_pending(100, 4096) == 1  # one is over the budget alone
    assert await services.store.index_pending(100, 30_000) == 2
    assert await services.store.count_unindexed(100) == 2
    indexer = TextIndexer(services.store, delay=1.0, batch=100, backlog=10, batch_bytes=4096)
    assert await indexer.run_once() == 2  # loops until nothing is left
    assert await services.store.count_unindexed(100) == 0
    for i in range(5):
        assert len(await services.messages.text_search(handle, ["body"], f"tag{i}")) == 1
