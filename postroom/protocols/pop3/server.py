"""The POP3 front-end the listeners run: one ``Pop3Session`` per connection."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from postroom.directory.throttle import AuthThrottle
from postroom.net.connection import Connection
from postroom.protocols.pop3.session import Pop3Session, Pop3Settings

if TYPE_CHECKING:
    from postroom.app import Services


@dataclass
class Pop3Service:
    name: str
    services: Services
    settings: Pop3Settings
    throttle: AuthThrottle

    async def serve(self, conn: Connection) -> None:
        await Pop3Session(self.services, self.settings, conn, self.throttle,
                          self.services.maildrops).run()

    def refuse(self, reason: str) -> bytes:
        """Refusal before the session starts (connection limits)."""
        return f"-ERR [SYS/TEMP] {reason.capitalize()}\r\n".encode()
