"""The nodes of a cluster and what they hold (``cluster_nodes``, migration 0024).

Each node writes its own row: at start (``join``), at every heartbeat, and at a clean stop.
``leases`` reads what the nodes hold from the places that hold it: claimed queue entries
(owner ``node/pid/claim``), MultiPOP accounts being collected, and advisory locks in
``pg_locks`` (found by the lock connection's application name, store/postgres/locks.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from postroom.store.engine import Engine, Row, Tx


@dataclass(frozen=True, slots=True)
class NodeRow:
    name: str
    version: str
    schema_version: int
    started: int
    heartbeat: int
    pid: int
    address: str
    lag_ms: float | None
    key_id: str
    stopped: int | None


_COLS = ("name, version, schema_version, started, heartbeat, pid, address, lag_ms, key_id, "
         "stopped")


def _row(r: Row) -> NodeRow:
    return NodeRow(str(r[0]), str(r[1]), int(r[2]), int(r[3]), int(r[4]), int(r[5]),
                   str(r[6]), None if r[7] is None else float(r[7]), str(r[8]),
                   None if r[9] is None else int(r[9]))


class ClusterRepo:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def nodes(self) -> list[NodeRow]:
        def fn(tx: Tx) -> list[NodeRow]:
            return [_row(r) for r in tx.all(f"SELECT {_COLS} FROM cluster_nodes ORDER BY name")]
        return await self.engine.read(fn)

    async def join(self, row: NodeRow) -> None:
        def fn(tx: Tx) -> None:
            tx.execute("DELETE FROM cluster_nodes WHERE name = ?", (row.name,))
            tx.execute(f"INSERT INTO cluster_nodes ({_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, "
                       "?, NULL)", (row.name, row.version, row.schema_version, row.started,
                                    row.heartbeat, row.pid, row.address, row.lag_ms,
                                    row.key_id))
        await self.engine.write(fn)

    async def heartbeat(self, name: str, pid: int, lag_ms: float | None) -> bool:
        """Record that ``name`` (process ``pid``) is alive; False when the row is no longer
        this process's (another process took the name over)."""
        def fn(tx: Tx) -> int:
            return tx.execute("UPDATE cluster_nodes SET heartbeat = ?, lag_ms = ? "
                              "WHERE name = ? AND pid = ?",
                              (int(time.time()), lag_ms, name, pid))
        return bool(await self.engine.write(fn))

    async def leave(self, name: str, pid: int) -> None:
        def fn(tx: Tx) -> None:
            tx.execute("UPDATE cluster_nodes SET stopped = ? WHERE name = ? AND pid = ?",
                       (int(time.time()), name, pid))
        await self.engine.write(fn)

    async def forget(self, name: str) -> bool:
        def fn(tx: Tx) -> int:
            return tx.execute("DELETE FROM cluster_nodes WHERE name = ?", (name,))
        return bool(await self.engine.write(fn))

    async def queue_claims(self) -> dict[str, int]:
        """Claimed queue entries per node."""
        def fn(tx: Tx) -> dict[str, int]:
            out: dict[str, int] = {}
            for (owner,) in tx.all("SELECT owner FROM queue WHERE state = 'active'"):
                node = str(owner).split("/", 1)[0] if owner else ""
                out[node] = out.get(node, 0) + 1
            return out
        return await self.engine.read(fn)

    async def multipop_leases(self) -> int:
        def fn(tx: Tx) -> int:
            row = tx.one("SELECT count(*) FROM multipop WHERE lease_until > ?",
                         (int(time.time()),))
            return int(row[0]) if row else 0
        return await self.engine.read(fn)

    async def advisory_locks(self) -> dict[str, int]:
        """Advisory locks held per node (PostgreSQL; empty elsewhere)."""
        def fn(tx: Tx) -> dict[str, int]:
            if tx.dialect != "postgresql":
                return {}
            rows = tx.all("SELECT a.application_name, count(*) FROM pg_locks l JOIN "
                          "pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' "
                          "AND l.granted AND a.application_name LIKE 'postroom-locks %' "
                          "GROUP BY a.application_name")
            return {str(r[0]).split(" ", 1)[1]: int(r[1]) for r in rows}
        return await self.engine.read(fn)

    async def schema_version(self) -> int:
        def fn(tx: Tx) -> int:
            row = tx.one("SELECT max(version) FROM schema_version")
            return int(row[0]) if row and row[0] is not None else 0
        return await self.engine.read(fn)
