"""One client connection: a buffered asyncio.Protocol with awaitable line/literal reads.

Why not asyncio streams: STARTTLS must discard every byte received before the TLS handshake
(specs.md §0, CVE-2011-0411 class), and StreamReader keeps its buffer private. Here the buffer
is ours: ``start_tls`` clears it, then upgrades the transport in place.

Reads take a timeout (idle limit) and a length limit; when the listener drains for shutdown, a
read that would wait on an empty buffer raises ``ShuttingDown`` so the protocol can say goodbye
between commands, never in the middle of one.

Over-long lines, one rule for every protocol: ``readline`` raises ``LineTooLong`` once the
line passes its limit, having buffered at most the limit plus one read (the buffer never holds
the whole line, and reading pauses above ``HIGH_WATER``). The session answers in its own words
and calls ``skip_line``, which discards the rest as it arrives, so that the tail can never run
as a command. A line that ends within ``SALVAGE`` times its limit was a client's mistake and
the session carries on; a longer one is a flood, not a mistake: ``skip_line`` raises
``LineTooLong`` again, the session says goodbye if its protocol has a way to, and the listener
closes the connection and logs it in one line (never a traceback: the case is expected).
"""

from __future__ import annotations

import asyncio
import ssl
import time
import zlib
from typing import Any


class ConnectionClosed(Exception):
    pass


