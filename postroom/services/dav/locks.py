"""WebDAV locks (RFC 4918 §6, §7, §9.10, §9.11) for the file area.

A lock names a resource by its area (the owner's address, lower case) and its path inside the
area ("" the area itself, "a/b" below it). A lock *covers* a path when it is rooted there, or
rooted above it with Depth infinity (§7.4, §9.10.3). What a method must hold (§7.4, §7.5):

- changing a resource (PUT, PROPPATCH, LOCK-refresh aside): every lock covering it;
- adding or removing a member (PUT new, MKCOL, DELETE, MOVE, COPY onto a new name): also every
  lock rooted on the parent collection, whatever its depth, since the parent's membership
  changes;
- DELETE or MOVE of a collection: also every lock rooted below it.

A lock is *held* when its token was submitted (the If header names it, §10.4) by the principal
who took it (§6.4: a token is not a capability another user can borrow). Locks live in the
store (store.dav_locks) so a restart keeps them, and expire after their Timeout (§10.7), at
most ``web.dav.lock_timeout`` seconds.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from postroom.core.errors import Kind, MailError
from postroom.core.principal import Principal
from postroom.services.dav.context import DavContext
from postroom.store.repo.davlocks import LockRow

TOKEN_PREFIX = "urn:uuid:"


@dataclass(frozen=True, slots=True)
class Lock:
    """A lock as the front-end shows it in DAV:lockdiscovery (RFC 4918 §15.8)."""

    token: str
    area: str
    path: str
    exclusive: bool
    infinite: bool
    owner: str  # the client's DAV:owner element as XML text, "" when none
    timeout: int
    expires: int
    account_id: int

    def covers(self, path: str) -> bool:
        return self.path == path or (self.infinite and is_below(path, self.path))


class Locked(Exception):
    """RFC 4918 §11.3 423 Locked: the request needs the lock rooted at ``path`` (the
    front-end names it in DAV:lock-token-submitted, §16) or, for a LOCK, a lock conflicts
    (DAV:no-conflicting-lock)."""

    def __init__(self, area: str, path: str, conflict: bool = False) -> None:
        super().__init__(f"locked: {area}/{path}")
        self.area = area
        self.path = path
        self.conflict = conflict


def is_below(path: str, root: str) -> bool:
    """``path`` strictly inside ``root`` (paths inside one area)."""
    return path != root and (root == "" or path.startswith(root + "/"))


def parent_of(path: str) -> str | None:
    if path == "":
        return None
    return path.rsplit("/", 1)[0] if "/" in path else ""


def _lock(row: LockRow) -> Lock:
    return Lock(token=row.token, area=row.area, path=row.path, exclusive=row.exclusive,
                infinite=row.depth < 0, owner=row.owner, timeout=row.timeout,
                expires=row.expires, account_id=row.account_id)


@dataclass(frozen=True, slots=True)
class Change:
    """What one method does to one path, for ``Locks.require``: ``membership`` the parent's
    member list changes (create, delete, rename); ``subtree`` the whole tree under ``path``
    goes or changes (DELETE/MOVE of a collection)."""

    path: str
    membership: bool = False
    subtree: bool = False


class Locks:
    def __init__(self, ctx: DavContext) -> None:
        self._ctx = ctx

    def timeout_for(self, asked: int | None) -> int:
        """RFC 4918 §10.7: the server may grant less than asked; Infinite (None) and anything
        above ``web.dav.lock_timeout`` get the limit."""
        most = self._ctx.config.lock_timeout
        if asked is None or asked <= 0:
            return most
        return min(asked, most)

    async def active(self, area: str) -> list[Lock]:
        rows = await self._ctx.store.dav_locks.active(area.lower(), int(time.time()))
        return [_lock(r) for r in rows]

    async def covering(self, area: str, path: str) -> list[Lock]:
        """Locks that apply to the resource (DAV:lockdiscovery)."""
        return [lk for lk in await self.active(area) if lk.covers(path)]

    async def require(self, principal: Principal, area: str, changes: Iterable[Change],
                      tokens: Iterable[str]) -> None:
        """Raise Locked unless every lock the changes touch is held: its token submitted
        by the principal who took it (RFC 4918 §7.4, §7.5, §6.4)."""
        locks = await self.active(area)
        if not locks:
            return
        held = set(tokens)
        for change in changes:
            for lk in locks:
                if lk.token in held and lk.account_id == principal.account_id:
                    continue
                applies = lk.covers(change.path) or (
                    change.subtree and is_below(lk.path, change.path)) or (
                    change.membership and lk.path == parent_of(change.path))
                if applies:
                    raise Locked(lk.area, lk.path)

    async def lock(self, principal: Principal, area: str, path: str, *, exclusive: bool,
                   infinite: bool, owner: str, timeout: int | None) -> Lock:
        """A new lock (RFC 4918 §9.10): refused with Locked(conflict=True) when another
        lock conflicts: any lock where this one is exclusive, an exclusive one where it is
        shared (§6.2), over the same resource, an ancestor of it with Depth infinity, or (for
        Depth infinity) a resource below it (§9.10.3)."""
        if principal.account_id is None:
            raise MailError(Kind.NO_PERM, "only accounts take locks")
        now = int(time.time())
        granted = self.timeout_for(timeout)
        row = LockRow(token=TOKEN_PREFIX + str(uuid.uuid4()), area=area.lower(), path=path,
                      account_id=principal.account_id, exclusive=exclusive,
                      depth=-1 if infinite else 0, owner=owner[:4096], timeout=granted,
                      created=now, expires=now + granted)

        def conflicts(rows: list[LockRow]) -> bool:
            for other in map(_lock, rows):
                overlap = other.covers(path) or (infinite and is_below(other.path, path))
                if overlap and (exclusive or other.exclusive):
                    return True
            return False

        if not await self._ctx.store.dav_locks.create(row, conflicts):
            raise Locked(area, path, conflict=True)
        return _lock(row)

    async def refresh(self, principal: Principal, area: str, path: str,
                      tokens: Iterable[str], timeout: int | None) -> Lock:
        """RFC 4918 §9.10.2: a LOCK without a body refreshes the lock whose token the If
        header submits and which covers the resource; 412 (PreconditionFailed by the
        front-end) when none does: MailError INVALID with "lock-token-matches"."""
        held = set(tokens)
        for lk in await self.covering(area, path):
            if lk.token in held and lk.account_id == principal.account_id:
                granted = self.timeout_for(timeout)
                now = int(time.time())
                if await self._ctx.store.dav_locks.refresh(lk.token, granted, now):
                    return Lock(lk.token, lk.area, lk.path, lk.exclusive, lk.infinite,
                                lk.owner, granted, now + granted, lk.account_id)
        raise MailError(Kind.INVALID, "lock-token-matches-request-uri")

    async def unlock(self, principal: Principal, area: str, path: str, token: str,
                     may_unlock_others: bool) -> None:
        """RFC 4918 §9.11: remove the lock ``token`` that covers the resource. MailError
        INVALID "lock-token-matches-request-uri" (409) when no such lock covers it; NO_PERM
        when it is someone else's and the viewer lacks the unlock privilege (RFC 3744 §3.5,
        access/dav.py)."""
        for lk in await self.covering(area, path):
            if lk.token == token:
                if lk.account_id != principal.account_id and not may_unlock_others:
                    raise MailError(Kind.NO_PERM, "the lock is someone else's")
                await self._ctx.store.dav_locks.delete([token])
                return
        raise MailError(Kind.INVALID, "lock-token-matches-request-uri")

    async def release(self, area: str, path: str) -> None:
        """The resource (and everything under it) went away or moved: its locks go too
        (RFC 4918 §7.7 for MOVE: a lock does not move with its resource)."""
        gone = [lk.token for lk in await self.active(area)
                if lk.path == path or is_below(lk.path, path)]
        await self._ctx.store.dav_locks.delete(gone)
