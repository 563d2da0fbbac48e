"""The ``mailauth`` check made from the configuration (``[mailauth]``, docs/mailauth.md)."""

from __future__ import annotations

import dns.resolver

from postroom.config import Config
from postroom.net.dns import make_resolver
from postroom.net.lookup import DnsLookup
from postroom.services.mailauth.check import MailAuthCheck, MailAuthSettings
from postroom.services.mailauth.spf import SpfLimits


def settings_from(cfg: Config, hostname: str) -> MailAuthSettings:
    m = cfg.mailauth
    return MailAuthSettings(
        authserv_id=m.authserv_id or hostname or "localhost",
        spf=m.spf, spf_helo=m.spf_helo, dkim=m.dkim, dmarc=m.dmarc, arc=m.arc,
        spf_fail=m.spf_fail, spf_temperror=m.spf_temperror, dmarc_action=m.dmarc_action,
        dmarc_temperror=m.dmarc_temperror,
        spf_limits=SpfLimits(m.spf_dns_lookups, m.spf_void_lookups, m.spf_address_lookups,
                             m.spf_time_limit),
        dkim_max_signatures=m.dkim_max_signatures, dkim_min_key_bits=m.dkim_min_key_bits,
        verify_timeout=m.verify_timeout, max_verify_size=m.max_verify_size,
        inline_verify_size=m.inline_verify_size,
        skip_networks=tuple(m.skip_networks), workers=m.workers)


def build_mailauth(cfg: Config, hostname: str) -> MailAuthCheck:
    """One check for the server's life: its resolver asks ``mailauth.dns_servers`` (else
    ``smtp.outbound.dns_servers``, else the system's), each question bounded by
    ``mailauth.dns_timeout``, with a cache of ``mailauth.dns_cache`` answers kept for their
    TTL: the same sender domains, keys and policies come back message after message, and
    asking the network for each is most of what the checks cost."""
    servers = cfg.mailauth.dns_servers or cfg.smtp.outbound.dns_servers
    resolver = make_resolver(servers, cfg.mailauth.dns_timeout)
    if cfg.mailauth.dns_cache:
        resolver.cache = dns.resolver.LRUCache(cfg.mailauth.dns_cache)
    return MailAuthCheck(settings_from(cfg, hostname), DnsLookup(
        resolver, cfg.mailauth.dns_timeout, cfg.mailauth.dns_cache))
