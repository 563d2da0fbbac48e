"""Where remote mail goes: MX routing by DNS (RFC 5321 §5.1, RFC 7505), with dnspython.

The rules (specs.md §4.3):
- MX records, lowest preference first, ties shuffled; the targets' A and AAAA addresses in turn.
- No MX record (NOERROR, no answer) → the *implicit MX*: the domain's own A/AAAA at preference 0.
  Once MX records exist we never fall back to the domain's address records.
- A null MX (``MX 0 .``, RFC 7505 §3) → the domain accepts no mail: a permanent failure with
  556 5.1.10, bounced at once, never retried.
- NXDOMAIN → permanent (5.1.2); a timeout or SERVFAIL → temporary, the message stays queued.
- An address literal (``user@[192.0.2.1]``, RFC 5321 §4.1.3) is its own single host.
"""

from __future__ import annotations

import ipaddress
import random
from dataclasses import dataclass

import dns.asyncresolver
import dns.exception
import dns.nameserver
import dns.rdatatype
import dns.resolver
import idna

from postroom.core import smtp
from postroom.core.smtp import Code


@dataclass(frozen=True, slots=True)
class MxHost:
    name: str
    addresses: tuple[str, ...]


class RouteError(Exception):
    """No route now (a 4xx ``reply``) or ever (5xx); the reply feeds the DSN."""

    def __init__(self, reply: Code, text: str) -> None:
        super().__init__(text)
        self.reply = reply
        self.temporary = reply.temporary
        self.code = reply.code
        self.enhanced = reply.enhanced or ""
        self.text = text


def make_resolver(servers: list[str], timeout: float = 10.0) -> dns.asyncresolver.Resolver:
    """The system resolver, or the configured ``ip[:port]`` servers (tests use a loopback one)."""
    if not servers:
        resolver = dns.asyncresolver.Resolver()
    else:
        resolver = dns.asyncresolver.Resolver(configure=False)
        nameservers: list[str | dns.nameserver.Nameserver] = []
        for item in servers:
            host, port = split_host_port(item, 53)
            nameservers.append(dns.nameserver.Do53Nameserver(host, port))
        resolver.nameservers = nameservers
    resolver.lifetime = timeout
    return resolver


def split_host_port(text: str, default: int) -> tuple[str, int]:
    """``host``, ``host:port``, ``[v6]`` or ``[v6]:port`` → (host, port)."""
    text = text.strip()
    if text.startswith("["):  # [v6]:port
        host, _, rest = text[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else default
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        return host, int(port)
    return text, default


def ascii_domain(domain: str) -> str:
    """The A-label form DNS needs (IDNA 2008, UTS 46 mapping)."""
    domain = domain.rstrip(".")
    if domain.isascii():
        return domain.lower()
    try:
        return idna.encode(domain, uts46=True).decode("ascii")
    except idna.IDNAError:
        raise RouteError(smtp.NO_SUCH_DOMAIN, f"Domain {domain!r} is not a valid name") \
            from None


def literal_address(domain: str) -> str | None:
    """``[192.0.2.1]`` / ``[IPv6:2001:db8::1]`` → the address; None for a name."""
    if not (domain.startswith("[") and domain.endswith("]")):
        return None
    inner = domain[1:-1]
    if inner.lower().startswith("ipv6:"):
        inner = inner[5:]
    try:
        return str(ipaddress.ip_address(inner))
    except ValueError:
        raise RouteError(smtp.NO_SUCH_DOMAIN, f"Bad address literal {domain}") from None


class Router:
    def __init__(self, resolver: dns.asyncresolver.Resolver) -> None:
        self.resolver = resolver

    async def route(self, domain: str) -> list[MxHost]:
        """The hosts to try for ``domain``, in order; raises RouteError."""
        literal = literal_address(domain)
        if literal is not None:
            return [MxHost(literal, (literal,))]
        name = ascii_domain(domain)
        try:
            answer = await self.resolver.resolve(name + ".", "MX", search=False)
        except dns.resolver.NXDOMAIN:
            raise RouteError(smtp.NO_SUCH_DOMAIN, f"Domain {name} does not exist") from None
        except dns.resolver.NoAnswer:
            addresses = await self.addresses(name)
            if not addresses:
                raise RouteError(smtp.NO_SUCH_DOMAIN,
                                 f"Domain {name} has no MX and no address") from None
            return [MxHost(name, addresses)]  # implicit MX (RFC 5321 §5.1)
        except (dns.exception.Timeout, dns.resolver.NoNameservers) as exc:
            raise RouteError(smtp.DNS_FAILURE, f"DNS lookup of {name} failed: "
                             f"{type(exc).__name__}") from None
        records = [(int(r.preference), r.exchange.to_text(omit_final_dot=True).lower())
                   for r in answer]
        real = [(pref, host) for pref, host in records if host not in ("", ".")]
        if not real:  # RFC 7505 §3: "MX 0 ." says the domain takes no mail
            raise RouteError(smtp.NULL_MX,
                             f"Domain {name} does not accept mail (null MX)")
        random.shuffle(real)
        real.sort(key=lambda r: r[0])
        hosts: list[MxHost] = []
        temp_failure = False
        for _, host in real:
            try:
                addresses = await self.addresses(host)
            except RouteError as exc:
                temp_failure = temp_failure or exc.temporary
                continue
            if addresses:
                hosts.append(MxHost(host, addresses))
        if not hosts:
            if temp_failure:
                raise RouteError(smtp.DNS_FAILURE, f"No address for the MX hosts of {name}")
            raise RouteError(smtp.NO_MX_ADDRESS, f"The MX hosts of {name} have no address")
        return hosts

    async def addresses(self, name: str) -> tuple[str, ...]:
        """A and AAAA of a host name (IPv4 first), or an IP address as itself; RouteError
        only for temporary failures."""
        try:
            return (str(ipaddress.ip_address(name)),)
        except ValueError:
            pass
        out: list[str] = []
        for rdtype in ("A", "AAAA"):
            try:
                answer = await self.resolver.resolve(name + ".", rdtype, search=False)
            except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
                continue
            except (dns.exception.Timeout, dns.resolver.NoNameservers):
                raise RouteError(smtp.DNS_FAILURE, f"DNS lookup of {name} failed") from None
            out.extend(r.to_text() for r in answer)
        return tuple(out)
