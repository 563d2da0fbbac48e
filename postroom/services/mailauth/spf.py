"""SPF (RFC 7208): our own asynchronous ``check_host()``, on the project's DNS (net/lookup.py).

Why our own: pyspf, the one Python implementation, asks DNS synchronously and would block the
event loop for every lookup of every message; its test suite (the RFC 7208 YAML) stays our
oracle in the tests, never a runtime dependency.

How it runs:
- A record is fetched (TXT only, RFC 7208 §3.1, §4.4), selected (exactly one starting with
  ``v=spf1``, §4.5) and parsed whole before anything is evaluated: any syntax error anywhere is
  ``permerror`` (§4.6). Non-ASCII in the record is a syntax error (§3.1).
- Mechanisms are evaluated left to right; the first match gives its qualifier's result (§4.6.2),
  none matching gives ``redirect=`` (§6.1) or ``neutral`` (§4.7).
- Limits (§4.6.4), every one from ``SpfLimits``: at most ``dns_lookups`` (10) terms that ask
  DNS (include, a, mx, ptr, exists, redirect) over the whole check, includes and redirects
  included; at most ``void_lookups`` (2) void answers; an ``mx`` with more than
  ``address_lookups`` (10) names is a permerror; only the first ``address_lookups`` PTR names
  are tried; the whole check may take ``time_limit`` seconds (§4.6.4 suggests 20), past which
  it is a temperror.
- A DNS failure is ``temperror`` (§2.6.6), except where the RFC says a term just fails to match
  (an error in a ptr lookup, §5.5; the explanation, §6.2).
- ``exp=`` is looked up once, after the result is known, only for a ``fail``, and never counts
  against the limits (§6.2; the test suite's ``exp-void``).
"""

from __future__ import annotations

import asyncio
import enum
import ipaddress
import re
from dataclasses import dataclass, field

import idna

from postroom.net.lookup import DnsTemporary, Lookup, reverse_name, valid_name
from postroom.services.mailauth.spf_macro import (
    MacroValues,
    Part,
    SpfSyntax,
    expand,
    parse_domain_spec,
    parse_macro_string,
    trim_domain,
)

IP = ipaddress.IPv4Address | ipaddress.IPv6Address
DEFAULT_EXPLANATION = "SPF fail - not authorized"
PARSED_RECORDS = 4096  # parsed records kept (SpfEvaluator.parsed) before starting afresh


class SpfResult(enum.Enum):
    PASS = "pass"
    FAIL = "fail"
    SOFTFAIL = "softfail"
    NEUTRAL = "neutral"
    NONE = "none"
    TEMPERROR = "temperror"
    PERMERROR = "permerror"


QUALIFIERS = {"+": SpfResult.PASS, "-": SpfResult.FAIL, "~": SpfResult.SOFTFAIL,
              "?": SpfResult.NEUTRAL}
DNS_MECHANISMS = frozenset({"include", "a", "mx", "ptr", "exists"})


@dataclass(frozen=True, slots=True)
class SpfLimits:
    dns_lookups: int = 10  # RFC 7208 §4.6.4
    void_lookups: int = 2  # RFC 7208 §4.6.4 (RECOMMENDED default)
    address_lookups: int = 10  # per mx / ptr, RFC 7208 §4.6.4
    time_limit: float = 20.0  # seconds for the whole check, RFC 7208 §4.6.4


@dataclass(frozen=True, slots=True)
class SpfOutcome:
    result: SpfResult
    domain: str  # the domain checked first (MAIL FROM's, or HELO's)
    reason: str  # why, for the mail log and the Authentication-Results comment
    explanation: str = ""  # fail only: the domain's exp= text, or the default


@dataclass(frozen=True, slots=True)
class Directive:
    qualifier: SpfResult
    name: str
    spec: tuple[Part, ...] | None = None  # domain-spec, when given
    network: ipaddress.IPv4Network | ipaddress.IPv6Network | None = None
    cidr4: int = 32
    cidr6: int = 128
    text: str = ""


@dataclass(frozen=True, slots=True)
class Record:
    directives: tuple[Directive, ...]
    redirect: tuple[Part, ...] | None = None
    exp: tuple[Part, ...] | None = None


