"""Administration of the directory: domains, accounts, aliases, groups, administrator roles.

Each method checks who may act (admin/base.py), validates, changes, and writes the audit
record; the CLI (and the coming JSON API and WebAdmin) only translate.
"""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import Sequence
from dataclasses import dataclass
from types import EllipsisType

from postroom.core.actor import Actor
from postroom.core.address import Address, normalize_domain
from postroom.core.errors import invalid, not_found
from postroom.core.records import AccountRec, AliasRec, DomainRec, GroupRec
from postroom.directory.service import ACCOUNT_STATES, Directory, parse_alias_address
from postroom.services.admin.base import AdminBase
from postroom.services.audit import AuditLog
from postroom.services.gateways import Gateways
from postroom.services.mailboxes import MailboxService
from postroom.store.sqlstore import SqlStore


@dataclass(frozen=True, slots=True)
class DomainInfo:
    domain: DomainRec
    accounts: int
    aliases: int
    groups: int
    admins: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class NewAccount:
    address: str
    password: str
    display_name: str = ""
    quota_bytes: int | None = None


@dataclass(frozen=True, slots=True)
class AccountInfo:
    account: AccountRec
    admin: str | None  # "global", "a.example, b.example", or None
    groups: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AccountPage:
    """One page of a searched account listing: what a paged front-end draws."""

    items: tuple[AccountRec, ...]
    total: int  # accounts matching the search, over every page
    offset: int
    limit: int


def send_as_form(text: str) -> str:
    """``user@domain`` or ``@domain`` (a whole domain), normalised as addresses are."""
    if text.startswith("@"):
        return "@" + normalize_domain(text[1:])
    return str(Address.parse(text))


class DomainsAdmin(AdminBase):
    def __init__(self, store: SqlStore, directory: Directory, audit: AuditLog,
                 gateways: Gateways) -> None:
        super().__init__(store, directory, audit)
        self._gateways = gateways

    async def add(self, actor: Actor, name: str) -> str:
        self.require_global(actor, "adding a domain")
        if await self._gateways.find(normalize_domain(name)) is not None:
            raise invalid(f"{name} is a gateway domain (postroom gateway show); remove the "
                          "gateway first to host the domain here")
        domain = await self._directory.add_domain(name)
        await self.record(actor, "domain.add", domain)
        return domain

    async def _info(self, rec: DomainRec, admins: bool = False) -> DomainInfo:
        usage = await self._store.directory.domain_usage(rec.id)
        names: tuple[str, ...] = ()
        if admins:
            names = tuple(a for a, scope in await self._store.directory.list_admins()
                          if scope == rec.name)
        return DomainInfo(rec, usage["accounts"], usage["aliases"], usage["mail_groups"], names)

    async def list(self, actor: Actor) -> list[DomainInfo]:
        p = actor.principal
        return [await self._info(rec) for rec in await self._store.directory.list_domains()
                if p.system or p.administers(rec.id)]

    async def show(self, actor: Actor, name: str) -> DomainInfo:
        rec = await self.require_domain(actor, normalize_domain(name), "looking at a domain")
        return await self._info(rec, admins=True)

    async def remove(self, actor: Actor, name: str) -> None:
        self.require_global(actor, "removing a domain")
        domain = normalize_domain(name)
        if await self._store.directory.get_domain(domain) is None:
            raise not_found(f"unknown domain {domain}")
        await self._store.directory.remove_domain(domain)
        await self.record(actor, "domain.remove", domain)


