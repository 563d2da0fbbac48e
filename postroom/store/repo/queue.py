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

Leases (cluster mode, docs/cluster.md "The queue"): a claim marks its rows ``active`` with an
``owner`` token (``node/pid/claim number``) and ``lease_until``. On PostgreSQL the claim reads
with ``FOR UPDATE SKIP LOCKED``, so nodes claiming together never take the same row and never
wait for each other. The node renews the leases of what it still works on (``renew``); a row
whose lease ran out (its node died or stalled) is put back to ``ready`` (``atrn`` for held
gateway mail) by the next claim of any node, and claimed again. Every write-back of a claim
this process made is fenced: it names the owner token, and when the row is no longer ours the
whole settling transaction is rolled back with ``LeaseLost``, so a late node never writes a
copy, a notice or a forwarded entry twice. Outside cluster mode a lease never runs out and a
restart returns every ``active`` row, as before.
"""

from __future__ import annotations

import builtins
import json
import math
import os
import time
from collections.abc import Sequence

from postroom.core.errors import LeaseLost, not_found
from postroom.core.records import BlobRef, MemoryRow, NewEntry, NewMessage, QueueRec, Settlement
from postroom.store.engine import Engine, Row, Tx
from postroom.store.repo.messages import MessageRepo, _ref_blobs
from postroom.store.repo.sieve import remember_in

_COLS = ("id, sender, recipients, blob, prefix, size, params, state, attempts, next_attempt, "
         "last_error, created_at, hold_domain")
FOREVER = 1 << 62  # lease_until outside cluster mode: never runs out
# Back to where an interrupted claim came from: held gateway mail waits for ATRN again.
_RETURN_STATE = ("CASE WHEN hold_domain IN (SELECT domain FROM gateways WHERE deliver_to = '') "
                 "THEN 'atrn' ELSE 'ready' END")


def _until(seconds: float) -> int:
    """The lease's end in whole seconds, rounded up: never shorter than asked."""
    return math.ceil(time.time() + seconds)


def _rec(row: Row) -> QueueRec:
    values = list(row)
    values[2] = tuple(json.loads(values[2]))
    return QueueRec(*values)


