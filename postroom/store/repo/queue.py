"""The mail queue: rows naming a durable blob, claimed by the queue manager when due.

``enqueue`` is the single choke point of DESIGN.md §5: the caller has fsynced the blob; this
transaction makes the entries durable (group-committed on SQLite); only then may SMTP say 250.
One accepted message becomes one entry per destination (local mailboxes, or one remote domain),
all sharing the blob. States: ``ready`` (waiting for ``next_attempt``), ``active`` (claimed),
``hold`` (by an admin), ``atrn`` (mail for a gateway domain waiting for its owner's ATRN
collection, RFC 2645; reviewed at ``next_attempt`` only for delay notices and expiry). On
start the manager returns ``active`` rows to ``ready`` (held ones to ``atrn``): a crash
mid-delivery means the delivery is retried.

``settle`` ends an attempt in *one* transaction: local copies appended, notices (DSNs) and
forwarded copies (remote members of aliases and groups) queued, the entry dropped or rewritten
with the recipients still to do. A crash therefore either
finishes all of it or none of it, and the retry after restart never duplicates.
"""

from __future__ import annotations

import builtins
import json
import time
from collections.abc import Sequence

from postroom.core.errors import not_found
from postroom.core.records import BlobRef, MemoryRow, NewEntry, NewMessage, QueueRec, Settlement
from postroom.store.engine import Engine, Row, Tx
from postroom.store.repo.messages import MessageRepo, _ref_blobs
from postroom.store.repo.sieve import remember_in

_COLS = ("id, sender, recipients, blob, prefix, size, params, state, attempts, next_attempt, "
         "last_error, created_at, hold_domain")


def _rec(row: Row) -> QueueRec:
    values = list(row)
    values[2] = tuple(json.loads(values[2]))
    return QueueRec(*values)


