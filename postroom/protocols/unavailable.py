"""Placeholder front-ends for services whose protocol is not implemented yet.

Each answers with its protocol's standard "service temporarily unavailable" reply and closes, so
a sending MTA queues and retries (RFC 5321 §3.8: 421), an IMAP client shows the BYE text
(RFC 9051 §7.1.5) and a POP3 client the -ERR text. Honest and harmless: nothing is accepted that
could be lost. Replaced service by service as the protocol issues land.
"""

from __future__ import annotations

from dataclasses import dataclass

from postroom.net.connection import Connection

_TEXT = "Postroom's {kind} service is not implemented in this version"


@dataclass(slots=True)
class UnavailableService:
    name: str
    kind: str  # "smtp" | "imap" | "pop3"
    hostname: str

    def _line(self, reason: str) -> bytes:
        if self.kind == "smtp":
            return f"421 4.3.2 {self.hostname} {reason}\r\n".encode()
        if self.kind == "imap":
            return f"* BYE [UNAVAILABLE] {reason}\r\n".encode()
        return f"-ERR [SYS/TEMP] {reason}\r\n".encode()

    async def serve(self, conn: Connection) -> None:
        await conn.send(self._line(_TEXT.format(kind=self.name)))

    def refuse(self, reason: str) -> bytes:
        return self._line(reason.capitalize())
