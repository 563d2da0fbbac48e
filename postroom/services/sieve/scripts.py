"""Stored Sieve scripts: the one door for ManageSieve, the CLI, the API and webmail.

What this decides, once for every front-end:

- **whose scripts**: ``owner=None`` is the actor's own account; an address is allowed only
  to the operator, a global administrator, or an administrator of its domain (or the actor
  itself). Any other owner is NOT_FOUND with the text an unknown account gets, so asking
  tells nothing about which accounts exist (docs/api.md "Roles"). Administrators' scripts
  (run before and after every user script of a domain, or of the whole server) belong to the
  domain's administrators and to global administrators; the server's named scripts (what a
  script may ``include :global``, RFC 6609 §3.2) to global administrators;
- **names** (RFC 5804 §1.6): Net-Unicode (UTF-8, NFC: RFC 5198) without the control
  characters U+0000–U+001F, U+007F–U+009F, U+2028 and U+2029, not empty, at most
  ``MAX_NAME`` characters (the RFC asks servers to allow at least 128); anything else is
  INVALID, never truncated;
- **limits** from ``[sieve]``: ``max_script_size`` octets per script (LIMIT, ManageSieve's
  QUOTA/MAXSIZE) and ``max_scripts`` per account (OVER_QUOTA, QUOTA/MAXSCRIPTS), counted in
  the transaction that inserts, so two clients racing cannot pass the bound;
- **validity**: a script is compiled before it is stored (RFC 5804 §2.6: PUTSCRIPT checks);
  a bad one raises ``SieveSyntaxError`` naming the line and column and nothing is stored.
  ``check`` and ``put`` return warnings: things that are valid but will not do what the
  author probably means (a fileinto naming a folder the owner does not have);
- **the audit record** (services/audit.py) of every change, with who and from where;
- **the compile cache**: compiled scripts keyed by their content's SHA-256 (and name), a
  bounded LRU, so that delivery compiles a script once however many accounts run it.
  ``changed`` listeners (the delivery filter's per-account chains) are told of every change.

Errors: MailError NOT_FOUND (no such script, or an owner the actor may not manage), EXISTS
(rename onto a taken name), IN_USE (delete of the active script: RFC 5804 §2.10 "ACTIVE"),
OVER_QUOTA (too many scripts), LIMIT (too large), INVALID (bad name or phase); NO_PERM for a
domain administrator asking for the server's scripts.
"""

from __future__ import annotations

import builtins
import hashlib
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from postroom.access.ops import Op
from postroom.config_sieve import SieveConfig
from postroom.core.actor import Origin
from postroom.core.address import Address, normalize_domain
from postroom.core.errors import Kind, MailError, invalid, not_found
from postroom.core.principal import Principal
from postroom.core.records import AccountRec
from postroom.services.audit import AuditLog
from postroom.services.mailboxes import MailboxService
from postroom.sieve import BoundScript, Limits, capabilities, compile_script
from postroom.sieve.bind import Call
from postroom.sieve.errors import SieveSyntaxError
from postroom.store.repo.sieve import AFTER, BEFORE, GLOBAL, ScriptRow
from postroom.store.sqlstore import SqlStore

MAX_NAME = 128  # characters of a script name (RFC 5804 §1.6: at least 128 must be allowed)
CACHE_SIZE = 512  # compiled scripts kept (by content): far more than distinct scripts in use
PHASES = (BEFORE, AFTER)
# Who did it, when a caller gives no origin (every front-end should name its own).
UNKNOWN_ORIGIN = Origin("sieve", "-")

# Told after a change: the account whose scripts changed, or None when administrators'
# scripts changed (every account's chain may be affected).
ChangeListener = Callable[[int | None], None]


@dataclass(frozen=True, slots=True)
class ScriptInfo:
    name: str
    active: bool
    size: int  # octets
    updated: int  # unix seconds


def check_name(name: str) -> str:
    """``name`` if it is a valid script name (RFC 5804 §1.6), else INVALID."""
    if not name:
        raise invalid("a script name must not be empty")
    if len(name) > MAX_NAME:
        raise invalid(f"a script name has at most {MAX_NAME} characters")
    for ch in name:
        code = ord(ch)
        if code <= 0x1F or 0x7F <= code <= 0x9F or code in (0x2028, 0x2029):
            raise invalid("a script name must not contain control characters")
        if 0xD800 <= code <= 0xDFFF:
            raise invalid("a script name must be valid UTF-8")
    if not unicodedata.is_normalized("NFC", name):  # RFC 5198 §2: Net-Unicode is NFC
        raise invalid("a script name must be in Unicode normalization form C")
    return name