class QueueRepo:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def enqueue(self, sender: str, recipients: Sequence[str], blob: BlobRef,
                      prefix: bytes, params: dict[str, object] | None = None) -> int:
        return (await self.enqueue_many([NewEntry(sender, recipients, blob, prefix,
                                                  params or {})]))[0]

    async def enqueue_many(self, entries: Sequence[NewEntry]) -> list[int]:
        """Several entries in one transaction (one message, several destinations)."""
        def fn(tx: Tx) -> list[int]:
            return [self._insert(tx, e) for e in entries]
        return await self.engine.write(fn)

    @staticmethod
    def _insert(tx: Tx, e: NewEntry) -> int:
        now = int(time.time())
        row = tx.one("INSERT INTO queue (sender, recipients, blob, prefix, size, params, "
                     "next_attempt, created_at, hold_domain, state) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                     (e.sender, json.dumps(list(e.recipients)), e.blob.sha256, e.prefix,
                      e.blob.size + len(e.prefix), json.dumps(e.params),
                      e.next_attempt or now, now, e.hold_domain, e.state))
        assert row is not None
        _ref_blobs(tx, [(e.blob.sha256, e.blob.size)])
        return int(row[0])

    async def claim_due(self, limit: int = 50, state: str = "ready") -> list[QueueRec]:
        """Entries in ``state`` whose ``next_attempt`` has come, claimed (``active``):
        ``ready`` ones for delivery, ``atrn`` (held) ones for their review."""
        def fn(tx: Tx) -> list[QueueRec]:
            rows = tx.all(f"SELECT {_COLS} FROM queue WHERE state = ? AND "
                          "next_attempt <= ? ORDER BY next_attempt, id LIMIT ?",
                          (state, int(time.time()), limit))
            for r in rows:
                tx.execute("UPDATE queue SET state = 'active' WHERE id = ?", (r[0],))
            return [_rec(r) for r in rows]
        return await self.engine.write(fn)

    async def claim_held(self, domains: Sequence[str]) -> list[QueueRec]:
        """Claim (state ``active``) every entry waiting for ``domains``, held or between
        retries towards a gateway host: an ATRN collection (RFC 2645 §4)."""
        if not domains:
            return []
        def fn(tx: Tx) -> list[QueueRec]:
            marks = ", ".join("?" for _ in domains)
            rows = tx.all(f"SELECT {_COLS} FROM queue WHERE hold_domain IN ({marks}) "
                          "AND state IN ('ready', 'atrn') ORDER BY id", tuple(domains))
            for r in rows:
                tx.execute("UPDATE queue SET state = 'active' WHERE id = ?", (r[0],))
            return [_rec(r) for r in rows]
        return await self.engine.write(fn)

    async def count_held(self, domain: str) -> tuple[int, int]:
        """(entries, octets) waiting for ``domain``, whatever their state."""
        def fn(tx: Tx) -> tuple[int, int]:
            row = tx.one("SELECT count(*), coalesce(sum(size), 0) FROM queue "
                         "WHERE hold_domain = ?", (domain,))
            return (int(row[0]), int(row[1])) if row else (0, 0)
        return await self.engine.read(fn)

    async def release(self, entries: Sequence[QueueRec]) -> None:
        """Give claimed entries back untouched (an ATRN session ended before their turn):
        their state and schedule as before the claim, no attempt counted."""
        def fn(tx: Tx) -> None:
            for e in entries:
                tx.execute("UPDATE queue SET state = ? WHERE id = ? AND state = 'active'",
                           (e.state, e.id))
        await self.engine.write(fn)

    async def release_domain(self, domain: str) -> int:
        """A gateway was removed: its held entries become ordinary remote mail."""
        def fn(tx: Tx) -> int:
            return tx.execute("UPDATE queue SET state = 'ready', next_attempt = ? "
                              "WHERE hold_domain = ? AND state = 'atrn'",
                              (int(time.time()), domain))
        return await self.engine.write(fn)

    async def reset_active(self) -> int:
        def fn(tx: Tx) -> int:
            # Held gateway mail goes back to waiting for ATRN, everything else is due again.
            return tx.execute(
                "UPDATE queue SET state = CASE WHEN hold_domain IN (SELECT domain FROM "
                "gateways WHERE deliver_to = '') THEN 'atrn' ELSE 'ready' END "
                "WHERE state = 'active'")
        return await self.engine.write(fn)

    async def finish(self, entry_id: int, remaining: Sequence[str] = (),
                     next_attempt: int | None = None, error: str = "") -> None:
        """Delivery attempt done: drop the entry, or keep the recipients still to do."""
        await self.settle(entry_id, Settlement[int](remaining, next_attempt, error))

    async def settle(self, entry_id: int, outcome: Settlement[int]) -> list[tuple[int, int]]:
        """Append the local copies, queue the notices (and the forwarded, redirected and
        replied copies), record Sieve's memory of the delivery and settle the entry in one
        transaction (DESIGN.md §5 step 6). Returns (mailbox id, uid) per local copy."""
        def fn(tx: Tx) -> list[tuple[int, int]]:
            for new in (*outcome.notices, *outcome.forwards):
                self._insert(tx, new)
            remember_in(tx, outcome.memory)  # Sieve's memory of this delivery
            out = []
            for mailbox_id, message in outcome.local:  # may fail (quota): all is undone
                uid, _ = MessageRepo.append_in(tx, mailbox_id, [message])[0]
                out.append((mailbox_id, uid))
            self._settle(tx, entry_id, outcome)
            return out
        return await self.engine.write(fn)

    async def deliver_now(self, entry: NewEntry,
                          local: Sequence[tuple[int, NewMessage]],
                          forwards: Sequence[NewEntry] = (),
                          memory: Sequence[MemoryRow] = ()) -> tuple[int, list[
                              tuple[int, int]]]:
        """Accept and deliver in one transaction: mail whose recipients are all local and
        whose copies the delivery service has already placed. The entry is inserted (so it
        gets its queue id, which the mail log and the 250 reply name) and settled at once:
        copies appended, the entry dropped. One commit instead of three (enqueue, claim,
        settle), and the same all-or-nothing: a crash before the commit leaves nothing, after
        it everything. ``forwards`` (copies for remote members of an alias or group) are
        queued in the same transaction, and so is Sieve's ``memory`` of the delivery.
        Returns (queue id, [(mailbox id, uid)])."""
        def fn(tx: Tx) -> tuple[int, list[tuple[int, int]]]:
            entry_id = self._insert(tx, entry)
            for new in forwards:
                self._insert(tx, new)
            remember_in(tx, memory)
            out = []
            for mailbox_id, message in local:
                uid, _ = MessageRepo.append_in(tx, mailbox_id, [message])[0]
                out.append((mailbox_id, uid))
            self._settle(tx, entry_id, Settlement[int]())
            return entry_id, out
        return await self.engine.write(fn)

    @staticmethod
    def _settle(tx: Tx, entry_id: int, o: Settlement[int]) -> None:
        if not o.remaining:
            row = tx.one("DELETE FROM queue WHERE id = ? RETURNING blob", (entry_id,))
            if row:
                tx.execute("UPDATE blobs SET refcount = refcount - 1, zero_since = "
                           "CASE WHEN refcount <= 1 THEN ? ELSE zero_since END "
                           "WHERE sha256 = ?", (int(time.time()), row[0]))
            return
        # An administrator's hold made while the attempt ran stays.
        sets = ("recipients = ?, state = CASE WHEN state = 'hold' THEN 'hold' ELSE ? END,"
                " next_attempt = ?, last_error = ?")
        args: list[object] = [json.dumps(list(o.remaining)), o.state,
                              o.next_attempt or int(time.time()), o.error]
        if o.count_attempt:
            sets += ", attempts = attempts + 1"
        if o.params is not None:
            sets += ", params = ?"
            args.append(json.dumps(o.params))
        tx.execute(f"UPDATE queue SET {sets} WHERE id = ?", (*args, entry_id))

    async def delete(self, entry_id: int) -> None:
        """An administrator drops an entry (no notice to anyone)."""
        def fn(tx: Tx) -> None:
            if tx.one("SELECT 1 FROM queue WHERE id = ?", (entry_id,)) is None:
                raise not_found(f"no queue entry {entry_id}")
            self._settle(tx, entry_id, Settlement[int]())
        await self.engine.write(fn)

    async def update_params(self, entry_id: int, params: dict[str, object],
                            state: str = "ready") -> None:
        def fn(tx: Tx) -> None:
            if not tx.execute("UPDATE queue SET params = ?, state = ?, next_attempt = ? "
                              "WHERE id = ?", (json.dumps(params), state, int(time.time()),
                                               entry_id)):
                raise not_found(f"no queue entry {entry_id}")
        await self.engine.write(fn)

    async def totals(self) -> tuple[int, int]:
        """(entries, octets) in the queue, whatever their state: one aggregate, no rows."""
        def fn(tx: Tx) -> tuple[int, int]:
            row = tx.one("SELECT count(*), coalesce(sum(size), 0) FROM queue")
            return (int(row[0]), int(row[1])) if row else (0, 0)
        return await self.engine.read(fn)

    async def count(self) -> int:
        """Entries in the queue, whatever their state (one indexed count, no rows read)."""
        def fn(tx: Tx) -> int:
            row = tx.one("SELECT count(*) FROM queue")
            return int(row[0]) if row else 0
        return await self.engine.read(fn)

    async def list(self) -> list[QueueRec]:
        def fn(tx: Tx) -> list[QueueRec]:
            return [_rec(r) for r in tx.all(f"SELECT {_COLS} FROM queue ORDER BY id")]
        return await self.engine.read(fn)

    async def page(self, *, state: str = "", text: str = "", offset: int = 0,
                   limit: int = 100) -> tuple[int, builtins.list[QueueRec]]:
        """(entries matching, one page of them, oldest first): ``state`` exactly, ``text``
        anywhere in the sender, the recipients or the last error, in any case. The viewer
        of a large queue reads one page, never the whole queue."""
        where = ["1 = 1"]
        args: list[object] = []
        if state:
            where.append("state = ?")
            args.append(state)
        if text:
            pattern = "%" + text.lower().replace("\\", "\\\\").replace("%", "\\%") \
                .replace("_", "\\_") + "%"
            where.append("(lower(sender) LIKE ? ESCAPE '\\' OR lower(recipients) LIKE ? "
                         "ESCAPE '\\' OR lower(last_error) LIKE ? ESCAPE '\\')")
            args += [pattern] * 3
        cond = " AND ".join(where)

        def fn(tx: Tx) -> tuple[int, builtins.list[QueueRec]]:
            row = tx.one(f"SELECT count(*) FROM queue WHERE {cond}", tuple(args))
            rows = tx.all(f"SELECT {_COLS} FROM queue WHERE {cond} ORDER BY id LIMIT ? "
                          "OFFSET ?", (*args, limit, offset))
            return (int(row[0]) if row else 0), [_rec(r) for r in rows]
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
