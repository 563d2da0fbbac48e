"""``/api/v1`` for the directory: domains, users, aliases, groups, administrator roles, and
the caller's own account and API tokens. Each handler calls one method of the admin services
(services/admin/directory.py, services/apitokens.py), the same one the CLI command named in
its ``cli`` calls."""

from __future__ import annotations

from msgspec import UNSET, UnsetType

from postroom.core.address import Address, display_domain, normalize_domain
from postroom.core.apitoken import ApiTokenRec
from postroom.core.errors import invalid, not_found
from postroom.core.records import AccountRec, GroupRec
from postroom.services.admin.directory import AccountInfo, DomainInfo, NewAccount
from postroom.services.admin.imports import parse_accounts_csv
from postroom.services.apitokens import ApiTokens
from postroom.web.api import models as m
from postroom.web.api.framework import Api, Call, Problem
from postroom.web.api.logins import prove_owner

DOMAINS, USERS, ALIASES, GROUPS = "domains", "users", "aliases", "groups"
ADMINS, ME, TOKENS = "administrators", "self-service", "tokens"
MAX_CSV_LINE = 4096


def canonical(address: str) -> str:
    """An address as the directory stores it (INVALID for one that is not an address)."""
    return str(Address.parse(address))


def domain_out(i: DomainInfo, admins: bool = False) -> m.DomainOut:
    return m.DomainOut(domain=i.domain.name, display=display_domain(i.domain.name),
                       accounts=i.accounts, aliases=i.aliases, groups=i.groups,
                       admins=list(i.admins) if admins else None)


def user_out(r: AccountRec) -> m.UserOut:
    return m.UserOut(address=r.address, name=r.display_name, state=r.state,
                     quota=r.quota_bytes, used=r.used_bytes, created=r.created_at,
                     last_login=r.last_login)


def user_detail(i: AccountInfo, spam_filter: bool) -> m.UserDetail:
    r = i.account
    return m.UserDetail(address=r.address, name=r.display_name, state=r.state,
                        quota=r.quota_bytes, used=r.used_bytes, created=r.created_at,
                        last_login=r.last_login, admin=i.admin, groups=list(i.groups),
                        spam_filter=spam_filter)


def group_out(r: GroupRec) -> m.GroupOut:
    return m.GroupOut(group=r.address, name=r.display_name, members=list(r.members),
                      acl_identifier="$" + r.address)


def token_out(r: ApiTokenRec) -> m.TokenOut:
    return m.TokenOut(id=r.id, owner=r.owner, name=r.name, scope=r.scope,
                      created=r.created_at, expires=r.expires_at, last_used=r.last_used,
                      revoked=r.revoked_at)


