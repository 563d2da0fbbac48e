"""API tokens: the record and the scope vocabulary (docs/api.md).

A token is a random secret shown once; the store keeps only its SHA-256, so a copy of the
database grants nothing. A scope narrows what the owner's principal may do through the token:

- ``admin``: the owner's administrator rights, as they are at each use (a revoked role is gone
  at once);
- ``domain:NAME``: administrator of NAME only, and only while the owner administers it;
- ``self``: the owner's own account (self-service), no administrator rights at all.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from postroom.core.errors import invalid

PREFIX = "prt_"  # makes a leaked token recognisable to secret scanners and in logs
SCOPE_ADMIN = "admin"
SCOPE_SELF = "self"
DOMAIN_SCOPE = "domain:"


@dataclass(frozen=True, slots=True)
class ApiTokenRec:
    id: int
    account_id: int
    owner: str  # the owner's address
    name: str
    scope: str
    created_at: int
    expires_at: int | None
    last_used: int | None
    revoked_at: int | None

    def usable(self, now: float) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


def token_hash(token: str) -> str:
    """What the store keeps of a token (SHA-256, hex): a token has 256 random bits, so an
    unsalted fast hash is enough; a slow password hash would only slow every API call."""
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def check_scope(scope: str) -> str:
    """``scope`` in its canonical form, or INVALID naming the accepted forms."""
    text = scope.strip().lower()
    if text in (SCOPE_ADMIN, SCOPE_SELF):
        return text
    if text.startswith(DOMAIN_SCOPE) and len(text) > len(DOMAIN_SCOPE):
        return text
    raise invalid(f"scope {scope!r}: give admin, self or domain:NAME")


def scope_domain(scope: str) -> str | None:
    """The domain of a ``domain:NAME`` scope."""
    return scope[len(DOMAIN_SCOPE):] if scope.startswith(DOMAIN_SCOPE) else None
