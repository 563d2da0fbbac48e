"""Reading the received content for the body checks (spamd, clamav), off the event loop.

``Message.read_content`` gives a stream over the content as the door holds it: in memory, or a
file the writer spilled to disk. Reads from a file may block, so they run in a worker thread;
reads from memory are done in place. Either way the stream is closed when the reader is done.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncGenerator
from typing import BinaryIO

from postroom.services.pipeline import Message


async def _read(stream: BinaryIO, size: int) -> bytes:
    if isinstance(stream, io.BytesIO):
        return stream.read(size)
    return await asyncio.get_running_loop().run_in_executor(None, stream.read, size)


async def read_upto(message: Message, limit: int) -> bytes:
    """The content's first ``limit`` octets (all of it when it is no longer)."""
    stream = await message.read_content()
    try:
        out = bytearray()
        while len(out) < limit:
            chunk = await _read(stream, min(limit - len(out), 1024 * 1024))
            if not chunk:
                break
            out += chunk
        return bytes(out)
    finally:
        stream.close()


async def chunks(message: Message, size: int) -> AsyncGenerator[bytes, None]:
    """The whole content in chunks of ``size`` octets."""
    stream = await message.read_content()
    try:
        while True:
            chunk = await _read(stream, size)
            if not chunk:
                return
            yield chunk
    finally:
        stream.close()
