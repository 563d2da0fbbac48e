"""DNS block and allow lists (RFC 5782): is the client's address listed, and by whom?

At MAIL FROM (``Stage.SENDER``) the client's address is looked up in every zone of
``dnsbl.zones`` at once, each answer adding its zone's weight to a score; a score at or above
``dnsbl.threshold`` refuses the transaction with 554 5.7.1 naming the zones (and the first
list's TXT reason). Allow lists (DNSWL) are zones with negative weights; a zone with
``allow = true`` lets the clients it lists through whatever the score, and marks the message
(``Message.allow_listed``) so that greylisting lets them through too.

- Query names (RFC 5782 §2.1, §2.4): the IPv4 address's octets reversed, or the IPv6
  address's 32 nibbles reversed, then the zone: 192.0.2.99 → ``99.2.0.192.zone``.
- A listing is an A record in 127.0.0.0/8 (§2.3); ``codes`` narrows which ones count.
  Answers in 127.255.255.0/24 are how some lists say "you may not query us" (a public
  resolver, over quota): those count as errors, never as listings. 127.0.0.1 is never a
  listing (§5).
- The TXT record at the same name (§2.1) gives the reason, shown to the client.
- All lookups run in parallel through the project's resolver (net/dns.py, with
  ``smtp.outbound.dns_servers``), within ``dnsbl.timeout`` seconds in all. A list that
  times out or fails is logged and skipped: DNS trouble never refuses mail.
- Results are cached per client address for ``dnsbl.cache_ttl`` seconds, so a client sending
  many messages on one or many connections costs one round of lookups.
- Exempt: authenticated clients, ``smtp.trusted_networks``, ``dnsbl.exempt_networks``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import dns.asyncresolver

from postroom.config import Config, DnsblConfig, DnsblZone
from postroom.core.envelope import Stage
from postroom.core.errors import Kind
from postroom.net.dns import make_resolver
from postroom.net.lookup import DnsLookup, DnsTemporary
from postroom.services.pipeline import CONTINUE, Judgement, Message
from postroom.services.screening import IpAddress, IpNetwork, in_any, parse_ip

log = logging.getLogger("postroom.mail")

MAX_CACHE = 10_000
MAX_REASON = 200
LOOPBACK_V4 = ipaddress.ip_network("127.0.0.0/8")
ERROR_CODES = ipaddress.ip_network("127.255.255.0/24")


def query_name(addr: IpAddress, zone: str) -> str:
    """RFC 5782 §2.1 (IPv4: octets reversed) and §2.4 (IPv6: nibbles reversed)."""
    reverse = addr.reverse_pointer  # "99.2.0.192.in-addr.arpa", "b.a.9.8…ip6.arpa"
    return reverse.rsplit(".", 2)[0] + "." + zone.strip(".") + "."


@dataclass(frozen=True, slots=True)
class Listing:
    zone: str
    weight: float
    codes: tuple[str, ...]
    reason: str
    allow: bool = False  # the zone is an allow list (``allow = true``)


@dataclass(frozen=True, slots=True)
class Result:
    score: float
    listings: tuple[Listing, ...]
    failed: tuple[str, ...]  # zones that did not answer usably


def printable(text: str) -> str:
    """A TXT reason as a reply may carry it: printable ASCII on one line, clipped."""
    clean = "".join(c if " " <= c <= "~" else " " for c in text).strip()
    return clean[:MAX_REASON]


class DnsblCheck:
    name = "dnsbl"
    stages = frozenset({Stage.SENDER})

    def __init__(self, cfg: DnsblConfig, resolver: dns.asyncresolver.Resolver,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.cfg = cfg
        # The checks' DNS layer (net/lookup.py): void and temporary answers told apart, names
        # validated, TXT strings joined. Its own cache stays off: results are cached here.
        self.dns = DnsLookup(resolver, cfg.timeout)
        self.clock = clock
        self._cache: dict[str, tuple[float, Result]] = {}
        self._exempt_key: tuple[str, ...] = ()
        self._exempt: list[IpNetwork] = []

    @classmethod
    def from_config(cls, cfg: Config) -> DnsblCheck:
        return cls(cfg.dnsbl, make_resolver(cfg.smtp.outbound.dns_servers, cfg.dnsbl.timeout))

    def _exempted(self, message: Message, addr: IpAddress | None) -> str | None:
        if message.client.principal is not None:
            return "authenticated"
        if message.client.trusted:
            return "trusted network"
        if addr is None:
            return "no client address"
        key = tuple(self.cfg.exempt_networks)
        if key != self._exempt_key:
            self._exempt = [ipaddress.ip_network(n, strict=False) for n in key]
            self._exempt_key = key
        return "exempt network" if in_any(addr, self._exempt) else None

    async def judge(self, stage: Stage, message: Message) -> Judgement:
        addr = parse_ip(message.client.address)
        why = self._exempted(message, addr)
        if why is not None or addr is None or not self.cfg.zones:
            return CONTINUE
        result = await self.lookup(addr)
        client = str(addr)
        listed = ",".join(f"{x.zone}({x.weight:g})" for x in result.listings) or "-"
        allowed = next((x.zone for x in result.listings if x.allow), "")
        refused = result.score >= self.cfg.threshold and not allowed
        message.allow_listed = allowed
        log.info("dnsbl", extra={"client": client, "from": f"<{message.sender}>",
                                 "score": f"{result.score:g}", "listed": listed,
                                 "failed": ",".join(result.failed) or "-",
                                 "decision": "reject" if refused else
                                 "allow" if allowed else "pass"})
        if not refused:
            return CONTINUE
        blocking = [x for x in result.listings if x.weight > 0]
        names = ", ".join(x.zone for x in blocking)
        reason = next((x.reason for x in blocking if x.reason), "")
        text = f"Client address {client} is listed by {names}"
        return Judgement.reject(Kind.POLICY, text + (f": {reason}" if reason else ""))

    async def lookup(self, addr: IpAddress) -> Result:
        """Every zone's verdict on ``addr``, from the cache when fresh."""
        key = str(addr)
        now = self.clock()
        hit = self._cache.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        zones = list(self.cfg.zones)
        answers = await asyncio.gather(*(self._ask(addr, z) for z in zones))
        listings = tuple(a for a in answers if isinstance(a, Listing))
        failed = tuple(z.zone for z, a in zip(zones, answers, strict=True) if a is False)
        result = Result(sum(x.weight for x in listings), listings, failed)
        if self.cfg.cache_ttl > 0 and not failed:
            if len(self._cache) >= MAX_CACHE:
                for old in list(self._cache)[: MAX_CACHE // 10]:
                    del self._cache[old]
            self._cache[key] = (now + self.cfg.cache_ttl, result)
        return result

    async def _ask(self, addr: IpAddress, zone: DnsblZone) -> Listing | bool:
        """The zone's listing of ``addr``; True when not listed; False when it could not be
        told (logged)."""
        name = query_name(addr, zone.zone)
        try:
            async with asyncio.timeout(self.cfg.timeout):
                codes = await self._resolve(name, "A")
                if codes is None:
                    return True
                hits = self._listed(codes, zone.codes)
                if hits is None:
                    log.warning("dnsbl: the list refused the query", extra={
                        "zone": zone.zone, "answer": ",".join(codes)})
                    return False
                if not hits:
                    return True
                reason = ""
                try:
                    texts = await self._resolve(name, "TXT")
                    reason = printable(texts[0]) if texts else ""
                except (DnsTemporary, TimeoutError):
                    pass  # the listing stands without its reason
                return Listing(zone.zone, zone.weight, tuple(hits), reason, zone.allow)
        except (DnsTemporary, TimeoutError, OSError) as exc:
            log.warning("dnsbl: lookup failed, the list is skipped", extra={
                "zone": zone.zone, "error": type(exc).__name__})
            return False

    async def _resolve(self, name: str, rdtype: str) -> list[str] | None:
        """The answers' text (TXT strings joined), or None for NXDOMAIN / no answer."""
        answer = await self.dns.query(name, rdtype)
        return None if answer.void else list(answer.records)

    @staticmethod
    def _listed(codes: Sequence[str], wanted: Sequence[str]) -> list[str] | None:
        """The answers that count as a listing; None when the list answered with an error
        code (127.255.255.x) and nothing else."""
        hits, errors = [], 0
        for code in codes:
            try:
                ip = ipaddress.ip_address(code)
            except ValueError:
                continue
            if ip.version != 4 or ip not in LOOPBACK_V4 or code == "127.0.0.1":
                continue  # RFC 5782 §2.3: listings are 127/8; §5: 127.0.0.1 never is one
            if ip in ERROR_CODES:
                errors += 1
                continue
            if not wanted or code in wanted:
                hits.append(code)
        return None if errors and not hits else hits
