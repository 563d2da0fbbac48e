"""WebDAV locks of the file area (RFC 4918 §6-7), durable so that a restart keeps them.

A lock names its resource by area (the owner's address) and path inside the area, not by
folder id: RFC 4918 §6.1 ties a lock to a URL, and a lock on an unmapped URL (§7.3) has no
folder or item to hang on. Deciding whether two locks conflict is the service's business
(services/dav/locks.py); this repository only makes "check, then insert" one transaction, so
two clients racing for an exclusive lock cannot both get it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from postroom.store.engine import Engine, Tx

_COLS = "token, area, path, account_id, exclusive, depth, owner, timeout, created, expires"


@dataclass(frozen=True, slots=True)
class LockRow:
    """One lock. ``depth`` 0 or -1 (infinity); ``owner`` the client's DAV:owner XML text;
    ``timeout`` seconds granted; ``expires`` epoch seconds."""

    token: str
    area: str
    path: str
    account_id: int
    exclusive: bool
    depth: int
    owner: str
    timeout: int
    created: int
    expires: int


def _row(r: Sequence[object]) -> LockRow:
    v = list(r)
    return LockRow(str(v[0]), str(v[1]), str(v[2]), int(v[3]), bool(v[4]),  # type: ignore
                   int(v[5]), str(v[6]), int(v[7]), int(v[8]), int(v[9]))  # type: ignore


def _active(tx: Tx, area: str, now: int) -> list[LockRow]:
    return [_row(r) for r in tx.all(
        f"SELECT {_COLS} FROM dav_locks WHERE area = ? AND expires > ? ORDER BY created, token",
        (area, now))]


class DavLockRepo:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def active(self, area: str, now: int) -> list[LockRow]:
        """Every unexpired lock of one file area (an area holds few: they are per user)."""
        return await self.engine.read(lambda tx: _active(tx, area, now))

    async def get(self, token: str, now: int) -> LockRow | None:
        def fn(tx: Tx) -> LockRow | None:
            r = tx.one(f"SELECT {_COLS} FROM dav_locks WHERE token = ? AND expires > ?",
                       (token, now))
            return _row(r) if r else None
        return await self.engine.read(fn)

    async def create(self, lock: LockRow, conflicts: Callable[[list[LockRow]], bool],
                     ) -> bool:
        """Insert ``lock`` unless ``conflicts`` (given the area's active locks, read in the
        same transaction) says no; False when refused. Expired locks of the area are swept
        first, so the table does not grow with abandoned locks."""
        def fn(tx: Tx) -> bool:
            tx.execute("DELETE FROM dav_locks WHERE area = ? AND expires <= ?",
                       (lock.area, lock.created))
            if conflicts(_active(tx, lock.area, lock.created)):
                return False
            tx.execute(f"INSERT INTO dav_locks ({_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (lock.token, lock.area, lock.path, lock.account_id,
                        1 if lock.exclusive else 0, lock.depth, lock.owner, lock.timeout,
                        lock.created, lock.expires))
            return True
        return await self.engine.write(fn)

    async def refresh(self, token: str, timeout: int, now: int) -> bool:
        """RFC 4918 §9.10.2: a new timeout from now; False when the lock is gone."""
        def fn(tx: Tx) -> bool:
            return tx.execute("UPDATE dav_locks SET timeout = ?, expires = ? WHERE token = ? "
                              "AND expires > ?", (timeout, now + timeout, token, now)) > 0
        return await self.engine.write(fn)

    async def delete(self, tokens: Sequence[str]) -> int:
        """UNLOCK, or locks whose resource went away (DELETE, MOVE: RFC 4918 §7.7)."""
        def fn(tx: Tx) -> int:
            n = 0
            for token in tokens:
                n += tx.execute("DELETE FROM dav_locks WHERE token = ?", (token,))
            return n
        return await self.engine.write(fn) if tokens else 0

    async def sweep(self, now: int) -> int:
        """Remove every expired lock (a housekeeping pass may call it)."""
        return await self.engine.write(
            lambda tx: tx.execute("DELETE FROM dav_locks WHERE expires <= ?", (now,)))
