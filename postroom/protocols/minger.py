"""The Minger server (draft-hathcock-minger-06; specs.md §6): UDP 4069, one answer per query.

Order of checks, cheapest first, each answered with the draft's status digit (§3):
1. rate limit per source address: over it, *no* answer at all (an answer is what a reflection
   attack wants, and silence costs nothing);
2. source outside ``minger.allowed_networks`` (empty = loopback only) → 1;
3. malformed datagram → 0 (echoing at most the query's first word, never a larger reply);
4. credentials (§4): a digest must match ``minger.secret``; without one the query is answered
   only when ``minger.allow_anonymous`` is on → otherwise 2;
5. the address, as local delivery would see it (mta/inbound.py ``address_status``): 5, 4 or 3.

Off by default: answering tells the asker which addresses exist (§5).
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from postroom.core import minger
from postroom.net.listener import Network, in_networks

log = logging.getLogger("postroom.minger")

LOOPBACK = ["127.0.0.0/8", "::1/128"]  # allowed_networks when none are configured
MAX_TRACKED = 10_000  # source addresses remembered by the rate limiter
MAX_INFLIGHT = 256  # queries being looked up at once; more are dropped

StatusLookup = Callable[[str], Awaitable[int]]


@dataclass
class MingerSettings:
    secret: str = ""
    allow_anonymous: bool = False
    allowed_networks: list[Network] = field(default_factory=list)
    rate_limit: int = 120  # answers per minute per source address


class RateLimiter:
    """A token bucket per source address: ``per_minute`` answers, refilled continuously."""

    def __init__(self, per_minute: int) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(per_minute)
        self.buckets: dict[str, tuple[float, float]] = {}

    def allow(self, source: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        tokens, last = self.buckets.get(source, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens < 1.0:
            self.buckets[source] = (tokens, now)
            return False
        if len(self.buckets) >= MAX_TRACKED and source not in self.buckets:
            self._prune(now)
        self.buckets[source] = (tokens - 1.0, now)
        return True

    def _prune(self, now: float) -> None:
        """Forget sources whose bucket is full again; if none is, the oldest half."""
        full = [k for k, (t, last) in self.buckets.items()
                if t + (now - last) * self.rate >= self.burst]
        if not full:
            full = sorted(self.buckets, key=lambda k: self.buckets[k][1])[:MAX_TRACKED // 2]
        for key in full:
            del self.buckets[key]


class MingerServer:
    def __init__(self, settings: MingerSettings, lookup: StatusLookup) -> None:
        self.settings = settings
        self.lookup = lookup
        self.limiter = RateLimiter(settings.rate_limit)
        self.inflight = 0
        if not settings.secret and not settings.allow_anonymous:
            log.warning("minger: neither minger.secret nor minger.allow_anonymous is set; "
                        "every query will be answered 2 (bad credentials)")

    async def handle(self, data: bytes, addr: tuple[str, int]) -> bytes | None:
        source = addr[0]
        if not self.limiter.allow(source) or self.inflight >= MAX_INFLIGHT:
            return None
        self.inflight += 1
        try:
            mailbox, status = await self.answer(data, source)
        finally:
            self.inflight -= 1
        log.info("minger query", extra={"ip": source, "status": status})
        return minger.format_response(mailbox, status)

    async def answer(self, data: bytes, source: str) -> tuple[str, int]:
        if not in_networks(source, self.settings.allowed_networks):
            return minger.echo_token(data), minger.DENIED
        try:
            query = minger.parse_query(data)
        except minger.MingerSyntaxError:
            return minger.echo_token(data), minger.INVALID
        if not self._credentials_ok(query):
            return query.mailbox, minger.BAD_CREDENTIALS
        return query.mailbox, await self.lookup(query.mailbox)

    def _credentials_ok(self, query: minger.Query) -> bool:
        """§4: a digest is checked against the secret; no digest is anonymous."""
        if query.digest is None:
            return self.settings.allow_anonymous
        if not self.settings.secret:
            return self.settings.allow_anonymous  # nothing to check it against
        expected = minger.digest(self.settings.secret, query.mailbox)
        return hmac.compare_digest(expected, query.digest)
