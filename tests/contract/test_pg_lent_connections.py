"""Threads outside the PostgreSQL engine's pool (the blob store's worker threads) share a
bounded set of connections (store/postgres/engine.py ``_borrow``): found when two cluster
nodes with 32 blob threads each passed PostgreSQL's max_connections."""

from __future__ import annotations

import threading
import time

import psycopg

from postroom.store.postgres.engine import PostgresEngine
from tests.support import pg


def test_foreign_threads_stay_within_the_pool(pg_admin_dsn: str) -> None:
    with pg.database(pg_admin_dsn) as dsn:
        engine = PostgresEngine(dsn, pool_size=3)
        name = dsn.rsplit("/", 1)[1]
        peak = 0
        stop = threading.Event()

        def watch() -> None:
            nonlocal peak
            with psycopg.connect(pg_admin_dsn, autocommit=True) as admin:
                while not stop.is_set():
                    row = admin.execute("SELECT count(*) FROM pg_stat_activity WHERE "
                                        "datname = %s", (name,)).fetchone()
                    peak = max(peak, int(row[0]) if row else 0)
                    time.sleep(0.01)

        def work() -> None:
            for _ in range(20):
                assert engine.read_sync(lambda tx: tx.one("SELECT pg_sleep(0.005), 1")) \
                    is not None
        watcher = threading.Thread(target=watch)
        watcher.start()
        workers = [threading.Thread(target=work) for _ in range(24)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        stop.set()
        watcher.join()
        engine.close_sync()
        assert 1 <= peak <= 3, peak
