"""DKIM keys and BATV secrets: the rows behind ``postroom dkim`` and ``postroom batv``.

Private keys and secrets arrive here already sealed (directory/secretbox.py) and leave sealed;
this module never sees them in the clear. A key's state (pending, active, retiring, retired)
is not stored: it follows from its times and its siblings' (services/dkimkeys.py), so no
scheduler has to flip it and a running server and the CLI always agree.
"""

from __future__ import annotations

from dataclasses import dataclass

from postroom.core.errors import Kind, MailError
from postroom.store.engine import Engine, Row, Tx

_COLS = ("k.id, d.name, k.selector, k.algorithm, k.private_key, k.public_key, k.created_at, "
         "k.activate_at, k.retire_at")


@dataclass(frozen=True, slots=True)
class DkimKeyRec:
    id: int
    domain: str
    selector: str
    algorithm: str  # "ed25519" | "rsa"
    sealed_key: str  # the private key, sealed for purpose ``dkim:<domain>:<selector>``
    public_key: str  # base64 of the public key, the p= tag of the DNS record
    created_at: int
    activate_at: int
    retire_at: int | None


@dataclass(frozen=True, slots=True)
class BatvKeyRec:
    number: int  # K, 0-9
    sealed_secret: str
    created_at: int
    retired_at: int | None


def _key(row: Row) -> DkimKeyRec:
    return DkimKeyRec(int(row[0]), str(row[1]), str(row[2]), str(row[3]), str(row[4]),
                      str(row[5]), int(row[6]), int(row[7]),
                      None if row[8] is None else int(row[8]))


class SigningRepo:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- DKIM ---------------------------------------------------------------------------------
    async def dkim_keys(self, domain: str) -> list[DkimKeyRec]:
        """Every key of ``domain``, oldest activation first."""
        def fn(tx: Tx) -> list[DkimKeyRec]:
            return [_key(r) for r in tx.all(
                f"SELECT {_COLS} FROM dkim_keys k JOIN domains d ON d.id = k.domain_id "
                "WHERE d.name = ? ORDER BY k.activate_at, k.id", (domain,))]
        return await self.engine.read(fn)

    async def dkim_domains(self) -> list[str]:
        """Domains that have at least one key."""
        def fn(tx: Tx) -> list[str]:
            return [str(r[0]) for r in tx.all(
                "SELECT DISTINCT d.name FROM dkim_keys k JOIN domains d ON d.id = k.domain_id "
                "ORDER BY d.name")]
        return await self.engine.read(fn)

    async def add_dkim_keys(self, domain: str, keys: list[tuple[str, str, str, str, int]],
                            now: int) -> None:
        """Insert (selector, algorithm, sealed private key, public key, activate_at) rows in
        one transaction; EXISTS if a selector is taken."""
        def fn(tx: Tx) -> None:
            row = tx.one("SELECT id FROM domains WHERE name = ?", (domain,))
            if row is None:
                raise MailError(Kind.NOT_FOUND, f"unknown domain {domain}")
            for selector, algorithm, sealed, public, activate_at in keys:
                if tx.one("SELECT 1 FROM dkim_keys WHERE domain_id = ? AND selector = ?",
                          (row[0], selector)):
                    raise MailError(Kind.EXISTS, f"selector {selector} already exists in "
                                    f"{domain}")
                tx.execute("INSERT INTO dkim_keys (domain_id, selector, algorithm, "
                           "private_key, public_key, created_at, activate_at) "
                           "VALUES (?, ?, ?, ?, ?, ?, ?)",
                           (row[0], selector, algorithm, sealed, public, now, activate_at))
        await self.engine.write(fn)

    async def set_dkim_times(self, domain: str, selector: str, *,
                             activate_at: int | None = None,
                             retire_at: int | None = None) -> bool:
        """Move a key's activation or retirement; False when there is no such key."""
        def fn(tx: Tx) -> bool:
            sets, args = [], []
            if activate_at is not None:
                sets.append("activate_at = ?")
                args.append(activate_at)
            if retire_at is not None:
                sets.append("retire_at = ?")
                args.append(retire_at)
            changed = tx.execute(
                f"UPDATE dkim_keys SET {', '.join(sets)} WHERE selector = ? AND domain_id = "
                "(SELECT id FROM domains WHERE name = ?)", (*args, selector, domain))
            return changed > 0
        return await self.engine.write(fn)

    async def delete_dkim_key(self, domain: str, selector: str) -> bool:
        def fn(tx: Tx) -> bool:
            return tx.execute("DELETE FROM dkim_keys WHERE selector = ? AND domain_id = "
                              "(SELECT id FROM domains WHERE name = ?)",
                              (selector, domain)) > 0
        return await self.engine.write(fn)

    # -- BATV ---------------------------------------------------------------------------------
    async def batv_keys(self) -> list[BatvKeyRec]:
        """Every BATV key, newest first (the first one signs)."""
        def fn(tx: Tx) -> list[BatvKeyRec]:
            return [BatvKeyRec(int(r[0]), str(r[1]), int(r[2]),
                               None if r[3] is None else int(r[3]))
                    for r in tx.all("SELECT number, secret, created_at, retired_at "
                                    "FROM batv_keys ORDER BY created_at DESC, number DESC")]
        return await self.engine.read(fn)

    async def new_batv_key(self, sealed: str, now: int, drop_old: bool,
                           only_if_none: bool = False) -> int | None:
        """Add a key under the next free number (0-9, reusing the oldest when all are
        taken); the previous newest is marked retired now, or every other key is deleted
        when ``drop_old``. With ``only_if_none`` nothing happens when a key exists (the
        first use of BATV creates one; two processes may race). Returns the number, or
        None when nothing was added."""
        def fn(tx: Tx) -> int | None:
            rows = tx.all("SELECT number, retired_at FROM batv_keys "
                          "ORDER BY created_at DESC, number DESC")
            if rows and only_if_none:
                return None
            if drop_old:
                tx.execute("DELETE FROM batv_keys")
                rows = []
            else:
                tx.execute("UPDATE batv_keys SET retired_at = ? WHERE retired_at IS NULL",
                           (now,))
            used = {int(r[0]) for r in rows}
            free = [n for n in range(10) if n not in used]
            number = free[0] if free else int(rows[-1][0])
            tx.execute("DELETE FROM batv_keys WHERE number = ?", (number,))
            tx.execute("INSERT INTO batv_keys (number, secret, created_at) VALUES (?, ?, ?)",
                       (number, sealed, now))
            return number
        return await self.engine.write(fn)
