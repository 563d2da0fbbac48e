"""Administration of outbound authentication: DKIM keys, BATV keys, the DNS advice.

The rules are the domain services' (services/dkimkeys.py, services/batv.py,
services/dnsrecords.py); this layer adds who may act and the audit record. A domain's keys and
DNS records are for the administrators of that domain; BATV keys serve every domain, so they
are for global administrators. Private keys never enter an audit record; reading one
(``show --private``) is itself recorded.
"""

from __future__ import annotations

from collections.abc import Sequence

from postroom.config import Config
from postroom.core.actor import Actor
from postroom.directory.service import Directory
from postroom.services.admin.base import AdminBase
from postroom.services.audit import AuditLog
from postroom.services.batv import Batv, BatvKeyView
from postroom.services.dkimkeys import DkimKeys, KeyView
from postroom.services.dnsrecords import Advice, advise
from postroom.store.sqlstore import SqlStore


class SigningAdmin(AdminBase):
    def __init__(self, store: SqlStore, directory: Directory, audit: AuditLog,
                 dkim: DkimKeys, batv: Batv, cfg: Config) -> None:
        super().__init__(store, directory, audit)
        self._dkim = dkim
        self._batv = batv
        self._cfg = cfg

    async def _domain(self, actor: Actor, domain: str, what: str) -> str:
        return (await self.require_domain(actor, domain.lower().rstrip("."), what)).name

    # -- DKIM ---------------------------------------------------------------------------------
    async def dkim_generate(self, actor: Actor, domain: str,
                            algorithms: Sequence[str] | None = None,
                            selector: str | None = None) -> list[KeyView]:
        name = await self._domain(actor, domain, "DKIM keys")
        keys = await self._dkim.generate(name, algorithms, selector)
        await self.record(actor, "dkim.generate", name,
                          {"selectors": [k.selector for k in keys]})
        return keys

    async def dkim_rotate(self, actor: Actor, domain: str,
                          algorithms: Sequence[str] | None = None, delay: int | None = None,
                          selector: str | None = None) -> list[KeyView]:
        name = await self._domain(actor, domain, "DKIM keys")
        keys = await self._dkim.rotate(name, algorithms, delay, selector)
        await self.record(actor, "dkim.rotate", name,
                          {"selectors": [k.selector for k in keys],
                           "activate_at": keys[0].activate_at if keys else None})
        return keys

    async def dkim_activate(self, actor: Actor, domain: str, selector: str) -> KeyView:
        name = await self._domain(actor, domain, "DKIM keys")
        key = await self._dkim.activate(name, selector)
        await self.record(actor, "dkim.activate", name, {"selector": selector})
        return key

    async def dkim_retire(self, actor: Actor, domain: str, selector: str) -> KeyView:
        name = await self._domain(actor, domain, "DKIM keys")
        key = await self._dkim.retire(name, selector)
        await self.record(actor, "dkim.retire", name, {"selector": selector})
        return key

    async def dkim_remove(self, actor: Actor, domain: str, selector: str) -> None:
        name = await self._domain(actor, domain, "DKIM keys")
        await self._dkim.remove(name, selector)
        await self.record(actor, "dkim.remove", name, {"selector": selector})

    async def dkim_list(self, actor: Actor, domain: str | None = None) -> list[KeyView]:
        if domain is None:
            self.require_global(actor, "every domain's DKIM keys")
            out: list[KeyView] = []
            for name in await self._dkim.domains():
                out += await self._dkim.keys(name)
            return out
        return await self._dkim.keys(await self._domain(actor, domain, "DKIM keys"))

    async def dkim_private(self, actor: Actor, domain: str, selector: str) -> str:
        """The private key in PEM, on explicit request; the reading is audited."""
        name = await self._domain(actor, domain, "DKIM private keys")
        text = await self._dkim.private_pem(name, selector)
        await self.record(actor, "dkim.show-private", name, {"selector": selector})
        return text

    # -- DNS ----------------------------------------------------------------------------------
    async def dns(self, actor: Actor, domain: str, hostname: str) -> Advice:
        name = await self._domain(actor, domain, "DNS records")
        return advise(self._cfg, name, hostname, await self._dkim.keys(name))

    # -- BATV ---------------------------------------------------------------------------------
    async def batv_rotate(self, actor: Actor, drop_old: bool = False) -> int:
        self.require_global(actor, "BATV keys")
        number = await self._batv.rotate(drop_old)
        await self.record(actor, "batv.rotate", f"key {number}", {"drop_old": drop_old})
        return number

    async def batv_keys(self, actor: Actor) -> list[BatvKeyView]:
        self.require_global(actor, "BATV keys")
        return await self._batv.keys()
