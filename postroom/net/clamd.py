"""A small asyncio client for ClamAV's clamd: INSTREAM, VERSION, PING, RELOAD.

The protocol (clamd(8), "COMMANDS"): one command per connection here, each sent as
``zCOMMAND\\0`` (the ``z`` form: NUL-terminated command and reply, so a reply can never be
confused with a line of the stream), over TCP or a Unix socket.

``INSTREAM`` sends the content as chunks, each a 4-octet big-endian length and that many
octets, ended by a zero length. clamd itself unpacks MIME (base64 attachments), archives (zip,
nested) and the rest, exactly as it would scanning a file, so nothing is decoded here. Replies:
``stream: OK``, ``stream: <signature> FOUND``, or ``<reason> ERROR``.

clamd refuses a stream longer than its ``StreamMaxLength`` (25 MB by default): it answers
``INSTREAM size limit exceeded. ERROR`` and closes the connection, possibly while we are still
writing. The client knows the limit it was configured with (``max_stream``, kept equal to
clamd's) and says so before sending (``StreamTooLong``). When clamd's limit is lower after
all, its refusal is read if it arrives (the reply is awaited while we send), but clamd closes
with our unread chunks in its buffer, so the kernel resets the connection and may drop the
refusal: the client then reports ``ClamdUnavailable``. Either way a partly sent stream never
yields a verdict.

Failures are split in two, so a caller can retry the right ones: ``ClamdUnavailable`` (nothing
listens, or the connection was refused or reset before any answer: clamd restarting, or busy
with a RELOAD on an old build) and ``ClamdError`` (a timeout, an ERROR reply, a garbled one).
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass
from typing import Any, BinaryIO, TypeVar

from postroom.net.spamd import Endpoint, close

MAX_REPLY = 64 * 1024
T = TypeVar("T")


class ClamdError(Exception):
    """clamd answered with an error, garbled, or too slowly."""


class ClamdUnavailable(ClamdError):
    """clamd could not be reached, or dropped the connection before answering."""


class StreamTooLong(ClamdError):
    """The content is longer than clamd's StreamMaxLength: clamd will not scan it."""


@dataclass(frozen=True, slots=True)
class ScanResult:
    infected: bool
    signature: str = ""  # the signature name clamd reported, when infected


async def file_chunks(stream: BinaryIO, size: int) -> AsyncIterator[bytes]:
    """Chunks of ``size`` octets from a binary stream. The stream is the door's writer
    (memory, or a file just written and still in the page cache), so a read is quick."""
    while True:
        chunk = stream.read(size)
        if not chunk:
            return
        yield chunk


class ClamdClient:
    def __init__(self, address: str, timeout: float = 60.0, connect_timeout: float = 5.0,
                 chunk_size: int = 64 * 1024, max_stream: int = 25 * 1024 * 1024) -> None:
        self.endpoint = Endpoint.parse(address)
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.chunk_size = chunk_size
        self.max_stream = max_stream

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        try:
            return await self.endpoint.connect(self.connect_timeout)
        except TimeoutError:
            raise ClamdUnavailable(f"clamd at {self.endpoint}: connect timed out") from None
        except OSError as exc:
            raise ClamdUnavailable(f"clamd at {self.endpoint}: {exc.strerror or exc}") \
                from None

    async def command(self, name: str) -> str:
        """A simple command (VERSION, PING, RELOAD): its NUL-terminated reply."""
        async def go() -> str:
            reader, writer = await self._connect()
            try:
                writer.write(b"z" + name.encode() + b"\0")
                await writer.drain()
                return await self._reply(reader)
            finally:
                await close(writer)
        return await self._bounded(go())

    async def version(self) -> str:
        """``ClamAV 1.4.6/27000/Thu Dec  3 08:00:00 2026``: engine/signature version/date
        (the last two only when an official database is loaded)."""
        return await self.command("VERSION")

    async def ping(self) -> bool:
        return await self.command("PING") == "PONG"

    async def reload(self) -> str:
        return await self.command("RELOAD")

    async def scan_bytes(self, data: bytes) -> ScanResult:
        async def chunks() -> AsyncIterator[bytes]:
            for at in range(0, len(data), self.chunk_size):
                yield data[at:at + self.chunk_size]
        return await self.instream(chunks())

    async def scan_stream(self, stream: BinaryIO) -> ScanResult:
        return await self.instream(file_chunks(stream, self.chunk_size))

    async def instream(self, chunks: AsyncIterator[bytes]) -> ScanResult:
        """Scan what ``chunks`` yields with INSTREAM."""
        return await self._bounded(self._instream(chunks))

    async def _instream(self, chunks: AsyncIterator[bytes]) -> ScanResult:
        reader, writer = await self._connect()
        # The reply is awaited while we send: clamd answers early (and closes) when the
        # stream passes its StreamMaxLength, and a reply already read must win over the
        # reset our next write then meets.
        answer = asyncio.ensure_future(self._reply(reader))
        sent = 0
        lost: OSError | None = None
        try:
            try:
                writer.write(b"zINSTREAM\0")
                async for chunk in chunks:
                    if answer.done():
                        break
                    sent += len(chunk)
                    if sent > self.max_stream:
                        raise StreamTooLong(f"content longer than clamd's stream limit "
                                            f"({self.max_stream} octets)")
                    writer.write(struct.pack(">I", len(chunk)) + chunk)
                    await writer.drain()
                else:
                    writer.write(struct.pack(">I", 0))
                    await writer.drain()
            except (ConnectionResetError, BrokenPipeError) as exc:
                lost = exc
            try:
                reply = await answer
            except ClamdUnavailable:
                if lost is None:
                    raise
                raise ClamdUnavailable(f"clamd at {self.endpoint}: connection lost while "
                                       f"sending ({lost.strerror or lost})") from None
            return self._result(reply)
        finally:
            if not answer.done():
                answer.cancel()
            await close(writer)

    def _result(self, reply: str) -> ScanResult:
        if reply.endswith(" FOUND"):
            name = reply.removesuffix(" FOUND").partition(": ")[2] or reply
            return ScanResult(True, name.strip())
        if reply.endswith("OK"):
            return ScanResult(False)
        if "size limit exceeded" in reply:
            raise StreamTooLong(f"clamd: {reply}")
        raise ClamdError(f"clamd: {reply}")

    async def _reply(self, reader: asyncio.StreamReader) -> str:
        try:
            raw = await reader.readuntil(b"\0")
        except asyncio.IncompleteReadError as exc:
            if not exc.partial:
                raise ClamdUnavailable(f"clamd at {self.endpoint}: closed without an "
                                       "answer") from None
            raw = exc.partial
        except asyncio.LimitOverrunError:
            raise ClamdError(f"clamd at {self.endpoint}: reply too long") from None
        except (ConnectionResetError, BrokenPipeError) as exc:
            raise ClamdUnavailable(f"clamd at {self.endpoint}: {exc.strerror or exc}") \
                from None
        return raw.rstrip(b"\0").decode("utf-8", "replace").strip()[:MAX_REPLY]

    async def _bounded(self, work: Coroutine[Any, Any, T]) -> T:
        """The whole exchange within ``timeout``; OS errors become ``ClamdUnavailable``."""
        try:
            return await asyncio.wait_for(work, self.timeout)
        except TimeoutError:
            raise ClamdError(f"clamd at {self.endpoint}: no answer in {self.timeout:g} s") \
                from None
        except OSError as exc:
            raise ClamdUnavailable(f"clamd at {self.endpoint}: {exc.strerror or exc}") \
                from None
