"""The ``mailauth`` pipeline check: SPF, DKIM, DMARC and ARC on mail from outside, one
Authentication-Results field (RFC 8601) per message, and incoming fields that claim our
authserv-id removed.

Stages (services/pipeline):
- ``SENDER`` (MAIL FROM): SPF for the HELO identity and for the MAIL FROM identity (RFC 7208
  §2.3, §2.4; a null reverse path is checked as ``postmaster@<helo>``). The results are kept
  on the message for the later stages. A ``temperror`` defers the message here (451) when
  ``spf_temperror = "tempfail"`` (RFC 7208 §8.6 lets the receiver choose).
- ``RECIPIENT``: with ``spf_fail = "reject"``, an SPF ``fail`` is refused at the first RCPT with
  550 5.7.1 and the domain's explanation (RFC 7208 §8.4 asks for exactly that code).
- ``CONTENT``: every DKIM signature (RFC 6376), the ARC chain (RFC 8617), then DMARC (RFC 7489)
  from the SPF and DKIM results; DMARC's disposition is applied as ``dmarc_action`` allows:
  ``reject`` → 550 5.7.1, ``quarantine`` → the message is filed in the recipients' Junk folder
  (Verdict QUARANTINE, services/delivery.py). A DMARC record that cannot be fetched defers
  only with ``dmarc_temperror = "tempfail"``: RFC 7489 §6.6.3 asks for no deferral, so the
  default records ``dmarc=temperror`` and accepts. Then the Authentication-Results annotation, and
  the octet ranges of forged Authentication-Results fields on ``message.drop`` so acceptance
  leaves them out of the stored copy.

Not judged: authenticated submissions and clients from ``smtp.trusted_networks`` (their mail is
ours to vouch for, RFC 7489 §3 applies to mail from other domains), mail made inside the server,
and clients in ``mailauth.skip_networks`` (loopback by default: local injection by scripts and
content filters). Forged Authentication-Results are removed from their mail all the same.

Every decision is logged on the mail log (``postroom.mail``) as one ``mailauth`` line with the
results and reasons.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from postroom.core.envelope import Stage
from postroom.core.errors import Kind
from postroom.net.lookup import CachedLookup, Lookup
from postroom.services.mailauth import results
from postroom.services.mailauth.arc import ArcOutcome, ArcVerifier
from postroom.services.mailauth.dkim import DkimSignature, DkimStatus, DkimVerifier
from postroom.services.mailauth.dmarc import DmarcEvaluator, DmarcOutcome, DmarcResult, OrgDomains
from postroom.services.mailauth.spf import (
    Record,
    SpfEvaluator,
    SpfLimits,
    SpfOutcome,
    SpfResult,
)
from postroom.services.pipeline import CONTINUE, Judgement, Message, Verdict

log = logging.getLogger("postroom.mail")

NOTE = "mailauth"  # the key of this check's findings in ``Message.notes``


@dataclass(frozen=True, slots=True)
class MailAuthSettings:
    authserv_id: str
    spf: bool = True
    spf_helo: bool = True
    dkim: bool = True
    dmarc: bool = True
    arc: bool = True
    spf_fail: str = "annotate"  # annotate | quarantine | reject
    spf_temperror: str = "tempfail"  # tempfail | annotate
    dmarc_action: str = "reject"  # reject | quarantine | annotate
    dmarc_temperror: str = "annotate"  # tempfail | annotate
    spf_limits: SpfLimits = field(default_factory=SpfLimits)
    dkim_max_signatures: int = 10
    dkim_min_key_bits: int = 1024
    verify_timeout: float = 10.0
    max_verify_size: int = 25 * 1024 * 1024
    inline_verify_size: int = 64 * 1024
    skip_networks: tuple[str, ...] = ("127.0.0.0/8", "::1/128")
    workers: int = 2


@dataclass
class _Findings:
    """What the SENDER stage learnt, for the later ones."""

    helo: SpfOutcome | None = None
    mailfrom: SpfOutcome | None = None
    sender_domain: str = ""  # the domain SPF judged for MAIL FROM (HELO's for a null sender)


_SIGNED = re.compile(rb"^(?:dkim-signature|arc-seal)[ \t]*:", re.IGNORECASE | re.MULTILINE)


def signed(head: bytes) -> bool:
    """Whether the header section has a DKIM-Signature or an ARC-Seal field: unsigned mail
    (most of it) needs no body read and no dkimpy at all."""
    return _SIGNED.search(head) is not None


class MailAuthCheck:
    name = "mailauth"
    stages = frozenset({Stage.SENDER, Stage.RECIPIENT, Stage.CONTENT})

    def __init__(self, settings: MailAuthSettings, dns: Lookup,
                 org: OrgDomains | None = None) -> None:
        self.settings = settings
        self.dns = dns
        self.org = org or OrgDomains()
        self.executor = ThreadPoolExecutor(max_workers=settings.workers,
                                           thread_name_prefix="mailauth")
        self.skip = [ipaddress.ip_network(n, strict=False) for n in settings.skip_networks]
        self.spf_records: dict[str, Record] = {}  # parsed SPF records, shared by messages

    def close(self) -> None:
        self.executor.shutdown(wait=False)

    def exempt(self, message: Message) -> str | None:
        """Why this message is not judged, or None."""
        client = message.client
        if client.principal is not None:
            return "authenticated"
        if client.trusted:
            return "trusted network"
        try:
            ip = ipaddress.ip_address(client.address)
        except ValueError:
            return "made inside the server"
        if any(ip in net for net in self.skip):
            return "client in mailauth.skip_networks"
        return None

    async def judge(self, stage: Stage, message: Message) -> Judgement:
        found = message.notes.get(NOTE)
        if not isinstance(found, _Findings):
            found = _Findings()
            message.notes[NOTE] = found
        try:
            if stage is Stage.SENDER:
                return await self._sender(message, found)
            if stage is Stage.RECIPIENT:
                return self._recipient(message, found)
            return await self._content(message, found)
        except Exception:  # a bug or a library's surprise: defer the message, never lose it
            logging.getLogger("postroom.mailauth").exception(
                "mailauth failed at %s for <%s> from %s", stage.value, message.sender,
                message.client.address)
            return Judgement.tempfail("Authentication checks failed; try again later")

    # -- MAIL FROM -------------------------------------------------------------------------
    async def _sender(self, message: Message, found: _Findings) -> Judgement:
        if self.exempt(message) is not None or not self.settings.spf:
            return CONTINUE
        client = message.client
        spf = SpfEvaluator(CachedLookup(self.dns), self.settings.spf_limits,
                           self.settings.authserv_id, self.spf_records)
        helo = client.helo.strip()
        if helo and self.settings.spf_helo:  # RFC 7208 §2.3
            found.helo = await spf.check_host(client.address, helo, f"postmaster@{helo}",
                                              helo)
        if message.sender:
            domain = message.sender.rpartition("@")[2]
            found.mailfrom = await spf.check_host(client.address, domain, message.sender,
                                                  helo)
        elif found.helo is not None:  # RFC 7208 §2.4: a null sender is checked by HELO
            found.mailfrom = found.helo
        else:
            found.mailfrom = await spf.check_host(client.address, helo, f"postmaster@{helo}",
                                                  helo)
        found.sender_domain = found.mailfrom.domain
        if found.mailfrom.result is SpfResult.TEMPERROR and \
                self.settings.spf_temperror == "tempfail":
            self._log(message, found, "tempfail", found.mailfrom.reason)
            return Judgement.tempfail(f"SPF check of {found.sender_domain} failed "
                                      "temporarily (DNS); try again later")
        return CONTINUE

    # -- RCPT --------------------------------------------------------------------------------
    def _recipient(self, message: Message, found: _Findings) -> Judgement:
        spf = found.mailfrom
        if spf is None or spf.result is not SpfResult.FAIL or \
                self.settings.spf_fail != "reject":
            return CONTINUE
        self._log(message, found, "reject", spf.reason)
        return Judgement.reject(Kind.NO_PERM, f"SPF: {spf.domain} does not allow "
                                f"{message.client.address} to send its mail: "
                                f"{spf.explanation or spf.reason}")

    # -- DATA -------------------------------------------------------------------------------
    async def _content(self, message: Message, found: _Findings) -> Judgement:
        ranges = results.forged_ranges(message.head, self.settings.authserv_id)
        if ranges:  # RFC 8601 §5
            message.drop.extend(ranges)
        if self.exempt(message) is not None:
            return CONTINUE
        dns = CachedLookup(self.dns)
        data: bytes | None = None
        if signed(message.head) and (self.settings.dkim or self.settings.arc):
            data = await self._read(message)  # only signed mail needs its body read
        signatures: list[DkimSignature] = []
        arc = ArcOutcome("none", "no ARC sets" if data is not None or not signed(message.head)
                         else "message too large to verify")
        if data is None and self.settings.dkim and signed(message.head):
            signatures = [DkimSignature(DkimStatus.POLICY, "", "", "message too large to "
                                        "verify")]
        elif data is not None:
            if self.settings.dkim:
                signatures = await DkimVerifier(
                    dns, self.executor, self.settings.dkim_max_signatures,
                    self.settings.verify_timeout, self.settings.dkim_min_key_bits,
                    self.settings.inline_verify_size).verify(data, message.head)
            if self.settings.arc:
                arc = await ArcVerifier(dns, self.executor, self.settings.verify_timeout,
                                        inline_size=self.settings.inline_verify_size) \
                    .verify(data, message.head)
        dmarc: DmarcOutcome | None = None
        if self.settings.dmarc:
            spf_domain = found.sender_domain if found.mailfrom is not None and \
                found.mailfrom.result is SpfResult.PASS else None
            unsure = [s.domain for s in signatures if s.status is DkimStatus.TEMPERROR]
            if found.mailfrom is not None and found.mailfrom.result is SpfResult.TEMPERROR:
                unsure.append(found.sender_domain)
            dmarc = await DmarcEvaluator(dns, self.org).evaluate(
                message.head, spf_domain, [s.domain for s in signatures if s.passed], unsure)
        message.annotations.append(self._header(message, found, signatures, dmarc, arc))
        return self._verdict(message, found, signatures, dmarc, arc)

    async def _read(self, message: Message) -> bytes | None:
        if message.size > self.settings.max_verify_size:
            return None
        stream = await message.read_content()
        try:
            if message.content is not None and message.content.blocks(0):
                return await asyncio.get_running_loop().run_in_executor(self.executor,
                                                                        stream.read)
            return stream.read()
        finally:
            stream.close()

    def _verdict(self, message: Message, found: _Findings, signatures: list[DkimSignature],
                 dmarc: DmarcOutcome | None, arc: ArcOutcome) -> Judgement:
        summary = self._summary(found, signatures, dmarc, arc)
        if dmarc is not None and dmarc.result is DmarcResult.TEMPERROR and \
                self.settings.dmarc_temperror == "tempfail":
            self._log(message, found, "tempfail", summary)
            return Judgement.tempfail(f"DMARC policy of {dmarc.domain} could not be "
                                      "fetched (DNS); try again later")
        action = "accept"
        verdict = CONTINUE
        if dmarc is not None and dmarc.result is DmarcResult.FAIL:
            wanted = dmarc.disposition
            allowed = self.settings.dmarc_action
            if wanted == "reject" and allowed == "reject":
                self._log(message, found, "reject", summary)
                return Judgement.reject(
                    Kind.NO_PERM, f"DMARC: {dmarc.domain} publishes p=reject and this "
                    "message is not authenticated for it (neither SPF nor DKIM aligned with "
                    "the From: domain); rejected as its owner asks")
            if wanted in ("reject", "quarantine") and allowed in ("reject", "quarantine"):
                action, verdict = "quarantine", Judgement(Verdict.QUARANTINE,
                                                          text="DMARC quarantine")
        spf = found.mailfrom
        if action == "accept" and spf is not None and spf.result is SpfResult.FAIL and \
                self.settings.spf_fail == "quarantine":
            action, verdict = "quarantine", Judgement(Verdict.QUARANTINE, text="SPF fail")
        self._log(message, found, action, summary)
        return verdict

    # -- Authentication-Results and the log --------------------------------------------------
    def _header(self, message: Message, found: _Findings, signatures: list[DkimSignature],
                dmarc: DmarcOutcome | None, arc: ArcOutcome) -> str:
        methods: list[str] = []
        if found.mailfrom is not None:  # RFC 8601 §2.7.2: smtp.mailfrom, or smtp.helo
            identity = ("smtp.mailfrom", message.sender) if message.sender else \
                ("smtp.helo", message.client.helo)
            methods.append(results.method("spf", found.mailfrom.result.value,
                                          found.mailfrom.reason, [identity]))
        if found.helo is not None and message.sender:
            methods.append(results.method("spf", found.helo.result.value, found.helo.reason,
                                          [("smtp.helo", message.client.helo)]))
        if self.settings.dkim:
            if not signatures:
                methods.append(results.method("dkim", "none", "message not signed"))
            for sig in signatures:
                methods.append(results.method(
                    "dkim", sig.status.result,
                    "" if sig.passed else sig.reason,
                    [("header.d", sig.domain), ("header.i", sig.identity),
                     ("header.s", sig.selector), ("header.a", sig.algorithm),
                     ("header.b", sig.b)]))
        if self.settings.arc:
            props = [("header.oldest-pass", str(arc.oldest_pass))] if arc.result == "pass" \
                and arc.oldest_pass else []
            methods.append(results.method("arc", arc.result,
                                          "" if arc.result == "pass" else arc.reason, props))
        if dmarc is not None:
            note = dmarc.reason
            if dmarc.record is not None:
                note = f"p={dmarc.record.p} sp={dmarc.record.sp} pct={dmarc.record.pct} " \
                       f"dis={dmarc.disposition.upper()}; {dmarc.reason}"
            methods.append(results.method("dmarc", dmarc.result.value, note,
                                          [("header.from", dmarc.domain)]))
        return results.header(self.settings.authserv_id, methods)

    @staticmethod
    def _summary(found: _Findings, signatures: list[DkimSignature],
                 dmarc: DmarcOutcome | None, arc: ArcOutcome) -> str:
        parts = []
        if found.mailfrom is not None:
            parts.append(f"spf={found.mailfrom.result.value}")
        if found.helo is not None:
            parts.append(f"spf-helo={found.helo.result.value}")
        parts += [f"dkim={s.status.result}({s.domain}: {s.reason})" for s in signatures]
        parts.append(f"arc={arc.result}")
        if dmarc is not None:
            parts.append(f"dmarc={dmarc.result.value}({dmarc.domain}: {dmarc.reason}; "
                         f"policy={dmarc.policy} disposition={dmarc.disposition})")
        return " ".join(parts)

    @staticmethod
    def _log(message: Message, found: _Findings, action: str, reason: str) -> None:
        log.info("mailauth", extra={
            "client": message.client.address, "helo": message.client.helo or "-",
            "from": f"<{message.sender}>",
            "spf": found.mailfrom.result.value if found.mailfrom else "-",
            "action": action, "reason": reason or "-"})