class LineTooLong(Exception):
    """A line longer than ``limit`` octets. Raised by ``readline`` (the rest of the line is
    still unread: ``skip_line`` it) and by ``skip_line`` (the line went on for more than
    ``SALVAGE`` times the limit: end the session)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"line longer than {limit} octets")
        self.limit = limit


class IdleTimeout(Exception):
    pass


class ShuttingDown(Exception):
    pass


HIGH_WATER = 256 * 1024
# How long, in multiples of its limit, an over-long line may be and still be skipped so that
# the session carries on; 1 MiB for the default 64 KiB command line.
SALVAGE = 16
MAX_INFLATED = 256 * 1024 * 1024


class Connection(asyncio.Protocol):
    def __init__(self, conn_id: str, draining: asyncio.Event) -> None:
        self.id = conn_id
        # uvloop's transports implement asyncio.Transport without subclassing it: typed as Any.
        self.transport: Any = None
        self.peer: tuple[str, int] = ("", 0)
        self.local: tuple[str, int] = ("", 0)
        self.tls = False
        self.tls_object: ssl.SSLObject | None = None
        self._buf = bytearray()
        self._eof = False
        self._closed = False
        self._waiter: asyncio.Future[None] | None = None
        self._paused_reading = False
        self._write_paused = False
        self._drain_waiter: asyncio.Future[None] | None = None
        self._draining = draining
        self.started = time.monotonic()
        self.last_data = self.started  # when the peer last sent anything (IDLE's autologout)
        # Resolved by connection_made (after the TLS handshake on implicit-TLS ports). A plain
        # future, not an asyncio.Event: an Event carries a deque, and there is one per
        # connection for as long as it lives.
        self.made: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._inflate: Any = None
        self._deflate: Any = None

    # -- asyncio.Protocol callbacks -------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        peer = transport.get_extra_info("peername")
        local = transport.get_extra_info("sockname")
        if peer:
            self.peer = (str(peer[0]), int(peer[1]))
        if local:
            self.local = (str(local[0]), int(local[1]))
        obj = transport.get_extra_info("ssl_object")
        if obj is not None:
            self.tls = True
            self.tls_object = obj
        if not self.made.done():
            self.made.set_result(None)

    def data_received(self, data: bytes) -> None:
        if self._inflate is not None:
            try:
                data = self._inflate.decompress(data)
            except zlib.error:
                self.close()
                return
            if len(self._buf) + len(data) > MAX_INFLATED:  # a decompression bomb
                self.close()
                return
        self._buf += data
        self.last_data = time.monotonic()
        if len(self._buf) > HIGH_WATER and self.transport and not self._paused_reading:
            self.transport.pause_reading()
            self._paused_reading = True
        self._wake()

    def eof_received(self) -> bool:
        self._eof = True
        self._wake()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._eof = True
        self._wake()
        if self._drain_waiter and not self._drain_waiter.done():
            self._drain_waiter.set_result(None)

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        if self._drain_waiter and not self._drain_waiter.done():
            self._drain_waiter.set_result(None)

    def _wake(self) -> None:
        if self._waiter and not self._waiter.done():
            self._waiter.set_result(None)

    def wake_for_shutdown(self) -> None:
        self._wake()

    # -- reading ------------------------------------------------------------------------------
    async def _wait(self, timeout: float | None) -> None:
        if self._eof:
            raise ConnectionClosed()
        if self._draining.is_set() and not self._buf:
            raise ShuttingDown()
        self._resume()
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await asyncio.wait_for(self._waiter, timeout)
        except TimeoutError:
            raise IdleTimeout() from None
        finally:
            self._waiter = None

    async def readline(self, limit: int, timeout: float | None = None) -> bytes:
        """A line including its LF; LineTooLong when no LF comes within ``limit`` octets."""
        start = 0
        while True:
            idx = self._buf.find(b"\n", start)
            if idx >= 0:
                if idx + 1 > limit:
                    raise LineTooLong(limit)
                line = bytes(self._buf[: idx + 1])
                del self._buf[: idx + 1]
                return line
            if len(self._buf) > limit:
                raise LineTooLong(limit)
            start = len(self._buf)
            await self._wait(timeout)

    async def skip_line(self, limit: int, timeout: float | None = None) -> None:
        """After ``readline(limit)`` raised LineTooLong: discard through the next LF as the
        octets arrive (nothing is kept). LineTooLong again when the whole line, counted from
        its first octet (still buffered: ``readline`` consumes nothing it refuses), passes
        ``SALVAGE * limit``; the verdict is the same however the line was split into reads."""
        budget = limit * SALVAGE
        dropped = 0
        while True:
            idx = self._buf.find(b"\n")
            if idx >= 0:
                del self._buf[: idx + 1]
                if dropped + idx + 1 > budget:
                    raise LineTooLong(limit)
                return
            dropped += len(self._buf)
            self._buf.clear()
            if dropped > budget:
                raise LineTooLong(limit)
            await self._wait(timeout)

    async def readexactly(self, n: int, timeout: float | None = None) -> bytes:
        while len(self._buf) < n:
            await self._wait(timeout)
        data = bytes(self._buf[:n])
        del self._buf[:n]
        return data

    async def read_some(self, limit: int, timeout: float | None = None) -> bytes:
        while not self._buf:
            await self._wait(timeout)
        data = bytes(self._buf[:limit])
        del self._buf[:limit]
        return data

    def arm(self, waiter: asyncio.Future[None]) -> None:
        """Resolve ``waiter`` when more bytes, EOF or shutdown arrive, like ``wait_data``
        (at once after EOF, or in shutdown with nothing buffered). IMAP IDLE shares one future
        between this connection and its change feed, so an idle session costs one future and
        one timer instead of a task per event source."""
        self._resume()
        self._waiter = waiter
        if self._eof or (self._draining.is_set() and not self._buf):
            self._wake()

    def disarm(self) -> None:
        self._waiter = None

    def _resume(self) -> None:
        """Read again: the reader is about to wait, so the buffer will be consumed."""
        if self._paused_reading and self.transport:
            self._paused_reading = False
            self.transport.resume_reading()

    def has_line(self, limit: int) -> bool:
        """A whole line is buffered, or more than ``limit`` octets without one (so that
        ``readline`` answers at once, with the line or with ``LineTooLong``)."""
        return b"\n" in self._buf or len(self._buf) > limit

    @property
    def at_eof(self) -> bool:
        return self._eof

    @property
    def draining(self) -> bool:
        """The server is shutting down: end the session at the next command boundary."""
        return self._draining.is_set()

    async def wait_data(self, timeout: float | None = None) -> None:
        """Wait until more bytes arrive (whatever is already buffered)."""
        await self._wait(timeout)

    def buffered(self) -> int:
        return len(self._buf)

    def peek(self) -> bytes:
        return bytes(self._buf)

    def consume(self, n: int) -> None:
        del self._buf[:n]

    # -- writing ------------------------------------------------------------------------------
    def write(self, data: bytes) -> None:
        if self.transport is not None and not self._closed:
            if self._deflate is not None:
                data = self._deflate.compress(data) + self._deflate.flush(zlib.Z_SYNC_FLUSH)
            self.transport.write(data)

    def start_compression(self) -> None:
        """Raw DEFLATE both ways from now on (IMAP COMPRESS, RFC 4978 §3)."""
        self._inflate = zlib.decompressobj(-15)
        self._deflate = zlib.compressobj(6, zlib.DEFLATED, -15)

    async def drain(self) -> None:
        if self._closed:
            raise ConnectionClosed()
        if self._write_paused:
            self._drain_waiter = asyncio.get_running_loop().create_future()
            await self._drain_waiter

    async def send(self, data: bytes) -> None:
        self.write(data)
        await self.drain()

    async def send_queued(self, parts: list[bytes]) -> None:
        """Send the replies a session queued, in one write, and empty the queue. Sessions
        queue replies so that a pipelined burst of commands is answered in one packet."""
        if parts:
            data = b"".join(parts)
            parts.clear()
            await self.send(data)

    # -- TLS ----------------------------------------------------------------------------------
    async def start_tls(self, context: ssl.SSLContext, timeout: float = 30.0, *,
                        server_side: bool = True, server_hostname: str | None = None) -> None:
        """Upgrade in place. Every byte buffered before this call is discarded: a client that
        pipelined commands after STARTTLS must not have them run as if encrypted. The client
        side (``server_side=False``) is ODMR's customer, which starts as an SMTP client."""
        assert self.transport is not None
        self._buf.clear()
        loop = asyncio.get_running_loop()
        new = await loop.start_tls(self.transport, self, context, server_side=server_side,
                                   server_hostname=server_hostname,
                                   ssl_handshake_timeout=timeout)
        if new is None:
            raise ConnectionClosed()
        self.transport = new
        self.tls = True
        obj: Any = new.get_extra_info("ssl_object")
        self.tls_object = obj

    def close(self) -> None:
        if self.transport is not None and not self._closed:
            self.transport.close()

    @property
    def closed(self) -> bool:
        return self._closed
