"""The SMTP front-end the listeners run: one ``SmtpSession`` per connection."""

from __future__ import annotations

from dataclasses import dataclass

from postroom.core import smtp
from postroom.mta.odmr import Turnaround
from postroom.net.connection import Connection
from postroom.protocols.smtp.odmr import OdmrSession
from postroom.protocols.smtp.session import SmtpSession, SmtpSettings
from postroom.protocols.smtp.wire import MAX_COMMAND_LINE
from postroom.services.frontdoor import MailServices

BLOCKED_COMMANDS = 5  # commands a blocked client may send before the connection is closed
BLOCKED_WAIT = 10.0  # seconds it may take for each


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
        """What a client address dynamic screening refuses is told: 554 instead of the
        greeting (RFC 5321 §3.1)."""
        code = smtp.POLICY_REFUSED
        return f"{code.code} {code.enhanced} {self.settings.hostname} Access denied: your " \
               f"address is blocked: {reason}\r\n".encode()

    async def serve_blocked(self, conn: Connection, reason: str) -> None:
        """RFC 5321 §3.1: after a 554 greeting the server waits for QUIT (221) and answers
        anything else with 503. The wait is short and counted (``BLOCKED_COMMANDS``,
        ``BLOCKED_WAIT``): the client is one we refuse for abuse, and it must not hold the
        connection open."""
        await conn.send(self.blocked(reason))
        for _ in range(BLOCKED_COMMANDS):
            line = await conn.readline(MAX_COMMAND_LINE, BLOCKED_WAIT)
            if line.split(b" ", 1)[0].strip().upper() == b"QUIT":
                code = smtp.CLOSING
                await conn.send(f"{code.code} {code.enhanced} {self.settings.hostname} "
                                f"closing connection\r\n".encode())
                return
            code = smtp.BAD_SEQUENCE
            await conn.send(f"{code.code} {code.enhanced} Access denied: send QUIT\r\n"
                            .encode())


@dataclass
class OdmrService(SmtpService):
    """The ODMR listener (RFC 2645, port 366): ``OdmrSession`` instead of mail acceptance."""

    turnaround: Turnaround | None = None
    auth_without_tls: bool = False
    timeout: float = 120.0

    async def serve(self, conn: Connection) -> None:
        await OdmrSession(self.services, self.settings, conn, self.turnaround,
                          self.auth_without_tls, self.timeout).run()
