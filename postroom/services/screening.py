"""Dynamic screening: client addresses that keep offending are refused at connect for a while.

Offences come from every front-end through this one service (docs/screening.md):
- ``auth``: a failed login on any protocol (services/auth.py reports each one);
- ``bad-commands``: a session closed for too many bad commands (SMTP, IMAP, POP3, ODMR);
- ``unknown-recipient``: a recipient refused as unknown (services/submission.py), which is
  how address harvesting looks.

Each kind is counted per client network (an IPv4 address, an IPv6 /64 by default) in a
sliding window; reaching its threshold blocks the network for ``screening.block_for`` seconds.
The counts live in memory (one node's view, bounded, lost on restart: an attacker that
restarts nothing gains nothing from that); the blocks live in the store, so a restart keeps
them, every node of a cluster enforces them, and ``postroom screening`` manages them.

The listeners ask ``reason(ip)`` for every new connection (net/listener.py). That must stay
cheap, so it answers from a cache of the store's blocks, reloaded at most every
``screening.refresh`` seconds when a connection comes in: a block or unblock made by the CLI
(another process) takes effect within that time. A failure to read or write the store is
logged and never refuses anyone: the cache goes on as it was.

The clock is injected (``clock``, seconds since the epoch) so that tests need not wait.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

from postroom.config import ScreeningConfig
from postroom.core.broadcast import Broadcast
from postroom.core.errors import invalid
from postroom.core.screening import BlockRec
from postroom.store.repo.screening import ScreeningRepo

log = logging.getLogger("postroom.screening")

MAX_KEYS = 100_000  # offence counters kept at most; the oldest go first
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

OFFENCES = {"auth": "failed logins", "bad-commands": "sessions with too many bad commands",
            "unknown-recipient": "unknown recipients"}


class Offences(Protocol):
    """What a front-end or service reports an offence to."""

    def note(self, ip: str, kind: str, protocol: str = "") -> None: ...


def parse_ip(text: str) -> IpAddress | None:
    """A client address as an IP address (an IPv4-mapped IPv6 address as IPv4); None for
    what is not one ("local", a Unix socket)."""
    try:
        addr = ipaddress.ip_address(text.split("%")[0])
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
        return addr.ipv4_mapped
    return addr


def parse_network(text: str) -> IpNetwork:
    """An address (a host network: /32, /128) or a network in CIDR form; raises INVALID."""
    try:
        net = ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise invalid(f"{text!r} is not an IP address or network (e.g. 192.0.2.7, "
                      "198.51.100.0/24, 2001:db8::/64)") from None
    if isinstance(net, ipaddress.IPv6Network) and net.prefixlen == 128 and \
            net.network_address.ipv4_mapped:
        return ipaddress.ip_network(f"{net.network_address.ipv4_mapped}/32")
    return net


def in_any(addr: IpAddress, networks: list[IpNetwork]) -> bool:
    return any(addr.version == n.version and addr in n for n in networks)


class Screening:
    def __init__(self, repo: ScreeningRepo, cfg: ScreeningConfig,
                 clock: Callable[[], float] = time.time) -> None:
        self._repo = repo
        self.cfg = cfg  # a section of the running configuration: a reload changes it in place
        self.clock = clock
        self._blocks: dict[str, BlockRec] = {}
        self._prefixes: set[tuple[int, int]] = set()  # (IP version, prefix length) in _blocks
        self._loaded_at: float | None = None
        self._loading: asyncio.Future[None] | None = None
        self._events: dict[tuple[str, str], deque[float]] = {}
        self._exempt_key: tuple[str, ...] = ()
        self._exempt: list[IpNetwork] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._broadcast: Broadcast | None = None

    # -- at connect ---------------------------------------------------------------------------
    async def reason(self, ip: str) -> str | None:
        """Why connections from ``ip`` are refused now, or None when they are not."""
        await self._fresh()
        rec = self.match(ip)
        if rec is None:
            return None
        until = "until lifted" if rec.expires_at is None else \
            "until " + time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(rec.expires_at))
        return f"{rec.reason} ({until})"

    def match(self, ip: str) -> BlockRec | None:
        """The cached block covering ``ip`` in force now, if any."""
        addr = parse_ip(ip)
        if addr is None or not self._blocks:
            return None
        now = self.clock()
        for version, prefix in self._prefixes:
            if version != addr.version:
                continue
            net = ipaddress.ip_network(f"{addr}/{prefix}", strict=False)
            rec = self._blocks.get(str(net))
            if rec is not None and (rec.expires_at is None or rec.expires_at > now):
                return rec
        return None

    async def _fresh(self) -> None:
        now = self.clock()
        if self._loaded_at is not None and now - self._loaded_at < self.cfg.refresh:
            return
        if self._loading is None:
            self._loading = asyncio.ensure_future(self._load())
        loading = self._loading
        try:
            await asyncio.shield(loading)
        finally:
            if self._loading is loading and loading.done():
                self._loading = None

    async def _load(self) -> None:
        now = self.clock()
        try:
            recs = await self._repo.active(int(now))
        except Exception:
            log.exception("screening: cannot read the blocks; going on with those known")
            self._loaded_at = now
            return
        fresh = {r.network: r for r in recs}
        for gone in set(self._blocks) - set(fresh):
            self._forget(gone)  # lifted elsewhere: its offences start from nothing
        self._set_blocks(fresh)
        self._loaded_at = now

    def _set_blocks(self, blocks: dict[str, BlockRec]) -> None:
        self._blocks = blocks
        prefixes: set[tuple[int, int]] = set()
        for network in blocks:
            net = ipaddress.ip_network(network, strict=False)
            prefixes.add((net.version, net.prefixlen))
        self._prefixes = prefixes

    # -- offences -----------------------------------------------------------------------------
    def key(self, addr: IpAddress) -> str:
        """The network an address is counted and blocked by."""
        prefix = 32 if addr.version == 4 else self.cfg.ipv6_prefix
        return str(ipaddress.ip_network(f"{addr}/{prefix}", strict=False))

    def exempt(self, addr: IpAddress) -> bool:
        key = tuple(self.cfg.exempt_networks)
        if key != self._exempt_key:
            self._exempt = [ipaddress.ip_network(n, strict=False) for n in key]
            self._exempt_key = key
        return in_any(addr, self._exempt)

    def threshold(self, kind: str) -> int:
        return {"auth": self.cfg.auth_failures, "bad-commands": self.cfg.bad_sessions,
                "unknown-recipient": self.cfg.unknown_recipients}.get(kind, 0)

    def share(self, broadcast: Broadcast) -> None:
        """Cluster mode (core/broadcast.py): every node counts the offences all nodes saw,
        and a block made anywhere is in force everywhere at once (not only at the next
        ``screening.refresh``)."""
        self._broadcast = broadcast
        broadcast.subscribe("offence", lambda f: self._count(f[0], f[1], f[2]))
        broadcast.subscribe("blocks", lambda _f: self._stale())

    def _stale(self) -> None:
        self._loaded_at = None  # the next connection reloads the blocks

    def note(self, ip: str, kind: str, protocol: str = "") -> None:
        """One offence of ``kind`` by ``ip``; blocks its network when the count in the window
        reaches the threshold. Never waits: the block is in force at once in this process
        and written to the store in the background."""
        if self._broadcast is not None and self.cfg.enabled and self.threshold(kind) > 0:
            self._broadcast.send("offence", [ip, kind, protocol])
        self._count(ip, kind, protocol)

    def _count(self, ip: str, kind: str, protocol: str) -> None:
        limit = self.threshold(kind)
        addr = parse_ip(ip)
        if not self.cfg.enabled or limit <= 0 or addr is None or self.exempt(addr):
            return
        now = self.clock()
        network = self.key(addr)
        if len(self._events) >= MAX_KEYS:
            for old in list(self._events)[: MAX_KEYS // 10]:
                del self._events[old]
        times = self._events.setdefault((network, kind), deque(maxlen=limit))
        while times and times[0] <= now - self.cfg.window:
            times.popleft()
        times.append(now)
        if len(times) < limit:
            return
        rec = BlockRec(network, int(now), int(now + self.cfg.block_for),
                       f"{len(times)} {OFFENCES.get(kind, kind)} within "
                       f"{self.cfg.window:g} s", "auto")
        self._forget(network)
        self._set_blocks({**self._blocks, network: rec})
        log.warning("screening: blocked", extra={"ip": ip, "network": network,
                                                 "protocol": protocol or "-",
                                                 "offence": kind, "reason": rec.reason,
                                                 "seconds": int(self.cfg.block_for)})
        task = asyncio.get_running_loop().create_task(self._persist(rec))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _persist(self, rec: BlockRec) -> None:
        try:
            await self._repo.block(rec)
        except Exception:
            log.exception("screening: cannot store the block of %s (in force here only)",
                          rec.network)
            return
        self._changed()

    def _changed(self) -> None:
        if self._broadcast is not None:
            self._broadcast.send("blocks", [])

    def _forget(self, network: str) -> None:
        for kind in OFFENCES:
            self._events.pop((network, kind), None)

    # -- administration (services/admin/screening.py) -------------------------------------------
    async def blocks(self) -> list[BlockRec]:
        recs = await self._repo.active(int(self.clock()))
        self._set_blocks({r.network: r for r in recs})
        self._loaded_at = self.clock()
        return recs

    async def block(self, network: str, seconds: float | None, reason: str,
                    source: str) -> BlockRec:
        net = parse_network(network)
        now = self.clock()
        rec = BlockRec(str(net), int(now), None if seconds is None else int(now + seconds),
                       reason, source)
        await self._repo.block(rec)
        self._set_blocks({**self._blocks, rec.network: rec})
        self._changed()
        return rec

    async def unblock(self, text: str) -> list[str]:
        """Lift the block of a network, or (given an address) every block covering it;
        returns the networks unblocked."""
        net = parse_network(text)
        single = net.num_addresses == 1
        targets = [str(net)]
        if single:
            addr = net.network_address
            targets = [r.network for r in await self._repo.active(int(self.clock()))
                       if addr in ipaddress.ip_network(r.network, strict=False)]
        lifted = [t for t in targets if await self._repo.unblock(t)]
        blocks = dict(self._blocks)
        for network in lifted:
            blocks.pop(network, None)
            self._forget(network)
        self._set_blocks(blocks)
        if lifted:
            self._changed()
        return lifted

    async def close(self) -> None:
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5)
