"""Plain DNS questions for the message-authentication checks (SPF, DKIM, DMARC, ARC).

Why a layer of its own: those checks need to tell three outcomes apart that the MX router
(net/dns.py) folds together, and RFC 7208 counts them differently:

- records (``Answer.records`` not empty);
- a *void* answer: NXDOMAIN or NOERROR with no records of the type asked (RFC 7208 §4.6.4
  counts both against the void-lookup limit; ``nxdomain`` says which);
- a temporary failure (timeout, SERVFAIL, no server answering): ``DnsTemporary``, which each
  check turns into its own ``temperror`` (RFC 7208 §2.6.6, RFC 6376 §6.1.2, RFC 7489 §6.6.3).

Records come back as text, whatever the type: addresses for A/AAAA, host names (lower case,
no final dot) for MX (ordered by preference) and PTR, and for TXT each record's strings joined
with nothing between them (RFC 7208 §3.3, RFC 6376 §3.6.2.2), decoded octet for octet as
Latin-1 so that a check can see non-ASCII octets (``str.isascii``) and get the exact octets back
(``encode("latin-1")``).

``Lookup`` is the Protocol the checks take; ``DnsLookup`` asks the project's dnspython
asynchronous resolver, every question bounded by ``timeout`` seconds. A name that is not a valid
DNS name (an empty label, a label over 63 octets, over 255 octets in all) is answered as
NXDOMAIN, since no server could hold it.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Protocol

import dns.asyncresolver
import dns.exception
import dns.name
import dns.rdatatype
import dns.resolver
import dns.reversename

SUPPORTED = ("A", "AAAA", "MX", "PTR", "TXT")


class DnsTemporary(Exception):
    """No answer now (timeout, SERVFAIL, no server reachable): ask again later."""


@dataclass(frozen=True, slots=True)
class Answer:
    records: tuple[str, ...] = ()
    nxdomain: bool = False

    @property
    def void(self) -> bool:
        """RFC 7208 §4.6.4: NOERROR with no answer, or NXDOMAIN."""
        return not self.records


VOID = Answer()
NXDOMAIN = Answer((), True)


class Lookup(Protocol):
    async def query(self, name: str, rdtype: str) -> Answer:
        """Records of ``rdtype`` (one of ``SUPPORTED``) at ``name``; raises
        ``DnsTemporary``."""
        ...


def valid_name(name: str) -> bool:
    """A name DNS can carry: labels of 1-63 octets, 255 octets in all (RFC 1035 §2.3.4)."""
    name = name[:-1] if name.endswith(".") else name
    if not name or len(name) > 253:
        return False
    return all(0 < len(label) <= 63 for label in name.split("."))


def reverse_name(address: str) -> str:
    """The PTR name of an address: ``4.3.2.1.in-addr.arpa`` or the nibbles under ip6.arpa."""
    return dns.reversename.from_address(address).to_text(omit_final_dot=True)


class DnsLookup:
    """``Lookup`` through a dnspython asynchronous resolver, each question bounded by
    ``timeout`` seconds (the resolver's own lifetime is overridden per question).

    ``cache`` answers with records are kept, as our ``Answer`` values, until their TTL runs
    out: a hit costs a dictionary lookup, where going through dnspython's own cache (which
    still serves the negative answers) costs tens of microseconds per question, several
    questions per message (measured: the SPF checks of one MAIL FROM took 0.1 ms more with
    dnspython's cache alone). Oldest entries go first when it is full."""

    def __init__(self, resolver: dns.asyncresolver.Resolver, timeout: float = 5.0,
                 cache: int = 0) -> None:
        self.resolver = resolver
        self.timeout = timeout
        self.cache_size = cache
        self.cache: dict[tuple[str, str], tuple[float, Answer]] = {}

    async def query(self, name: str, rdtype: str) -> Answer:
        if rdtype not in SUPPORTED:
            raise ValueError(f"unsupported record type {rdtype}")
        key = (name.lower(), rdtype)
        hit = self.cache.get(key)
        if hit is not None:
            if hit[0] > time.time():
                return hit[1]
            del self.cache[key]
        if not valid_name(name) or not name.isascii():
            return NXDOMAIN
        out = await self._ask(name, rdtype)
        if out[0] is not None and self.cache_size:
            if len(self.cache) >= self.cache_size:
                del self.cache[next(iter(self.cache))]
            self.cache[key] = (out[0], out[1])
        return out[1]

    async def _ask(self, name: str, rdtype: str) -> tuple[float | None, Answer]:
        """(when the answer expires, or None for one not to keep; the answer)."""
        try:
            qname = dns.name.from_text(name.rstrip(".") + ".")
            # the resolver's lifetime bounds the question; the outer timeout is a safety net
            async with asyncio.timeout(self.timeout + 1):
                answer = await self.resolver.resolve(qname, rdtype, search=False,
                                                     lifetime=self.timeout,
                                                     raise_on_no_answer=False)
        except dns.resolver.NXDOMAIN:
            return None, NXDOMAIN
        except dns.resolver.NoAnswer:
            return None, VOID
        except (dns.name.LabelTooLong, dns.name.EmptyLabel, dns.name.NameTooLong):
            return None, NXDOMAIN
        except (TimeoutError, dns.exception.Timeout, dns.resolver.NoNameservers,
                dns.resolver.YXDOMAIN) as exc:
            raise DnsTemporary(f"{name}/{rdtype}: {type(exc).__name__}") from None
        except dns.exception.DNSException as exc:  # anything else the resolver dislikes
            raise DnsTemporary(f"{name}/{rdtype}: {type(exc).__name__}") from None
        if answer.rrset is None:
            return None, VOID
        return answer.expiration, Answer(tuple(_text(rdtype, rdata)
                                               for rdata in _ordered(rdtype, answer.rrset)))


def _ordered(rdtype: str, rrset: dns.rrset.RRset) -> list[object]:
    items = list(rrset)
    if rdtype == "MX":
        items.sort(key=lambda r: int(r.preference))
    return items


def _text(rdtype: str, rdata: object) -> str:
    if rdtype in ("A", "AAAA"):
        return str(rdata.address)  # type: ignore[attr-defined]
    if rdtype == "MX":
        return str(rdata.exchange.to_text(omit_final_dot=True)).lower()  # type: ignore[attr-defined]
    if rdtype == "PTR":
        return str(rdata.target.to_text(omit_final_dot=True)).lower()  # type: ignore[attr-defined]
    strings: list[bytes] = list(rdata.strings)  # type: ignore[attr-defined]
    return b"".join(strings).decode("latin-1")


class CachedLookup:
    """A ``Lookup`` that remembers answers for the life of one message: the DKIM, DMARC and
    ARC steps ask for some names twice (a key named by two signatures, a DMARC record at the
    organizational domain). Temporary failures are not remembered."""

    def __init__(self, inner: Lookup) -> None:
        self.inner = inner
        self.answers: dict[tuple[str, str], Answer] = {}

    async def query(self, name: str, rdtype: str) -> Answer:
        key = (name.lower().rstrip("."), rdtype)
        hit = self.answers.get(key)
        if hit is None:
            hit = self.answers[key] = await self.inner.query(name, rdtype)
        return hit
