"""Cluster-wide locks as PostgreSQL session advisory locks (core/locks.py's seam).

One dedicated connection per node holds them (``pg_try_advisory_lock``: session level, so a
lock lives exactly as long as this connection: when the node dies or its connection is cut,
PostgreSQL releases every lock it held, and another node can take over at once). A name maps
to the 64-bit key the function takes by the first eight octets of its SHA-256; two names
colliding is astronomically unlikely and would only make two jobs take turns.

When the connection is lost the locks are gone with it: ``held`` empties, every later call
reconnects first, and a job that was running under a lost lock finishes its step (the work
guarded this way — garbage collection, a provider's ATRN session, an outbound connection slot
— is safe to overlap once; the queue and MultiPOP have their own fenced leases for work that
must never run twice). ``backend_pid`` lets ``postroom cluster status`` find the node's locks
in ``pg_locks``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from typing import Any

import psycopg

from postroom.store.postgres.feed import KEEPALIVE

log = logging.getLogger("postroom.cluster.locks")


def key(name: str) -> int:
    """The advisory lock key of ``name`` (a signed 64-bit integer)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


class PgLocks:
    def __init__(self, dsn: str, node: str, timeout: float = 6.0) -> None:
        self.dsn = dsn
        self.node = node
        self.timeout = timeout
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._held: set[str] = set()
        self._pid: int | None = None
        self._lock = asyncio.Lock()

    async def _connection(self) -> psycopg.AsyncConnection[Any]:
        conn = self._conn
        if conn is not None and not conn.closed and not conn.broken:
            return conn
        if conn is not None:
            if self._held:
                log.warning("cluster locks lost with their connection: %s",
                            ", ".join(sorted(self._held)))
            self._held.clear()
            with contextlib.suppress(Exception):
                await conn.close()
        conn = await asyncio.wait_for(psycopg.AsyncConnection.connect(
            self.dsn, autocommit=True, connect_timeout=max(2, int(self.timeout)),
            application_name=f"postroom-locks {self.node}"[:63], **KEEPALIVE), self.timeout)
        row = await (await conn.execute("SELECT pg_backend_pid()")).fetchone()
        self._pid = int(row[0]) if row else None
        self._conn = conn
        return conn

    async def _ask(self, sql: str, name: str) -> bool:
        async with self._lock:
            conn = await self._connection()
            try:
                cur = await asyncio.wait_for(conn.execute(sql, (key(name),)), self.timeout)
                row = await cur.fetchone()
            except (psycopg.Error, TimeoutError):
                self._held.clear()
                with contextlib.suppress(Exception):
                    await conn.close()
                raise
            return bool(row and row[0])

    async def try_lock(self, name: str) -> bool:
        if name in self._held:
            return False  # not re-entrant, like LocalLocks
        got = await self._ask("SELECT pg_try_advisory_lock(%s)", name)
        if got:
            self._held.add(name)
        return got

    async def unlock(self, name: str) -> None:
        if name not in self._held:
            return
        self._held.discard(name)
        with contextlib.suppress(psycopg.Error, TimeoutError):
            await self._ask("SELECT pg_advisory_unlock(%s)", name)

    def held(self) -> list[str]:
        return sorted(self._held)

    @property
    def backend_pid(self) -> int | None:
        return self._pid

    async def close(self) -> None:
        self._held.clear()
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._conn.close(), 2)
            self._conn = None
