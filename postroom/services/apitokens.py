"""API tokens: made, listed and revoked by their owners (and the operator's CLI), and turned
back into a principal on every API request (docs/api.md).

Invariants:

- the store keeps the SHA-256 of a token only (core/apitoken.py); the token is returned once,
  by ``create``;
- a token never grants more than its owner has *at the moment of use*: the principal is
  rebuilt from the directory (current roles, current groups) and then cut down to the scope;
  a disabled or frozen owner, an expired or revoked token, or a ``domain:NAME`` scope whose
  owner no longer administers NAME authenticate nobody;
- a token made through the API cannot be wider than the caller's own principal, so a ``self``
  token cannot mint an ``admin`` one.

Speed: an API request must not cost a database read and a directory walk, so a successful
lookup is cached in memory for ``cache_seconds``. Revocation in this process drops the entry
at once; a revocation by another process (``postroom token revoke`` while the server runs, or
another cluster node) takes effect within ``cache_seconds``. ``last_used`` is written at most
once per ``touch_seconds`` per token, not on every request.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, replace

from postroom.core.actor import Actor
from postroom.core.address import Address, normalize_domain
from postroom.core.apitoken import (
    PREFIX,
    SCOPE_ADMIN,
    SCOPE_SELF,
    ApiTokenRec,
    check_scope,
    scope_domain,
    token_hash,
)
from postroom.core.errors import Kind, MailError, invalid, not_found
from postroom.core.principal import Principal
from postroom.directory.service import Directory
from postroom.services.audit import AuditLog
from postroom.store.sqlstore import SqlStore

MAX_NAME = 100
MAX_LIFETIME = 10 * 366 * 86400  # ten years: "forever" is a missing expiry, not a huge one
MAX_TOKEN = 200  # longer Authorization values are not ours: refused without hashing


@dataclass(frozen=True, slots=True)
class Cached:
    until: float  # monotonic time the entry stops being trusted
    principal: Principal
    token: ApiTokenRec


def within(scope: str, parent: str) -> bool:
    """Whether a token of ``scope`` is no wider than its ``parent`` token: an ``admin`` token
    may make any scope, ``domain:X`` only ``domain:X`` or ``self``, ``self`` only ``self``."""
    if parent == SCOPE_ADMIN:
        return True
    return scope in (SCOPE_SELF, parent)


class ApiTokens:
    def __init__(self, store: SqlStore, directory: Directory, audit: AuditLog,
                 cache_seconds: float = 2.0,
                 touch_seconds: float = 60.0, max_cached: int = 10_000) -> None:
        self._store = store
        self._directory = directory
        self._audit = audit
        self.cache_seconds = cache_seconds
        self.touch_seconds = touch_seconds
        self.max_cached = max_cached
        self._cache: dict[str, Cached] = {}
        self._touched: dict[int, float] = {}

    # -- owners' operations -------------------------------------------------------------------
    async def _owner(self, actor: Actor, owner: str | None) -> tuple[int, str]:
        """(account id, address) of the token's owner: the caller's own account; only the
        operator's CLI names another owner."""
        p = actor.principal
        if owner is not None and p.system:
            rec = await self._store.directory.get_account(str(Address.parse(owner)))
            if rec is None:
                raise not_found(f"no account {owner}")
            return rec.id, rec.address
        if owner is not None and str(Address.parse(owner)) != p.address:
            raise MailError(Kind.NO_PERM, "tokens are made by their owners (or the operator)")
        if p.account_id is None or p.address is None:
            raise invalid("give the owner's address (--owner ADDRESS)")
        return p.account_id, p.address

    async def _allowed(self, actor: Actor, account_id: int, scope: str) -> None:
        """Refuse a scope wider than what the caller (or, for the CLI, the owner) holds."""
        p = actor.principal
        if p.system:
            rec = await self._store.directory.account_by_id(account_id)
            assert rec is not None
            p = await self._directory.principal_for(rec)
        if scope == SCOPE_ADMIN and not (p.global_admin or p.admin_domain_ids):
            raise invalid("the owner administers nothing: use scope self, or grant a role "
                          "first")
        domain = scope_domain(scope)
        if domain is not None:
            rec_d = await self._store.directory.get_domain(domain)
            if rec_d is None or not p.administers(rec_d.id):
                raise not_found(f"unknown domain {domain}")

    async def create(self, actor: Actor, name: str, scope: str, expires_in: int | None = None,
                     owner: str | None = None, not_after: int | None = None,
                     parent_scope: str | None = None) -> tuple[str, ApiTokenRec]:
        """A new token (shown once) and its record. ``not_after`` and ``parent_scope``: the
        expiry and scope of the token the request came with (None for a web session or the
        CLI), so that a token can mint neither one that outlives it nor one wider than it
        (a ``domain:`` token making an ``admin`` one would get the owner's every right)."""
        name = name.strip()
        if not name or len(name) > MAX_NAME or not name.isprintable():
            raise invalid(f"a token's name is 1 to {MAX_NAME} printable characters")
        scope = check_scope(scope)
        domain = scope_domain(scope)
        if domain is not None:
            scope = "domain:" + normalize_domain(domain)
        if expires_in is not None and not 0 < expires_in <= MAX_LIFETIME:
            raise invalid(f"expires_in must be between 1 and {MAX_LIFETIME} seconds")
        if parent_scope is not None and not within(scope, parent_scope):
            raise MailError(Kind.NO_PERM, f"a token with scope {parent_scope} cannot make one "
                                          f"with scope {scope}")
        account_id, address = await self._owner(actor, owner)
        await self._allowed(actor, account_id, scope)
        token = PREFIX + secrets.token_urlsafe(32)
        now = int(time.time())
        expires = None if expires_in is None else now + expires_in
        if not_after is not None:
            expires = not_after if expires is None else min(expires, not_after)
        token_id = await self._store.api_tokens.add(token_hash(token), account_id, name, scope,
                                                    now, expires)
        await self._audit.record(actor.principal, actor.origin, "token.create", address,
                                 {"id": token_id, "name": name, "scope": scope,
                                  "expires_at": expires})
        rec = await self._store.api_tokens.get(token_id)
        assert rec is not None
        return token, rec

    async def list(self, actor: Actor, owner: str | None = None) -> list[ApiTokenRec]:
        """The caller's tokens. The operator and global administrators (who may revoke any
        token) see every token, or one owner's; anyone else asking for another owner's gets
        NOT_FOUND."""
        p = actor.principal
        if p.system or p.global_admin:
            if owner is None:
                return await self._store.api_tokens.list(None if p.system else p.account_id)
            rec = await self._store.directory.get_account(str(Address.parse(owner)))
            if rec is None:
                raise not_found(f"no account {owner}")
            return await self._store.api_tokens.list(rec.id)
        if owner is not None and str(Address.parse(owner)) != p.address:
            raise not_found(f"no account {owner}")
        account_id, _ = await self._owner(actor, None)
        return await self._store.api_tokens.list(account_id)

    async def revoke(self, actor: Actor, token_id: int) -> ApiTokenRec:
        """Revoke one of the caller's tokens (global administrators and the operator: any);
        someone else's token is NOT_FOUND, as if it did not exist."""
        rec = await self._store.api_tokens.get(token_id) if 0 < token_id < 1 << 63 else None
        p = actor.principal
        if rec is None or not (p.system or p.global_admin or rec.account_id == p.account_id):
            raise not_found(f"no token {token_id}")
        if rec.revoked_at is not None:
            raise MailError(Kind.EXISTS, f"token {token_id} is already revoked")
        await self._store.api_tokens.revoke(token_id, int(time.time()))
        self._forget(token_id)
        await self._audit.record(actor.principal, actor.origin, "token.revoke", rec.owner,
                                 {"id": token_id, "name": rec.name})
        revoked = await self._store.api_tokens.get(token_id)
        assert revoked is not None
        return revoked

    def _forget(self, token_id: int) -> None:
        for key in [k for k, v in self._cache.items() if v.token.id == token_id]:
            del self._cache[key]

    # -- every API request --------------------------------------------------------------------
    async def authenticate(self, token: str) -> tuple[Principal, ApiTokenRec] | None:
        """The principal a bearer token stands for, cut down to its scope; None when the
        token is unknown, revoked, expired, or its owner cannot log in."""
        if not token.startswith(PREFIX) or len(token) > MAX_TOKEN:
            return None
        key = token_hash(token)
        now = time.monotonic()
        hit = self._cache.get(key)
        if hit is not None and hit.until > now and hit.token.usable(time.time()):
            return hit.principal, hit.token
        rec = await self._store.api_tokens.by_hash(key)
        if rec is None or not rec.usable(time.time()):
            self._cache.pop(key, None)
            return None
        principal = await self._principal(rec)
        if principal is None:
            return None
        if len(self._cache) >= self.max_cached:
            self._cache.clear()  # bounded memory; the next requests read again
        self._cache[key] = Cached(now + self.cache_seconds, principal, rec)
        if now - self._touched.get(rec.id, -self.touch_seconds) >= self.touch_seconds:
            if len(self._touched) >= self.max_cached:
                self._touched.clear()
            self._touched[rec.id] = now
            await self._store.api_tokens.touch(rec.id, int(time.time()))
        return principal, rec

    async def _principal(self, rec: ApiTokenRec) -> Principal | None:
        account = await self._store.directory.account_by_id(rec.account_id)
        if account is None or account.state != "active":
            return None
        full = await self._directory.principal_for(account)  # roles and groups as of now
        if rec.scope == SCOPE_ADMIN:
            return full
        if rec.scope == SCOPE_SELF:
            return replace(full, global_admin=False, admin_domain_ids=frozenset())
        domain = scope_domain(rec.scope)
        drec = await self._store.directory.get_domain(domain) if domain else None
        if drec is None or not full.administers(drec.id):
            return None
        return replace(full, global_admin=False, admin_domain_ids=frozenset({drec.id}))
