"""Sieve scripts and the Sieve memory (migration 0023).

The repository stores and fetches; what a script may be called, who may change it and what a
run does with it is services/sieve/'s business. Three kinds of rows in ``sieve_scripts``:

- a user's scripts (``account_id`` set, phase ``user``): any number up to the configured
  bound, names unique per account, at most one active (a partial unique index, so two
  concurrent activations cannot both win);
- administrators' scripts run around every user script of their scope (phase ``before`` or
  ``after``; ``domain_id`` set for a domain's, both owners NULL for the whole server's), one
  per scope and phase, stored under the phase's name;
- the server's named scripts that users may ``include :global`` (phase ``global``; RFC 6609
  §3.2).

Every change sets ``updated``; ``hash`` (SHA-256 of the content, hex) lets the service keep
compiled scripts in a cache keyed by content and read the chain of one delivery in one query.

``sieve_memory`` holds what Sieve remembers between deliveries (vacation replies sent,
messages seen by the duplicate test): one row per (account, kind, hashed key) with its expiry.
``remember_in`` writes rows inside a caller's transaction, so that the delivery settling a
message (store/repo/queue.py) records them in the same commit: a crash records everything or
nothing, and a message filtered again after a crash is judged as the first time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from postroom.core.errors import Kind, MailError, not_found
from postroom.core.records import MemoryRow
from postroom.store.engine import Engine, Row, Tx

USER = "user"
BEFORE = "before"
AFTER = "after"
GLOBAL = "global"  # the server's named scripts, for include :global

_COLS = "id, name, content, size, hash, active, updated"
_LIST_COLS = "id, name, '', size, hash, active, updated"


@dataclass(frozen=True, slots=True)
class ScriptRow:
    id: int
    name: str
    content: str  # empty when listed without content
    size: int  # octets of the content (UTF-8)
    hash: str
    active: bool
    updated: int


@dataclass(frozen=True, slots=True)
class ChainRow:
    """One script of a delivery's chain: ``scope`` is ``global``, ``domain`` or ``user``;
    ``phase`` ``before``, ``user`` or ``after``."""

    scope: str
    phase: str
    name: str
    hash: str
    content: str
    updated: int


def _row(r: Row) -> ScriptRow:
    return ScriptRow(int(r[0]), str(r[1]), str(r[2]), int(r[3]), str(r[4]), bool(r[5]),
                     int(r[6]))


def _owner(domain_id: int | None) -> tuple[str, tuple[object, ...]]:
    """The WHERE clause of the administrators' rows of one scope."""
    if domain_id is None:
        return "account_id IS NULL AND domain_id IS NULL", ()
    return "account_id IS NULL AND domain_id = ?", (domain_id,)