class QueueRepo:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.node = ""  # this node's name ('' outside cluster mode)
        self.lease_seconds = 0.0  # 0: leases never run out (one node)
        self._prefix = f"/{os.getpid()}/"
        self._claim_no = 0
        self._claims: dict[int, str] = {}  # entry id → owner token of our live claims

    def use_leases(self, node: str, seconds: float) -> None:
        """Cluster mode: claims are leases of ``seconds`` held in the name of ``node``."""
        self.node = node
        self.lease_seconds = seconds
        self._prefix = f"{node}/{os.getpid()}/"

    def _token(self) -> tuple[str, int]:
        self._claim_no += 1
        until = _until(self.lease_seconds) if self.lease_seconds else FOREVER
        return f"{self._prefix}{self._claim_no}", until

    def held(self) -> dict[int, str]:
        """Our live claims: entry id → owner token."""
        return dict(self._claims)

    def _claim_rows(self, tx: Tx, rows: builtins.list[Row]) -> builtins.list[QueueRec]:
        if not rows:
            return []
        owner, until = self._token()
        ids = [int(r[0]) for r in rows]
        marks = ", ".join("?" for _ in ids)
        tx.execute(f"UPDATE queue SET state = 'active', owner = ?, lease_until = ? "
                   f"WHERE id IN ({marks})", (owner, until, *ids))
        for i in ids:
            self._claims[i] = owner
        return [_rec(r) for r in rows]

    @staticmethod
    def _reap(tx: Tx, now: int) -> int:
        """Claims whose lease ran out (their node died or stalled) become due again."""
        return tx.execute(f"UPDATE queue SET state = {_RETURN_STATE}, owner = '', "
                          "lease_until = 0, next_attempt = ? "
                          "WHERE state = 'active' AND lease_until <= ?", (now, now))

    async def renew(self) -> int:
        """Extend the leases of our live claims; forget those that are no longer ours (taken
        over after a stall: their write-back will raise LeaseLost). Returns how many were
        lost."""
        claims = dict(self._claims)
        if not claims or not self.lease_seconds:
            return 0

        def fn(tx: Tx) -> set[int]:
            until = _until(self.lease_seconds)
            ids = list(claims)
            lost: set[int] = set()
            for i in range(0, len(ids), 500):
                part = ids[i:i + 500]
                marks = ", ".join("?" for _ in part)
                rows = tx.all(f"SELECT id, owner FROM queue WHERE id IN ({marks})", part)
                ours = [int(r[0]) for r in rows if r[1] == claims[int(r[0])]]
                lost.update(set(part) - set(ours))
                if ours:
                    om = ", ".join("?" for _ in ours)
                    tx.execute(f"UPDATE queue SET lease_until = ? WHERE id IN ({om})",
                               (until, *ours))
            return lost
        lost = await self.engine.write(fn)
        for i in lost:
            if self._claims.get(i) == claims[i]:
                del self._claims[i]
        return len(lost)

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
            now = int(time.time())
            if self.lease_seconds and state == "ready":
                self._reap(tx, now)
            # PostgreSQL: rows another node is claiming right now are skipped, not waited
            # for (SELECT … FOR UPDATE SKIP LOCKED); SQLite has one writer anyway.
            lock = " FOR UPDATE SKIP LOCKED" if tx.dialect == "postgresql" else ""
            rows = tx.all(f"SELECT {_COLS} FROM queue WHERE state = ? AND "
                          f"next_attempt <= ? ORDER BY next_attempt, id LIMIT ?{lock}",
                          (state, now, limit))
            return self._claim_rows(tx, rows)
        return await self.engine.write(fn)

    async def claim_held(self, domains: Sequence[str]) -> list[QueueRec]:
        """Claim (state ``active``) every entry waiting for ``domains``, held or between
        retries towards a gateway host: an ATRN collection (RFC 2645 §4)."""
        if not domains:
            return []
        def fn(tx: Tx) -> list[QueueRec]:
            marks = ", ".join("?" for _ in domains)
            lock = " FOR UPDATE SKIP LOCKED" if tx.dialect == "postgresql" else ""
            rows = tx.all(f"SELECT {_COLS} FROM queue WHERE hold_domain IN ({marks}) "
                          f"AND state IN ('ready', 'atrn') ORDER BY id{lock}", tuple(domains))
            return self._claim_rows(tx, rows)
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
                owner = self._claims.get(e.id)
                if owner is None:
                    tx.execute("UPDATE queue SET state = ?, owner = '', lease_until = 0 "
                               "WHERE id = ? AND state = 'active'", (e.state, e.id))
                else:  # only if still ours
                    tx.execute("UPDATE queue SET state = ?, owner = '', lease_until = 0 "
                               "WHERE id = ? AND state = 'active' AND owner = ?",
                               (e.state, e.id, owner))
        await self.engine.write(fn)
        for e in entries:
            self._claims.pop(e.id, None)

    async def release_domain(self, domain: str) -> int:
        """A gateway was removed: its held entries become ordinary remote mail."""
        def fn(tx: Tx) -> int:
            return tx.execute("UPDATE queue SET state = 'ready', next_attempt = ? "
                              "WHERE hold_domain = ? AND state = 'atrn'",
                              (int(time.time()), domain))
        return await self.engine.write(fn)

    async def reset_active(self) -> int:
        """At start: claims of this node's earlier lives are due again (held gateway mail
        waits for ATRN again). Outside cluster mode that is every ``active`` row; in a
        cluster only this node's (and unowned ones), never a live node's."""
        def fn(tx: Tx) -> int:
            sets = f"UPDATE queue SET state = {_RETURN_STATE}, owner = '', lease_until = 0 "
            if not self.node:
                return tx.execute(sets + "WHERE state = 'active'")
            mine = f"{self.node}/"
            return tx.execute(sets + "WHERE state = 'active' AND (owner = '' OR "
                              "substr(owner, 1, ?) = ?)", (len(mine), mine))
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
            self._settle(tx, entry_id, outcome, owner)
            return out
        owner = self._claims.get(entry_id)
        try:
            out = await self.engine.write(fn)
        except LeaseLost:
            self._claims.pop(entry_id, None)
            raise
        if owner is not None and (outcome.state != "active" or not outcome.remaining):
            self._claims.pop(entry_id, None)  # the claim ends with this settlement
        return out

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
    def _settle(tx: Tx, entry_id: int, o: Settlement[int], owner: str | None = None) -> None:
        """``owner``: the claim this settles; when the row is no longer held by it, raise
        LeaseLost, which rolls the whole transaction back (docstring, "Leases")."""
        fence, fence_args = ("", ()) if owner is None else (" AND owner = ?", (owner,))
        if not o.remaining:
            row = tx.one(f"DELETE FROM queue WHERE id = ?{fence} RETURNING blob",
                         (entry_id, *fence_args))
            if row is None and owner is not None:
                raise LeaseLost(f"queue entry {entry_id} was taken over by another claim")
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
        if o.state != "active":
            sets += ", owner = '', lease_until = 0"
        changed = tx.execute(f"UPDATE queue SET {sets} WHERE id = ?{fence}",
                             (*args, entry_id, *fence_args))
        if not changed and owner is not None:
            raise LeaseLost(f"queue entry {entry_id} was taken over by another claim")

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
