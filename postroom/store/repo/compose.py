"""Webmail compose sessions and ActiveSync ClientIds in the database (migration 0026), so that
every node of a cluster sees them (docs/cluster.md "Per-node state").

Compose sessions: used by services/webmail/compose_shared.py from worker threads, so every
method here is synchronous (``Engine.run_sync``: SQLite's writer thread, PostgreSQL's lent
connections). A session is one row; each complete attachment one ``compose_parts`` row and its
bytes ``compose_chunks`` rows of at most ``CHUNK`` octets, inserted in one transaction with
the part, so another node never sees a part without all of its bytes. Removing a session
removes its parts and bytes (explicitly, and by ``ON DELETE CASCADE``).

ActiveSync ClientIds (``eas_sent``): ``claim`` inserts first and sends after, so two nodes
handed the same retried SendMail cannot both pass the check; a send that failed gives its
claim back with ``unclaim``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from postroom.store.engine import Engine, Tx

CHUNK = 1 << 20  # octets of an attachment per row


@dataclass(frozen=True, slots=True)
class PartRow:
    aid: str
    name: str
    content_type: str
    size: int
    added: float


def _bytes(value: object) -> bytes:
    return bytes(value) if isinstance(value, bytes | bytearray | memoryview) else b""


class ComposeRepo:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- sessions ---------------------------------------------------------------------------
    def create(self, account: int, cid: str, state: bytes, now: int, keep_most: int) -> None:
        """A new session; the least recently touched beyond ``keep_most - 1`` go first."""
        def fn(tx: Tx) -> None:
            rows = tx.all("SELECT cid FROM compose_sessions WHERE account_id = ? "
                          "ORDER BY touched DESC, created DESC", (account,))
            for (old,) in rows[max(0, keep_most - 1):]:
                _delete(tx, account, str(old))
            tx.execute("INSERT INTO compose_sessions (account_id, cid, state, created, "
                       "touched) VALUES (?, ?, ?, ?, ?)", (account, cid, state, now, now))
        self.engine.run_sync(fn)

    def state(self, account: int, cid: str) -> bytes | None:
        row = self.engine.run_sync(lambda tx: tx.one(
            "SELECT state FROM compose_sessions WHERE account_id = ? AND cid = ?",
            (account, cid)))
        return None if row is None else _bytes(row[0])

    def save(self, account: int, cid: str, state: bytes, now: int) -> bool:
        """False when the session is gone."""
        return self.engine.run_sync(lambda tx: tx.execute(
            "UPDATE compose_sessions SET state = ?, touched = ? WHERE account_id = ? AND "
            "cid = ?", (state, now, account, cid)) > 0)

    def remove(self, account: int, cid: str) -> bool:
        return self.engine.run_sync(lambda tx: _delete(tx, account, cid))

    def usage(self, account: int) -> int:
        """Octets an account has staged: its attachments and its sessions' states."""
        def fn(tx: Tx) -> int:
            parts = tx.one("SELECT coalesce(sum(size), 0) FROM compose_parts "
                           "WHERE account_id = ?", (account,))
            states = tx.one("SELECT coalesce(sum(length(state)), 0) FROM compose_sessions "
                            "WHERE account_id = ?", (account,))
            return int(parts[0] if parts else 0) + int(states[0] if states else 0)
        return self.engine.run_sync(fn)

    def claim_send(self, account: int, cid: str, now: int, seconds: int) -> bool | None:
        """Fence a send: True when this caller may send, False while another send of the
        same session runs (on any node; until ``now + seconds`` at most), None when the
        session is gone."""
        def fn(tx: Tx) -> bool | None:
            if tx.execute("UPDATE compose_sessions SET sending_until = ? WHERE account_id = ? "
                          "AND cid = ? AND sending_until <= ?",
                          (now + seconds, account, cid, now)) > 0:
                return True
            found = tx.one("SELECT 1 FROM compose_sessions WHERE account_id = ? AND cid = ?",
                           (account, cid))
            return None if found is None else False
        return self.engine.run_sync(fn)

    def release_send(self, account: int, cid: str) -> None:
        self.engine.run_sync(lambda tx: tx.execute(
            "UPDATE compose_sessions SET sending_until = 0 WHERE account_id = ? AND cid = ?",
            (account, cid)))

    def sweep(self, before: int) -> int:
        """Remove every session untouched since ``before``; how many went."""
        def fn(tx: Tx) -> int:
            stale = tx.all("SELECT account_id, cid FROM compose_sessions WHERE touched < ?",
                           (before,))
            return sum(1 for account, cid in stale if _delete(tx, int(account), str(cid)))
        return self.engine.run_sync(fn)

    # -- attachments ------------------------------------------------------------------------
    def parts(self, account: int, cid: str) -> list[PartRow] | None:
        """The session's attachments in the order they were added; None when it is gone."""
        def fn(tx: Tx) -> list[PartRow] | None:
            if tx.one("SELECT 1 FROM compose_sessions WHERE account_id = ? AND cid = ?",
                      (account, cid)) is None:
                return None
            return [PartRow(str(r[0]), str(r[1]), str(r[2]), int(r[3]), float(r[4]))
                    for r in tx.all("SELECT aid, name, content_type, size, added FROM "
                                    "compose_parts WHERE account_id = ? AND cid = ? "
                                    "ORDER BY added, aid", (account, cid))]
        return self.engine.run_sync(fn)

    def exists(self, account: int, cid: str) -> bool:
        return self.engine.run_sync(lambda tx: tx.one(
            "SELECT 1 FROM compose_sessions WHERE account_id = ? AND cid = ?",
            (account, cid))) is not None

    def add_part(self, account: int, cid: str, part: PartRow, data: BinaryIO,
                 now: int) -> bool:
        """Store a complete attachment read from ``data`` (its part row, then its bytes, in
        one transaction); False when the session is gone."""
        def fn(tx: Tx) -> bool:
            if tx.execute("UPDATE compose_sessions SET touched = ? WHERE account_id = ? AND "
                          "cid = ?", (now, account, cid)) == 0:
                return False
            tx.execute("INSERT INTO compose_parts (account_id, cid, aid, name, content_type, "
                       "size, added) VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (account, cid, part.aid, part.name, part.content_type, part.size,
                        part.added))
            data.seek(0)
            seq = 0
            while block := data.read(CHUNK):
                tx.execute("INSERT INTO compose_chunks (account_id, cid, aid, seq, data) "
                           "VALUES (?, ?, ?, ?, ?)", (account, cid, part.aid, seq, block))
                seq += 1
            return True
        return self.engine.run_sync(fn)

    def drop_part(self, account: int, cid: str, aid: str, now: int) -> bool:
        def fn(tx: Tx) -> bool:
            tx.execute("DELETE FROM compose_chunks WHERE account_id = ? AND cid = ? AND aid = ?",
                       (account, cid, aid))
            gone = tx.execute("DELETE FROM compose_parts WHERE account_id = ? AND cid = ? AND "
                              "aid = ?", (account, cid, aid)) > 0
            if gone:
                tx.execute("UPDATE compose_sessions SET touched = ? WHERE account_id = ? AND "
                           "cid = ?", (now, account, cid))
            return gone
        return self.engine.run_sync(fn)

    def chunks(self, account: int, cid: str, aid: str) -> Iterator[bytes]:
        """An attachment's bytes, one row (one read) at a time: never the whole of a large
        attachment in memory."""
        seq = 0
        while True:
            row = self.engine.run_sync(lambda tx, seq=seq: tx.one(  # type: ignore[misc]
                "SELECT data FROM compose_chunks WHERE account_id = ? AND cid = ? AND aid = ? "
                "AND seq = ?", (account, cid, aid, seq)))
            if row is None:
                return
            yield _bytes(row[0])
            seq += 1

    # -- ActiveSync ClientIds ---------------------------------------------------------------
    async def claim_client_id(self, account: int, device: str, client_id: str, now: int,
                              window: int) -> bool:
        """True when ``client_id`` was not used by this device within ``window`` seconds (and
        is now claimed); False when it was (the message was, or is being, sent)."""
        def fn(tx: Tx) -> bool:
            tx.execute("DELETE FROM eas_sent WHERE account_id = ? AND device_id = ? AND "
                       "client_id = ? AND sent <= ?", (account, device, client_id, now - window))
            # one statement decides: of two nodes inserting at once, PostgreSQL makes the
            # second wait for the first's commit and then do nothing (INSERT … ON CONFLICT)
            return tx.execute("INSERT INTO eas_sent (account_id, device_id, client_id, sent) "
                              "VALUES (?, ?, ?, ?) ON CONFLICT (account_id, device_id, "
                              "client_id) DO NOTHING", (account, device, client_id, now)) > 0
        return await self.engine.write(fn)

    async def unclaim_client_id(self, account: int, device: str, client_id: str) -> None:
        await self.engine.write(lambda tx: tx.execute(
            "DELETE FROM eas_sent WHERE account_id = ? AND device_id = ? AND client_id = ?",
            (account, device, client_id)))

    async def sweep_client_ids(self, before: int) -> int:
        return await self.engine.write(lambda tx: tx.execute(
            "DELETE FROM eas_sent WHERE sent < ?", (before,)))


def _delete(tx: Tx, account: int, cid: str) -> bool:
    tx.execute("DELETE FROM compose_chunks WHERE account_id = ? AND cid = ?", (account, cid))
    tx.execute("DELETE FROM compose_parts WHERE account_id = ? AND cid = ?", (account, cid))
    return tx.execute("DELETE FROM compose_sessions WHERE account_id = ? AND cid = ?",
                      (account, cid)) > 0
