"""WebDAV locking on the wire (RFC 4918 §9.10 LOCK, §9.11 UNLOCK, §10.4 If, §10.5 Lock-Token,
§10.7 Timeout, §14.11 lockinfo, §15.8 lockdiscovery, §15.10 supportedlock).

This module parses and renders; the decisions (conflicts, who holds what) are
services/dav/locks.py's, and which rights a lock needs is services/dav/files.py's.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from xml.etree.ElementTree import Element

from postroom.services.dav.locks import Lock
from postroom.web.dav import xml as X
from postroom.web.dav.common import DavError
from postroom.web.dav.xml import elem

D = "{DAV:}"
MAX_IF_LENGTH = 8192  # an If header longer than this is refused (400), not parsed
_TOKEN = re.compile(
    r'\s*(?:(?P<tag><[^>]*>)|(?P<open>\()|(?P<close>\))|(?P<not>Not)\b|'
    r'(?P<state><[^>]*>)|(?P<etag>\[[^\]]*\]))', re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Condition:
    """One condition of an If list: a state token (a lock token, or any URI: RFC 4918
    §10.4.5) or an entity tag, possibly negated."""

    negate: bool
    token: str | None = None
    etag: str | None = None


@dataclass(frozen=True, slots=True)
class IfList:
    """One list; ``resource`` the tag (an absolute URI or path), None for the request URI."""

    resource: str | None
    conditions: tuple[Condition, ...]


def parse_if(value: str) -> list[IfList]:
    """The If header (RFC 4918 §10.4.2 grammar) as lists; DavError 400 when malformed."""
    if len(value) > MAX_IF_LENGTH:
        raise DavError(400, text="the If header is too long")
    out: list[IfList] = []
    pos = 0
    tag: str | None = None
    text = value.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            if text[pos:].strip() == "":
                break
            raise DavError(400, text="malformed If header")
        pos = m.end()
        if m.group("tag") is not None:
            tag = m.group("tag")[1:-1].strip()
            continue
        if m.group("open") is None:
            raise DavError(400, text="malformed If header")
        conditions: list[Condition] = []
        negate = False
        while True:
            m = _TOKEN.match(text, pos)
            if m is None:
                raise DavError(400, text="malformed If header")
            pos = m.end()
            if m.group("close") is not None:
                break
            if m.group("not") is not None:
                if negate:
                    raise DavError(400, text="malformed If header")
                negate = True
                continue
            if m.group("tag") is not None or m.group("state") is not None:
                raw = m.group("tag") or m.group("state")
                conditions.append(Condition(negate, token=raw[1:-1].strip()))
            elif m.group("etag") is not None:
                conditions.append(Condition(negate, etag=_strip_weak(m.group("etag")[1:-1])))
            else:
                raise DavError(400, text="malformed If header")
            negate = False
        if not conditions or negate:
            raise DavError(400, text="an If list needs at least one condition")
        out.append(IfList(tag, tuple(conditions)))
    if not out:
        raise DavError(400, text="malformed If header")
    return out


def _strip_weak(etag: str) -> str:
    etag = etag.strip()
    return etag[2:] if etag.startswith("W/") else etag


def submitted_tokens(lists: list[IfList]) -> frozenset[str]:
    """Every state token the header names: those are the lock tokens it submits (RFC 4918
    §10.4.1; whether they match is the lock check's business)."""
    return frozenset(c.token for lst in lists for c in lst.conditions if c.token)


@dataclass(frozen=True, slots=True)
class State:
    """What a condition is tested against: the resource's lock tokens and ETag."""

    tokens: frozenset[str]
    etag: str | None


StateOf = Callable[[str | None], Awaitable[State | None]]


async def evaluate(lists: list[IfList], state_of: StateOf) -> bool:
    """RFC 4918 §10.4.3/§10.4.4: true when any list is true; a list is true when all its
    conditions are. ``state_of(tag)`` gives a resource's state (None for a resource outside
    this server's file area, whose conditions are then false)."""
    cache: dict[str | None, State | None] = {}
    for lst in lists:
        if lst.resource not in cache:
            cache[lst.resource] = await state_of(lst.resource)
        state = cache[lst.resource]
        ok = True
        for c in lst.conditions:
            if state is None:
                holds = False
            elif c.token is not None:
                holds = c.token in state.tokens
            else:
                holds = state.etag is not None and c.etag == state.etag
            if holds == c.negate:
                ok = False
                break
        if ok:
            return True
    return False


# -- LOCK request --------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class LockInfo:
    exclusive: bool
    owner: str  # the DAV:owner element as XML text, "" when absent


def parse_lockinfo(body: Element) -> LockInfo:
    """RFC 4918 §14.11: lockscope exclusive|shared, locktype write, optional owner."""
    if body.tag != D + "lockinfo":
        raise DavError(400, text="a LOCK body is a DAV:lockinfo")
    scope = body.find(D + "lockscope")
    kind = body.find(D + "locktype")
    if scope is None or kind is None or kind.find(D + "write") is None:
        raise DavError(400, text="only write locks exist (RFC 4918 §7)")
    if scope.find(D + "exclusive") is not None:
        exclusive = True
    elif scope.find(D + "shared") is not None:
        exclusive = False
    else:
        raise DavError(400, text="lockscope is exclusive or shared")
    owner = body.find(D + "owner")
    return LockInfo(exclusive, X.fragment(owner) if owner is not None else "")


def parse_timeout(value: str | None) -> int | None:
    """RFC 4918 §10.7: the first usable of "Second-n" and "Infinite"; None for Infinite or
    none given (the service grants its limit)."""
    if not value:
        return None
    for part in value.split(","):
        part = part.strip().lower()
        if part == "infinite":
            return None
        if part.startswith("second-") and part[7:].isdigit() and len(part) < 20:
            return int(part[7:])
    return None


def parse_lock_token(value: str | None) -> str:
    """RFC 4918 §10.5 Lock-Token: a Coded-URL; 400 when missing or malformed."""
    value = (value or "").strip()
    if not (value.startswith("<") and value.endswith(">")) or len(value) > 1024:
        raise DavError(400, text="UNLOCK needs a Lock-Token header: <token>")
    return value[1:-1].strip()


# -- rendering -------------------------------------------------------------------------------------

def activelock(lock: Lock, root_href: str, remaining: int) -> Element:
    """RFC 4918 §14.1 activelock."""
    parts = [
        elem(D + "locktype", None, elem(D + "write")),
        elem(D + "lockscope", None, elem(D + ("exclusive" if lock.exclusive else "shared"))),
        elem(D + "depth", "infinity" if lock.infinite else "0"),
    ]
    if lock.owner:
        owner = X.parse_fragment(lock.owner)
        if owner is not None:
            parts.append(owner)
    parts += [elem(D + "timeout", f"Second-{max(remaining, 0)}"),
              elem(D + "locktoken", None, X.href(lock.token)),
              elem(D + "lockroot", None, X.href(root_href))]
    return elem(D + "activelock", None, *parts)


def lockdiscovery(locks: list[tuple[Lock, str, int]]) -> Element:
    """DAV:lockdiscovery (RFC 4918 §15.8): (lock, its root's href, seconds left) each."""
    return elem(D + "lockdiscovery", None, *[activelock(lk, h, r) for lk, h, r in locks])


def supportedlock() -> Element:
    """DAV:supportedlock (RFC 4918 §15.10): exclusive and shared write locks."""
    def entry(scope: str) -> Element:
        return elem(D + "lockentry", None, elem(D + "lockscope", None, elem(D + scope)),
                    elem(D + "locktype", None, elem(D + "write")))
    return elem(D + "supportedlock", None, entry("exclusive"), entry("shared"))


def lock_answer(lock: Lock, root_href: str, remaining: int) -> bytes:
    """The LOCK response body (RFC 4918 §9.10.1): prop with the new lock's discovery."""
    return X.serialize(elem(D + "prop", None, lockdiscovery([(lock, root_href, remaining)])))


def locked_error(root_href: str, conflict: bool) -> DavError:
    """423 with DAV:lock-token-submitted naming the lock's root (RFC 4918 §16), or
    DAV:no-conflicting-lock for a LOCK that conflicts."""
    if conflict:
        return DavError(423, elem(D + "no-conflicting-lock", None, X.href(root_href)))
    return DavError(423, elem(D + "lock-token-submitted", None, X.href(root_href)))
