"""The SMTP front-end the listeners run: one ``SmtpSession`` per connection."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from postroom.directory.throttle import AuthThrottle
from postroom.net.connection import Connection
from postroom.protocols.smtp.odmr import OdmrSession
from postroom.protocols.smtp.session import SmtpSession, SmtpSettings

if TYPE_CHECKING:
    from postroom.app import Services
    from postroom.mta.queue import QueueManager


@dataclass
class SmtpService:
    name: str
    services: Services
    settings: SmtpSettings
    throttle: AuthThrottle
    queue: QueueManager | None

    async def serve(self, conn: Connection) -> None:
        await SmtpSession(self.services, self.settings, conn, self.throttle, self.queue).run()

    def refuse(self, reason: str) -> bytes:
        """Refusal before the session starts (limits): 421 (RFC 5321 §3.8)."""
        return f"421 4.7.0 {self.settings.hostname} {reason.capitalize()}\r\n".encode()


@dataclass
class OdmrService(SmtpService):
    """The ODMR listener (RFC 2645, port 366): ``OdmrSession`` instead of mail acceptance."""

    async def serve(self, conn: Connection) -> None:
        await OdmrSession(self.services, self.settings, conn, self.throttle, self.queue).run()
