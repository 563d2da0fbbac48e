"""API tokens' rows (migration 0018): looked up by the SHA-256 of the token, never by the
token itself. Both engines run the same SQL."""

from __future__ import annotations

from postroom.core.apitoken import ApiTokenRec
from postroom.store.engine import Engine, Row, Tx

_COLS = ("t.id, t.account_id, a.address, t.name, t.scope, t.created_at, t.expires_at, "
         "t.last_used, t.revoked_at")
_FROM = "api_tokens t JOIN accounts a ON a.id = t.account_id"


def _rec(r: Row) -> ApiTokenRec:
    return ApiTokenRec(int(r[0]), int(r[1]), str(r[2]), str(r[3]), str(r[4]), int(r[5]),
                       None if r[6] is None else int(r[6]), None if r[7] is None else int(r[7]),
                       None if r[8] is None else int(r[8]))


class ApiTokenRepo:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def add(self, token_hash: str, account_id: int, name: str, scope: str,
                  created_at: int, expires_at: int | None) -> int:
        def fn(tx: Tx) -> int:
            row = tx.one("INSERT INTO api_tokens (token_hash, account_id, name, scope, "
                         "created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                         (token_hash, account_id, name, scope, created_at, expires_at))
            assert row is not None
            return int(row[0])
        return await self.engine.write(fn)

    async def by_hash(self, token_hash: str) -> ApiTokenRec | None:
        def fn(tx: Tx) -> ApiTokenRec | None:
            row = tx.one(f"SELECT {_COLS} FROM {_FROM} WHERE t.token_hash = ?", (token_hash,))
            return None if row is None else _rec(row)
        return await self.engine.read(fn)

    async def get(self, token_id: int) -> ApiTokenRec | None:
        def fn(tx: Tx) -> ApiTokenRec | None:
            row = tx.one(f"SELECT {_COLS} FROM {_FROM} WHERE t.id = ?", (token_id,))
            return None if row is None else _rec(row)
        return await self.engine.read(fn)

    async def list(self, account_id: int | None) -> list[ApiTokenRec]:
        """One account's tokens (or every token), oldest first, revoked ones included."""
        where, args = ("WHERE t.account_id = ?", (account_id,)) if account_id is not None \
            else ("", ())

        def fn(tx: Tx) -> list[ApiTokenRec]:
            return [_rec(r) for r in tx.all(f"SELECT {_COLS} FROM {_FROM} {where} "
                                            "ORDER BY t.id", args)]
        return await self.engine.read(fn)

    async def revoke(self, token_id: int, at: int) -> bool:
        """Mark the token revoked; False when it was unknown or already revoked."""
        def fn(tx: Tx) -> bool:
            return tx.execute("UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND "
                              "revoked_at IS NULL", (at, token_id)) > 0
        return await self.engine.write(fn)

    async def touch(self, token_id: int, at: int) -> None:
        def fn(tx: Tx) -> None:
            tx.execute("UPDATE api_tokens SET last_used = ? WHERE id = ?", (at, token_id))
        await self.engine.write(fn)