def parse_csv(raw: bytes) -> list[NewAccount]:
    """``address,password[,name,quota]`` lines, read by the same parser as ``postroom user
    import`` and the import page (services/admin/imports.py); a header line starting with
    ``address`` is skipped. Errors name the line."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise invalid("the CSV is not UTF-8") from None
    for lineno, line in enumerate(text.splitlines(), 1):
        if len(line) > MAX_CSV_LINE:
            raise invalid(f"line {lineno}: expected address,password[,name,quota]")
    items = parse_accounts_csv(text, most=m.MAX_IMPORT)
    if len(items) > m.MAX_IMPORT:
        raise invalid(f"more than {m.MAX_IMPORT} accounts: split the import")
    if not items:
        raise invalid("no accounts in the CSV")
    return items


def register(api: Api) -> None:  # one flat table of small handlers
    admin = api.services.admin

    # -- domains -------------------------------------------------------------------------------
    @api.add("GET", "/domains", summary="List the domains the caller administers", tag=DOMAINS,
             cli="postroom domain list", out=list[m.DomainOut])
    async def list_domains(c: Call) -> list[m.DomainOut]:
        return [domain_out(i) for i in await admin.domains.list(c.actor)]

    @api.add("POST", "/domains", summary="Add a domain", tag=DOMAINS, cli="postroom domain add",
             body=m.DomainIn, out=m.DomainOut, status=201,
             location=lambda r: f"/domains/{r.domain}")
    async def add_domain(c: Call) -> m.DomainOut:
        name = await admin.domains.add(c.actor, c.body_as(m.DomainIn).domain)
        return domain_out(await admin.domains.show(c.actor, name), admins=True)

    @api.add("GET", "/domains/{domain}", summary="Show a domain", tag=DOMAINS,
             cli="postroom domain show", out=m.DomainOut)
    async def show_domain(c: Call) -> m.DomainOut:
        return domain_out(await admin.domains.show(c.actor, c.param("domain")), admins=True)

    @api.add("DELETE", "/domains/{domain}", summary="Remove an empty domain", tag=DOMAINS,
             cli="postroom domain remove")
    async def remove_domain(c: Call) -> None:
        await admin.domains.remove(c.actor, c.param("domain"))

    # -- users ---------------------------------------------------------------------------------
    @api.add("GET", "/users", summary="List accounts (of one domain with ?domain=; "
             "?offset= and ?limit= page)", tag=USERS,
             cli="postroom user list [--domain]", query=m.UsersQuery, out=list[m.UserOut])
    async def list_users(c: Call) -> list[m.UserOut]:
        q = c.query_as(m.UsersQuery)
        return [user_out(r) for r in q.page(await admin.users.list(c.actor, q.domain))]

    @api.add("POST", "/users",
             summary="Add an account (with INBOX, Drafts, Sent, Trash, Junk, Archive)",
             tag=USERS, cli="postroom user add", body=m.UserIn, out=m.UserOut, status=201,
             location=lambda r: f"/users/{r.address}")
    async def add_user(c: Call) -> m.UserOut:
        b = c.body_as(m.UserIn)
        return user_out(await admin.users.add(c.actor, NewAccount(b.address, b.password,
                                                                  b.name, b.quota)))

    @api.add("POST", "/users/import", summary="Create many accounts: JSON, or CSV lines "
             "address,password[,name,quota]; all or nothing", tag=USERS,
             cli="postroom user import", body=m.ImportIn, csv=True, out=m.ImportOut, status=201)
    async def import_users(c: Call) -> m.ImportOut:
        if isinstance(c.body, bytes):
            items = parse_csv(c.body)
        else:
            items = [NewAccount(i.address, i.password, i.name, i.quota)
                     for i in c.body_as(m.ImportIn).accounts]
        seen: set[str] = set()
        for item in items:
            address = canonical(item.address)
            if address in seen:
                raise invalid(f"{address} appears twice")
            seen.add(address)
        recs = await admin.users.add_many(c.actor, items)
        return m.ImportOut(imported=len(recs), addresses=[r.address for r in recs])

    @api.add("GET", "/users/{address}",
             summary="Show an account", tag=USERS, cli="postroom user show",
             out=m.UserDetail)
    async def show_user(c: Call) -> m.UserDetail:
        info, spam_filter = await admin.users.detail(c.actor, c.param("address"))
        return user_detail(info, spam_filter)

    @api.add("PATCH", "/users/{address}", summary="Change name, quota, state or spam filtering",
             tag=USERS, cli="postroom user set", body=m.UserPatch, out=m.UserDetail)
    async def set_user(c: Call) -> m.UserDetail:
        address, b = c.param("address"), c.body_as(m.UserPatch)
        if b.name is None and b.quota is UNSET and b.state is None and b.spam_filter is None:
            raise invalid("nothing to change: give name, quota, state or spam_filter")
        if b.name is not None or b.quota is not UNSET or b.state is not None:
            await admin.users.update(c.actor, address, display_name=b.name,
                                     quota_bytes=... if isinstance(b.quota, UnsetType)
                                     else b.quota, state=b.state)
        if b.spam_filter is not None:
            await admin.users.set_spam_filter(c.actor, address, b.spam_filter)
        return await show_user(c)

    @api.add("PUT", "/users/{address}/password", summary="Change the password", tag=USERS,
             cli="postroom user passwd", body=m.PasswordIn)
    async def set_password(c: Call) -> None:
        await admin.users.set_password(c.actor, c.param("address"),
                                       c.body_as(m.PasswordIn).password)

    @api.add("POST", "/users/{address}/disable", summary="Refuse logins, and mail with 550 5.2.1",
             tag=USERS, cli="postroom user disable", out=m.UserOut)
    async def disable_user(c: Call) -> m.UserOut:
        return user_out(await admin.users.update(c.actor, c.param("address"),
                                                 state="disabled"))

    @api.add("POST", "/users/{address}/enable", summary="Undo disable or freeze", tag=USERS,
             cli="postroom user enable", out=m.UserOut)
    async def enable_user(c: Call) -> m.UserOut:
        return user_out(await admin.users.update(c.actor, c.param("address"), state="active"))

    @api.add("PUT", "/users/{address}/challenge-secret",
             summary="Set (or, with null, clear) the secret "
             "for POP3 APOP and CRAM-MD5", tag=USERS, cli="postroom user challenge-secret",
             body=m.SecretIn)
    async def set_challenge_secret(c: Call) -> None:
        secret = c.body_as(m.SecretIn).secret
        if secret == "":
            raise invalid("give the secret, or null to clear it")
        await admin.users.set_challenge_secret(c.actor, c.param("address"), secret)

    @api.add("GET", "/users/{address}/holdings", summary="What removing the account would delete",
             tag=USERS, cli="postroom user remove (without --yes)", out=m.Holdings)
    async def user_holdings(c: Call) -> m.Holdings:
        folders, messages, octets = await admin.users.holdings(c.actor, c.param("address"))
        return m.Holdings(address=canonical(c.param("address")), folders=folders,
                          messages=messages, octets=octets)

    @api.add("DELETE", "/users/{address}",
             summary="Delete the account with all its folders and mail",
             tag=USERS, cli="postroom user remove --yes", out=m.Holdings)
    async def remove_user(c: Call) -> m.Holdings:
        gone = await user_holdings(c)
        await admin.users.remove(c.actor, c.param("address"))
        return gone

    @api.add("GET", "/users/{address}/send-as",
             summary="Addresses the account may send as", tag=USERS,
             cli="postroom user send-as", out=m.SendAsOut)
    async def send_as(c: Call) -> m.SendAsOut:
        address = c.param("address")
        return m.SendAsOut(address=canonical(address),
                           send_as=await admin.users.send_as(c.actor, address))

    @api.add("PUT", "/users/{address}/send-as/{target}", summary="Grant sending as an address "
             "(or @domain)", tag=USERS, cli="postroom user send-as --add", out=m.SendAsOut)
    async def grant_send_as(c: Call) -> m.SendAsOut:
        await admin.users.grant_send_as(c.actor, c.param("address"), c.param("target"), True)
        return await send_as(c)

    @api.add("DELETE", "/users/{address}/send-as/{target}", summary="Revoke a send-as grant",
             tag=USERS, cli="postroom user send-as --remove", out=m.SendAsOut)
    async def revoke_send_as(c: Call) -> m.SendAsOut:
        address, target = c.param("address"), c.param("target")
        if not await admin.users.grant_send_as(c.actor, address, target, False):
            raise not_found(f"{address} had no send-as grant for {target}")
        return await send_as(c)

    # -- aliases -------------------------------------------------------------------------------
    @api.add("GET", "/aliases", summary="List aliases (of one domain with ?domain=)", tag=ALIASES,
             cli="postroom alias list", query=m.UsersQuery, out=list[m.AliasOut])
    async def list_aliases(c: Call) -> list[m.AliasOut]:
        q = c.query_as(m.UsersQuery)
        return [m.AliasOut(alias=r.address, targets=list(r.targets)) for r in
                q.page(await admin.aliases.list(c.actor, q.domain))]

    @api.add("POST", "/aliases", summary="Add an alias (@domain: the catch-all)", tag=ALIASES,
             cli="postroom alias add", body=m.AliasIn, out=m.AliasOut, status=201)
    async def add_alias(c: Call) -> m.AliasOut:
        b = c.body_as(m.AliasIn)
        r = await admin.aliases.add(c.actor, b.alias, b.targets)
        return m.AliasOut(alias=r.address, targets=list(r.targets))

    @api.add("DELETE", "/aliases/{alias}", summary="Remove an alias", tag=ALIASES,
             cli="postroom alias remove")
    async def remove_alias(c: Call) -> None:
        await admin.aliases.remove(c.actor, c.param("alias"))

    # -- groups --------------------------------------------------------------------------------
    @api.add("GET", "/groups", summary="List groups (of one domain with ?domain=)", tag=GROUPS,
             cli="postroom group list", query=m.UsersQuery, out=list[m.GroupOut])
    async def list_groups(c: Call) -> list[m.GroupOut]:
        q = c.query_as(m.UsersQuery)
        return [group_out(r) for r in q.page(await admin.groups.list(c.actor, q.domain))]

    @api.add("POST", "/groups", summary="Add a group", tag=GROUPS, cli="postroom group add",
             body=m.GroupIn, out=m.GroupOut, status=201,
             location=lambda r: f"/groups/{r.group}")
    async def add_group(c: Call) -> m.GroupOut:
        b = c.body_as(m.GroupIn)
        return group_out(await admin.groups.add(c.actor, b.group, b.members, b.name))

    @api.add("GET", "/groups/{group}", summary="Show a group and its members", tag=GROUPS,
             cli="postroom group show", out=m.GroupOut)
    async def show_group(c: Call) -> m.GroupOut:
        return group_out(await admin.groups.show(c.actor, c.param("group")))

    @api.add("PUT", "/groups/{group}/members/{member}", summary="Add a member", tag=GROUPS,
             cli="postroom group member add", out=m.GroupOut)
    async def add_member(c: Call) -> m.GroupOut:
        await admin.groups.member(c.actor, c.param("group"), c.param("member"), True)
        return await show_group(c)

    @api.add("DELETE", "/groups/{group}/members/{member}", summary="Remove a member", tag=GROUPS,
             cli="postroom group member remove", out=m.GroupOut)
    async def remove_member(c: Call) -> m.GroupOut:
        await admin.groups.member(c.actor, c.param("group"), c.param("member"), False)
        return await show_group(c)

    @api.add("DELETE", "/groups/{group}", summary="Remove a group", tag=GROUPS,
             cli="postroom group remove")
    async def remove_group(c: Call) -> None:
        await admin.groups.remove(c.actor, c.param("group"))

    # -- administrators ------------------------------------------------------------------------
    @api.add("GET", "/admins", summary="List administrators and their scopes", tag=ADMINS,
             cli="postroom admin list", out=list[m.RoleOut])
    async def list_admins(c: Call) -> list[m.RoleOut]:
        return [m.RoleOut(address=a, scope="global" if s == "*" else s)
                for a, s in await admin.roles.list(c.actor)]

    def _scope(c: Call) -> str | None:
        scope = c.param("scope")
        return None if scope == "global" else scope

    @api.add("PUT", "/admins/{address}/{scope}", summary="Grant a role: 'global' or a domain",
             tag=ADMINS, cli="postroom admin grant (--global | --domain)", out=m.RoleOut)
    async def grant_role(c: Call) -> m.RoleOut:
        await admin.roles.set(c.actor, c.param("address"), _scope(c), True)
        scope = _scope(c)
        return m.RoleOut(address=canonical(c.param("address")),
                         scope="global" if scope is None else normalize_domain(scope))

    @api.add("DELETE", "/admins/{address}/{scope}", summary="Revoke a role", tag=ADMINS,
             cli="postroom admin revoke (--global | --domain)")
    async def revoke_role(c: Call) -> None:
        await admin.roles.set(c.actor, c.param("address"), _scope(c), False)

    # -- the caller ----------------------------------------------------------------------------
    @api.add("GET", "/me", summary="The caller's own account", tag=ME, out=m.MeOut)
    async def me(c: Call) -> m.MeOut:
        info = await admin.users.me(c.actor)
        r = info.account
        return m.MeOut(address=r.address, name=r.display_name, role=c.user.role,
                       admin=info.admin, state=r.state, quota=r.quota_bytes, used=r.used_bytes,
                       groups=list(info.groups))

    # -- tokens --------------------------------------------------------------------------------
    def tokens() -> ApiTokens:
        if api.services.tokens is None:
            raise Problem(503, "API tokens are not available on this listener")
        return api.services.tokens

    @api.add("GET", "/tokens", summary="The caller's API tokens, never the tokens themselves "
             "(global administrators: ?owner= for another account's)", tag=TOKENS,
             cli="postroom token list --owner", query=m.TokensQuery, out=list[m.TokenOut])
    async def list_tokens(c: Call) -> list[m.TokenOut]:
        owner = c.query_as(m.TokensQuery).owner
        return [token_out(r) for r in await tokens().list(c.actor, owner)]

    @api.add("POST", "/tokens", summary="Make an API token for the caller (scope admin, "
             "domain:NAME or self); the token is in this answer only", tag=TOKENS,
             cli="postroom token create", body=m.TokenIn, out=m.TokenCreated, status=201)
    async def create_token(c: Call) -> m.TokenCreated:
        b = c.body_as(m.TokenIn)
        await prove_owner(api, c, b)
        parent: ApiTokenRec | None = getattr(c.request.state, "api_token", None)
        token, r = await tokens().create(c.actor, b.name, b.scope, b.expires_in,
                                         not_after=parent.expires_at if parent else None,
                                         parent_scope=parent.scope if parent else None)
        return m.TokenCreated(token=token, id=r.id, owner=r.owner, name=r.name, scope=r.scope,
                              created=r.created_at, expires=r.expires_at)

    @api.add("DELETE", "/tokens/{id}", summary="Revoke a token (it stops at once)", tag=TOKENS,
             cli="postroom token revoke", out=m.TokenOut)
    async def revoke_token(c: Call) -> m.TokenOut:
        return token_out(await tokens().revoke(c.actor, c.int_param("id")))
