"""The SMTP front-end the listeners run: one ``SmtpSession`` per connection."""

from __future__ import annotations

from dataclasses import dataclass

from postroom.core import smtp
from postroom.mta.odmr import Turnaround
from postroom.net.connection import Connection
from postroom.protocols.smtp.odmr import OdmrSession
from postroom.protocols.smtp.session import SmtpSession, SmtpSettings
from postroom.services.frontdoor import MailServices


@dataclass
class SmtpService:
    name: str
    services: MailServices
    settings: SmtpSettings

    async def serve(self, conn: Connection) -> None:
        await SmtpSession(self.services, self.settings, conn).run()

    def refuse(self, reason: str) -> bytes:
        """Refusal before the session starts (limits): 421 (RFC 5321 §3.8)."""
        code = smtp.SERVICE_UNAVAILABLE
        return f"{code.code} {code.enhanced} {self.settings.hostname} " \
               f"{reason.capitalize()}\r\n".encode()

    def blocked(self, reason: str) -> bytes:
        """A client address dynamic screening refuses: 554 instead of the greeting
        (RFC 5321 §3.1), then the connection is closed at once rather than waiting for
        QUIT: the client is an abuser, and holding its connection open helps no one."""
        code = smtp.POLICY_REFUSED
        return f"{code.code} {code.enhanced} {self.settings.hostname} Access denied: your " \
               f"address is blocked: {reason}\r\n".encode()


@dataclass
class OdmrService(SmtpService):
    """The ODMR listener (RFC 2645, port 366): ``OdmrSession`` instead of mail acceptance."""

    turnaround: Turnaround | None = None
    auth_without_tls: bool = False
    timeout: float = 120.0

    async def serve(self, conn: Connection) -> None:
        await OdmrSession(self.services, self.settings, conn, self.turnaround,
                          self.auth_without_tls, self.timeout).run()