class _Abort(Exception):
    def __init__(self, result: SpfResult, reason: str) -> None:
        super().__init__(reason)
        self.result = result
        self.reason = reason


_CIDR = re.compile(r"^(.*?)(?:/(0|[1-9]\d{0,2}))?(?://(0|[1-9]\d{0,2}))?$", re.DOTALL)
_MODIFIER = re.compile(r"^([A-Za-z][A-Za-z0-9\-_.]*)=(.*)$", re.DOTALL)
_VERSION = re.compile(r"^v=spf1(?: |$)", re.IGNORECASE)


def is_spf_record(text: str) -> bool:
    """RFC 7208 §4.5: "v=spf1" alone or followed by a space, case-insensitive."""
    return bool(_VERSION.match(text))


def parse_record(text: str) -> Record:
    """RFC 7208 §4.6.1 and §12: the whole record, or ``SpfSyntax``."""
    if not text.isascii():
        raise SpfSyntax("non-ASCII octets in the record")  # RFC 7208 §3.1
    terms = text.split(" ")[1:]  # terms are separated by one or more SP only (§4.6.1)
    directives: list[Directive] = []
    redirect: tuple[Part, ...] | None = None
    exp: tuple[Part, ...] | None = None
    for term in terms:
        if not term:
            continue
        m = _MODIFIER.match(term)
        if m is not None:
            name, value = m.group(1).lower(), m.group(2)
            if name == "redirect":
                if redirect is not None:
                    raise SpfSyntax("redirect= given twice")  # RFC 7208 §6
                redirect = parse_domain_spec(value)
            elif name == "exp":
                if exp is not None:
                    raise SpfSyntax("exp= given twice")  # RFC 7208 §6
                exp = parse_domain_spec(value)
            else:  # unknown modifiers are ignored, but must be well formed (§6)
                parse_macro_string(value)
            continue
        directives.append(parse_directive(term))
    return Record(tuple(directives), redirect, exp)


def parse_directive(term: str) -> Directive:
    qualifier = SpfResult.PASS
    if term[0] in QUALIFIERS:
        qualifier = QUALIFIERS[term[0]]
        term = term[1:]
    name, colon, arg = term.partition(":")
    lname = name.lower()
    if lname.partition("/")[0] in ("a", "mx") and "/" in name:  # a/24, mx//64: no domain
        lname, _, rest = lname.partition("/")
        arg, colon = "/" + rest, ""
    if lname == "all":
        if colon or arg:
            raise SpfSyntax(f"'all' takes no argument: {term!r}")
        return Directive(qualifier, "all", text=term)
    if lname in ("include", "exists"):
        if not colon or not arg:
            raise SpfSyntax(f"{lname} needs a domain-spec")
        return Directive(qualifier, lname, parse_domain_spec(arg), text=term)
    if lname == "ptr":
        return Directive(qualifier, "ptr", parse_domain_spec(arg) if colon else None, text=term)
    if lname in ("a", "mx"):
        m = _CIDR.match(arg)
        assert m is not None
        spec_text, c4, c6 = m.group(1), m.group(2), m.group(3)
        cidr4 = int(c4) if c4 is not None else 32
        cidr6 = int(c6) if c6 is not None else 128
        if cidr4 > 32 or cidr6 > 128:
            raise SpfSyntax(f"bad CIDR length in {term!r}")
        if colon and not spec_text:
            raise SpfSyntax(f"{lname}: empty domain-spec")
        if not colon and spec_text:
            raise SpfSyntax(f"bad term {term!r}")
        spec = parse_domain_spec(spec_text) if colon else None
        return Directive(qualifier, lname, spec, cidr4=cidr4, cidr6=cidr6, text=term)
    if lname in ("ip4", "ip6"):
        if not colon:
            raise SpfSyntax(f"{lname} needs an address")
        return Directive(qualifier, lname, network=_network(lname, arg), text=term)
    raise SpfSyntax(f"unknown mechanism {name!r}")


