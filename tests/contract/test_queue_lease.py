"""Queue claims as leases between nodes (store/repo/queue.py, "Leases"), on PostgreSQL.

Two stores on one database play two nodes: they never claim the same entry, an entry whose
lease ran out is taken over, and the old owner's late write-back changes nothing — no local
copy, no notice — and says so (LeaseLost).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from postroom.app import open_store
from postroom.core.errors import LeaseLost
from postroom.core.records import BlobRef, NewEntry, QueueRec, Settlement
from postroom.store.sqlstore import SqlStore
from tests.conftest import make_config
from tests.support import pg


@pytest.fixture
def dsn(pg_admin_dsn: str) -> Iterator[str]:
    with pg.database(pg_admin_dsn) as name:
        yield name


@pytest_asyncio.fixture
async def nodes(dsn: str, tmp_path: Path) -> AsyncIterator[tuple[SqlStore, SqlStore]]:
    stores = []
    for name in ("n1", "n2"):
        cfg = make_config(tmp_path / name, "postgresql", dsn)
        cfg.blobs.path = str(tmp_path / "blobs")
        store = open_store(cfg)
        store.queue.use_leases(name, 2)
        stores.append(store)
    try:
        yield stores[0], stores[1]
    finally:
        for s in stores:
            await s.close()


async def _enqueue(store: SqlStore, n: int) -> list[int]:
    blob = await asyncio.get_running_loop().run_in_executor(
        None, store.blobs.put_bytes, b"Subject: x\r\n\r\nbody\r\n")
    return await store.queue.enqueue_many(
        [NewEntry("s@example.net", [f"r{i}@example.com"], blob, b"") for i in range(n)])


async def test_nodes_claiming_together_never_share_an_entry(
        nodes: tuple[SqlStore, SqlStore]) -> None:
    a, b = nodes
    ids = await _enqueue(a, 60)
    claims = await asyncio.gather(*(s.queue.claim_due(limit=7) for s in (a, b, a, b, a, b)))
    got = [e.id for batch in claims for e in batch]
    assert len(got) == len(set(got)) == 42
    rest = await b.queue.claim_due(limit=100) + await a.queue.claim_due(limit=100)
    assert sorted(got + [e.id for e in rest]) == sorted(ids)
    owners = {**a.queue.held(), **b.queue.held()}
    assert len(owners) == 60
    assert {o.split("/")[0] for o in owners.values()} == {"n1", "n2"}


async def test_expired_lease_is_taken_over_and_the_late_owner_writes_nothing(
        nodes: tuple[SqlStore, SqlStore]) -> None:
    a, b = nodes
    [entry_id] = await _enqueue(a, 1)
    [claimed] = await a.queue.claim_due()
    assert claimed.id == entry_id
    assert await b.queue.claim_due() == []  # a's lease holds
    time.sleep(3.2)  # a "stalls" past its lease (whole seconds)
    [taken] = await b.queue.claim_due()
    assert taken.id == entry_id
    notice = NewEntry("", ["s@example.net"], claimed_blob(claimed), b"")
    with pytest.raises(LeaseLost):
        await a.queue.settle(entry_id, Settlement[int](notices=[notice]))
    assert len(await a.queue.list()) == 1  # no notice queued, the entry still b's
    await b.queue.settle(entry_id, Settlement[int]())
    assert await a.queue.list() == []


async def test_renewal_keeps_a_long_attempt_and_reports_a_lost_one(
        nodes: tuple[SqlStore, SqlStore]) -> None:
    a, b = nodes
    await _enqueue(a, 2)
    mine = await a.queue.claim_due()
    assert len(mine) == 2
    for _ in range(3):  # 3 × 1 s > the 2 s lease, renewed in between
        time.sleep(1.0)
        assert await a.queue.renew() == 0
        assert await b.queue.claim_due() == []
    time.sleep(3.2)
    assert len(await b.queue.claim_due()) == 2
    assert await a.queue.renew() == 2  # both taken over: a knows
    assert a.queue.held() == {}


async def test_restart_returns_only_this_nodes_claims(nodes: tuple[SqlStore, SqlStore]) -> None:
    a, b = nodes
    await _enqueue(a, 4)
    assert len(await a.queue.claim_due(limit=2)) == 2
    assert len(await b.queue.claim_due(limit=2)) == 2
    assert await a.queue.reset_active() == 2  # n1 restarted: its two, never n2's
    states = sorted((e.state, bool(e.id in b.queue.held())) for e in await a.queue.list())
    assert states == [("active", True), ("active", True), ("ready", False), ("ready", False)]


def claimed_blob(entry: QueueRec) -> BlobRef:
    return BlobRef(entry.blob, 10)
