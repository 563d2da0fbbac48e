"""Configuration of the ACME client (RFC 8555): ``[acme]``, see docs/operations.md.

Off by default: nothing reaches the network unless an administrator sets ``enabled``. Kept in
its own module so that its keys and their limits sit together (config.py includes it).
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta

LETS_ENCRYPT = "https://acme-v02.api.letsencrypt.org/directory"
Challenge = Literal["http-01", "tls-alpn-01"]
# letters, digits, hyphens and dots (a CA refuses anything else); "*." for a wildcard, which
# only DNS-01 can validate
DnsName = Annotated[str, Meta(pattern=r"^(\*\.)?[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$",
                              max_length=253)]


def _d(text: str) -> Meta:
    return Meta(description=text)


class AcmeConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    enabled: Annotated[bool, _d(
        "Obtain and renew the server's certificate from an ACME CA (RFC 8555) and use it on "
        "every TLS listener instead of tls.cert or the self-signed one.")] = False
    directory_url: Annotated[str, _d(
        "The CA's ACME directory URL (Let's Encrypt production by default; any RFC 8555 "
        "CA). HTTPS only (RFC 8555 §6.1)."), Meta(pattern=r"^https://\S+$")] = LETS_ENCRYPT
    contact: Annotated[str, _d(
        "Email address the CA may write to about the account (expiry warnings); empty = "
        "none."), Meta(pattern=r"^([^@\s]+@[^@\s]+)?$", max_length=254)] = ""
    ca_file: Annotated[str, _d(
        "PEM CA bundle trusted for the ACME server's own HTTPS (a private CA); empty = the "
        "system's trust store.")] = ""
    names: Annotated[list[DnsName], _d(
        "Extra DNS names for the certificate, besides the host name (and the per-domain "
        "names with domains_auto).")] = msgspec.field(default_factory=list)
    domains_auto: Annotated[bool, _d(
        "Add mail.<domain>, autoconfig.<domain> and autodiscover.<domain> for every mail "
        "domain.")] = True
    challenges: Annotated[list[Challenge], _d(
        "Challenge types to answer, in order of preference: 'http-01' (on the plain HTTP "
        "listener, port 80) and 'tls-alpn-01' (RFC 8737, on the HTTPS listener, port "
        "443).")] = msgspec.field(default_factory=lambda: ["http-01", "tls-alpn-01"])
    renew_before_days: Annotated[int, _d(
        "Renew a certificate this many days before it expires."), Meta(ge=1, le=3650)] = 30
    check_interval: Annotated[float, _d(
        "Seconds between checks of the certificate (names and expiry)."),
        Meta(ge=1, le=7 * 86400)] = 43200.0
    retry_min: Annotated[float, _d(
        "Seconds before the first retry after a failed attempt; doubled after each further "
        "failure."), Meta(ge=1, le=86400)] = 300.0
    retry_max: Annotated[float, _d(
        "Longest wait between retries after failures, in seconds."),
        Meta(ge=1, le=7 * 86400)] = 86400.0
    timeout: Annotated[float, _d(
        "Seconds one request to the CA may take."), Meta(gt=0, le=300)] = 30.0
    order_timeout: Annotated[float, _d(
        "Seconds one whole issuance may take (validation and finalization) before it counts "
        "as failed."), Meta(gt=0, le=3600)] = 300.0
