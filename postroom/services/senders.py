"""Which sender addresses an authenticated principal may use (RFC 6409 §8.1).

One rule for the envelope (MAIL FROM) and the header (``From:``), for every door: their own
address, an alias that reaches them, or an address an administrator granted them (``postroom
user send-as``; ``@domain`` grants a whole domain). The operator's system principal may use any.
"""

from __future__ import annotations

from postroom.core.principal import Principal
from postroom.directory.service import Directory, ToAccount, ToAlias
from postroom.store.sqlstore import SqlStore


class SenderRules:
    def __init__(self, store: SqlStore, directory: Directory) -> None:
        self._store = store
        self._directory = directory

    async def may_use(self, principal: Principal, address: str) -> bool:
        if principal.system or not address:
            return True
        address = address.lower()
        if principal.address is not None and address == principal.address:
            return True
        if principal.account_id is not None:
            grants = await self._store.directory.send_as(principal.account_id)
            if address in grants or "@" + address.rpartition("@")[2] in grants:
                return True
        res = await self._directory.resolve_recipient(address)
        if isinstance(res, ToAccount) and res.account.id == principal.account_id:
            return True
        return isinstance(res, ToAlias) and principal.address in \
            await self._directory.expand(address)
