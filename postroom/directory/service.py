"""The directory: who exists, who may log in, where an address goes.

Recipient resolution order (first match wins): account, alias, group, public-folder address;
then the same without a ``+tag`` (plus-addressing); then the domain's catch-all alias
(``@domain``). A catch-all never shadows a real address, and plus-addressing never shadows an
address that really contains ``+``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import os
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from postroom.core.address import Address, normalize_domain
from postroom.core.errors import Kind, MailError, invalid, not_found
from postroom.core.logins import AppPasswordRec, LoginFactors
from postroom.core.principal import Principal
from postroom.core.records import AccountRec, AliasRec, GroupRec, MailboxRec
from postroom.directory import passwords
from postroom.directory.login_cache import CacheSettings, LoginCache
from postroom.directory.secretbox import SecretBox, SecretError
from postroom.store.sqlstore import SqlStore

log = logging.getLogger("postroom.directory")

ACCOUNT_STATES = ("active", "disabled", "frozen")


@dataclass(frozen=True, slots=True)
class ToAccount:
    account: AccountRec
    tag: str = ""


@dataclass(frozen=True, slots=True)
class ToAlias:
    alias: AliasRec


@dataclass(frozen=True, slots=True)
class ToGroup:
    group: GroupRec


@dataclass(frozen=True, slots=True)
class ToPublicFolder:
    mailbox: MailboxRec

    @property
    def mailbox_id(self) -> int:
        return self.mailbox.id


@dataclass(frozen=True, slots=True)
class Unknown:
    local_domain: bool


Resolution = ToAccount | ToAlias | ToGroup | ToPublicFolder | Unknown


def catch_all_address(domain: str) -> str:
    return "@" + domain


def parse_alias_address(text: str) -> str:
    """``user@d``, or ``@d`` / ``*@d`` for the domain's catch-all."""
    text = text.strip()
    if text.startswith("@") or text.startswith("*@"):
        return catch_all_address(normalize_domain(text.split("@", 1)[1]))
    return str(Address.parse(text))


_NONE: frozenset[Any] = frozenset()
APP_USED_EVERY = 300  # seconds between two writes of an app password's last use


