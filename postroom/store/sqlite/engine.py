"""SQLite engine: WAL, one writer thread with group commit, a pool of reader threads.

Invariants:
- Every write transaction runs on the single writer thread, inside ``BEGIN IMMEDIATE``. The
  writer takes every job waiting in its queue (up to ``group_commit_max``), runs each inside its
  own SAVEPOINT (so one failing job rolls back alone), and commits them all with one COMMIT.
  ``synchronous=FULL`` makes that COMMIT fsync the WAL, so when a job's future resolves its data
  is on disk. Concurrent sessions thus share fsyncs instead of queuing for one each.
- Futures are resolved, and change events published, in commit order, on the event loop thread.
- Readers use their own connections (``query_only``) and see committed snapshots only (WAL).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from postroom.core import private
from postroom.core.changes import Change
from postroom.store.engine import (
    CommitListener,
    CommitStats,
    Params,
    Row,
    T,
    TxFn,
    TxLatency,
    publish,
)

log = logging.getLogger("postroom.store.sqlite")


class SqliteTx:
    dialect = "sqlite"

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.events: list[Change] = []

    def execute(self, sql: str, params: Params = ()) -> int:
        return self.conn.execute(sql, tuple(params)).rowcount

    def one(self, sql: str, params: Params = ()) -> Row | None:
        row: Row | None = self.conn.execute(sql, tuple(params)).fetchone()
        return row

    def all(self, sql: str, params: Params = ()) -> list[Row]:
        return self.conn.execute(sql, tuple(params)).fetchall()

    def many(self, sql: str, rows: Sequence[Params]) -> None:
        self.conn.executemany(sql, [tuple(r) for r in rows])


@dataclass(slots=True)
class _Job:
    fn: TxFn[Any]
    loop: asyncio.AbstractEventLoop | None
    future: Any  # asyncio.Future on a loop, or a concurrent-style holder for run_sync
    result: Any = None
    error: BaseException | None = None
    events: list[Change] | None = None


_STOP = object()


def connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    if not readonly:
        private.touch(path)  # 0600; SQLite gives the -wal and -shm files the same mode
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False,
                           timeout=30.0)
    conn.execute("PRAGMA busy_timeout = 30000")
    conn.execute("PRAGMA foreign_keys = ON")
    if readonly:
        conn.execute("PRAGMA query_only = ON")
    else:
        conn.execute("PRAGMA journal_mode = WAL")
        # FULL: the WAL is fsynced at every COMMIT, so a commit survives power loss (the
        # durability promise); NORMAL would only survive a process crash.
        conn.execute("PRAGMA synchronous = FULL")
    return conn


class SqliteEngine:
    dialect = "sqlite"

    def __init__(self, path: Path, *, group_commit_max: int = 256, readers: int = 4) -> None:
        self.path = path
        self.group_commit_max = group_commit_max
        self.stats = CommitStats()
        self.latency = TxLatency()  # observed on the event loop (obs/metrics.py reads it)
        self._listeners: list[CommitListener] = []
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._writer_conn = connect(path)
        self._writer = threading.Thread(target=self._writer_loop, name="sqlite-writer",
                                        daemon=True)
        self._writer.start()
        self._local = threading.local()
        self._reader_conns: list[sqlite3.Connection] = []
        self._reader_lock = threading.Lock()
        self._readers = ThreadPoolExecutor(max_workers=readers, thread_name_prefix="sqlite-read")
        self._closed = False

    def add_commit_listener(self, listener: CommitListener) -> None:
        self._listeners.append(listener)

    # -- writes -----------------------------------------------------------------------------
    async def write(self, fn: TxFn[T]) -> T:
        if self._closed:
            raise RuntimeError("store is closed")
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[T] = loop.create_future()
        start = time.perf_counter()
        self._jobs.put(_Job(fn, loop, fut))
        try:
            return await fut
        finally:
            self.latency.write.observe(time.perf_counter() - start)

    def run_sync(self, fn: TxFn[T]) -> T:
        done = threading.Event()
        job = _Job(fn, None, done)
        self._jobs.put(job)
        done.wait()
        if job.error is not None:
            raise job.error
        result: T = job.result
        return result

    def _writer_loop(self) -> None:
        conn = self._writer_conn
        tx = SqliteTx(conn)
        while True:
            first = self._jobs.get()
            if first is _STOP:
                break
            batch: list[_Job] = [first]
            stop_after = False
            while len(batch) < self.group_commit_max:
                try:
                    nxt = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP:
                    stop_after = True
                    break
                batch.append(nxt)
            self._run_batch(conn, tx, batch)
            if stop_after:
                break
        conn.close()

    def _run_batch(self, conn: sqlite3.Connection, tx: SqliteTx, batch: list[_Job]) -> None:
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            for job in batch:
                job.error = exc
            self._finish(batch)
            return
        for job in batch:
            tx.events = []
            conn.execute("SAVEPOINT job")
            try:
                job.result = job.fn(tx)
                conn.execute("RELEASE job")
                job.events = tx.events
            except BaseException as exc:  # the job's own failure; other jobs go on
                conn.execute("ROLLBACK TO job")
                conn.execute("RELEASE job")
                job.error = exc
        try:
            conn.execute("COMMIT")
            self.stats.record(len(batch))
        except sqlite3.Error as exc:
            log.error("group commit of %d transactions failed: %s", len(batch), exc)
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            for job in batch:
                if job.error is None:
                    job.error = exc
                job.events = None
        self._finish(batch)

    def _finish(self, batch: list[_Job]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[_Job]] = {}
        for job in batch:
            if job.loop is None:
                self._publish(job.events or [])
                job.future.set()
            else:
                by_loop.setdefault(job.loop, []).append(job)
        for loop, jobs in by_loop.items():
            with contextlib.suppress(RuntimeError):  # loop closed during shutdown
                loop.call_soon_threadsafe(self._resolve, jobs)

    def _resolve(self, jobs: list[_Job]) -> None:
        for job in jobs:
            if job.events:
                self._publish(job.events)
            if job.future.done():
                continue
            if job.error is not None:
                job.future.set_exception(job.error)
            else:
                job.future.set_result(job.result)

    def _publish(self, events: list[Change]) -> None:
        publish(self._listeners, events)

    # -- reads ------------------------------------------------------------------------------
    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path, readonly=True)
            self._local.conn = conn
            with self._reader_lock:
                self._reader_conns.append(conn)
        return conn

    def _run_read(self, fn: TxFn[T]) -> T:
        conn = self._reader()
        conn.execute("BEGIN")
        try:
            return fn(SqliteTx(conn))
        finally:
            conn.execute("COMMIT")

    async def read(self, fn: TxFn[T]) -> T:
        loop = asyncio.get_running_loop()
        start = time.perf_counter()
        try:
            return await loop.run_in_executor(self._readers, self._run_read, fn)
        finally:
            self.latency.read.observe(time.perf_counter() - start)

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.close_sync)

    def close_sync(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._jobs.put(_STOP)
        self._writer.join()
        self._readers.shutdown(wait=True)
        with self._reader_lock:
            for conn in self._reader_conns:
                conn.close()

    def integrity_check(self) -> str:
        conn = connect(self.path, readonly=True)
        try:
            row = conn.execute("PRAGMA integrity_check").fetchone()
            return str(row[0])
        finally:
            conn.close()
