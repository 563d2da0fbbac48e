"""DMARC (RFC 7489): policy discovery, identifier alignment, and the policy to apply.

- The author domain is the domain of the ``From:`` address (RFC 7489 §3.1, §6.6.1). A message
  with no ``From:`` or one that cannot be parsed gets ``permerror``; several addresses in
  different domains are judged domain by domain and the strictest outcome wins (§6.6.1 leaves
  the choice to the receiver; doing less would let a second address launder the first).
- The policy record is looked up at ``_dmarc.<author domain>``, then at ``_dmarc.<organizational
  domain>`` (§6.6.3); the organizational domain comes from the public suffix list
  (publicsuffixlist bundles it, so nothing is fetched at run time; §3.2). Exactly one record
  starting with ``v=DMARC1`` counts; none or several → no policy (``none``).
- Alignment (§3.1.1, §3.1.2): an SPF ``pass`` for the MAIL FROM domain, or a DKIM ``pass`` whose
  ``d=`` is the author domain (strict, ``s``) or shares its organizational domain (relaxed, ``r``,
  the default).
- The policy: ``sp=`` when the record came from the organizational domain and the author domain
  is below it, else ``p=`` (§6.3). ``pct=`` (§6.6.4): a message outside the sampled percentage
  gets the next-lower policy (reject → quarantine, quarantine → none). An invalid ``p=`` with a
  valid ``rua=`` is taken as ``p=none``; without one, no DMARC processing (§6.6.3).
- A temporary DNS failure while looking for the record is ``temperror`` (§6.6.3); the caller
  decides whether that defers the message.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.utils import getaddresses

from publicsuffixlist import PublicSuffixList

from postroom.net.lookup import DnsTemporary, Lookup
from postroom.services.mailauth.dkim import header_values
from postroom.services.mailauth.spf import a_label

POLICIES = ("none", "quarantine", "reject")


class DmarcResult(enum.Enum):
    PASS = "pass"
    FAIL = "fail"
    NONE = "none"  # no policy published
    TEMPERROR = "temperror"
    PERMERROR = "permerror"


@dataclass(frozen=True, slots=True)
class DmarcRecord:
    p: str
    sp: str
    pct: int
    adkim: str  # "r" or "s"
    aspf: str
    at_org: bool  # found at the organizational domain, not at the author domain


@dataclass(frozen=True, slots=True)
class DmarcOutcome:
    result: DmarcResult
    domain: str  # the author domain (header.from)
    policy: str  # what the domain asks for this message: none / quarantine / reject
    disposition: str  # after pct= sampling: none / quarantine / reject
    reason: str
    record: DmarcRecord | None = None
    spf_aligned: bool = False
    dkim_aligned: bool = False


class OrgDomains:
    """The organizational domain (RFC 7489 §3.2) from the bundled public suffix list. The
    list is parsed on first use, once (about half a second): every ``postroom`` command builds
    the pipeline, and most never judge a message."""

    def __init__(self) -> None:
        self._psl: PublicSuffixList | None = None

    def __call__(self, domain: str) -> str:
        if self._psl is None:
            self._psl = PublicSuffixList()
        domain = domain.lower().rstrip(".")
        org = self._psl.privatesuffix(domain)
        return str(org) if org else domain


def author_domains(head: bytes) -> list[str] | None:
    """The domains of the ``From:`` addresses (RFC 5322 §3.6.2); None when there is no usable
    ``From:`` (RFC 7489 §6.6.1)."""
    # Only the From: fields are read (a whole-section parse cost more than the rest of DMARC);
    # RFC 6532: the header section may be UTF-8 (SMTPUTF8 mail)
    values = header_values(head, b"from")
    if len(values) != 1:
        return None
    domains: list[str] = []
    for _, addr in getaddresses([values[0].decode("utf-8", "replace")]):
        local, at, domain = addr.rpartition("@")
        if not at or not local or not domain or "." not in domain:
            return None
        domain = a_label(domain.lower().rstrip("."))
        if domain not in domains:
            domains.append(domain)
    return domains or None


def parse_record(text: str, at_org: bool) -> DmarcRecord | None:
    """RFC 7489 §6.3 tag list; None when the record asks for no DMARC processing."""
    tags: dict[str, str] = {}
    for part in text.split(";"):
        key, eq, value = part.partition("=")
        if eq:
            tags.setdefault(key.strip().lower(), value.strip())
    if tags.get("v") != "DMARC1":
        return None
    p = tags.get("p", "").lower()
    if p not in POLICIES:
        rua = tags.get("rua", "")
        if not any(uri.strip().lower().startswith("mailto:") for uri in rua.split(",")):
            return None  # RFC 7489 §6.6.3: no valid p= and no rua=: no DMARC processing
        p = "none"
    sp = tags.get("sp", p).lower()
    if sp not in POLICIES:
        sp = p
    try:
        pct = max(0, min(100, int(tags.get("pct", "100"))))
    except ValueError:
        pct = 100
    adkim = "s" if tags.get("adkim", "r").lower() == "s" else "r"
    aspf = "s" if tags.get("aspf", "r").lower() == "s" else "r"
    return DmarcRecord(p, sp, pct, adkim, aspf, at_org)


DOWNGRADE = {"reject": "quarantine", "quarantine": "none", "none": "none"}


class DmarcEvaluator:
    def __init__(self, dns: Lookup, org: OrgDomains | None = None,
                 sample: Callable[[], float] = random.random) -> None:
        self.dns = dns
        self.org = org or OrgDomains()
        self.sample = sample  # [0, 1): pct= sampling; tests pass a fixed value

    async def discover(self, domain: str) -> DmarcRecord | None:
        """RFC 7489 §6.6.3; raises DnsTemporary."""
        record = await self._record(f"_dmarc.{domain}", False)
        if record is not None:
            return record
        org = self.org(domain)
        if org != domain:
            return await self._record(f"_dmarc.{org}", True)
        return None

    async def _record(self, name: str, at_org: bool) -> DmarcRecord | None:
        answer = await self.dns.query(name, "TXT")
        found = [t for t in answer.records
                 if t.startswith("v=DMARC1") and t[8:9] in ("", ";", " ", "\t")]
        if len(found) != 1:
            return None
        return parse_record(found[0], at_org)

    def aligned(self, mode: str, author: str, other: str) -> bool:
        """RFC 7489 §3.1: strict = the same domain, relaxed = the same organizational one."""
        other = other.lower().rstrip(".")
        if not other:
            return False
        if mode == "s":
            return other == author
        return self.org(other) == self.org(author)

    async def evaluate(self, head: bytes, spf_pass_domain: str | None,
                       dkim_pass_domains: list[str], unsure: Sequence[str] = (),
                       ) -> DmarcOutcome:
        """The outcome for a message; ``spf_pass_domain`` is the domain SPF passed for (the
        MAIL FROM domain, or the HELO domain for a null sender), ``dkim_pass_domains`` the d=
        of each passing signature, ``unsure`` the domains whose SPF or DKIM check ended in a
        temporary error: one of those aligned with the author domain turns what would be a
        ``fail`` into ``temperror`` (it might have passed; a DNS hiccup must not get mail
        rejected for good)."""
        domains = author_domains(head)
        if domains is None:
            return DmarcOutcome(DmarcResult.PERMERROR, "", "none", "none",
                                "no single usable From: field")
        outcomes = [await self._one(d, spf_pass_domain, dkim_pass_domains, unsure)
                    for d in domains]
        rank = {"reject": 2, "quarantine": 1, "none": 0}
        order = {DmarcResult.FAIL: 4, DmarcResult.TEMPERROR: 3, DmarcResult.PERMERROR: 2,
                 DmarcResult.PASS: 1, DmarcResult.NONE: 0}
        return max(outcomes, key=lambda o: (rank[o.disposition], order[o.result]))

    async def _one(self, domain: str, spf_domain: str | None, dkim_domains: list[str],
                   unsure: Sequence[str] = ()) -> DmarcOutcome:
        try:
            record = await self.discover(domain)
        except DnsTemporary as exc:
            return DmarcOutcome(DmarcResult.TEMPERROR, domain, "none", "none",
                                f"DNS error looking up the policy: {exc}")
        if record is None:
            return DmarcOutcome(DmarcResult.NONE, domain, "none", "none",
                                "no DMARC policy published")
        spf_ok = spf_domain is not None and self.aligned(record.aspf, domain, spf_domain)
        dkim_ok = any(self.aligned(record.adkim, domain, d) for d in dkim_domains)
        if spf_ok or dkim_ok:
            how = " and ".join(x for x, ok in (("SPF", spf_ok), ("DKIM", dkim_ok)) if ok)
            return DmarcOutcome(DmarcResult.PASS, domain, "none", "none", f"{how} aligned",
                                record, spf_ok, dkim_ok)
        if any(self.aligned("r", domain, d) for d in unsure):
            return DmarcOutcome(DmarcResult.TEMPERROR, domain, "none", "none",
                                "an identifier aligned with the From: domain could not be "
                                "checked (DNS)", record)
        subdomain = record.at_org and domain != self.org(domain)
        policy = record.sp if subdomain else record.p
        disposition = policy
        if record.pct < 100 and self.sample() * 100 >= record.pct:  # RFC 7489 §6.6.4
            disposition = DOWNGRADE[policy]
        reason = "neither SPF nor DKIM passed aligned with the From: domain"
        return DmarcOutcome(DmarcResult.FAIL, domain, policy, disposition, reason, record)
