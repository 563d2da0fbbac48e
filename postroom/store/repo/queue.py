"""The mail queue: rows naming a durable blob, claimed by the queue manager when due.

``enqueue`` is the single choke point of DESIGN.md §5: the caller has fsynced the blob; this
transaction makes the entry durable (group-committed on SQLite); only then may SMTP say 250.
States: ``ready`` (waiting for ``next_attempt``), ``active`` (claimed), ``hold`` (by an admin).
On start the manager returns ``active`` rows to ``ready``: a crash mid-delivery means the
delivery is retried, and local delivery is made idempotent by the delivery service.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence

from postroom.core.errors import not_found
from postroom.store.api import NewMessage, QueueRec
from postroom.store.blobs import BlobRef
from postroom.store.engine import Engine, Row, Tx
from postroom.store.repo.messages import MessageRepo, _ref_blobs

_COLS = ("id, sender, recipients, blob, prefix, size, params, state, attempts, next_attempt, "
         "last_error, created_at")


def _rec(row: Row) -> QueueRec:
    values = list(row)
    values[2] = tuple(json.loads(values[2]))
    return QueueRec(*values)


class QueueRepo:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def enqueue(self, sender: str, recipients: Sequence[str], blob: BlobRef,
                      prefix: bytes, params: dict[str, object] | None = None) -> int:
        def fn(tx: Tx) -> int:
            now = int(time.time())
            row = tx.one("INSERT INTO queue (sender, recipients, blob, prefix, size, params, "
                         "next_attempt, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                         (sender, json.dumps(list(recipients)), blob.sha256, prefix,
                          blob.size + len(prefix), json.dumps(params or {}), now, now))
            assert row is not None
            _ref_blobs(tx, [(blob.sha256, blob.size)])
            return int(row[0])
        return await self.engine.write(fn)

    async def claim_due(self, limit: int = 50) -> list[QueueRec]:
        def fn(tx: Tx) -> list[QueueRec]:
            rows = tx.all(f"SELECT {_COLS} FROM queue WHERE state = 'ready' AND "
                          "next_attempt <= ? ORDER BY next_attempt, id LIMIT ?",
                          (int(time.time()), limit))
            for r in rows:
                tx.execute("UPDATE queue SET state = 'active' WHERE id = ?", (r[0],))
            return [_rec(r) for r in rows]
        return await self.engine.write(fn)

    async def reset_active(self) -> int:
        def fn(tx: Tx) -> int:
            return tx.execute("UPDATE queue SET state = 'ready' WHERE state = 'active'")
        return await self.engine.write(fn)

    async def finish(self, entry_id: int, remaining: Sequence[str] = (),
                     next_attempt: int | None = None, error: str = "") -> None:
        """Delivery attempt done: drop the entry, or keep the recipients still to do."""
        def fn(tx: Tx) -> None:
            self._settle(tx, entry_id, remaining, next_attempt, error)
        await self.engine.write(fn)

    async def deliver_local(self, entry_id: int, targets: Sequence[tuple[int, NewMessage]],
                            remaining: Sequence[str] = (), next_attempt: int | None = None,
                            error: str = "") -> list[tuple[int, int]]:
        """Append to every local target *and* settle the queue entry in one transaction, so a
        crash delivers either all of it or none of it, and the retry never duplicates
        (DESIGN.md §5 step 6). Returns (mailbox id, uid) per target."""
        def fn(tx: Tx) -> list[tuple[int, int]]:
            out = []
            for mailbox_id, message in targets:
                uid, _ = MessageRepo.append_in(tx, mailbox_id, [message])[0]
                out.append((mailbox_id, uid))
            self._settle(tx, entry_id, remaining, next_attempt, error)
            return out
        return await self.engine.write(fn)

    @staticmethod
    def _settle(tx: Tx, entry_id: int, remaining: Sequence[str], next_attempt: int | None,
                error: str) -> None:
        if not remaining:
            row = tx.one("DELETE FROM queue WHERE id = ? RETURNING blob", (entry_id,))
            if row:
                tx.execute("UPDATE blobs SET refcount = refcount - 1, zero_since = "
                           "CASE WHEN refcount <= 1 THEN ? ELSE zero_since END "
                           "WHERE sha256 = ?", (int(time.time()), row[0]))
            return
        tx.execute("UPDATE queue SET recipients = ?, state = 'ready', attempts = "
                   "attempts + 1, next_attempt = ?, last_error = ? WHERE id = ?",
                   (json.dumps(list(remaining)), next_attempt or int(time.time()), error,
                    entry_id))

    async def list(self) -> list[QueueRec]:
        def fn(tx: Tx) -> list[QueueRec]:
            return [_rec(r) for r in tx.all(f"SELECT {_COLS} FROM queue ORDER BY id")]
        return await self.engine.read(fn)

    async def get(self, entry_id: int) -> QueueRec:
        def fn(tx: Tx) -> QueueRec:
            row = tx.one(f"SELECT {_COLS} FROM queue WHERE id = ?", (entry_id,))
            if row is None:
                raise not_found(f"no queue entry {entry_id}")
            return _rec(row)
        return await self.engine.read(fn)

    async def set_state(self, entry_id: int, state: str) -> None:
        def fn(tx: Tx) -> None:
            if not tx.execute("UPDATE queue SET state = ?, next_attempt = ? WHERE id = ?",
                              (state, int(time.time()), entry_id)):
                raise not_found(f"no queue entry {entry_id}")
        await self.engine.write(fn)