class UsersAdmin(AdminBase):
    def __init__(self, store: SqlStore, directory: Directory, audit: AuditLog,
                 mailboxes: MailboxService) -> None:
        super().__init__(store, directory, audit)
        self._mailboxes = mailboxes

    async def add(self, actor: Actor, new: NewAccount) -> AccountRec:
        addr = Address.parse(new.address)
        await self.require_domain(actor, addr.domain, "adding accounts")
        rec = await self._directory.add_account(str(addr), new.password,
                                                display_name=new.display_name,
                                                quota_bytes=new.quota_bytes)
        await self._mailboxes.ensure_defaults(rec.id, rec.domain_id)
        await self.record(actor, "user.add", rec.address,
                          {"name": new.display_name, "quota": new.quota_bytes})
        return rec

    async def add_many(self, actor: Actor, items: Sequence[NewAccount]) -> list[AccountRec]:
        """Many accounts in one transaction (a CSV import batch): every address and domain is
        checked first; passwords are hashed in parallel (argon2id is slow by design)."""
        for domain in sorted({Address.parse(i.address).domain for i in items}):
            await self.require_domain(actor, domain, "adding accounts")
        creds = await asyncio.gather(*(self._directory.credentials(i.password)
                                       for i in items))
        rows = [{"address": str(Address.parse(i.address)), "display_name": i.display_name,
                 "quota_bytes": i.quota_bytes, **cred}
                for i, cred in zip(items, creds, strict=True)]
        recs = await self._store.directory.add_accounts(rows)
        await self._mailboxes.ensure_defaults_many([(r.id, r.domain_id) for r in recs])
        await self.record(actor, "user.import", f"{len(recs)} accounts",
                          {"addresses": [r.address for r in recs][:1000]})
        return recs

    async def list(self, actor: Actor, domain: str | None = None) -> list[AccountRec]:
        if domain is not None:
            await self.require_domain(actor, normalize_domain(domain), "listing accounts")
            return await self._store.directory.list_accounts(normalize_domain(domain))
        p = actor.principal
        return [r for r in await self._store.directory.list_accounts(None)
                if p.system or p.administers(r.domain_id)]

    async def search(self, actor: Actor, *, text: str = "", domain: str | None = None,
                     offset: int = 0, limit: int = 50) -> AccountPage:
        """A page of the accounts ``actor`` administers, in address order, matching ``text``
        in the address or display name. The store pages and counts (one read), so a listing
        of 10,000 accounts costs one page's rows, not 10,000 (``list`` reads them all)."""
        if limit < 1 or offset < 0:
            raise invalid("paging: limit must be at least 1 and offset at least 0")
        p = actor.principal
        ids: builtins.list[int] | None
        if domain is not None:
            ids = [(await self.require_domain(actor, normalize_domain(domain),
                                              "listing accounts")).id]
        elif p.system or p.global_admin:
            ids = None
        else:
            ids = sorted(p.admin_domain_ids)
        items, total = await self._store.directory.search_accounts(
            domain_ids=ids, text=text.strip(), offset=offset, limit=limit)
        return AccountPage(tuple(items), total, offset, limit)

    async def show(self, actor: Actor, address: str) -> AccountInfo:
        rec = await self.require_account(actor, address, "looking at the account")
        is_global, domains = await self._store.directory.admin_scopes(rec.id)
        admin = "global" if is_global else ", ".join(n for _, n in domains) or None
        return AccountInfo(rec, admin, tuple(sorted(await self._directory.groups_of(
            rec.address))))

    async def detail(self, actor: Actor, address: str) -> tuple[AccountInfo, bool]:
        """``show`` and ``spam_filter`` in one call, in two reads (store/repo/accountview.py
        and the groups): for the JSON API, where an account's page is a frequent read. The
        same rule as ``require_account``: another domain's account is NOT_FOUND."""
        text = str(Address.parse(address))
        view = await self._store.account_views.view(text)
        p = actor.principal
        if view is None or not (p.system or p.administers(view.account.domain_id)):
            raise not_found(f"no account {text}")
        rec = view.account
        admin = "global" if view.global_admin else \
            ", ".join(n for _, n in view.admin_domains) or None
        groups = await self._directory.groups_of(rec.address)
        return AccountInfo(rec, admin, tuple(sorted(groups))), not view.spam_opted_out

    async def me(self, actor: Actor) -> AccountInfo:
        """The caller's own account (self-service: no administrator right needed)."""
        p = actor.principal
        if p.account_id is None or p.address is None:
            raise not_found("no account: the operator has none")
        rec = await self.require_account(actor, p.address, "looking at the account", own=True)
        is_global, domains = await self._store.directory.admin_scopes(rec.id)
        admin = "global" if p.global_admin and is_global else ", ".join(
            n for d, n in domains if d in p.admin_domain_ids) or None
        return AccountInfo(rec, admin, tuple(sorted(await self._directory.groups_of(
            rec.address))))

    async def update(self, actor: Actor, address: str, *, display_name: str | None = None,
                     quota_bytes: int | EllipsisType | None = ..., state: str | None = None,
                     ) -> AccountRec:
        """Change what is given; ``quota_bytes=None`` means unlimited, ``...`` keeps it."""
        rec = await self.require_account(actor, address, "changing the account", change=True)
        fields: dict[str, object] = {}
        if display_name is not None:
            fields["display_name"] = display_name
        if quota_bytes is not ...:
            fields["quota_bytes"] = quota_bytes
        if state is not None and state not in ACCOUNT_STATES:
            raise invalid(f"state must be one of {', '.join(ACCOUNT_STATES)}")
        if not fields and state is None:
            raise invalid("nothing to change: give a name, a quota or a state")
        if state is not None:
            fields["state"] = state
        updated = await self._store.directory.update_account(rec.address, **fields)
        await self.record(actor, "user.set", rec.address, fields)
        return updated

    async def spam_filter(self, actor: Actor, address: str) -> bool:
        """Whether the account's mail is scored by the spamd check (services/spamprefs.py)."""
        rec = await self.require_account(actor, address, "looking at the account")
        return not await self._store.spam.opted_out([rec.id])

    async def set_spam_filter(self, actor: Actor, address: str, on: bool) -> bool:
        """Opt the account in to (or out of) spam filtering; True when it changed."""
        rec = await self.require_account(actor, address, "changing spam filtering", change=True)
        changed = await self._store.spam.set_opt_out(rec.id, not on)
        await self.record(actor, "user.spam-filter", rec.address, {"on": on})
        return changed

    async def set_password(self, actor: Actor, address: str, password: str) -> None:
        rec = await self.require_account(actor, address, "changing the password", change=True)
        await self._directory.set_password(rec.address, password)
        await self.record(actor, "user.passwd", rec.address)

    async def set_challenge_secret(self, actor: Actor, address: str,
                                   secret: str | None) -> None:
        rec = await self.require_account(actor, address, "changing the challenge secret",
                                         change=True)
        await self._directory.set_apop_secret(rec.address, secret)
        await self.record(actor, "user.challenge-secret", rec.address,
                          {"set": secret is not None})

    async def holdings(self, actor: Actor, address: str) -> tuple[int, int, int]:
        """(folders, messages, octets) the account owns: what removing it would destroy, so
        that a front-end can say so before asking for confirmation."""
        rec = await self.require_account(actor, address, "looking at the account")
        folders = [item.mailbox for item in
                   await self._mailboxes.list(self.acting_for(rec), shared=False)]
        return (len(folders), sum(f.message_count for f in folders),
                sum(f.total_size for f in folders))

    async def remove(self, actor: Actor, address: str) -> None:
        rec = await self.require_account(actor, address, "removing the account", change=True)
        await self._store.directory.remove_account(rec.address)
        await self.record(actor, "user.remove", rec.address)

    async def send_as(self, actor: Actor, address: str) -> builtins.list[str]:
        rec = await self.require_account(actor, address, "looking at send-as grants")
        return await self._store.directory.send_as(rec.id)

    async def grant_send_as(self, actor: Actor, address: str, target: str,
                            grant: bool) -> bool:
        """Grant (or revoke) sending as ``target``; False when nothing changed."""
        rec = await self.require_account(actor, address, "changing send-as grants", change=True)
        form = send_as_form(target)
        changed = await self._store.directory.set_send_as(rec.id, form, grant)
        if changed:
            await self.record(actor, "user.send-as." + ("grant" if grant else "revoke"),
                              rec.address, {"address": form})
        return changed


