"""Per-account spam-filter preference: an account may opt out of the spamd check.

The spamd check (services/pipeline/spamd.py) asks which recipients opted out; the admin
service (``postroom user set --spam-filter on|off``) changes it. Only accounts addressed
directly have a preference: mail reaching an account through an alias or a group is judged
for the alias or group, which has none (filtered).
"""

from __future__ import annotations

from collections.abc import Sequence

from postroom.directory.service import Directory, ToAccount
from postroom.store.sqlstore import SqlStore


class SpamPreferences:
    def __init__(self, store: SqlStore, directory: Directory) -> None:
        self._store = store
        self._directory = directory

    async def opted_out(self, addresses: Sequence[str]) -> set[str]:
        """Which of these recipient addresses belong to accounts that opted out."""
        ids: dict[str, int] = {}
        for address in addresses:
            res = await self._directory.resolve_recipient(address)
            if isinstance(res, ToAccount):
                ids[address] = res.account.id
        out = await self._store.spam.opted_out(sorted(set(ids.values())))
        return {address for address, account_id in ids.items() if account_id in out}

    async def filtering(self, account_id: int) -> bool:
        return not await self._store.spam.opted_out([account_id])

    async def set_filtering(self, account_id: int, on: bool) -> bool:
        """Turn spam filtering on or off for an account; True when it changed."""
        return await self._store.spam.set_opt_out(account_id, not on)
