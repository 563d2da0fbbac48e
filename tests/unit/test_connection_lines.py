"""The over-long line rule of net/connection.py, driven without sockets: a fake transport
delivers chunks only while reading is not paused, as a real one does, so the tests see how
much the reader buffers, and whether the verdict depends on how a line was split into reads.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from postroom.net.connection import HIGH_WATER, SALVAGE, Connection, LineTooLong

LIMIT = 4096


class Transport:
    """Enough of an asyncio transport for ``Connection``: flow control and nothing else."""

    def __init__(self) -> None:
        self.paused = False

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False

    def get_extra_info(self, name: str) -> Any:
        return ("127.0.0.1", 1) if name in ("peername", "sockname") else None

    def write(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        pass


async def feed(conn: Connection, transport: Transport, data: bytes, chunk: int,
               peak: list[int]) -> None:
    """Deliver ``data`` in ``chunk``-sized reads, waiting while reading is paused; note the
    largest buffer the connection ever held."""
    for at in range(0, len(data), chunk):
        while transport.paused:
            await asyncio.sleep(0)
        conn.data_received(data[at:at + chunk])
        peak[0] = max(peak[0], conn.buffered())
        await asyncio.sleep(0)


async def connection() -> tuple[Connection, Transport]:
    conn = Connection("t", asyncio.Event())
    transport = Transport()
    conn.connection_made(transport)  # type: ignore[arg-type]
    return conn, transport


async def test_a_flood_is_never_buffered_whole() -> None:
    """2 MiB without a line end: refused after at most the limit plus one read; skipping
    keeps nothing; the buffer stays bounded by flow control however long the line."""
    conn, transport = await connection()
    peak = [0]
    chunk = 65536
    sender = asyncio.ensure_future(feed(conn, transport, b"A" * (2 << 20), chunk, peak))
    with pytest.raises(LineTooLong) as refused:
        await conn.readline(LIMIT)
    assert refused.value.limit == LIMIT
    assert conn.buffered() <= LIMIT + chunk
    with pytest.raises(LineTooLong) as flood:
        await conn.skip_line(LIMIT)
    assert flood.value.limit == LIMIT
    sender.cancel()
    assert peak[0] <= HIGH_WATER + chunk


@pytest.mark.parametrize("chunk", [1, 7, 1000, 4097, 70000])
async def test_salvage_boundary_does_not_depend_on_reads(chunk: int) -> None:
    """A line of exactly ``SALVAGE`` times the limit (its LF included) is skipped and the next
    line read; one octet more is a flood, however the octets arrive."""
    for extra, salvaged in ((0, True), (1, False)):
        conn, transport = await connection()
        line = b"x" * (LIMIT * SALVAGE - 1 + extra) + b"\n"
        sender = asyncio.ensure_future(feed(conn, transport, line + b"NEXT\r\n", chunk, [0]))
        with pytest.raises(LineTooLong):
            await conn.readline(LIMIT)
        if salvaged:
            await conn.skip_line(LIMIT)
            assert await conn.readline(LIMIT) == b"NEXT\r\n"
        else:
            with pytest.raises(LineTooLong):
                await conn.skip_line(LIMIT)
        sender.cancel()


async def test_the_limit_counts_the_line_end() -> None:
    conn, _ = await connection()
    conn.data_received(b"x" * (LIMIT - 1) + b"\n" + b"y" * LIMIT + b"\n")
    assert len(await conn.readline(LIMIT)) == LIMIT
    with pytest.raises(LineTooLong):
        await conn.readline(LIMIT)
    await conn.skip_line(LIMIT)
    assert conn.buffered() == 0
