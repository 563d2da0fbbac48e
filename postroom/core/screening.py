"""Records of dynamic screening and greylisting, shared by the store, the services and the CLI
(the CLI names them without importing the store: DESIGN.md §3)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BlockRec:
    """A client address or network refused at connect."""

    network: str  # '192.0.2.7/32', '2001:db8:1:2::/64'
    created_at: int
    expires_at: int | None  # None: until an administrator lifts it
    reason: str
    source: str  # "auto" (the server, after repeated offences) or who blocked it by hand


@dataclass(frozen=True, slots=True)
class Triplet:
    """One greylisting triplet's state (RFC 6647 describes the triplet)."""

    first_seen: int
    last_seen: int
    passed_at: int | None  # when a retry after the delay was let through; None: not yet


@dataclass(frozen=True, slots=True)
class AllowRec:
    """A (client network, sender domain) whose triplets passed ``passes`` times."""

    passes: int
    last_seen: int
