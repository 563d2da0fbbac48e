"""Per-account spam-filter preferences: the accounts that opted out of the spamd check.

One row per account that said "do not score my mail" (table ``spam_filter_optout``, schema
version 15); no row means filtered, the default. Rows go with their account (ON DELETE
CASCADE).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from postroom.store.engine import Engine, Tx


class SpamPrefsRepo:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def set_opt_out(self, account_id: int, opted_out: bool) -> bool:
        """Record (or clear) an opt-out; True when something changed."""
        def fn(tx: Tx) -> bool:
            had = tx.one("SELECT 1 FROM spam_filter_optout WHERE account_id = ?",
                         (account_id,)) is not None
            if opted_out and not had:
                tx.execute("INSERT INTO spam_filter_optout (account_id, since) VALUES (?, ?)",
                           (account_id, int(time.time())))
            elif had and not opted_out:
                tx.execute("DELETE FROM spam_filter_optout WHERE account_id = ?",
                           (account_id,))
            return had != opted_out
        return await self.engine.write(fn)

    async def opted_out(self, account_ids: Sequence[int]) -> set[int]:
        """Which of ``account_ids`` opted out."""
        if not account_ids:
            return set()
        marks = ", ".join("?" for _ in account_ids)

        def fn(tx: Tx) -> set[int]:
            return {int(r[0]) for r in tx.all(
                f"SELECT account_id FROM spam_filter_optout WHERE account_id IN ({marks})",
                tuple(account_ids))}
        return await self.engine.read(fn)