class Directory:
    def __init__(self, store: SqlStore, hash_workers: int = 0,
                 secrets: SecretBox | None = None, login_domain: str = "",
                 login_cache: LoginCache | None = None,
                 app_passwords_with_2fa: bool = True) -> None:
        self.store = store
        # with a second factor on, the account's own password is refused by the mail
        # protocols; only app passwords work there (docs/web.md "App passwords")
        self.app_passwords_with_2fa = app_passwords_with_2fa
        self._pending: set[asyncio.Task[None]] = set()
        self.repo = store.directory
        self.secrets = secrets
        self.login_domain = login_domain
        self.login_cache = login_cache if login_cache is not None else \
            LoginCache(CacheSettings(cache_ttl=0))
        # argon2id releases the GIL, so each pool thread can take a whole core: leave one core
        # to the event loop (issue 20: with as many hashing threads as cores, a login flood
        # starved every other command). 0 = cores - 1, at least one.
        workers = hash_workers or max(1, (os.cpu_count() or 2) - 1)
        self._hash_pool = ThreadPoolExecutor(max_workers=workers,
                                             thread_name_prefix="argon2")
        # Checks in flight, by what they check (the login cache's digest): identical logins
        # arriving together share one argon2id run (see ``_verify``).
        self._in_flight: dict[bytes, asyncio.Future[bool]] = {}
        self.verifications = 0  # argon2id checks run (obs/metrics.py may export it)

    # -- domains -----------------------------------------------------------------------------
    async def add_domain(self, name: str) -> str:
        domain = normalize_domain(name)
        await self.repo.add_domain(domain)
        return domain

    async def is_local_domain(self, domain: str) -> bool:
        return await self.repo.get_domain(domain) is not None

    # -- accounts ----------------------------------------------------------------------------
    async def credentials(self, password: str) -> dict[str, str]:
        """Hash off the event loop: argon2id costs ~50 ms of CPU by design."""
        passwords.check_password_text(password)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._hash_pool, passwords.make_credentials, password)

    async def add_account(self, address: str, password: str, *, display_name: str = "",
                          quota_bytes: int | None = None) -> AccountRec:
        addr = Address.parse(address)
        if not await self.is_local_domain(addr.domain):
            raise not_found(f"unknown domain {addr.domain} "
                            f"(add it with: postroom domain add {addr.domain})")
        creds = await self.credentials(password)
        [rec] = await self.repo.add_accounts([{
            "address": str(addr), "display_name": display_name, "quota_bytes": quota_bytes,
            **creds}])
        return rec

    async def set_password(self, address: str, password: str) -> AccountRec:
        creds = await self.credentials(password)
        rec = await self.repo.update_account(str(Address.parse(address)), **creds)
        self.login_cache.forget(rec.address)  # the new hash would not match anyway
        return rec

    async def set_state(self, address: str, state: str) -> AccountRec:
        if state not in ACCOUNT_STATES:
            raise invalid(f"state must be one of {', '.join(ACCOUNT_STATES)}")
        return await self.repo.update_account(str(Address.parse(address)), state=state)

    async def require_account(self, address: str) -> AccountRec:
        rec = await self.repo.get_account(str(Address.parse(address)))
        if rec is None:
            raise not_found(f"no account {address}")
        return rec

    def login_address(self, username: str) -> str:
        """A login name as an address: ``alice`` is ``alice@<server.login_domain>`` when that
        is set; anything else as given."""
        if self.login_domain and "@" not in username:
            return f"{username}@{self.login_domain}"
        return username

    async def note_login(self, principal: Principal) -> None:
        if principal.account_id is not None:
            await self.repo.note_login(principal.account_id, int(time.time()))

    async def authenticate(self, username: str, password: str, *,
                           web: bool = False) -> Principal | None:
        """Check a login; None for any failure (the caller must not say which part failed).

        A mail login (``web`` false: IMAP, POP3, SMTP AUTH, ODMR, SASL PLAIN/LOGIN) also takes
        the account's app passwords, and with a second factor on (and
        ``login.app_passwords_with_2fa``) only those. A web login takes only the account's
        own password: an app password must never skip the second factor."""
        try:
            addr = Address.parse(self.login_address(username))
        except MailError:
            return None
        rec = await self.repo.get_account(str(addr))
        factors = None
        if rec is not None and not web:
            factors = await self.store.logins.factors(rec.id)
            app = await self._app_password(rec, factors, password)
            if app is not None:
                if rec.state != "active":
                    raise MailError(Kind.DISABLED, "account is disabled")
                self._note_app_password(app)
                return await self.principal_for(rec)
        stored = rec.password_hash if rec else _DUMMY_HASH  # same cost for unknown users
        ok = await self._verify(rec.address if rec else "", stored, password)
        if not ok or rec is None:
            return None
        if factors is not None and factors.two_factor and self.app_passwords_with_2fa:
            return None  # the own password is for the web (with its second factor) only
        if rec.state != "active":
            raise MailError(Kind.DISABLED, "account is disabled")
        return await self.principal_for(rec)

    async def _verify(self, key: str, stored: str, password: str) -> bool:
        """argon2id off the event loop, unless the login cache saw this very password
        verified against this very hash lately (directory/login_cache.py)."""
        if key and stored and self.login_cache.knows(key, stored, password):
            return True
        if not key:  # an unknown user: the dummy check, never shared
            return await self._argon2(stored, password)
        # Single flight: when a thousand phones reconnect at once (a NAT box restarted), each
        # account logs in several times in the same instant, before the first check could
        # fill the login cache; without this each login paid argon2id and the last waited
        # for all the others (measured: 1,000 Basic logins of 100 accounts, p99 16.8 s with
        # one hashing thread). Only a check of the very same address, stored hash and
        # password is shared, so it tells a concurrent guess nothing it would not learn by
        # itself; every failure is still counted by the caller's throttle.
        flight = self.login_cache.digest(key, stored, password)
        running = self._in_flight.get(flight)
        if running is None:
            running = asyncio.ensure_future(self._remembered(key, stored, password))
            self._in_flight[flight] = running
            running.add_done_callback(lambda _f: self._in_flight.pop(flight, None))
        return await asyncio.shield(running)  # one caller cancelled does not cancel the rest

    async def _remembered(self, key: str, stored: str, password: str) -> bool:
        """One flight: the check, and a success remembered before the flight ends, so a
        login arriving just after it finds the login cache and not a new check."""
        ok = await self._argon2(stored, password)
        if ok:
            self.login_cache.remember(key, stored, password)
        return ok

    async def _argon2(self, stored: str, password: str) -> bool:
        self.verifications += 1
        return await asyncio.get_running_loop().run_in_executor(
            self._hash_pool, passwords.verify_password, stored, password)

    async def _app_password(self, rec: AccountRec, factors: LoginFactors,
                            password: str) -> AppPasswordRec | None:
        """The app password ``password`` is, if any. The hint picks the candidate rows, so a
        login pays one argon2id check however many app passwords there are; the login cache
        is keyed by the row, so a revoked (deleted) one is never found again."""
        raw = passwords.app_password_form(password)
        if raw is None:
            return None
        for app in factors.app_passwords:
            if hmac.compare_digest(app.hint, raw[:passwords.APP_HINT]) and \
                    await self._verify(f"{rec.address}\0app{app.id}", app.password_hash, raw):
                return app
        return None

    def _note_app_password(self, app: AppPasswordRec) -> None:
        """Record when an app password was last used, at most every few minutes (a phone
        logs in at every check; the list needs minutes, not a write per login)."""
        now = int(time.time())
        if app.last_used is not None and now - app.last_used < APP_USED_EVERY:
            return
        task = asyncio.get_running_loop().create_task(
            self.store.logins.app_password_used(app.id, now))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def password_barred(self, account_id: int) -> bool:
        """Whether the account's own password (and its APOP/CRAM-MD5 secret, SCRAM keys) is
        refused by the mail protocols because a second factor is on."""
        if not self.app_passwords_with_2fa:
            return False
        return (await self.store.logins.factors(account_id)).two_factor

    async def principal_for(self, rec: AccountRec) -> Principal:
        is_global, domains = await self.repo.admin_scopes(rec.id)
        groups = await self.groups_of(rec.address)
        # Most accounts administer nothing and belong to no group: share the empty set
        # (a fresh empty frozenset costs 216 bytes per logged-in session).
        return Principal(rec.id, rec.address, rec.domain_id, global_admin=is_global,
                         admin_domain_ids=frozenset(did for did, _ in domains) if domains
                         else _NONE,
                         groups=frozenset("$" + g for g in groups) if groups else _NONE)

    async def quota_of(self, account_id: int) -> tuple[int, int | None]:
        """(used octets, limit or None) of an account (RFC 9208 STORAGE)."""
        rec = await self.repo.account_by_id(account_id)
        if rec is None:
            return 0, None
        return rec.used_bytes, rec.quota_bytes

    async def authorize(self, principal: Principal, authzid: str) -> Principal | None:
        """SASL authorisation identity (RFC 4616 §2): acting as another account is for
        administrators of that account's domain only."""
        try:
            rec = await self.repo.get_account(str(Address.parse(authzid)))
        except MailError:
            return None
        if rec is None or rec.state != "active" or not principal.administers(rec.domain_id):
            return None
        return await self.principal_for(rec)

    async def scram_lookup(self, username: str) -> passwords.ScramSecret | None:
        """The stored SCRAM keys of an active account (None for anyone else)."""
        try:
            rec = await self.repo.get_account(str(Address.parse(self.login_address(username))))
        except MailError:
            return None
        if rec is None or rec.state != "active" or await self.password_barred(rec.id):
            return None
        return passwords.ScramSecret.decode(rec.scram)

    async def scram_login(self, username: str) -> Principal | None:
        """Finish a SCRAM login whose proof checked out."""
        rec = await self.repo.get_account(str(Address.parse(self.login_address(username))))
        if rec is None or rec.state != "active" or await self.password_barred(rec.id):
            return None
        return await self.principal_for(rec)

    # -- APOP (RFC 1939 §7) -------------------------------------------------------------------
    def _box(self) -> SecretBox:
        if self.secrets is None:
            raise MailError(Kind.TEMPORARY, "no secret key configured")
        return self.secrets

    async def set_apop_secret(self, address: str, secret: str | None) -> None:
        """Give an account an APOP secret (sealed at rest), or take it away (None)."""
        rec = await self.require_account(address)
        if secret is not None:
            passwords.check_password_text(secret)
        sealed = self._box().seal(secret, "apop") if secret is not None else None
        await self.repo.set_apop_secret(rec.id, sealed)

    async def has_apop_secret(self, address: str) -> bool:
        rec = await self.require_account(address)
        return await self.repo.apop_secret(rec.id) is not None

    async def _challenge_secret(self, username: str) -> tuple[AccountRec, str] | None:
        try:
            rec = await self.repo.get_account(str(Address.parse(self.login_address(username))))
        except MailError:
            return None
        sealed = await self.repo.apop_secret(rec.id) if rec is not None else None
        if rec is None or sealed is None or await self.password_barred(rec.id):
            return None
        try:
            return rec, self._box().open(sealed, "apop")
        except SecretError:
            log.error("cannot open the challenge secret of %s: wrong key file?", rec.address)
            return None

    async def _challenge_login(self, rec: AccountRec, expected: str,
                               digest: str) -> Principal | None:
        if not hmac.compare_digest(expected, digest):
            return None
        if rec.state != "active":
            raise MailError(Kind.DISABLED, "account is disabled")
        return await self.principal_for(rec)

    async def apop(self, username: str, timestamp: str, digest: str) -> Principal | None:
        """Check ``digest`` = hex MD5(timestamp + secret); None for any failure, including an
        account without an APOP secret (indistinguishable from a wrong digest)."""
        found = await self._challenge_secret(username)
        if found is None:
            return None
        rec, secret = found
        expected = hashlib.md5((timestamp + secret).encode("utf-8"),
                               usedforsecurity=False).hexdigest()
        return await self._challenge_login(rec, expected, digest)

    async def cram_md5(self, username: str, challenge: str, digest: str) -> Principal | None:
        """RFC 2195 §2: ``digest`` = hex HMAC-MD5(secret, challenge), with the same
        challenge-response secret as APOP; None for any failure."""
        found = await self._challenge_secret(username)
        if found is None:
            return None
        rec, secret = found
        expected = hmac.new(secret.encode("utf-8"), challenge.encode("utf-8"),
                            hashlib.md5).hexdigest()
        return await self._challenge_login(rec, expected, digest)

    # -- groups ------------------------------------------------------------------------------
    async def groups_of(self, address: str) -> set[str]:
        """Every group containing ``address`` directly or through nested groups (loop-safe).

        One indexed query per nesting level, touching only the groups involved."""
        found: set[str] = set()
        level = [address]
        while level:
            level = [g for g in await self.repo.groups_containing(level) if g not in found]
            found.update(level)
        return found

    async def expand(self, address: str, limit: int = 10000) -> list[str]:
        """Final recipient addresses behind an alias or group, loop-safe and bounded."""
        out: list[str] = []
        seen: set[str] = set()
        todo = [address]
        while todo and len(out) < limit:
            current = todo.pop(0)
            if current in seen:
                continue
            seen.add(current)
            res = await self.resolve_recipient(current)
            if isinstance(res, ToAlias):
                todo.extend(res.alias.targets)
            elif isinstance(res, ToGroup):
                todo.extend(res.group.members)
            else:
                out.append(current)
        return out

    # -- resolution --------------------------------------------------------------------------
    async def resolve_recipient(self, address: str) -> Resolution:
        try:
            addr = Address.parse(address)
        except MailError:
            return Unknown(local_domain=False)
        if not await self.is_local_domain(addr.domain):
            return Unknown(local_domain=False)
        hit = await self._exact(str(addr))
        if hit is not None:
            return hit
        base = addr.without_tag()
        if base is not None:
            hit = await self._exact(str(base))
            if hit is not None:
                if isinstance(hit, ToAccount):
                    return ToAccount(hit.account, tag=addr.local.partition("+")[2])
                return hit
        catch_all = await self.repo.get_alias(catch_all_address(addr.domain))
        if catch_all is not None:
            return ToAlias(catch_all)
        return Unknown(local_domain=True)

    async def _exact(self, address: str) -> Resolution | None:
        account = await self.repo.get_account(address)
        if account is not None:
            return ToAccount(account)
        alias = await self.repo.get_alias(address)
        if alias is not None:
            return ToAlias(alias)
        group = await self.repo.get_group(address)
        if group is not None:
            return ToGroup(group)
        mailbox = await self.store.mailboxes.by_address(address)
        if mailbox is not None:
            return ToPublicFolder(mailbox)
        return None

    # -- aliases and groups with validation --------------------------------------------------
    async def require_target(self, address: str) -> str:
        """``address`` normalised, refused when it is in one of our domains and names nothing.

        A typo in an alias or group target (``bbo@example.test``) would otherwise be accepted
        silently and every message to the alias bounced later, far from the mistake. A target
        in a local domain must be an account (``+tag`` forms included), alias, group or
        public-folder address; the domain's catch-all does not count, since it would hide
        exactly that typo. Remote addresses are taken as they are.
        """
        addr = Address.parse(address)
        if not await self.is_local_domain(addr.domain):
            return str(addr)
        if await self._exact(str(addr)) is not None:
            return str(addr)
        base = addr.without_tag()
        if base is not None and await self._exact(str(base)) is not None:
            return str(addr)
        raise not_found(f"no account, alias, group or public folder {addr} in the local "
                        f"domain {addr.domain}; create it first")

    async def add_alias(self, alias: str, targets: Sequence[str]) -> AliasRec:
        return await self.repo.add_alias(*await self._alias(alias, targets))

    async def set_alias_targets(self, alias: str, targets: Sequence[str]) -> AliasRec:
        """An alias's new targets, checked as ``add_alias`` checks them."""
        return await self.repo.set_alias_targets(*await self._alias(alias, targets))

    async def _alias(self, alias: str, targets: Sequence[str]) -> tuple[str, list[str]]:
        """The alias's address and its targets, checked: at least one, not itself, each an
        existing local or remote address."""
        address = parse_alias_address(alias)
        if not targets:
            raise invalid("an alias needs at least one target address")
        clean = [str(Address.parse(t)) for t in targets]
        if address in clean:
            raise invalid(f"alias {address} cannot point to itself")
        for target in clean:
            await self.require_target(target)
        return address, clean

    async def add_group(self, address: str, members: Sequence[str], display_name: str = "",
                        ) -> GroupRec:
        addr = str(Address.parse(address))
        clean = [str(Address.parse(m)) for m in members]
        if addr in clean:
            raise invalid(f"group {addr} cannot contain itself")
        for member in clean:
            await self.require_target(member)
        return await self.repo.add_group(addr, display_name, clean)

    def close(self) -> None:
        self._hash_pool.shutdown(wait=False)


_DUMMY_HASH = passwords.hash_password("postroom-timing-equaliser")
