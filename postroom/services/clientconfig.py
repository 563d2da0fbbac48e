"""Client autoconfiguration: which servers, ports and TLS modes a mail client should use.

Computed from the listeners that are enabled (given by the composition root as ``Endpoint``
values, so this service knows nothing of the registry) and the server's host name; the web
front-end only renders the result as Thunderbird's config-v1.1 XML or Outlook's Autodiscover
POX (docs/web.md). Answers only for domains this server hosts: a client asking about another
domain learns nothing, and the web layer answers 404.

Preference follows RFC 8314 §3: implicit TLS first (IMAP 993, submission 465), then STARTTLS
(143, 587); a listener without TLS is never offered, since a client would send its password in
the clear.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from postroom.core.address import normalize_domain
from postroom.core.errors import MailError
from postroom.directory.service import Directory

Kind = Literal["imap", "pop3", "smtp"]
Security = Literal["implicit", "starttls"]


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One enabled listener a client may use: submission and IMAP/POP3, never MX."""

    kind: Kind
    port: int
    security: Security


@dataclass(frozen=True, slots=True)
class ClientSettings:
    domain: str
    hostname: str
    username: str  # what the client logs in with: the whole address
    servers: tuple[Endpoint, ...]  # best first within each kind

    def of(self, kind: Kind) -> list[Endpoint]:
        return [e for e in self.servers if e.kind == kind]


class ClientConfig:
    def __init__(self, directory: Directory, hostname: str,
                 endpoints: list[Endpoint]) -> None:
        self._directory = directory
        self.hostname = hostname
        self.endpoints: tuple[Endpoint, ...] = ()
        self.set_endpoints(endpoints)

    def set_endpoints(self, endpoints: list[Endpoint]) -> None:
        """The listeners as bound (the server knows the real ports only then)."""
        # implicit TLS before STARTTLS (RFC 8314 §3.3, §3.1), stable within each mode
        self.endpoints = tuple(sorted(endpoints, key=lambda e: e.security != "implicit"))

    async def for_address(self, address: str) -> ClientSettings | None:
        """The settings for ``address`` (or a bare domain), or None when we do not host the
        domain or the input is not an address."""
        _local, at, domain = address.strip().rpartition("@")
        domain = domain if at else address.strip()
        try:
            domain = normalize_domain(domain)
        except MailError:
            return None
        if not domain or not await self._directory.is_local_domain(domain):
            return None
        username = address.strip() if at else "%EMAILADDRESS%"
        return ClientSettings(domain, self.hostname, username, self.endpoints)
