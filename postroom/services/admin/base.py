"""What every administrative service shares: who may act on what, and the audit record.

Scopes: the operator's CLI and global administrators may do everything; a domain administrator
may manage the accounts, aliases, groups, folders and remote accounts of their own domains;
everything that spans domains (domains themselves, administrator roles, the queue, gateways,
ATRN providers) is for global administrators. A refusal is ``NO_PERM`` with the reason.

A domain, or an object in a domain, that the caller does not administer is ``NOT_FOUND`` with
exactly the text an unknown one gets, not ``NO_PERM``: a domain administrator (or a user)
must not learn which other domains and accounts exist by asking for them (docs/api.md
"Roles"). The operator's CLI administers everything, so it never meets the difference.
"""

from __future__ import annotations

from collections.abc import Mapping

from postroom.core.actor import Actor
from postroom.core.address import Address
from postroom.core.errors import Kind, MailError, not_found
from postroom.core.principal import Principal
from postroom.core.records import AccountRec, DomainRec
from postroom.directory.service import Directory
from postroom.services.audit import AuditLog
from postroom.store.sqlstore import SqlStore


class AdminBase:
    def __init__(self, store: SqlStore, directory: Directory, audit: AuditLog) -> None:
        self._store = store
        self._directory = directory
        self._audit = audit

    @staticmethod
    def require_global(actor: Actor, what: str) -> None:
        p = actor.principal
        if not (p.system or p.global_admin):
            raise MailError(Kind.NO_PERM, f"{what} is for global administrators")

    async def require_domain(self, actor: Actor, domain: str, what: str) -> DomainRec:
        """The domain, if ``actor`` administers it; NOT_FOUND for an unknown domain and for
        one the actor does not administer alike. ``what`` names the operation at the call
        site (no refusal quotes it any more: the answer must not differ from a missing
        domain's)."""
        rec = await self._store.directory.get_domain(domain)
        if rec is None or not (actor.principal.system or actor.principal.administers(rec.id)):
            raise not_found(f"unknown domain {domain} (add it with: postroom domain add "
                            f"{domain})")
        return rec

    async def require_account(self, actor: Actor, address: str, what: str,
                              own: bool = False, change: bool = False) -> AccountRec:
        """The account, if ``actor`` administers its domain (or, with ``own``, when it is the
        actor's own account: self-service). Anyone else's is NOT_FOUND, as if it did not
        exist; ``what`` names the operation at the call site, as for ``require_domain``.

        With ``change``, a domain administrator is also refused (NO_PERM) an account that holds
        administrator rights beyond the actor's own (a global administrator, or the
        administrator of another domain, whose mailbox happens to be in the actor's domain):
        otherwise setting its password or resetting its second factor would hand the actor
        those rights."""
        text = str(Address.parse(address))
        p = actor.principal
        rec = await self._store.directory.get_account(text)
        if rec is None or not (p.system or p.administers(rec.domain_id)
                               or (own and rec.id == p.account_id)):
            raise not_found(f"no account {text}")
        if change and not (p.system or p.global_admin) and rec.id != p.account_id:
            target = await self._directory.principal_for(rec)
            if target.global_admin or not target.admin_domain_ids <= p.admin_domain_ids:
                raise MailError(Kind.NO_PERM, f"{what}: {rec.address} holds administrator "
                                f"rights beyond yours; ask a global administrator")
        return rec

    async def as_of_now(self, actor: Actor) -> Actor:
        """``actor`` with the roles and groups its account holds now (a long job re-checks
        with it, so a role revoked meanwhile stops it); the operator is unchanged. NOT_FOUND
        for an account removed meanwhile, DISABLED for one disabled."""
        p = actor.principal
        if p.system or p.address is None:
            return actor
        rec = await self._directory.require_account(p.address)
        if rec.state != "active":
            raise MailError(Kind.DISABLED, f"{rec.address} is no longer active")
        return Actor(await self._directory.principal_for(rec), actor.origin)

    async def record(self, actor: Actor, action: str, target: str,
                     detail: Mapping[str, object] | None = None) -> None:
        await self._audit.record(actor.principal, actor.origin, action, target, detail)

    @staticmethod
    def acting_for(account: AccountRec) -> Principal:
        """The administrator working in an account's namespace: its folder names, every
        right (the audit record names the administrator)."""
        return Principal.operator_as(account.id, account.address, account.domain_id)
