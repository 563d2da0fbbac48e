"""Web sessions: server-side, revocable, bound to a realm ("webadmin"; "webmail" later).

The browser holds a random 256-bit token in a cookie (web/session.py); the store keeps only
its SHA-256 (store/repo/logins.py), so a copy of the database opens no session. The CSRF token
of a session is derived from the cookie token (HMAC), so it needs no storage and is unknown
to anyone who only sees the database.

A session is honoured while all of these hold (checked on every store read):
- it is younger than ``web.session_lifetime`` (``web.login_step_timeout`` while it waits for
  the second factor or the enrolment) and was used within ``web.session_idle_timeout``;
- its account exists (removing an account deletes its sessions: ``ON DELETE CASCADE``) and is
  active (a disabled or frozen account's sessions stop working);
- the account's password hash is the one it had at login (a digest is kept in the session):
  a password changed anywhere (self-service, an administrator, the CLI) ends every other
  session, with no list of places that must remember to do it.

Resolved sessions are remembered in memory for ``web.session_cache_seconds`` (2 s), so a page
and its assets do not read the store once each. Everything this process ends (log out, log out
everywhere, a password change here) is dropped from that memory at once; a change made by
another node or by the CLI is seen within that bound. ``last_seen`` is written at most once a
minute per session: the idle timeout is exact to within a minute.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from base64 import urlsafe_b64encode
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace

from postroom.config_web import WebConfig
from postroom.core.actor import Actor, own_account
from postroom.core.errors import invalid, not_found
from postroom.core.logins import SessionRec, Stage
from postroom.core.principal import Principal
from postroom.directory.service import Directory
from postroom.store.repo.logins import LoginsRepo

TOUCH_EVERY = 60  # seconds between two writes of a session's last_seen
CACHE_MOST = 10_000  # resolved sessions remembered at most
TOKEN_MAX = 128  # a cookie value longer than this is not one of ours


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def password_stamp(password_hash: str) -> str:
    """What a session remembers of the password hash: enough to notice a change, useless to
    an attacker (a digest of a salted hash)."""
    return hashlib.sha256(password_hash.encode("utf-8")).hexdigest()[:32]


def csrf_of(token: str) -> str:
    """The session's CSRF token: HMAC(cookie token, "csrf"). Shown in every form; cannot be
    turned back into the cookie token."""
    mac = hmac.new(token.encode("ascii", "replace"), b"csrf", hashlib.sha256).digest()
    return urlsafe_b64encode(mac).decode("ascii").rstrip("=")


@dataclass(frozen=True, slots=True)
class Resolved:
    session: SessionRec
    principal: Principal
    csrf: str

    @property
    def stage(self) -> Stage:
        return self.session.stage


class WebSessions:
    def __init__(self, repo: LoginsRepo, directory: Directory, cfg: WebConfig,
                 clock: Callable[[], float] = time.time) -> None:
        self._repo = repo
        self._directory = directory
        self._cfg = cfg
        self._clock = clock
        self._cache: OrderedDict[str, tuple[Resolved, float]] = OrderedDict()

    @property
    def code_attempts(self) -> int:
        """Wrong codes one login may try before it starts over (``web.login_code_attempts``)."""
        return self._cfg.login_code_attempts

    def _now(self) -> int:
        return int(self._clock())

    # -- begin and end -------------------------------------------------------------------------
    async def start(self, principal: Principal, realm: str, stage: Stage, ip: str,
                    user_agent: str, replaces: str | None = None) -> tuple[str, Resolved]:
        """A new session of ``principal``'s account; its cookie token (to hand to the browser
        once) and the resolved session. ``replaces`` is the cookie token of the session this
        one follows (the password step before the code step), which ends."""
        if principal.account_id is None or principal.address is None:
            raise invalid("only accounts can log in on the web")
        account = await self._directory.require_account(principal.address)
        token = secrets.token_urlsafe(32)
        now = self._now()
        rec = SessionRec(digest(token), secrets.token_hex(8), realm, account.id, stage,
                         password_stamp(account.password_hash), ip[:64],
                         user_agent[:200], now, now, 0)
        old = digest(replaces) if replaces else None
        idle = int(self._cfg.session_idle_timeout)
        await self._repo.add_session(rec, replaces=old, idle_before=now - idle)
        if old is not None:
            self._cache.pop(old, None)
        resolved = Resolved(rec, principal, csrf_of(token))
        return token, resolved

    async def end(self, token: str) -> None:
        """Log out: this session ends."""
        key = digest(token)
        self._cache.pop(key, None)
        await self._repo.end_session(key)

    async def end_all(self, account_id: int, keep_token: str | None = None) -> int:
        """End every session of an account, in every realm (except the one of
        ``keep_token``); how many ended."""
        ended = await self._repo.end_sessions(account_id,
                                              digest(keep_token) if keep_token else None)
        self.forget_account(account_id)
        if keep_token:
            self._cache.pop(digest(keep_token), None)
        return len(ended)

    async def end_other(self, actor: Actor, public_id: str) -> None:
        """End one of one's own sessions by its public id (the sessions list)."""
        account_id, _ = own_account(
            actor, "this is for accounts; the operator has no web sessions")
        key = await self._repo.end_public(account_id, public_id)
        if key is None:
            raise not_found("no such session")
        self._cache.pop(key, None)

    async def password_changed(self, account_id: int, keep_token: str) -> int:
        """After a password change in ``keep_token``'s session: every other session ends and
        this one takes the new password's stamp."""
        ended = await self.end_all(account_id, keep_token)
        account = await self._directory.repo.account_by_id(account_id)
        if account is not None:
            await self._repo.restamp(digest(keep_token), password_stamp(account.password_hash))
        return ended

    def forget_account(self, account_id: int) -> None:
        for key in [k for k, (r, _) in self._cache.items()
                    if r.session.account_id == account_id]:
            del self._cache[key]

    # -- lookups -------------------------------------------------------------------------------
    async def list(self, account_id: int, realm: str | None = None) -> list[SessionRec]:
        now = self._now()
        return [s for s in await self._repo.sessions(account_id, realm)
                if self._alive(s, now)]

    async def count_attempt(self, token: str) -> int:
        """A wrong code in the login's code step; the wrong codes so far in this login."""
        self._cache.pop(digest(token), None)
        return await self._repo.count_attempt(digest(token))

    def _alive(self, rec: SessionRec, now: int) -> bool:
        lifetime = self._cfg.session_lifetime if rec.stage == "full" else \
            self._cfg.login_step_timeout
        return now - rec.created_at < lifetime and \
            now - rec.last_seen < self._cfg.session_idle_timeout

    async def resolve(self, token: str, realm: str) -> Resolved | None:
        """The live session of a cookie token in ``realm``, or None (and the store row of a
        session found dead is deleted)."""
        if not token or len(token) > TOKEN_MAX:
            return None
        key = digest(token)
        moment = self._clock()
        now = int(moment)
        hit = self._cache.get(key)
        if hit is not None:
            resolved, until = hit
            if moment < until and self._alive(resolved.session, now):
                return resolved if resolved.session.realm == realm else None
            del self._cache[key]
        found = await self._repo.session(key)
        if found is None:
            return None
        rec, password_hash, state = found
        if rec.realm != realm:
            return None
        if not self._alive(rec, now) or state != "active" or \
                not hmac.compare_digest(rec.password_stamp, password_stamp(password_hash)):
            await self._repo.end_session(key)
            return None
        account = await self._directory.repo.account_by_id(rec.account_id)
        if account is None:
            return None
        if now - rec.last_seen >= TOUCH_EVERY:
            await self._repo.touch(key, now)
            rec = replace(rec, last_seen=now)
        resolved = Resolved(rec, await self._directory.principal_for(account), csrf_of(token))
        ttl = self._cfg.session_cache_seconds
        if ttl > 0:
            self._cache[key] = (resolved, moment + ttl)
            while len(self._cache) > CACHE_MOST:
                self._cache.popitem(last=False)
        return resolved

