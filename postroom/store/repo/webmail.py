"""Webmail's per-user rows (schema version 19): preferences, recent recipients, image senders.

The preferences are one JSON document per account, validated by the service that reads it
(services/webmail/prefs.py), so a new preference needs no migration. Recent recipients are
bounded per account by the caller (``keep``): the oldest beyond it are removed in the same
transaction that records a new one.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from postroom.store.engine import Engine, Tx


class WebmailRepo:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- preferences -----------------------------------------------------------------------
    async def prefs(self, account_id: int) -> str | None:
        def fn(tx: Tx) -> str | None:
            row = tx.one("SELECT data FROM webmail_prefs WHERE account_id = ?", (account_id,))
            return str(row[0]) if row is not None else None
        return await self.engine.read(fn)

    async def set_prefs(self, account_id: int, data: str) -> None:
        def fn(tx: Tx) -> None:
            tx.execute("INSERT INTO webmail_prefs (account_id, data, updated_at) "
                       "VALUES (?, ?, ?) ON CONFLICT (account_id) DO UPDATE SET "
                       "data = excluded.data, updated_at = excluded.updated_at",
                       (account_id, data, int(time.time())))
        await self.engine.write(fn)

    # -- recent recipients -----------------------------------------------------------------
    async def record_recipients(self, account_id: int, people: Sequence[tuple[str, str]],
                                keep: int) -> None:
        """Count one more use of each (address, display name); keep the ``keep`` most
        recent rows of the account (0: remember none)."""
        now = int(time.time())

        def fn(tx: Tx) -> None:
            if keep <= 0:
                tx.execute("DELETE FROM webmail_recipients WHERE account_id = ?",
                           (account_id,))
                return
            for address, name in people:
                tx.execute(
                    "INSERT INTO webmail_recipients (account_id, address, name, uses, "
                    "last_used) VALUES (?, ?, ?, 1, ?) ON CONFLICT (account_id, address) DO "
                    "UPDATE SET uses = webmail_recipients.uses + 1, last_used = "
                    "excluded.last_used, name = CASE WHEN excluded.name = '' THEN "
                    "webmail_recipients.name ELSE excluded.name END",
                    (account_id, address.lower(), name, now))
            tx.execute(
                "DELETE FROM webmail_recipients WHERE account_id = ? AND address NOT IN ("
                "SELECT address FROM webmail_recipients WHERE account_id = ? "
                "ORDER BY last_used DESC, address LIMIT ?)", (account_id, account_id, keep))
        await self.engine.write(fn)

    async def recipients(self, account_id: int, prefix: str, limit: int,
                         ) -> list[tuple[str, str, int]]:
        """(address, name, uses) of recent recipients whose address or name starts with
        ``prefix`` (case-insensitive; a word of the name counts), most used first."""
        like = _like(prefix.lower()) + "%"

        def fn(tx: Tx) -> list[tuple[str, str, int]]:
            rows = tx.all(
                "SELECT address, name, uses FROM webmail_recipients WHERE account_id = ? "
                "AND (address LIKE ? ESCAPE '\\' OR LOWER(name) LIKE ? ESCAPE '\\' "
                "OR LOWER(name) LIKE ? ESCAPE '\\') ORDER BY uses DESC, last_used DESC LIMIT ?",
                (account_id, like, like, "% " + like, limit))
            return [(str(r[0]), str(r[1]), int(r[2])) for r in rows]
        return await self.engine.read(fn)

    # -- senders whose remote images are allowed ---------------------------------------------
    async def allow_images(self, account_id: int, address: str) -> None:
        def fn(tx: Tx) -> None:
            tx.execute("INSERT INTO webmail_image_senders (account_id, address, since) "
                       "VALUES (?, ?, ?) ON CONFLICT (account_id, address) DO NOTHING",
                       (account_id, address.lower(), int(time.time())))
        await self.engine.write(fn)

    async def forget_image_sender(self, account_id: int, address: str) -> None:
        def fn(tx: Tx) -> None:
            tx.execute("DELETE FROM webmail_image_senders WHERE account_id = ? AND "
                       "address = ?", (account_id, address.lower()))
        await self.engine.write(fn)

    async def images_allowed(self, account_id: int, address: str) -> bool:
        def fn(tx: Tx) -> bool:
            return tx.one("SELECT 1 FROM webmail_image_senders WHERE account_id = ? AND "
                          "address = ?", (account_id, address.lower())) is not None
        return await self.engine.read(fn)

    async def image_senders(self, account_id: int) -> list[str]:
        def fn(tx: Tx) -> list[str]:
            return [str(r[0]) for r in tx.all(
                "SELECT address FROM webmail_image_senders WHERE account_id = ? "
                "ORDER BY address", (account_id,))]
        return await self.engine.read(fn)


def _like(text: str) -> str:
    """``text`` as a literal LIKE pattern (its wildcards escaped)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
