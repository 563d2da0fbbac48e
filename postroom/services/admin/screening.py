"""Administration of dynamic screening: list, block and unblock client addresses.

For global administrators (and the operator's CLI): a block refuses connections to every
service of the server, whatever domain the client wanted. Each change is audited
(``screening.block``, ``screening.unblock``); the running server sees it within
``screening.refresh`` seconds (services/screening.py).
"""

from __future__ import annotations

import builtins

from postroom.core.actor import Actor
from postroom.core.errors import not_found
from postroom.core.screening import BlockRec
from postroom.directory.service import Directory
from postroom.services.admin.base import AdminBase
from postroom.services.audit import AuditLog, actor_name
from postroom.services.screening import Screening
from postroom.store.sqlstore import SqlStore


class ScreeningAdmin(AdminBase):
    def __init__(self, store: SqlStore, directory: Directory, audit: AuditLog,
                 screening: Screening) -> None:
        super().__init__(store, directory, audit)
        self._screening = screening

    async def list(self, actor: Actor) -> list[BlockRec]:
        self.require_global(actor, "screening")
        return await self._screening.blocks()

    async def block(self, actor: Actor, network: str, seconds: float | None = None,
                    reason: str = "") -> BlockRec:
        """Block an address or network, for ``seconds`` or (None) until unblocked."""
        self.require_global(actor, "blocking addresses")
        rec = await self._screening.block(network, seconds, reason or "blocked by an "
                                          "administrator", actor_name(actor.principal))
        await self.record(actor, "screening.block", rec.network,
                          {"seconds": seconds, "reason": rec.reason})
        return rec

    async def unblock(self, actor: Actor, network: str) -> builtins.list[str]:
        """Lift the block of a network, or every block covering an address; NOT_FOUND when
        nothing was blocked."""
        self.require_global(actor, "unblocking addresses")
        lifted = await self._screening.unblock(network)
        if not lifted:
            raise not_found(f"{network} is not blocked (see 'postroom screening list')")
        for item in lifted:
            await self.record(actor, "screening.unblock", item)
        return lifted