class AliasesAdmin(AdminBase):
    async def add(self, actor: Actor, alias: str, targets: Sequence[str]) -> AliasRec:
        address = parse_alias_address(alias)
        await self.require_domain(actor, address.rpartition("@")[2], "adding aliases")
        rec = await self._directory.add_alias(alias, targets)
        await self.record(actor, "alias.add", rec.address, {"targets": list(rec.targets)})
        return rec

    async def set_targets(self, actor: Actor, alias: str, targets: Sequence[str]) -> AliasRec:
        """Where an alias delivers, replaced as a whole."""
        address = parse_alias_address(alias)
        await self.require_domain(actor, address.rpartition("@")[2], "changing aliases")
        rec = await self._directory.set_alias_targets(address, targets)
        await self.record(actor, "alias.set", rec.address, {"targets": list(rec.targets)})
        return rec

    async def list(self, actor: Actor, domain: str | None = None) -> list[AliasRec]:
        if domain is not None:
            await self.require_domain(actor, normalize_domain(domain), "listing aliases")
            return await self._store.directory.list_aliases(normalize_domain(domain))
        self.require_global(actor, "listing every domain's aliases")
        return await self._store.directory.list_aliases(None)

    async def remove(self, actor: Actor, alias: str) -> None:
        address = parse_alias_address(alias)
        await self.require_domain(actor, address.rpartition("@")[2], "removing aliases")
        await self._store.directory.remove_alias(address)
        await self.record(actor, "alias.remove", address)


