"""Administration of mail that crosses to other servers: domain gateways, ATRN providers,
users' MultiPOP remote accounts.

The rules (what a valid gateway or remote account is) are the domain services'
(services/gateways.py, services/atrn.py, services/multipop.py); this layer adds who may act and
the audit record. Passwords and secrets never enter an audit record.
"""

from __future__ import annotations

from typing import Any

from postroom.core.actor import Actor
from postroom.core.records import GatewayRec, ProviderRec, RemoteRec, SeenRec
from postroom.directory.service import Directory
from postroom.services.admin.base import AdminBase
from postroom.services.atrn import AtrnProviders
from postroom.services.audit import AuditLog
from postroom.services.gateways import Gateways
from postroom.services.multipop import MultipopAccounts
from postroom.services.queue import QueueService
from postroom.store.sqlstore import SqlStore

SECRET_KEYS = ("password", "minger_secret")


def _public(fields: dict[str, Any]) -> dict[str, Any]:
    """What an audit record may keep of the given fields: which secrets changed, not them."""
    return {k: ("(changed)" if k in SECRET_KEYS and v is not None else v)
            for k, v in fields.items()}


class GatewaysAdmin(AdminBase):
    def __init__(self, store: SqlStore, directory: Directory, audit: AuditLog,
                 gateways: Gateways, queue: QueueService) -> None:
        super().__init__(store, directory, audit)
        self._gateways = gateways
        self._queue = queue

    async def add(self, actor: Actor, domain: str, **fields: Any) -> GatewayRec:
        self.require_global(actor, "adding gateways")
        rec = await self._gateways.add(domain, **fields)
        await self.record(actor, "gateway.add", rec.domain, _public(fields))
        return rec

    async def update(self, actor: Actor, domain: str, **changes: Any) -> GatewayRec:
        self.require_global(actor, "changing gateways")
        rec = await self._gateways.update(domain, **changes)
        detail = dict(changes)
        detail["fields"] = _public(dict(changes.get("fields") or {}))
        await self.record(actor, "gateway.set", rec.domain, detail)
        return rec

    async def list(self, actor: Actor) -> list[GatewayRec]:
        self.require_global(actor, "gateways")
        return await self._gateways.all()

    async def show(self, actor: Actor, domain: str) -> tuple[GatewayRec, tuple[int, int]]:
        """The gateway and (entries, octets) waiting for it."""
        self.require_global(actor, "gateways")
        rec = await self._gateways.require(domain)
        return rec, await self._queue.count_held(rec.domain)

    async def remove(self, actor: Actor, domain: str, force: bool = False) -> int:
        self.require_global(actor, "removing gateways")
        waiting = await self._gateways.remove(domain, force)
        await self.record(actor, "gateway.remove", domain, {"queued": waiting})
        return waiting


class AtrnAdmin(AdminBase):
    def __init__(self, store: SqlStore, directory: Directory, audit: AuditLog,
                 providers: AtrnProviders) -> None:
        super().__init__(store, directory, audit)
        self._providers = providers

    async def add(self, actor: Actor, name: str, **fields: Any) -> ProviderRec:
        self.require_global(actor, "adding ATRN providers")
        rec = await self._providers.add(name, **fields)
        await self.record(actor, "atrn.add", rec.name, _public(fields))
        return rec

    async def update(self, actor: Actor, name: str, **fields: Any) -> ProviderRec:
        self.require_global(actor, "changing ATRN providers")
        rec = await self._providers.update(name, **fields)
        await self.record(actor, "atrn.set", rec.name, _public(fields))
        return rec

    async def list(self, actor: Actor) -> list[ProviderRec]:
        self.require_global(actor, "ATRN providers")
        return await self._providers.providers()

    async def show(self, actor: Actor, name: str) -> ProviderRec:
        self.require_global(actor, "ATRN providers")
        return await self._providers.one(name)

    async def remove(self, actor: Actor, name: str) -> None:
        self.require_global(actor, "removing ATRN providers")
        await self._providers.one(name)
        await self._providers.remove(name)
        await self.record(actor, "atrn.remove", name)


class MultipopAdmin(AdminBase):
    """Remote POP3 accounts: for the administrators of the account's domain, and for the
    account itself (self-service: a user manages the remote mailboxes collected for them)."""

    def __init__(self, store: SqlStore, directory: Directory, audit: AuditLog,
                 accounts: MultipopAccounts) -> None:
        super().__init__(store, directory, audit)
        self._accounts = accounts

    async def add(self, actor: Actor, address: str, **fields: Any) -> RemoteRec:
        rec = await self.require_account(actor, address, "adding remote accounts", own=True,
                                         change=True)
        remote = await self._accounts.add(rec.address, **fields)
        await self.record(actor, "multipop.add", f"{rec.address}#{remote.id}",
                          _public(fields))
        return remote

    async def update(self, actor: Actor, address: str, remote_id: int,
                     **fields: Any) -> RemoteRec:
        rec = await self.require_account(actor, address, "changing remote accounts",
                                         own=True, change=True)
        remote = await self._accounts.update(rec.address, remote_id, **fields)
        await self.record(actor, "multipop.set", f"{rec.address}#{remote_id}",
                          _public(fields))
        return remote

    async def list(self, actor: Actor, address: str | None = None) -> list[RemoteRec]:
        if address is None:
            self.require_global(actor, "every account's remote accounts")
            return await self._accounts.remotes(None)
        rec = await self.require_account(actor, address, "remote accounts", own=True)
        return await self._accounts.remotes(rec.address)

    async def one(self, actor: Actor, address: str, remote_id: int) -> RemoteRec:
        rec = await self.require_account(actor, address, "remote accounts", own=True)
        return await self._accounts.one(rec.address, remote_id)

    async def seen(self, actor: Actor, address: str, remote_id: int) -> dict[str, SeenRec]:
        await self.one(actor, address, remote_id)
        return await self._accounts.seen(remote_id)

    async def remove(self, actor: Actor, address: str, remote_id: int) -> None:
        rec = await self.require_account(actor, address, "removing remote accounts",
                                         own=True, change=True)
        await self._accounts.remove(rec.address, remote_id)
        await self.record(actor, "multipop.remove", f"{rec.address}#{remote_id}")
