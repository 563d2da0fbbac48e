"""The IMAP front-end the listeners run: one ``Session`` per connection.

Importing the command modules fills ``Session.COMMANDS`` (the dispatch table).
"""

from __future__ import annotations

from dataclasses import dataclass

from postroom.net.connection import Connection
from postroom.protocols.imap import (  # noqa: F401  (registration by import)
    cmd_acl,
    cmd_auth,
    cmd_fetch,
    cmd_mailbox,
    cmd_message,
    cmd_select,
    cmd_sort,
)
from postroom.protocols.imap.session import ImapSettings, Session
from postroom.services.frontdoor import MailServices


@dataclass
class ImapService:
    name: str
    services: MailServices
    settings: ImapSettings

    async def serve(self, conn: Connection) -> None:
        await Session(self.services, self.settings, conn).run()

    def refuse(self, reason: str) -> bytes:
        return f"* BYE [UNAVAILABLE] {reason.capitalize()}\r\n".encode()

    def blocked(self, reason: str) -> bytes:
        """A client address dynamic screening refuses: BYE as the greeting (RFC 9051
        §7.1.5), then the connection is closed."""
        return f"* BYE Access denied: your address is blocked: {reason}\r\n".encode()
