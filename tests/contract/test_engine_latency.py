"""Both engines time their transactions the same way (store/engine.py ``TxLatency``): a read
and a write each add one observation of their kind, a failing write is timed too, and the
figures reach /metrics' exposition through the services' Metrics."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from postroom.app import Services


async def test_reads_and_writes_are_timed(services: Services) -> None:
    engine = services.store.engine
    reads, writes = sum(engine.latency.read.counts), sum(engine.latency.write.counts)
    await services.directory.add_domain("latency.example")  # one write (at least)
    assert sum(engine.latency.write.counts) > writes
    reads_now = sum(engine.latency.read.counts)
    assert await engine.read(lambda tx: tx.one("SELECT 1")) == (1,)
    assert sum(engine.latency.read.counts) == reads_now + 1 > reads
    assert engine.latency.read.total > 0

    def fail(tx: object) -> None:
        raise ValueError("no")
    writes_now = sum(engine.latency.write.counts)
    with pytest.raises(ValueError):
        await engine.write(fail)
    assert sum(engine.latency.write.counts) == writes_now + 1


async def test_the_figures_reach_the_exposition(services: Services) -> None:
    await services.directory.add_domain("scrape.example")
    text = (await services.metrics.render()).decode()
    counts = {s.labels["kind"]: s.value
              for f in text_string_to_metric_families(text) for s in f.samples
              if s.name == "postroom_store_transaction_duration_seconds_count"}
    assert counts["write"] == sum(services.store.engine.latency.write.counts) >= 1
    assert counts["read"] == sum(services.store.engine.latency.read.counts)
