"""The full-text indexer: adds delivered mail to the search index after its commit.

Delivery writes each message's decoded text but leaves the trigram index (SQLite FTS5) to
this loop, so the transaction that makes a 250 or an APPEND OK durable does not pay for it
(store/repo/text.py says why and how SEARCH covers the gap). Indexing costs the same whenever
it runs, and it runs on the store's one writer, so the loop keeps out of the way of a burst:

- every ``delay`` seconds it counts the unindexed messages (a read: an idle server writes
  nothing);
- while that number is still growing, mail is arriving, and it waits, until ``backlog``
  messages are pending: from there it indexes ``batch`` at a time, so the backlog, and the
  text SEARCH must read directly, stay bounded;
- once the count stops growing it indexes everything, ``batch`` messages per transaction.

Each transaction also stops at ``batch_bytes`` of text, so a run of large messages never holds
the writer long: deliveries commit between the indexer's transactions.

A failure is logged and retried at the next run; the index is an optimisation, never the only
way to find a message.
"""

from __future__ import annotations

import asyncio
import logging

from postroom.core.aio import cancel
from postroom.store.sqlstore import SqlStore

log = logging.getLogger("postroom.indexer")


class TextIndexer:
    def __init__(self, store: SqlStore, delay: float, batch: int, backlog: int,
                 batch_bytes: int = 1 << 20) -> None:
        self._store = store
        self.delay = delay
        self.batch = batch
        self.batch_bytes = batch_bytes
        self.backlog = backlog
        self._last = 0  # unindexed messages at the previous run
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="text-indexer")

    async def stop(self) -> None:
        await cancel(self._task)
        self._task = None

    async def run_once(self) -> int:
        """Index everything pending now; return how many messages."""
        done = 0
        while (n := await self._store.index_pending(self.batch, self.batch_bytes)) > 0:
            done += n
        return done

    async def tick(self) -> int:
        """One run of the loop (see the module's docstring); return how many were indexed."""
        pending = await self._store.count_unindexed(self.backlog + self.batch)
        growing, self._last = pending > self._last, pending
        if not pending:
            return 0
        if not growing:
            done = await self.run_once()
            self._last = 0
            return done
        done = 0
        while pending - done >= self.backlog:
            n = await self._store.index_pending(self.batch, self.batch_bytes)
            if not n:
                break
            done += n
        self._last = pending - done
        return done

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.delay)
            try:
                await self.tick()
            except Exception:
                log.exception("full-text indexing failed; retrying at the next run")
