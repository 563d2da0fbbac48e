"""Dynamic screening blocks and greylisting state: the rows behind services/screening.py and
services/pipeline/greylist.py.

Both engines run the same SQL (``INSERT … ON CONFLICT … DO UPDATE`` is SQLite 3.24+ and
PostgreSQL 9.5+). Expired rows are deleted when new ones are written, so the tables stay the
size of what is live without a separate sweeper.
"""

from __future__ import annotations

from postroom.core.screening import AllowRec, BlockRec, Triplet
from postroom.store.engine import Engine, Tx

_BLOCK_COLS = "network, created_at, expires_at, reason, source"


class ScreeningRepo:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def active(self, now: int) -> list[BlockRec]:
        """Blocks in force at ``now``, by network."""
        def fn(tx: Tx) -> list[BlockRec]:
            rows = tx.all(f"SELECT {_BLOCK_COLS} FROM screening_blocks WHERE expires_at IS NULL "
                          "OR expires_at > ? ORDER BY network", (now,))
            return [BlockRec(str(r[0]), int(r[1]), None if r[2] is None else int(r[2]),
                             str(r[3]), str(r[4])) for r in rows]
        return await self.engine.read(fn)

    async def block(self, rec: BlockRec) -> None:
        """Add or replace the block of ``rec.network``; drop blocks already expired."""
        def fn(tx: Tx) -> None:
            tx.execute("DELETE FROM screening_blocks WHERE expires_at IS NOT NULL AND "
                       "expires_at <= ?", (rec.created_at,))
            tx.execute(f"INSERT INTO screening_blocks ({_BLOCK_COLS}) VALUES (?, ?, ?, ?, ?) "
                       "ON CONFLICT (network) DO UPDATE SET created_at = excluded.created_at, "
                       "expires_at = excluded.expires_at, reason = excluded.reason, "
                       "source = excluded.source",
                       (rec.network, rec.created_at, rec.expires_at, rec.reason, rec.source))
        await self.engine.write(fn)

    async def unblock(self, network: str) -> bool:
        """Lift the block of ``network``; False when there was none."""
        def fn(tx: Tx) -> bool:
            return tx.execute("DELETE FROM screening_blocks WHERE network = ?", (network,)) > 0
        return await self.engine.write(fn)


class GreylistRepo:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def lookup(self, net: str, sender: str, recipient: str, domain: str,
                     ) -> tuple[Triplet | None, AllowRec | None]:
        """The triplet's state and its (network, sender domain) pass record, in one read."""
        def fn(tx: Tx) -> tuple[Triplet | None, AllowRec | None]:
            row = tx.one("SELECT first_seen, last_seen, passed_at FROM greylist WHERE "
                         "client_net = ? AND sender = ? AND recipient = ?",
                         (net, sender, recipient))
            allow = tx.one("SELECT passes, last_seen FROM greylist_allow WHERE client_net = ? "
                           "AND sender_domain = ?", (net, domain))
            triplet = None if row is None else Triplet(
                int(row[0]), int(row[1]), None if row[2] is None else int(row[2]))
            return triplet, None if allow is None else AllowRec(int(allow[0]), int(allow[1]))
        return await self.engine.read(fn)

    async def first_seen(self, net: str, sender: str, recipient: str, now: int,
                         unconfirmed_before: int, confirmed_before: int) -> None:
        """Start (or restart, when it had expired) the triplet at ``now``; drop triplets
        that expired: unconfirmed ones first seen before ``unconfirmed_before``, confirmed
        ones last seen before ``confirmed_before``."""
        def fn(tx: Tx) -> None:
            tx.execute("DELETE FROM greylist WHERE (passed_at IS NULL AND first_seen < ?) OR "
                       "(passed_at IS NOT NULL AND last_seen < ?)",
                       (unconfirmed_before, confirmed_before))
            tx.execute("DELETE FROM greylist_allow WHERE last_seen < ?", (confirmed_before,))
            tx.execute("INSERT INTO greylist (client_net, sender, recipient, first_seen, "
                       "last_seen, passed_at) VALUES (?, ?, ?, ?, ?, NULL) ON CONFLICT "
                       "(client_net, sender, recipient) DO UPDATE SET first_seen = "
                       "excluded.first_seen, last_seen = excluded.last_seen, passed_at = NULL",
                       (net, sender, recipient, now, now))
        await self.engine.write(fn)

    async def passed(self, net: str, sender: str, recipient: str, domain: str, now: int,
                     ) -> None:
        """The triplet's retry came after the delay: mark it passed and count one pass for
        its (network, sender domain)."""
        def fn(tx: Tx) -> None:
            tx.execute("UPDATE greylist SET passed_at = ?, last_seen = ? WHERE client_net = ? "
                       "AND sender = ? AND recipient = ?", (now, now, net, sender, recipient))
            tx.execute("INSERT INTO greylist_allow (client_net, sender_domain, passes, "
                       "last_seen) VALUES (?, ?, 1, ?) ON CONFLICT (client_net, sender_domain) "
                       "DO UPDATE SET passes = greylist_allow.passes + 1, last_seen = "
                       "excluded.last_seen", (net, domain, now))
        await self.engine.write(fn)

    async def seen(self, net: str, sender: str, recipient: str, domain: str, now: int,
                   ) -> None:
        """A passed triplet (or an allowed sender) used again: keep it alive."""
        def fn(tx: Tx) -> None:
            tx.execute("UPDATE greylist SET last_seen = ? WHERE client_net = ? AND sender = ? "
                       "AND recipient = ?", (now, net, sender, recipient))
            tx.execute("UPDATE greylist_allow SET last_seen = ? WHERE client_net = ? AND "
                       "sender_domain = ?", (now, net, domain))
        await self.engine.write(fn)
