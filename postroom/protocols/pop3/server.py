"""The POP3 front-end the listeners run: one ``Pop3Session`` per connection."""

from __future__ import annotations

from dataclasses import dataclass

from postroom.net.connection import Connection
from postroom.protocols.pop3.session import Pop3Session, Pop3Settings
from postroom.services.frontdoor import MailServices


@dataclass
class Pop3Service:
    name: str
    services: MailServices
    settings: Pop3Settings

    async def serve(self, conn: Connection) -> None:
        await Pop3Session(self.services, self.settings, conn).run()

    def refuse(self, reason: str) -> bytes:
        """Refusal before the session starts (connection limits)."""
        return f"-ERR [SYS/TEMP] {reason.capitalize()}\r\n".encode()

    def blocked(self, reason: str) -> bytes:
        """A client address dynamic screening refuses: -ERR instead of the "+OK" greeting
        (RFC 1939 §4), which clients show as the reason, then the connection is closed."""
        return f"-ERR Access denied: your address is blocked: {reason}\r\n".encode()