def script_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class SieveScripts:
    """Stored scripts with their names, limits, rights and audit (see the module doc)."""

    def __init__(self, store: SqlStore, cfg: SieveConfig, audit: AuditLog,
                 mailboxes: MailboxService) -> None:
        self._store = store
        self._repo = store.sieve
        self._audit = audit
        self._mailboxes = mailboxes
        self.cfg = cfg
        self.limits: Limits = cfg.limits()
        implemented = set(capabilities())
        wanted = set(cfg.extensions) if cfg.extensions else implemented
        self._enabled = frozenset(wanted & implemented)
        self._cache: OrderedDict[tuple[str, str], BoundScript] = OrderedDict()
        self.changed: builtins.list[ChangeListener] = []
        # the right a script's owner needs on a folder to file into it ([sieve] fileinto_right)
        self.fileinto_op = Op.FILE_POST if cfg.fileinto_right == "p" else Op.FILE_INSERT

    # -- the language ---------------------------------------------------------------------
    def capabilities(self) -> builtins.list[str]:
        """What scripts may require here (configured ∩ implemented), sorted: ManageSieve's
        SIEVE capability (RFC 5804 §1.7)."""
        return sorted(self._enabled)

    def compile(self, source: str | bytes, name: str = "") -> BoundScript:
        """The compiled script, from the cache when this content was compiled before;
        raises SieveSyntaxError (or LIMIT for a script over ``max_script_size``)."""
        text = self._text(source)
        return self.compile_stored(text, script_hash(text), name)

    def compile_stored(self, text: str, hash_: str, name: str) -> BoundScript:
        """As ``compile`` for a stored script whose hash is known (delivery's hot path:
        no hashing, and no size check, the script passed it when stored)."""
        key = (hash_, name)
        bound = self._cache.get(key)
        if bound is not None:
            self._cache.move_to_end(key)
            return bound
        bound = compile_script(text, limits=self.limits, enabled=self._enabled, name=name)
        self._cache[key] = bound
        if len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        return bound

    def _text(self, source: str | bytes) -> str:
        """The script as text, within ``max_script_size``; RFC 5228 §2.1: scripts are
        UTF-8."""
        if isinstance(source, bytes):
            size = len(source)
            self._require_size(size)
            try:
                return source.decode("utf-8")
            except UnicodeDecodeError as exc:
                line = source[:exc.start].count(b"\n") + 1
                column = exc.start - (source.rfind(b"\n", 0, exc.start) + 1) + 1
                raise SieveSyntaxError("the script is not valid UTF-8", line, column) from None
        self._require_size(len(source.encode("utf-8", "surrogatepass")))
        return source

    def _require_size(self, size: int) -> None:
        if size > self.limits.max_script_size:
            raise MailError(Kind.LIMIT, f"script too large ({size} octets; at most "
                            f"{self.limits.max_script_size})")

    # -- a user's scripts ------------------------------------------------------------------
    async def list(self, actor: Principal, owner: str | None = None) -> builtins.list[ScriptInfo]:
        account = await self._account(actor, owner)
        return [_info(r) for r in await self._repo.user_scripts(account.id)]

    async def get(self, actor: Principal, name: str, owner: str | None = None) -> str:
        account = await self._account(actor, owner)
        row = await self._repo.user_script(account.id, name)
        if row is None:
            raise not_found(f"no script {name}")
        return row.content

    async def active(self, actor: Principal, owner: str | None = None) -> str | None:
        """The name of the active script, or None."""
        for info in await self.list(actor, owner):
            if info.active:
                return info.name
        return None

    async def check(self, actor: Principal, source: str | bytes,
                    owner: str | None = None) -> builtins.list[str]:
        """Compile ``source`` (RFC 5804 §2.12 CHECKSCRIPT); raises SieveSyntaxError; returns
        warnings about the owner's folders (``owner=None``: the actor's; the operator, who
        has none, gets no warnings)."""
        bound = self.compile(source)
        if owner is None:
            return await self._warnings(actor, bound)
        account = await self._account(actor, owner)
        return await self._warnings(await self._principal(actor, account), bound)

    async def put(self, actor: Principal, name: str, source: str | bytes,
                  owner: str | None = None, *, origin: Origin | None = None) -> builtins.list[str]:
        """Store a script (RFC 5804 §2.6 PUTSCRIPT): checked first, nothing stored when it
        is refused. Replacing the active script changes what runs at once."""
        check_name(name)
        account = await self._account(actor, owner)
        text = self._text(source)
        bound = self.compile(text, name)
        size = len(text.encode("utf-8"))
        created = await self._repo.put_user(account.id, name, text, size, script_hash(text),
                                            int(time.time()), self.limits.max_scripts)
        self._changed(account.id)
        await self._record(actor, origin, "sieve.put", account.address,
                           {"name": name, "size": size, "new": created})
        return await self._warnings(await self._principal(actor, account), bound)

    async def have_space(self, actor: Principal, name: str, size: int,
                         owner: str | None = None) -> None:
        """RFC 5804 §2.5 HAVESPACE: would a script of ``size`` octets under ``name`` fit?"""
        check_name(name)
        account = await self._account(actor, owner)
        self._require_size(size)
        if await self._repo.user_script(account.id, name) is None and \
                await self._repo.count_user(account.id) >= self.limits.max_scripts:
            raise MailError(Kind.OVER_QUOTA,
                            f"too many scripts (at most {self.limits.max_scripts})")

    async def activate(self, actor: Principal, name: str, owner: str | None = None, *,
                       origin: Origin | None = None) -> None:
        """RFC 5804 §2.8 SETACTIVE; ``""`` deactivates whichever script is active."""
        account = await self._account(actor, owner)
        was = await self._repo.activate(account.id, name, int(time.time()))
        self._changed(account.id)
        await self._record(actor, origin, "sieve.activate", account.address,
                           {"name": name, "was": was or ""})

    async def delete(self, actor: Principal, name: str, owner: str | None = None, *,
                     origin: Origin | None = None) -> None:
        """RFC 5804 §2.10 DELETESCRIPT; the active script is IN_USE."""
        account = await self._account(actor, owner)
        await self._repo.delete_user(account.id, name)
        self._changed(account.id)
        await self._record(actor, origin, "sieve.delete", account.address, {"name": name})

    async def rename(self, actor: Principal, old: str, new: str, owner: str | None = None,
                     *, origin: Origin | None = None) -> None:
        """RFC 5804 §2.11.1 RENAMESCRIPT: the active state goes with the script."""
        check_name(new)
        account = await self._account(actor, owner)
        await self._repo.rename_user(account.id, old, new, int(time.time()))
        self._changed(account.id)
        await self._record(actor, origin, "sieve.rename", account.address,
                           {"name": old, "new": new})

    # -- administrators' scripts -----------------------------------------------------------
    async def admin_get(self, actor: Principal, scope: str, phase: str) -> str | None:
        """The script run ``phase`` ("before" or "after") every user script of ``scope``
        ("global" or a domain), or None."""
        domain_id = await self._scope(actor, scope)
        row = await self._repo.admin_script(domain_id, _phase(phase), phase)
        return row.content if row else None

    async def admin_put(self, actor: Principal, scope: str, phase: str,
                        source: str | bytes | None, *,
                        origin: Origin | None = None) -> builtins.list[str]:
        """Store (None: remove) the script run ``phase`` every user script of ``scope``."""
        domain_id = await self._scope(actor, scope)
        _phase(phase)
        where = "global" if domain_id is None else normalize_domain(scope)
        if source is None:
            removed = await self._repo.put_admin(domain_id, phase, phase, None, 0, "",
                                                 int(time.time()))
            self._changed(None)
            if removed:
                await self._record(actor, origin, "sieve.admin-remove", where,
                                   {"phase": phase})
            return []
        text = self._text(source)
        self.compile(text, phase)
        size = len(text.encode("utf-8"))
        await self._repo.put_admin(domain_id, phase, phase, text, size, script_hash(text),
                                   int(time.time()))
        self._changed(None)
        await self._record(actor, origin, "sieve.admin-put", where,
                           {"phase": phase, "size": size})
        return []

    async def global_list(self, actor: Principal) -> builtins.list[ScriptInfo]:
        """The server's named scripts, which users' scripts may ``include :global``."""
        await self._scope(actor, "global")
        return [_info(r) for r in await self._repo.admin_scripts(None, GLOBAL)]

    async def global_get(self, actor: Principal, name: str) -> str:
        await self._scope(actor, "global")
        row = await self._repo.admin_script(None, GLOBAL, name)
        if row is None:
            raise not_found(f"no script {name}")
        return row.content

    async def global_put(self, actor: Principal, name: str, source: str | bytes | None, *,
                         origin: Origin | None = None) -> None:
        """Store (None: remove) a server script for ``include :global`` (RFC 6609 §3.2)."""
        check_name(name)
        await self._scope(actor, "global")
        if source is None:
            if not await self._repo.put_admin(None, GLOBAL, name, None, 0, "",
                                              int(time.time())):
                raise not_found(f"no script {name}")
            self._changed(None)
            await self._record(actor, origin, "sieve.global-remove", "global", {"name": name})
            return
        text = self._text(source)
        self.compile(text, name)
        size = len(text.encode("utf-8"))
        await self._repo.put_admin(None, GLOBAL, name, text, size, script_hash(text),
                                   int(time.time()))
        self._changed(None)
        await self._record(actor, origin, "sieve.global-put", "global",
                           {"name": name, "size": size})

    # -- for delivery (services/sieve/environment.py) --------------------------------------
    async def included(self, account_id: int, name: str, location: str) -> BoundScript | None:
        """RFC 6609 §3.2: the compiled script ``name`` of ``location`` ("personal": the
        account's own scripts, "global": the server's), or None when there is none."""
        if location == "global":
            row: ScriptRow | None = await self._repo.admin_script(None, GLOBAL, name)
        else:
            row = await self._repo.user_script(account_id, name)
        if row is None:
            return None
        return self.compile_stored(row.content, row.hash, name)

    # -- who and what ----------------------------------------------------------------------
    async def _account(self, actor: Principal, owner: str | None) -> AccountRec:
        """The account whose scripts are meant; NOT_FOUND for one the actor may not
        manage, with the text a missing account gets."""
        directory = self._store.directory
        if owner is None:
            rec = None if actor.account_id is None else \
                await directory.account_by_id(actor.account_id)
            if rec is None:
                raise not_found("no account of one's own: name the owner")
            return rec
        try:
            text = str(Address.parse(owner))
        except MailError:
            raise not_found(f"no account {owner}") from None
        rec = await directory.get_account(text)
        if rec is None or not (actor.system or actor.administers(rec.domain_id)
                               or rec.id == actor.account_id):
            raise not_found(f"no account {text}")
        return rec

    async def _scope(self, actor: Principal, scope: str) -> int | None:
        """The domain id of ``scope`` (None for "global") if the actor administers it."""
        if scope == "global":
            if not (actor.system or actor.global_admin):
                raise MailError(Kind.NO_PERM,
                                "the server's Sieve scripts are for global administrators")
            return None
        try:
            name = normalize_domain(scope)
        except (MailError, ValueError):
            raise not_found(f"unknown domain {scope}") from None
        rec = await self._store.directory.get_domain(name)
        if rec is None or not (actor.system or actor.administers(rec.id)):
            raise not_found(f"unknown domain {scope}")
        return rec.id

    async def _principal(self, actor: Principal, account: AccountRec) -> Principal:
        """Whose folders a stored script's warnings are about: the owner's."""
        if account.id == actor.account_id:
            return actor
        return Principal(account.id, account.address, account.domain_id)

    async def _warnings(self, principal: Principal, bound: BoundScript) -> builtins.list[str]:
        """Valid, but probably not meant: a fileinto naming (literally) a folder the owner
        does not have (or may not file into), without ``:create``."""
        if principal.account_id is None:
            return []
        out: builtins.list[str] = []
        seen: set[str] = set()
        for call in _walk(bound.commands):
            if call.name != "fileinto" or call.tags.get("create") or not call.args:
                continue
            target = call.args[0]
            if not isinstance(target, str) or "${" in target or target in seen:
                continue
            seen.add(target)
            try:
                handle = await self._mailboxes.open(principal, target, self.fileinto_op)
            except MailError:
                handle = None
            if handle is None or handle.mailbox.kind != "mail":
                out.append(f"line {call.pos.line}: fileinto {target!r}: no such folder "
                           f"(messages would be kept in the default folder instead)")
        return out

    def _changed(self, account_id: int | None) -> None:
        for listener in self.changed:
            listener(account_id)

    async def _record(self, actor: Principal, origin: Origin | None, action: str,
                      target: str, detail: dict[str, object]) -> None:
        await self._audit.record(actor, origin or UNKNOWN_ORIGIN, action, target, detail)


def _phase(phase: str) -> str:
    if phase not in PHASES:
        raise invalid("an administrators' script runs 'before' or 'after' the user's")
    return phase


def _info(row: ScriptRow) -> ScriptInfo:
    return ScriptInfo(row.name, row.active, row.size, row.updated)


def _walk(calls: list[Call]) -> list[Call]:
    out: list[Call] = []
    for call in calls:
        out.append(call)
        if call.block:
            out.extend(_walk(call.block))
    return out
