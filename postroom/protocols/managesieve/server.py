"""The ManageSieve front-end the listeners run: one ``Session`` per connection.

Importing the command modules fills ``Session.COMMANDS`` (the dispatch table).
"""

from __future__ import annotations

from dataclasses import dataclass

from postroom.net.connection import Connection
from postroom.protocols.managesieve import (  # noqa: F401  (registration by import)
    cmd_auth,
    cmd_scripts,
)
from postroom.protocols.managesieve.session import ManageSieveSettings, Scripts, Session
from postroom.protocols.managesieve.wire import response
from postroom.services.frontdoor import MailServices


@dataclass
class ManageSieveService:
    name: str
    services: MailServices
    scripts: Scripts
    settings: ManageSieveSettings

    async def serve(self, conn: Connection) -> None:
        await Session(self.services, self.scripts, self.settings, conn).run()

    def refuse(self, reason: str) -> bytes:
        """Refusal before the session starts (connection limits): BYE instead of the
        greeting, which RFC 5804 §1.7 allows (clients show its text)."""
        return response("BYE", reason.capitalize(), b"TRYLATER")

    def blocked(self, reason: str) -> bytes:
        """A client address dynamic screening refuses: BYE as the greeting."""
        return response("BYE", f"Access denied: your address is blocked: {reason}")
