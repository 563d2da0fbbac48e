"""Authentication throttling, per client address and per account (specs.md §7: "Throttle").

Failures are counted in a sliding window. Below the threshold nothing happens; above it each
further attempt from that address, or against that account from that network, waits before its
answer, doubling up to ``MAX_DELAY`` (Dovecot's auth penalty works the same way). Waiting
rather than locking out keeps a password-guessing bot slow; counting an account's failures per
network (/24, /64) means a bot cannot make the real user wait either: the owner's attempts
from their own network count only that network's failures. Memory is bounded: entries older
than the window are dropped as new ones arrive.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections import deque

from postroom.core.broadcast import Broadcast

MAX_DELAY = 15.0
MAX_KEYS = 100_000
FAILURE_PAUSE = 0.2  # every failed attempt is answered no sooner than this


class AuthThrottle:
    def __init__(self, threshold: int, window: float) -> None:
        self.threshold = threshold
        self.window = window
        self._failures: dict[str, deque[float]] = {}
        self._broadcast: Broadcast | None = None

    def share(self, broadcast: Broadcast) -> None:
        """Cluster mode: count every node's failures (core/broadcast.py); each node tells
        the others of its own, so a guesser spread over the nodes is slowed as by one."""
        self._broadcast = broadcast
        broadcast.subscribe("auth-fail", lambda f: self._record(f[0], f[1] or None))
        broadcast.subscribe("auth-ok", lambda f: self._clear(f[0], f[1] or None))

    def _recent(self, key: str, now: float) -> int:
        q = self._failures.get(key)
        if q is None:
            return 0
        while q and q[0] < now - self.window:
            q.popleft()
        if not q:
            del self._failures[key]
            return 0
        return len(q)

    def delay(self, ip: str, account: str | None = None) -> float:
        """Seconds to wait before answering this attempt."""
        now = time.monotonic()
        over = max(self._recent("ip:" + ip, now),
                   self._recent(_account_key(account, ip), now) if account else 0)
        over -= self.threshold
        if over < 0:
            return 0.0
        return float(min(MAX_DELAY, 0.5 * (2 ** min(over, 8))))

    def failure(self, ip: str, account: str | None = None) -> None:
        self._record(ip, account)
        if self._broadcast is not None:
            self._broadcast.send("auth-fail", [ip, account or ""])

    def _record(self, ip: str, account: str | None) -> None:
        now = time.monotonic()
        if len(self._failures) > MAX_KEYS:
            for key in list(self._failures)[: MAX_KEYS // 10]:
                self._recent(key, now)
        keys = ["ip:" + ip] + ([_account_key(account, ip)] if account else [])
        for key in keys:
            self._failures.setdefault(key, deque(maxlen=1024)).append(now)

    async def wait(self, ip: str, account: str | None = None) -> None:
        """Before an attempt: sleep the delay this address (and account) has earned."""
        delay = self.delay(ip, account)
        if delay:
            await asyncio.sleep(delay)

    async def punish(self, ip: str, account: str | None = None) -> None:
        """After a failed attempt: record it, then answer no sooner than the new delay
        (and never at once, so failures cannot be probed quickly). Every protocol's login
        path calls this, so they all throttle alike."""
        self.failure(ip, account)
        await asyncio.sleep(max(self.delay(ip, account), FAILURE_PAUSE))

    def success(self, ip: str, account: str | None = None) -> None:
        # told to the other nodes only when there was something to forget: a login that
        # follows no failure costs no message
        had = "ip:" + ip in self._failures or bool(
            account and _account_key(account, ip) in self._failures)
        self._clear(ip, account)
        if had and self._broadcast is not None:
            self._broadcast.send("auth-ok", [ip, account or ""])

    def _clear(self, ip: str, account: str | None) -> None:
        self._failures.pop("ip:" + ip, None)
        if account:
            self._failures.pop(_account_key(account, ip), None)


def network_of(ip: str) -> str:
    """The network an address counts in for an account: its /24 (IPv4) or /64 (IPv6)."""
    try:
        addr = ipaddress.ip_address(ip.split("%")[0])
    except ValueError:
        return ip
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
        addr = addr.ipv4_mapped
    prefix = 24 if addr.version == 4 else 64
    return str(ipaddress.ip_network(f"{addr}/{prefix}", strict=False))


def _account_key(account: str, ip: str) -> str:
    """Failures against an account count per network they come from: a guesser elsewhere
    slows down only itself, never the owner logging in from a network that is not failing."""
    return f"acct:{account.lower()}|{network_of(ip)}"
