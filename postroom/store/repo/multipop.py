"""MultiPOP rows: the remote POP3 accounts users collect from, and what was taken from each.

Exactly-once collection rests on one transaction (``record``): the UIDL goes into
``multipop_seen`` together with the queue entry that carries the message. A collector that
dies before the commit fetches the message again next time (nothing was recorded); one that
dies after it finds the UIDL recorded and does not fetch it again. The insert is
``ON CONFLICT DO NOTHING`` and the queue entry is written only when the row is new, so even two
collectors racing on one remote account cannot both deliver a message.

Runs are serialised by a lease (``claim``/``release``): ``lease_owner`` names the process
(``host:pid``) and ``lease_until`` bounds how long a crashed holder can block the next run.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from postroom.core.errors import Kind, MailError
from postroom.core.records import NewEntry, RemoteRec, SeenRec
from postroom.store.engine import Engine, Row, Tx
from postroom.store.repo import columns
from postroom.store.repo.queue import QueueRepo

_COLS = ("r.id, r.account_id, a.address, r.host, r.port, r.tls, r.tls_verify, r.username, "
         "r.password, r.leave_on_server, r.delete_after_days, r.interval_s, r.folder, "
         "r.enabled, r.next_run, r.failures, r.last_success, r.last_error, r.last_error_at, "
         "r.last_fetched, r.lease_owner, r.lease_until, r.created_at")
_FROM = "multipop r JOIN accounts a ON a.id = r.account_id"

EDITABLE = {"host", "port", "tls", "tls_verify", "username", "password", "leave_on_server",
            "delete_after_days", "interval_s", "folder", "enabled", "next_run", "failures"}


def _rec(row: Row) -> RemoteRec:
    v = list(row)
    for i in (6, 9, 13):
        v[i] = bool(v[i])
    return RemoteRec(*v)


class MultipopRepo:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def add(self, account_id: int, fields: dict[str, object]) -> RemoteRec:
        values = {"account_id": account_id, "created_at": int(time.time()),
                  **columns.editable(fields, EDITABLE)}
        def fn(tx: Tx) -> RemoteRec:
            if tx.one("SELECT 1 FROM multipop WHERE account_id = ? AND host = ? AND port = ? "
                      "AND username = ?", (account_id, fields["host"], fields["port"],
                                           fields["username"])):
                raise MailError(Kind.EXISTS, f"this account already collects "
                                             f"{fields['username']} at {fields['host']}:"
                                             f"{fields['port']}")
            row = columns.insert(tx, "multipop", values, returning="id")
            assert row is not None
            return self._get(tx, int(row[0]))  # type: ignore[return-value]
        return await self.engine.write(fn)

    @staticmethod
    def _get(tx: Tx, remote_id: int) -> RemoteRec | None:
        row = tx.one(f"SELECT {_COLS} FROM {_FROM} WHERE r.id = ?", (remote_id,))
        return _rec(row) if row else None

    async def get(self, remote_id: int) -> RemoteRec | None:
        def fn(tx: Tx) -> RemoteRec | None:
            return self._get(tx, remote_id)
        return await self.engine.read(fn)

    async def remotes(self, account_id: int | None = None) -> list[RemoteRec]:
        def fn(tx: Tx) -> list[RemoteRec]:
            if account_id is None:
                rows = tx.all(f"SELECT {_COLS} FROM {_FROM} ORDER BY a.address, r.id")
            else:
                rows = tx.all(f"SELECT {_COLS} FROM {_FROM} WHERE r.account_id = ? "
                              "ORDER BY r.id", (account_id,))
            return [_rec(r) for r in rows]
        return await self.engine.read(fn)

    async def update(self, remote_id: int, fields: dict[str, object]) -> RemoteRec | None:
        values = columns.editable(fields, EDITABLE)
        def fn(tx: Tx) -> RemoteRec | None:
            columns.update(tx, "multipop", values, "id = ?", (remote_id,))
            return self._get(tx, remote_id)
        return await self.engine.write(fn)

    async def remove(self, remote_id: int) -> bool:
        def fn(tx: Tx) -> bool:
            tx.execute("DELETE FROM multipop_seen WHERE remote_id = ?", (remote_id,))
            return bool(tx.execute("DELETE FROM multipop WHERE id = ?", (remote_id,)))
        return await self.engine.write(fn)

    # -- leases -------------------------------------------------------------------------------
    async def claim(self, owner: str, lease: int, *, remote_id: int | None = None,
                    limit: int = 1) -> list[RemoteRec]:
        """Take the lease of due, enabled remote accounts (or of ``remote_id``, due or not)."""
        now = int(time.time())
        def fn(tx: Tx) -> list[RemoteRec]:
            if remote_id is None:
                rows = tx.all("SELECT id FROM multipop WHERE enabled = 1 AND next_run <= ? "
                              "AND lease_until < ? ORDER BY next_run, id LIMIT ?",
                              (now, now, limit))
            else:
                rows = tx.all("SELECT id FROM multipop WHERE id = ? AND lease_until < ?",
                              (remote_id, now))
            out = []
            for (rid,) in rows:
                if tx.execute("UPDATE multipop SET lease_owner = ?, lease_until = ? "
                              "WHERE id = ? AND lease_until < ?", (owner, now + lease, rid, now)):
                    rec = self._get(tx, int(rid))
                    if rec is not None:
                        out.append(rec)
            return out
        return await self.engine.write(fn)

    async def renew(self, remote_id: int, owner: str, lease: int) -> None:
        def fn(tx: Tx) -> None:
            tx.execute("UPDATE multipop SET lease_until = ? WHERE id = ? AND lease_owner = ?",
                       (int(time.time()) + lease, remote_id, owner))
        await self.engine.write(fn)

    async def leases(self) -> list[tuple[int, str]]:
        """(remote id, owner) of every lease still running."""
        def fn(tx: Tx) -> list[tuple[int, str]]:
            return [(int(i), str(o)) for i, o in tx.all(
                "SELECT id, lease_owner FROM multipop WHERE lease_until >= ?",
                (int(time.time()),))]
        return await self.engine.read(fn)

    async def release(self, remote_id: int, owner: str, *, ok: bool, error: str = "",
                      next_run: int, failures: int, fetched: int = 0) -> None:
        """End a run: the outcome, when to run next, and the lease freed."""
        now = int(time.time())
        def fn(tx: Tx) -> None:
            if ok:
                tx.execute("UPDATE multipop SET last_success = ?, last_error = '', failures = 0,"
                           " last_fetched = ?, next_run = ?, lease_owner = '', lease_until = 0 "
                           "WHERE id = ? AND lease_owner = ?",
                           (now, fetched, next_run, remote_id, owner))
            else:
                tx.execute("UPDATE multipop SET last_error = ?, last_error_at = ?, failures = ?,"
                           " next_run = ?, lease_owner = '', lease_until = 0 "
                           "WHERE id = ? AND lease_owner = ?",
                           (error, now, failures, next_run, remote_id, owner))
        await self.engine.write(fn)

    async def drop_lease(self, remote_id: int, owner: str) -> None:
        """Free a lease whose holder is known to be dead (its process is gone)."""
        def fn(tx: Tx) -> None:
            tx.execute("UPDATE multipop SET lease_owner = '', lease_until = 0 "
                       "WHERE id = ? AND lease_owner = ?", (remote_id, owner))
        await self.engine.write(fn)

    # -- progress -----------------------------------------------------------------------------
    async def seen(self, remote_id: int) -> dict[str, SeenRec]:
        def fn(tx: Tx) -> dict[str, SeenRec]:
            return {str(u): SeenRec(str(u), int(f), bool(s)) for u, f, s in tx.all(
                "SELECT uidl, first_seen, skipped FROM multipop_seen WHERE remote_id = ?",
                (remote_id,))}
        return await self.engine.read(fn)

    async def record(self, remote_id: int, uidl: str, entry: NewEntry | None) -> bool:
        """Remember ``uidl`` and, in the same transaction, queue its message (None = skipped,
        e.g. too large). False when the UIDL was already recorded: nothing is queued."""
        def fn(tx: Tx) -> bool:
            row = tx.one("INSERT INTO multipop_seen (remote_id, uidl, first_seen, skipped) "
                         "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING uidl",
                         (remote_id, uidl, int(time.time()), int(entry is None)))
            if row is None:
                return False
            if entry is not None:
                QueueRepo._insert(tx, entry)
            return True
        return await self.engine.write(fn)

    async def forget(self, remote_id: int, uidls: Sequence[str]) -> None:
        """Drop rows of UIDLs the remote mailbox no longer holds."""
        def fn(tx: Tx) -> None:
            tx.many("DELETE FROM multipop_seen WHERE remote_id = ? AND uidl = ?",
                    [(remote_id, u) for u in uidls])
        await self.engine.write(fn)

