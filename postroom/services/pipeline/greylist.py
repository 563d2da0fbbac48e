"""Greylisting (RFC 6647): the first message of an unknown (client network, envelope sender,
recipient) triplet is deferred with 451 4.7.1; a retry after ``greylisting.delay`` passes.

Why it works (RFC 6647): a real MTA retries a temporary failure (RFC 5321 §4.5.4.1), most
spam software does not. Judged at RCPT (``Stage.RECIPIENT``), so the answer is per recipient
and a message to several recipients is never half-refused at DATA.

Design:
- The triplet's client part is the network, not the address (``ipv4_prefix``, default /24;
  ``ipv6_prefix``, default /64): a large sender retries from another host of the same pool.
  The sender is compared without a BATV ``prvs=`` tag, which changes with every message and
  would make every retry a new triplet.
- State lives in the store (store/repo/screening.py), so a restart forgets nothing and every
  node of a cluster shares it. Unconfirmed triplets expire after ``unconfirmed_lifetime``,
  passed ones ``confirmed_lifetime`` after they were last used.
- Exempt: authenticated clients, ``smtp.trusted_networks``, ``greylisting.exempt_networks``,
  clients on an allow list (a ``dnsbl`` zone with ``allow = true``, checked at MAIL FROM), mail
  whose sender domain is in ``greylisting.spf_allow_domains`` when SPF passed for it, and
  senders who passed before: after ``auto_allow_after`` passed triplets from one (client
  network, sender domain) its mail is no longer delayed, so known senders pay the delay
  once, not on every new recipient.
- The SPF contract: an SPF check running before this one sets ``Message.spf`` (the RFC 7208
  §2.6 result) and ``Message.spf_domain``, or adds a ``Received-SPF:`` annotation (RFC 7208
  §9.1); either is read. Without SPF nothing is exempted on that ground.
- A store failure lets the mail through (logged): greylisting is a filter, and losing its
  state for a moment must not stop mail.
- The clock is injected, so tests need not wait minutes.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import re
import time
from collections.abc import Callable

from postroom.config import GreylistConfig
from postroom.core.envelope import Stage
from postroom.core.errors import Kind
from postroom.services.pipeline import CONTINUE, Judgement, Message
from postroom.services.screening import IpNetwork, in_any, parse_ip
from postroom.store.repo.screening import GreylistRepo

log = logging.getLogger("postroom.mail")

TOUCH_EVERY = 3600  # seconds: a passed triplet's last_seen is refreshed at most this often
_PRVS = re.compile(r"^prvs=[0-9a-z]+=", re.IGNORECASE)  # BATV (draft-levine-smtp-batv §4.1)


def plain_sender(sender: str) -> str:
    """The envelope sender as greylisting compares it: lower case, without a BATV tag;
    ``<>`` for the null reverse path."""
    if not sender:
        return "<>"
    local, at, domain = sender.rpartition("@")
    if not at:
        return sender.lower()
    return f"{_PRVS.sub('', local)}@{domain}".lower()


def sender_domain(sender: str) -> str:
    return sender.rpartition("@")[2].lower().rstrip(".") if "@" in sender else ""


def spf_passed_for(message: Message) -> str | None:
    """The domain SPF passed for, if a check before this one says it did (see the module
    docstring for the contract)."""
    if message.spf is not None:
        if message.spf.lower() != "pass":
            return None
        return (message.spf_domain or sender_domain(message.sender)).lower() or None
    for line in message.annotations:
        name, _, value = line.partition(":")
        if name.strip().lower() == "received-spf":
            words = value.split()
            if not words or words[0].lower() != "pass":  # RFC 7208 §9.1: the result first
                return None
            m = re.search(r"envelope-from=\"?[^\s;\"]*@([^\s;\">]+)", value, re.IGNORECASE)
            return (m.group(1) if m else sender_domain(message.sender)).lower() or None
    return None


def domain_listed(domain: str, listed: list[str]) -> bool:
    domain = domain.lower().rstrip(".")
    return any(domain == d or domain.endswith("." + d)
               for d in (x.lower().strip(".") for x in listed) if d)


class GreylistCheck:
    name = "greylist"
    stages = frozenset({Stage.RECIPIENT})

    def __init__(self, repo: GreylistRepo, cfg: GreylistConfig,
                 clock: Callable[[], float] = time.time) -> None:
        self.repo = repo
        self.cfg = cfg  # the running configuration's section: a reload changes it in place
        self.clock = clock
        self._exempt_key: tuple[str, ...] = ()
        self._exempt: list[IpNetwork] = []

    def network(self, address: str) -> str | None:
        addr = parse_ip(address)
        if addr is None:
            return None
        prefix = self.cfg.ipv4_prefix if addr.version == 4 else self.cfg.ipv6_prefix
        return str(ipaddress.ip_network(f"{addr}/{prefix}", strict=False))

    def exemption(self, message: Message) -> str | None:
        """Why this message is not greylisted, or None."""
        client = message.client
        if client.principal is not None:
            return "authenticated"
        if client.trusted:
            return "trusted network"
        addr = parse_ip(client.address)
        if addr is None:
            return "local submission"
        key = tuple(self.cfg.exempt_networks)
        if key != self._exempt_key:
            self._exempt = [ipaddress.ip_network(n, strict=False) for n in key]
            self._exempt_key = key
        if in_any(addr, self._exempt):
            return "exempt network"
        if message.allow_listed:
            return f"allow-listed by {message.allow_listed}"
        if self.cfg.spf_allow_domains:
            domain = spf_passed_for(message)
            if domain and domain_listed(domain, self.cfg.spf_allow_domains):
                return f"SPF pass for allow-listed {domain}"
        return None

    async def judge(self, stage: Stage, message: Message) -> Judgement:
        why = self.exemption(message)
        net = self.network(message.client.address)
        if why is not None or net is None:
            self._log(message, "exempt", why or "no client address", logging.DEBUG)
            return CONTINUE
        sender = plain_sender(message.sender)
        rcpt = message.rcpt.lower()
        domain = sender_domain(sender)
        now_f = self.clock()
        now = int(now_f)
        cfg = self.cfg
        try:
            triplet, allow = await self.repo.lookup(net, sender, rcpt, domain)
            if allow is not None and cfg.auto_allow_after and \
                    allow.passes >= cfg.auto_allow_after and \
                    allow.last_seen >= now - cfg.confirmed_lifetime:
                if now - allow.last_seen >= TOUCH_EVERY:
                    await self.repo.seen(net, sender, rcpt, domain, now)
                self._log(message, "pass", f"sender passed {allow.passes} times before")
                return CONTINUE
            if triplet is not None and triplet.passed_at is not None and \
                    triplet.last_seen >= now - cfg.confirmed_lifetime:
                if now - triplet.last_seen >= TOUCH_EVERY:
                    await self.repo.seen(net, sender, rcpt, domain, now)
                self._log(message, "pass", "known triplet")
                return CONTINUE
            if triplet is not None and triplet.passed_at is None and \
                    triplet.first_seen >= now - cfg.unconfirmed_lifetime:
                waited = now_f - triplet.first_seen
                if waited >= cfg.delay:
                    await self.repo.passed(net, sender, rcpt, domain, now)
                    self._log(message, "pass", f"retried after {waited:.0f} s")
                    return CONTINUE
                return self._defer(message, cfg.delay - waited)
            # new, or expired: (re)start the clock. ceil: a retry never passes early.
            await self.repo.first_seen(net, sender, rcpt, math.ceil(now_f),
                                       int(now - cfg.unconfirmed_lifetime),
                                       int(now - cfg.confirmed_lifetime))
        except Exception:
            log.exception("greylist: state unavailable; mail let through")
            return CONTINUE
        return self._defer(message, cfg.delay)

    def _defer(self, message: Message, wait: float) -> Judgement:
        seconds = max(1, math.ceil(wait))
        self._log(message, "defer", f"new triplet, retry in {seconds} s")
        return Judgement.tempfail(f"Greylisted: this server delays mail from senders it does "
                                  f"not know yet; please try again in {seconds} "
                                  f"second{'s' if seconds != 1 else ''}",
                                  Kind.DEFERRED)

    @staticmethod
    def _log(message: Message, decision: str, reason: str, level: int = logging.INFO) -> None:
        log.log(level, "greylist", extra={"client": message.client.address,
                                    "from": f"<{message.sender}>", "to": f"<{message.rcpt}>",
                                    "decision": decision, "reason": reason})
