"""The full-text indexer: adds delivered mail to the search index after its commit.

Delivery writes each message's decoded text but leaves the trigram index (SQLite FTS5) to
this loop, so the transaction that makes a 250 or an APPEND OK durable does not pay for it
(store/repo/text.py says why and how SEARCH covers the gap). Every ``delay`` seconds it asks
the store for unindexed text (a read: an idle server writes nothing) and indexes it ``batch``
rows per transaction until none is left. A failure is logged and retried at the next run; the
index is an optimisation, never the only way to find a message.
"""

from __future__ import annotations

import asyncio
import logging

from postroom.core.aio import cancel
from postroom.store.sqlstore import SqlStore

log = logging.getLogger("postroom.indexer")


class TextIndexer:
    def __init__(self, store: SqlStore, delay: float, batch: int) -> None:
        self._store = store
        self.delay = delay
        self.batch = batch
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="text-indexer")

    async def stop(self) -> None:
        await cancel(self._task)
        self._task = None

    async def run_once(self) -> int:
        """Index everything pending now; return how many messages."""
        done = 0
        while (n := await self._store.index_pending(self.batch)) > 0:
            done += n
            if n < self.batch:
                break
        return done

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.delay)
            try:
                await self.run_once()
            except Exception:
                log.exception("full-text indexing failed; retrying at the next run")