class SieveRepo:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- users' scripts -------------------------------------------------------------------
    async def user_scripts(self, account_id: int) -> list[ScriptRow]:
        """An account's scripts by name, without their content."""
        def fn(tx: Tx) -> list[ScriptRow]:
            return [_row(r) for r in tx.all(
                f"SELECT {_LIST_COLS} FROM sieve_scripts WHERE account_id = ? ORDER BY name",
                (account_id,))]
        return await self.engine.read(fn)

    async def user_script(self, account_id: int, name: str) -> ScriptRow | None:
        def fn(tx: Tx) -> ScriptRow | None:
            r = tx.one(f"SELECT {_COLS} FROM sieve_scripts WHERE account_id = ? AND name = ?",
                       (account_id, name))
            return _row(r) if r else None
        return await self.engine.read(fn)

    async def put_user(self, account_id: int, name: str, content: str, size: int, hash_: str,
                       now: int, max_scripts: int) -> bool:
        """Store a script under ``name`` (replacing one of that name, whose active state
        stays); True when it is new. A new script beyond ``max_scripts`` is refused
        (OVER_QUOTA), counted in the same transaction as the insert."""
        def fn(tx: Tx) -> bool:
            if tx.execute("UPDATE sieve_scripts SET content = ?, size = ?, hash = ?, "
                          "updated = ? WHERE account_id = ? AND name = ?",
                          (content, size, hash_, now, account_id, name)):
                return False
            count = tx.one("SELECT count(*) FROM sieve_scripts WHERE account_id = ?",
                           (account_id,))
            if count and int(count[0]) >= max_scripts:
                raise MailError(Kind.OVER_QUOTA, f"too many scripts (at most {max_scripts})")
            tx.execute("INSERT INTO sieve_scripts (account_id, phase, name, content, size, "
                       "hash, active, updated) VALUES (?, ?, ?, ?, ?, ?, 0, ?)",
                       (account_id, USER, name, content, size, hash_, now))
            return True
        return await self.engine.write(fn)

    async def count_user(self, account_id: int) -> int:
        def fn(tx: Tx) -> int:
            row = tx.one("SELECT count(*) FROM sieve_scripts WHERE account_id = ?",
                         (account_id,))
            return int(row[0]) if row else 0
        return await self.engine.read(fn)

    async def activate(self, account_id: int, name: str, now: int) -> str | None:
        """Make ``name`` the active script ("" = none active); returns the name that was
        active before, or None. NOT_FOUND for a name the account has no script under."""
        def fn(tx: Tx) -> str | None:
            was = tx.one("SELECT name FROM sieve_scripts WHERE account_id = ? AND active = 1",
                         (account_id,))
            if name and tx.one("SELECT 1 FROM sieve_scripts WHERE account_id = ? AND name = ?",
                               (account_id, name)) is None:
                raise not_found(f"no script {name}")
            tx.execute("UPDATE sieve_scripts SET active = 0, updated = ? "
                       "WHERE account_id = ? AND active = 1", (now, account_id))
            if name:
                tx.execute("UPDATE sieve_scripts SET active = 1, updated = ? "
                           "WHERE account_id = ? AND name = ?", (now, account_id, name))
            return str(was[0]) if was else None
        return await self.engine.write(fn)

    async def delete_user(self, account_id: int, name: str) -> None:
        """NOT_FOUND for no such script, IN_USE for the active one (RFC 5804 §2.10)."""
        def fn(tx: Tx) -> None:
            r = tx.one("SELECT active FROM sieve_scripts WHERE account_id = ? AND name = ?",
                       (account_id, name))
            if r is None:
                raise not_found(f"no script {name}")
            if int(r[0]):
                raise MailError(Kind.IN_USE, f"script {name} is active; deactivate it first")
            tx.execute("DELETE FROM sieve_scripts WHERE account_id = ? AND name = ?",
                       (account_id, name))
        await self.engine.write(fn)

    async def rename_user(self, account_id: int, old: str, new: str, now: int) -> None:
        """NOT_FOUND for no script ``old``, EXISTS when ``new`` is taken (RFC 5804 §2.11.1);
        the active state goes with the script."""
        def fn(tx: Tx) -> None:
            if tx.one("SELECT 1 FROM sieve_scripts WHERE account_id = ? AND name = ?",
                      (account_id, old)) is None:
                raise not_found(f"no script {old}")
            if old == new:
                return
            if tx.one("SELECT 1 FROM sieve_scripts WHERE account_id = ? AND name = ?",
                      (account_id, new)) is not None:
                raise MailError(Kind.EXISTS, f"a script {new} already exists")
            tx.execute("UPDATE sieve_scripts SET name = ?, updated = ? "
                       "WHERE account_id = ? AND name = ?", (new, now, account_id, old))
        await self.engine.write(fn)

    # -- administrators' scripts ----------------------------------------------------------
    async def admin_script(self, domain_id: int | None, phase: str,
                           name: str) -> ScriptRow | None:
        """The server's (``domain_id`` None) or a domain's script of ``phase``."""
        where, args = _owner(domain_id)

        def fn(tx: Tx) -> ScriptRow | None:
            r = tx.one(f"SELECT {_COLS} FROM sieve_scripts WHERE {where} AND phase = ? "
                       "AND name = ?", (*args, phase, name))
            return _row(r) if r else None
        return await self.engine.read(fn)

    async def admin_scripts(self, domain_id: int | None, phase: str) -> list[ScriptRow]:
        """The scripts of one scope and phase by name, without their content."""
        where, args = _owner(domain_id)

        def fn(tx: Tx) -> list[ScriptRow]:
            return [_row(r) for r in tx.all(
                f"SELECT {_LIST_COLS} FROM sieve_scripts WHERE {where} AND phase = ? "
                "ORDER BY name", (*args, phase))]
        return await self.engine.read(fn)

    async def put_admin(self, domain_id: int | None, phase: str, name: str,
                        content: str | None, size: int, hash_: str, now: int) -> bool:
        """Store (``content`` None: remove) an administrators' script; True when something
        changed."""
        where, args = _owner(domain_id)

        def fn(tx: Tx) -> bool:
            if content is None:
                return tx.execute(f"DELETE FROM sieve_scripts WHERE {where} AND phase = ? "
                                  "AND name = ?", (*args, phase, name)) > 0
            if tx.execute(f"UPDATE sieve_scripts SET content = ?, size = ?, hash = ?, "
                          f"updated = ? WHERE {where} AND phase = ? AND name = ?",
                          (content, size, hash_, now, *args, phase, name)):
                return True
            tx.execute("INSERT INTO sieve_scripts (domain_id, phase, name, content, size, "
                       "hash, active, updated) VALUES (?, ?, ?, ?, ?, ?, 1, ?)",
                       (domain_id, phase, name, content, size, hash_, now))
            return True
        return await self.engine.write(fn)

    # -- delivery ---------------------------------------------------------------------------
    async def chain(self, account_id: int, domain_id: int) -> list[ChainRow]:
        """Every script a delivery to the account runs, in one read, in order: the server's
        and the domain's ``before``, the account's active script, the domain's and the
        server's ``after``."""
        def fn(tx: Tx) -> list[ChainRow]:
            rows = tx.all(
                "SELECT account_id, domain_id, phase, name, hash, content, updated "
                "FROM sieve_scripts WHERE (account_id = ? AND active = 1) OR "
                "(account_id IS NULL AND phase IN (?, ?) AND "
                "(domain_id IS NULL OR domain_id = ?))",
                (account_id, BEFORE, AFTER, domain_id))
            out = []
            for r in rows:
                scope = USER if r[0] is not None else ("domain" if r[1] is not None
                                                      else GLOBAL)
                out.append(ChainRow(scope, str(r[2]), str(r[3]), str(r[4]), str(r[5]),
                                    int(r[6])))
            return sorted(out, key=_chain_order)
        return await self.engine.read(fn)

    # -- memory -----------------------------------------------------------------------------
    async def recall(self, account_id: int, kind: str, key_hash: str, now: int) -> bool:
        """Is ``key_hash`` of ``kind`` remembered for the account and not expired?"""
        def fn(tx: Tx) -> bool:
            return tx.one("SELECT 1 FROM sieve_memory WHERE account_id = ? AND kind = ? "
                          "AND key_hash = ? AND expires > ?",
                          (account_id, kind, key_hash, now)) is not None
        return await self.engine.read(fn)

    async def remember(self, rows: Sequence[MemoryRow]) -> None:
        """Record ``rows`` in a transaction of their own (outside a delivery)."""
        if rows:
            await self.engine.write(lambda tx: remember_in(tx, rows))

    async def forget(self, account_id: int, kind: str) -> int:
        """Drop one account's memory of ``kind`` (a new vacation text answers everyone
        again); returns how many rows went."""
        def fn(tx: Tx) -> int:
            return tx.execute("DELETE FROM sieve_memory WHERE account_id = ? AND kind = ?",
                              (account_id, kind))
        return await self.engine.write(fn)

    async def forget_expired(self, now: int, limit: int = 10_000) -> int:
        """Drop up to ``limit`` expired rows (a periodic sweep); returns how many."""
        def fn(tx: Tx) -> int:
            return tx.execute(
                "DELETE FROM sieve_memory WHERE (account_id, kind, key_hash) IN ("
                "SELECT account_id, kind, key_hash FROM sieve_memory WHERE expires <= ? "
                "LIMIT ?)", (now, limit))
        return await self.engine.write(fn)


def remember_in(tx: Tx, rows: Sequence[MemoryRow]) -> None:
    """Record ``rows`` inside the caller's transaction (the settling of a delivery); a row
    already there gets the later expiry."""
    for m in rows:
        tx.execute("INSERT INTO sieve_memory (account_id, kind, key_hash, expires) "
                   "VALUES (?, ?, ?, ?) ON CONFLICT (account_id, kind, key_hash) DO UPDATE "
                   "SET expires = CASE WHEN excluded.expires > sieve_memory.expires "
                   "THEN excluded.expires ELSE sieve_memory.expires END",
                   (m.account_id, m.kind, m.key_hash, m.expires))


_ORDER = {(GLOBAL, BEFORE): 0, ("domain", BEFORE): 1, (USER, USER): 2, ("domain", AFTER): 3,
          (GLOBAL, AFTER): 4}


def _chain_order(row: ChainRow) -> tuple[int, str]:
    return _ORDER.get((row.scope, row.phase), 9), row.name