class GroupsAdmin(AdminBase):
    async def add(self, actor: Actor, address: str, members: Sequence[str],
                  display_name: str = "") -> GroupRec:
        group = str(Address.parse(address))
        await self.require_domain(actor, group.rpartition("@")[2], "adding groups")
        rec = await self._directory.add_group(group, members, display_name)
        await self.record(actor, "group.add", rec.address, {"members": list(rec.members)})
        return rec

    async def list(self, actor: Actor, domain: str | None = None) -> list[GroupRec]:
        if domain is not None:
            await self.require_domain(actor, normalize_domain(domain), "listing groups")
            return await self._store.directory.list_groups(normalize_domain(domain))
        self.require_global(actor, "listing every domain's groups")
        return await self._store.directory.list_groups(None)

    async def show(self, actor: Actor, address: str) -> GroupRec:
        group = str(Address.parse(address))
        await self.require_domain(actor, group.rpartition("@")[2], "looking at groups")
        rec = await self._store.directory.get_group(group)
        if rec is None:
            raise not_found(f"no group {group}")
        return rec

    async def member(self, actor: Actor, address: str, member: str, present: bool) -> None:
        group = str(Address.parse(address))
        who = str(Address.parse(member))
        if who == group:
            raise invalid(f"group {group} cannot contain itself")
        await self.require_domain(actor, group.rpartition("@")[2], "changing groups")
        if present:  # removing a member that no longer exists must stay possible
            await self._directory.require_target(who)
        await self._store.directory.set_group_member(group, who, present)
        await self.record(actor, "group.member." + ("add" if present else "remove"), group,
                          {"member": who})

    async def remove(self, actor: Actor, address: str) -> None:
        group = str(Address.parse(address))
        await self.require_domain(actor, group.rpartition("@")[2], "removing groups")
        await self._store.directory.remove_group(group)
        await self.record(actor, "group.remove", group)


class RolesAdmin(AdminBase):
    """Administrator roles: global, or of one domain."""

    async def list(self, actor: Actor) -> list[tuple[str, str]]:
        """(address, scope) with scope ``*`` for global."""
        self.require_global(actor, "listing administrators")
        return await self._store.directory.list_admins()

    async def set(self, actor: Actor, address: str, domain: str | None, grant: bool) -> None:
        self.require_global(actor, "granting administrator roles")
        who = str(Address.parse(address))
        scope = None if domain is None else normalize_domain(domain)
        await self._store.directory.set_admin(who, scope, grant)
        await self.record(actor, "admin." + ("grant" if grant else "revoke"), who,
                          {"scope": scope or "global"})
