"""Locks that hold across the nodes of a cluster: one job at a time, N connections at most.

``Locks`` is the seam (docs/cluster.md, "Periodic jobs and locks"): services and the MTA ask
it, app.py gives them ``LocalLocks`` (one process: plain in-memory bookkeeping) or PostgreSQL's
session advisory locks (store/postgres/locks.py), which the database drops by itself when the
node or its connection dies, so a crashed node never leaves a lock behind.

Every lock is non-blocking: a job that finds its lock taken skips this turn (another node is
doing it); a delivery that finds no free slot waits and asks again.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Protocol


class Locks(Protocol):
    node: str

    async def try_lock(self, name: str) -> bool:
        """Take ``name`` if nobody holds it (not re-entrant); False when taken."""

    async def unlock(self, name: str) -> None: ...

    def held(self) -> list[str]:
        """Names this process holds now (for ``postroom cluster status``)."""

    @property
    def backend_pid(self) -> int | None:
        """The database session holding this node's locks (pg_locks.pid), if any."""

    async def close(self) -> None: ...


@contextlib.asynccontextmanager
async def singleton(locks: Locks, name: str) -> AsyncIterator[bool]:
    """``async with singleton(locks, "blob-gc") as mine: if mine: …`` — True when this
    process got the lock (released on exit), False when another holds it."""
    got = await locks.try_lock(name)
    try:
        yield got
    finally:
        if got:
            await locks.unlock(name)


@contextlib.asynccontextmanager
async def slot(locks: Locks, name: str, limit: int) -> AsyncIterator[int | None]:
    """One of ``limit`` slots named ``name`` (``name#0`` … ``name#limit-1``), or None when all
    are taken anywhere in the cluster: how a per-destination connection limit holds across
    nodes."""
    got: str | None = None
    number: int | None = None
    for k in range(limit):
        if await locks.try_lock(f"{name}#{k}"):
            got, number = f"{name}#{k}", k
            break
    try:
        yield number
    finally:
        if got is not None:
            await locks.unlock(got)


class LocalLocks:
    """One process: the same contract in memory (nothing else can hold a lock)."""

    def __init__(self, node: str = "") -> None:
        self.node = node
        self._held: set[str] = set()

    async def try_lock(self, name: str) -> bool:
        if name in self._held:
            return False
        self._held.add(name)
        return True

    async def unlock(self, name: str) -> None:
        self._held.discard(name)

    def held(self) -> list[str]:
        return sorted(self._held)

    @property
    def backend_pid(self) -> int | None:
        return None

    async def close(self) -> None:
        self._held.clear()
