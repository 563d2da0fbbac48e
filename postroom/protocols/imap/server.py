"""The IMAP front-end the listeners run: one ``Session`` per connection.

Importing the command modules fills ``Session.COMMANDS`` (the dispatch table).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from postroom.directory.throttle import AuthThrottle
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

if TYPE_CHECKING:
    from postroom.app import Services


@dataclass
class ImapService:
    name: str
    services: Services
    settings: ImapSettings
    throttle: AuthThrottle

    async def serve(self, conn: Connection) -> None:
        await Session(self.services, self.settings, conn, self.throttle).run()

    def refuse(self, reason: str) -> bytes:
        return f"* BYE [UNAVAILABLE] {reason.capitalize()}\r\n".encode()
