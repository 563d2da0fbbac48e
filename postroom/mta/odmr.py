"""ODMR's turnaround, provider side (RFC 2645 §4; specs.md §5): after ``250`` to ATRN the
customer becomes the SMTP server on the same connection and we deliver the held mail to it.

The customer speaks first, with its 220 greeting; we send EHLO, then each claimed queue entry
with the ordinary outbound client (PIPELINING, CHUNKING when offered; mta/client.py), then
QUIT. TLS, if the session had it, is kept. Each entry ends through the queue manager's
``conclude`` exactly as a normal outbound attempt: accepted recipients leave the queue, 5xx
ones bounce, 4xx ones wait again. When the link breaks, the entry in flight is deferred and
every entry not yet tried is released untouched: nothing is lost and nothing is sent twice.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from postroom.core import smtp
from postroom.core.records import QueueRec
from postroom.mta.attempt import Attempt, Conclude
from postroom.mta.client import SmtpClient, SmtpClientError
from postroom.mta.outbound import Outbound
from postroom.net.connection import Connection, ConnectionClosed, LineTooLong, ShuttingDown
from postroom.services.queue import QueueService

log = logging.getLogger("postroom.odmr")

MAX_REPLY_LINE = 4096


class ConnectionStream:
    """A server-side ``Connection`` seen through the SMTP client's reader/writer interface."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def readline(self) -> bytes:
        try:
            return await self.conn.readline(MAX_REPLY_LINE)
        except (ConnectionClosed, ShuttingDown):
            return b""
        except LineTooLong as exc:  # the SMTP client reports it as "no reply", one line
            raise ValueError(f"reply line longer than {exc.limit} octets") from None

    def write(self, data: bytes) -> None:
        self.conn.write(data)

    async def drain(self) -> None:
        try:
            await self.conn.drain()
        except ConnectionClosed:
            raise ConnectionError("connection closed") from None

    def close(self) -> None:
        self.conn.close()


class Turnaround:
    """What the ODMR provider session needs of the queue: claim a gateway's held mail,
    deliver it over the reversed connection, give back what was not tried."""

    def __init__(self, queue: QueueService, outbound: Outbound, conclude: Conclude,
                 hostname: str) -> None:
        self.queue = queue
        self.outbound = outbound
        self.conclude = conclude
        self.hostname = hostname

    async def claim(self, domains: Sequence[str]) -> list[QueueRec]:
        """Every entry waiting for ``domains`` (held, or between retries towards a gateway
        host), claimed so that no other delivery takes it meanwhile."""
        return await self.queue.claim_held(domains)

    async def release(self, entries: Sequence[QueueRec]) -> None:
        await self.queue.release(entries)

    async def deliver(self, conn: Connection, entries: list[QueueRec], timeout: float) -> int:
        """Deliver ``entries`` to the customer at the other end of ``conn``; return how many
        recipients it accepted."""
        peer = f"[{conn.peer[0]}] (ODMR customer)"
        client = SmtpClient(timeout)
        stream = ConnectionStream(conn)
        client.attach(stream, stream, peer, conn.tls)
        pending = list(entries)
        done = 0
        try:
            greeting = await client.read_reply()
            if greeting.code != smtp.GREETING.code:
                raise SmtpClientError(f"customer greeted with {greeting}")
            await client.ehlo(self.hostname)
            while pending:
                entry = pending.pop(0)
                try:
                    attempt = await self.outbound.send_entry(client, peer, entry)
                except SmtpClientError as exc:  # the link broke during this entry
                    await self.conclude(entry, Attempt(
                        deferred=dict.fromkeys(entry.recipients, str(exc))))
                    raise
                await self.conclude(entry, attempt)
                done += len(attempt.delivered)
            await client.quit()
        except SmtpClientError as exc:
            log.info("odmr: turnaround ended early", extra={"reason": str(exc),
                                                             "left": len(pending)})
        finally:
            if pending:
                await self.release(pending)
            client.close()
        log.info("odmr: turnaround done", extra={"recipients": done, "left": len(pending)})
        return done
