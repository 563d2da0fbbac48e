"""PostgreSQL engine: psycopg 3 connections on a thread pool, one connection per thread.

The same synchronous repository functions as on SQLite run here inside ``conn.transaction()``;
``?`` placeholders are rewritten to psycopg's ``%s`` once per statement text. PostgreSQL does its
own group commit of concurrent transactions in the WAL writer, so there is no batching here.
Serialisation failures and deadlocks are retried a few times, which UID allocation can hit
when many sessions append to one mailbox at once.

Losing the database (a restart, a failover, a partition): a pooled connection found broken is
replaced on next use. A transaction that failed on a broken connection *before* COMMIT was
sent is run again on a fresh one (nothing of it was committed); one that failed while
committing may or may not have been committed, so it is never replayed: the caller gets a
temporary ``MailError`` (SMTP answers 451, IMAP ``NO [UNAVAILABLE]``), as it does when the
database stays unreachable. TCP keepalives bound a silent partition to about ten seconds.

In cluster mode (``notify_as``) a write transaction's change events also go out with NOTIFY
inside the transaction, just before COMMIT (store/postgres/feed.py).
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
from psycopg import errors as pg_errors

from postroom.core.changes import Change
from postroom.core.errors import Kind, MailError
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
from postroom.store.postgres.feed import CHANNEL, KEEPALIVE, NOTIFY_SQL, encode

_SQL_CACHE: dict[str, str] = {}


def _pg(sql: str) -> str:
    out = _SQL_CACHE.get(sql)
    if out is None:
        out = sql.replace("%", "%%").replace("?", "%s")
        _SQL_CACHE[sql] = out
    return out


class PgTx:
    dialect = "postgresql"

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn
        self.events: list[Change] = []

    def execute(self, sql: str, params: Params = ()) -> int:
        cur = self.conn.execute(_pg(sql), tuple(params))
        return cur.rowcount

    def one(self, sql: str, params: Params = ()) -> Row | None:
        row: Row | None = self.conn.execute(_pg(sql), tuple(params)).fetchone()
        return row

    def all(self, sql: str, params: Params = ()) -> list[Row]:
        return self.conn.execute(_pg(sql), tuple(params)).fetchall()

    def many(self, sql: str, rows: Sequence[Params]) -> None:
        with self.conn.cursor() as cur:
            cur.executemany(_pg(sql), [tuple(r) for r in rows])


_RETRYABLE = (pg_errors.SerializationFailure, pg_errors.DeadlockDetected)


class _Lost(Exception):
    """The connection broke during an attempt; ``committing``: COMMIT may have been sent."""

    def __init__(self, cause: psycopg.OperationalError, committing: bool) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.committing = committing


def _unreachable(exc: Exception) -> MailError:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return MailError(Kind.TEMPORARY, f"the database is unreachable ({first}); try again "
                     "shortly")


class PostgresEngine:
    dialect = "postgresql"

    def __init__(self, dsn: str, *, pool_size: int = 8) -> None:
        self.dsn = dsn
        self.stats = CommitStats()
        self.latency = TxLatency()  # observed on the event loop (obs/metrics.py reads it)
        self._listeners: list[CommitListener] = []
        self._local = threading.local()
        self._conns: list[psycopg.Connection[Any]] = []
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=pool_size, thread_name_prefix="pg")
        self._closed = False
        # connections lent to threads outside the pool (``_borrow``), at most pool_size
        self._spare: queue.LifoQueue[psycopg.Connection[Any]] = queue.LifoQueue()
        self._spare_max = pool_size
        self._lent = 0
        self._sender: str | None = None  # cluster mode: this node's name in NOTIFY payloads
        self._channel = CHANNEL
        # Fail early, with the server's own words, when the DSN is wrong.
        psycopg.connect(dsn, connect_timeout=10).close()

    def notify_as(self, sender: str, channel: str = CHANNEL) -> None:
        """Send every committed change to the other nodes too (cluster mode)."""
        self._sender = sender
        self._channel = channel

    def add_commit_listener(self, listener: CommitListener) -> None:
        self._listeners.append(listener)

    def _conn(self) -> psycopg.Connection[Any]:
        conn: psycopg.Connection[Any] | None = getattr(self._local, "conn", None)
        if conn is None or conn.closed or conn.broken:
            if conn is not None:
                with self._lock:
                    if conn in self._conns:
                        self._conns.remove(conn)
                conn.close()
            conn = psycopg.connect(self.dsn, autocommit=True, connect_timeout=10, **KEEPALIVE)
            self._local.conn = conn
            with self._lock:
                self._conns.append(conn)
        return conn

    def _borrow(self) -> psycopg.Connection[Any]:
        """A connection for a thread outside the engine's pool (the blob store's readers and
        writers run in the mail service's many worker threads): at most ``pool_size`` of
        them exist, so a node's connections stay bounded whatever calls it."""
        try:
            conn = self._spare.get_nowait()
        except queue.Empty:
            with self._lock:
                grow = self._lent < self._spare_max
                if grow:
                    self._lent += 1
            if grow:
                try:
                    return psycopg.connect(self.dsn, autocommit=True, connect_timeout=10,
                                           **KEEPALIVE)
                except BaseException:
                    with self._lock:
                        self._lent -= 1
                    raise
            conn = self._spare.get(timeout=60)
        if conn.closed or conn.broken:
            conn.close()
            with self._lock:
                self._lent -= 1
            return self._borrow()
        return conn

    def _give_back(self, conn: psycopg.Connection[Any]) -> None:
        if conn.closed or conn.broken or self._closed:
            conn.close()
            with self._lock:
                self._lent -= 1
        else:
            self._spare.put(conn)

    def _run(self, fn: TxFn[T], write: bool, lent: bool = False) -> tuple[T, list[Change]]:
        lost = 0
        for attempt in range(8):
            try:
                conn = self._borrow() if lent else self._conn()
            except (psycopg.OperationalError, queue.Empty) as exc:
                raise _unreachable(exc) from exc
            try:
                return self._attempt(fn, write, conn)
            except _RETRYABLE:
                if attempt == 7:
                    raise
                time.sleep(0.005 * (attempt + 1))
            except _Lost as broken:
                if broken.committing and write:
                    # The COMMIT may have reached the server: replaying could do it twice.
                    raise MailError(Kind.TEMPORARY, "the database connection was lost "
                                    "while committing; try again") from broken.cause
                lost += 1
                if lost > 2:
                    raise _unreachable(broken.cause) from broken.cause
            finally:
                if lent:
                    self._give_back(conn)
        raise AssertionError("unreachable")

    def _attempt(self, fn: TxFn[T], write: bool,
                 conn: psycopg.Connection[Any]) -> tuple[T, list[Change]]:
        committing = False
        tx = PgTx(conn)
        try:
            with conn.transaction():
                result = fn(tx)
                if self._sender is not None and tx.events:
                    conn.execute(NOTIFY_SQL, (self._channel,
                                              encode(self._sender, tx.events)))
                committing = True  # leaving the block sends COMMIT
            if write:
                with self._lock:
                    self.stats.record(1)
            return result, tx.events
        except psycopg.OperationalError as exc:
            if not (conn.closed or conn.broken):
                raise  # an error of the statement itself, not of the connection
            raise _Lost(exc, committing) from exc

    async def write(self, fn: TxFn[T]) -> T:
        loop = asyncio.get_running_loop()
        start = time.perf_counter()
        try:
            result, events = await loop.run_in_executor(self._pool, self._run, fn, True)
        finally:
            self.latency.write.observe(time.perf_counter() - start)
        self._publish(events)
        return result

    async def read(self, fn: TxFn[T]) -> T:
        loop = asyncio.get_running_loop()
        start = time.perf_counter()
        try:
            result, _ = await loop.run_in_executor(self._pool, self._run, fn, False)
        finally:
            self.latency.read.observe(time.perf_counter() - start)
        return result

    def read_sync(self, fn: TxFn[T]) -> T:
        """A read from a worker thread outside the engine's pool (the blob store's), on a
        lent connection (``_borrow``)."""
        result, _ = self._run(fn, False, lent=True)
        return result

    def write_sync(self, fn: TxFn[T]) -> T:
        """A write from such a thread (the blob store's); no change events."""
        result, _ = self._run(fn, True, lent=True)
        return result

    def run_sync(self, fn: TxFn[T]) -> T:
        result, events = self._run(fn, True)
        self._publish(events)
        return result

    def _publish(self, events: list[Change]) -> None:
        publish(self._listeners, events)

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.close_sync)

    def close_sync(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._pool.shutdown(wait=True)
        with self._lock:
            for conn in self._conns:
                conn.close()
        while True:
            try:
                self._spare.get_nowait().close()
            except queue.Empty:
                break