def _network(kind: str, arg: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    address, slash, length = arg.partition("/")
    limit = 32 if kind == "ip4" else 128
    if slash and not re.fullmatch(r"0|[1-9]\d{0,2}", length):
        raise SpfSyntax(f"bad CIDR length in {kind}:{arg}")
    bits = int(length) if slash else limit
    if bits > limit:
        raise SpfSyntax(f"CIDR length over {limit} in {kind}:{arg}")
    try:
        ip = ipaddress.IPv4Address(address) if kind == "ip4" else \
            ipaddress.IPv6Address(address)
    except ValueError:
        raise SpfSyntax(f"bad address in {kind}:{arg}") from None
    return ipaddress.ip_network(f"{ip}/{bits}", strict=False)


def domain_ok(domain: str) -> bool:
    """RFC 7208 §4.3: a multi-label domain name with no empty or over-long label."""
    d = domain[:-1] if domain.endswith(".") else domain
    return "." in d and valid_name(d) and not d.startswith("[")


def a_label(domain: str) -> str:
    """An internationalised domain (SMTPUTF8 mail) in the A-label form DNS holds (RFC 5890);
    a name that cannot be converted stays as it is and is then no valid domain."""
    if domain.isascii():
        return domain
    try:
        return idna.encode(domain, uts46=True).decode("ascii")
    except idna.IDNAError:
        return domain


def client_ip(text: str) -> IP:
    """The client's address, an IPv4-mapped IPv6 address taken as IPv4 (RFC 7208 §5)."""
    ip = ipaddress.ip_address(text)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


@dataclass
class _State:
    ip: IP
    sender: str
    helo: str
    lookups: int = 0
    voids: int = 0
    validated: dict[str, str] = field(default_factory=dict)


class SpfEvaluator:
    """``check_host()`` (RFC 7208 §4) over a ``Lookup``. One instance serves every message;
    each check keeps its counters in its own state."""

    def __init__(self, dns: Lookup, limits: SpfLimits = SpfLimits(),
                 receiver: str = "unknown", parsed: dict[str, Record] | None = None) -> None:
        self.dns = dns
        self.limits = limits
        self.receiver = receiver
        # Records already parsed, by their text: a record is parsed once, not per message
        # (the caller keeps the dict across messages; a parsed Record is immutable).
        self.parsed = parsed if parsed is not None else {}

    async def check_host(self, ip: str, domain: str, sender: str, helo: str = "",
                         ) -> SpfOutcome:
        """The SPF result for ``sender`` (``local@domain``; ``postmaster`` stands in for an
        empty local part, RFC 7208 §4.3) sending from ``ip``, judged by ``domain``'s
        record."""
        local, at, sdomain = sender.rpartition("@")
        if not at:
            sdomain, local = sender, ""
        sender = f"{local or 'postmaster'}@{sdomain}"
        domain = domain.rstrip(".") if domain.endswith(".") and len(domain) > 1 else domain
        domain = a_label(domain)
        try:
            state = _State(client_ip(ip), sender, helo)
        except ValueError:
            return SpfOutcome(SpfResult.PERMERROR, domain, f"bad client address {ip!r}")
        if not domain_ok(domain):  # RFC 7208 §4.3
            return SpfOutcome(SpfResult.NONE, domain, "not a valid domain name")
        try:
            async with asyncio.timeout(self.limits.time_limit):
                result, reason, exp, exp_domain = await self._check(state, domain)
                explanation = ""
                if result is SpfResult.FAIL:
                    explanation = await self._explain(state, exp, exp_domain)
        except _Abort as abort:
            return SpfOutcome(abort.result, domain, abort.reason)
        except TimeoutError:
            return SpfOutcome(SpfResult.TEMPERROR, domain,
                              f"SPF check took over {self.limits.time_limit:g} s")
        return SpfOutcome(result, domain, reason, explanation)

    # -- one record ------------------------------------------------------------------------
    async def _record(self, domain: str) -> Record | None:
        """RFC 7208 §4.4-4.6: the domain's one SPF record, None when it has none."""
        try:
            answer = await self.dns.query(domain, "TXT")
        except DnsTemporary as exc:
            raise _Abort(SpfResult.TEMPERROR, f"DNS error looking up {domain}: {exc}") \
                from None
        found = [txt for txt in answer.records if is_spf_record(txt)]
        if not found:
            return None
        if len(found) > 1:
            raise _Abort(SpfResult.PERMERROR, f"{domain} has {len(found)} SPF records")
        record = self.parsed.get(found[0])
        if record is not None:
            return record
        try:
            record = parse_record(found[0])
        except SpfSyntax as exc:
            raise _Abort(SpfResult.PERMERROR, f"{domain}: {exc}") from None
        if len(self.parsed) >= PARSED_RECORDS:
            self.parsed.clear()
        self.parsed[found[0]] = record
        return record

    async def _check(self, state: _State, domain: str,
                     ) -> tuple[SpfResult, str, tuple[Part, ...] | None, str]:
        """(result, reason, exp= of the record that decided, its domain)."""
        record = await self._record(domain)
        if record is None:
            return SpfResult.NONE, f"no SPF record at {domain}", None, domain
        for directive in record.directives:
            if directive.name in DNS_MECHANISMS:
                self._count(state, domain)
            if await self._matches(state, domain, directive):
                return (directive.qualifier,
                        f"matched {directive.text} in the record of {domain}",
                        record.exp, domain)
        if record.redirect is not None:  # RFC 7208 §6.1
            self._count(state, domain)
            target = await self._target(state, domain, record.redirect)
            if not domain_ok(target):
                raise _Abort(SpfResult.PERMERROR, f"redirect to an invalid name {target!r}")
            result, reason, exp, exp_domain = await self._check(state, target)
            if result is SpfResult.NONE:
                raise _Abort(SpfResult.PERMERROR, f"redirect to {target}, which has no "
                             "SPF record")
            return result, reason, exp, exp_domain
        return SpfResult.NEUTRAL, f"nothing matched in the record of {domain}", \
            record.exp, domain

    def _count(self, state: _State, domain: str) -> None:
        state.lookups += 1
        if state.lookups > self.limits.dns_lookups:
            raise _Abort(SpfResult.PERMERROR, f"more than {self.limits.dns_lookups} DNS "
                         f"lookups (at {domain})")

    # -- DNS with the void-lookup limit ----------------------------------------------------
    async def _query(self, state: _State, name: str, rdtype: str, count_void: bool = True,
                     ) -> tuple[str, ...]:
        try:
            answer = await self.dns.query(name, rdtype)
        except DnsTemporary as exc:
            raise _Abort(SpfResult.TEMPERROR, f"DNS error: {exc}") from None
        if answer.void and count_void:
            state.voids += 1
            if state.voids > self.limits.void_lookups:
                raise _Abort(SpfResult.PERMERROR,
                             f"more than {self.limits.void_lookups} void DNS lookups")
        return answer.records

    async def _target(self, state: _State, domain: str, spec: tuple[Part, ...] | None) -> str:
        if spec is None:
            return domain
        try:
            name = await expand(spec, self._values(state, domain))
        except SpfSyntax as exc:
            raise _Abort(SpfResult.PERMERROR, str(exc)) from None
        return trim_domain(name)

    def _values(self, state: _State, domain: str) -> MacroValues:
        async def validated() -> str:
            return await self._validated_name(state, domain)
        return MacroValues(state.sender, domain, state.ip, state.helo, self.receiver,
                           validated)

    async def _addresses(self, state: _State, name: str, count_void: bool = True,
                         ) -> list[IP]:
        rdtype = "A" if state.ip.version == 4 else "AAAA"
        out: list[IP] = []
        for text in await self._query(state, name, rdtype, count_void):
            try:
                out.append(ipaddress.ip_address(text))
            except ValueError:
                continue
        return out

    # -- mechanisms (RFC 7208 §5) ----------------------------------------------------------
    async def _matches(self, state: _State, domain: str, d: Directive) -> bool:
        ip = state.ip
        if d.name == "all":  # §5.1
            return True
        if d.name in ("ip4", "ip6"):  # §5.6
            return d.network is not None and ip.version == d.network.version and \
                ip in d.network
        if d.name == "include":  # §5.2
            target = await self._target(state, domain, d.spec)
            if not domain_ok(target):
                raise _Abort(SpfResult.PERMERROR, f"include of an invalid name {target!r}")
            result, reason, _, _ = await self._check(state, target)
            if result is SpfResult.PASS:
                return True
            if result in (SpfResult.FAIL, SpfResult.SOFTFAIL, SpfResult.NEUTRAL):
                return False
            if result is SpfResult.TEMPERROR:
                raise _Abort(SpfResult.TEMPERROR, reason)
            raise _Abort(SpfResult.PERMERROR, f"include:{target} gave {result.value}: "
                         f"{reason}")
        target = await self._target(state, domain, d.spec)
        if not valid_name(target):
            # an expanded name DNS cannot carry: it cannot match (nothing is there)
            return False
        if d.name == "a":  # §5.3
            return self._in_cidr(ip, await self._addresses(state, target), d)
        if d.name == "mx":  # §5.4
            hosts = await self._query(state, target, "MX")
            hosts = tuple(h for h in hosts if h not in ("", "."))  # a null MX has no hosts
            if len(hosts) > self.limits.address_lookups:  # §4.6.4
                raise _Abort(SpfResult.PERMERROR, f"{target} has more than "
                             f"{self.limits.address_lookups} MX records")
            for host in hosts:
                if self._in_cidr(ip, await self._addresses(state, host, False), d):
                    return True
            return False
        if d.name == "ptr":  # §5.5
            names = await self._validated_names(state, count_void=True)
            return any(n == target.lower() or n.endswith("." + target.lower())
                       for n in names)
        if d.name == "exists":  # §5.7: always an A query, whatever the client's family
            return bool(await self._query(state, target, "A"))
        raise _Abort(SpfResult.PERMERROR, f"unknown mechanism {d.name}")

    @staticmethod
    def _in_cidr(ip: IP, addresses: list[IP], d: Directive) -> bool:
        bits = d.cidr4 if ip.version == 4 else d.cidr6
        for address in addresses:
            if address.version != ip.version:
                continue
            if ip in ipaddress.ip_network(f"{address}/{bits}", strict=False):
                return True
        return False

    async def _validated_names(self, state: _State, count_void: bool) -> list[str]:
        """RFC 7208 §5.5: the PTR names of the client whose own addresses include it (the
        first ``address_lookups`` names only). A DNS error means no name."""
        try:
            names = await self._query(state, reverse_name(str(state.ip)), "PTR", count_void)
        except _Abort as abort:
            if abort.result is SpfResult.TEMPERROR:
                return []
            raise
        out: list[str] = []
        for name in names[:self.limits.address_lookups]:
            try:
                addresses = await self._addresses(state, name, False)
            except _Abort as abort:
                if abort.result is SpfResult.TEMPERROR:
                    continue
                raise
            if state.ip in addresses:
                out.append(name.lower())
        return out

    async def _validated_name(self, state: _State, domain: str) -> str:
        """%{p} (RFC 7208 §7.3): a validated name, preferring one in ``domain``, else
        "unknown"."""
        if domain in state.validated:
            return state.validated[domain]
        names = await self._validated_names(state, count_void=False)
        pick = next((n for n in names if n == domain or n.endswith("." + domain)), None)
        value = pick or (names[0] if names else "unknown")
        state.validated[domain] = value
        return value

    # -- explanation (RFC 7208 §6.2) -------------------------------------------------------
    async def _explain(self, state: _State, exp: tuple[Part, ...] | None, domain: str) -> str:
        if exp is None:
            return DEFAULT_EXPLANATION
        try:
            name = trim_domain(await expand(exp, self._values(state, domain)))
            if not valid_name(name):
                return DEFAULT_EXPLANATION
            answer = await self.dns.query(name, "TXT")
            if len(answer.records) != 1 or not answer.records[0].isascii():
                return DEFAULT_EXPLANATION
            text = parse_macro_string(answer.records[0], exp=True)
            return await expand(text, self._values(state, domain))
        except (DnsTemporary, SpfSyntax, _Abort):
            return DEFAULT_EXPLANATION
