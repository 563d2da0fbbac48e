"""What an open HTTP connection costs in Python objects (net/http.py): the protocol's
instance dictionary stays key-shared (our attributes are slots), and a connection whose
address was screened does not keep the finished screening task. Over a real loopback socket,
with the listener as the server runs it."""

from __future__ import annotations

import asyncio
import sys

from postroom.net.http import HttpListener, HttpSpec, _LimitedH11


async def _hello(scope: dict[str, object], receive: object, send: object) -> None:
    await send({"type": "http.response.start", "status": 200,  # type: ignore[operator]
                "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})  # type: ignore[operator]


def test_an_open_connection_keeps_a_small_protocol_and_no_screening_task() -> None:
    async def run() -> None:
        screened: list[str] = []

        async def screen(ip: str) -> str | None:
            screened.append(ip)
            return None
        spec = HttpSpec("test", "127.0.0.1", 0, "none", None, connections_per_ip=10,
                        max_connections=10, screen=screen)
        listener = HttpListener(spec, _hello)  # type: ignore[arg-type]
        await listener.start()
        reader, writer = await asyncio.open_connection("127.0.0.1", listener.port)
        try:
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            await writer.drain()
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            assert head.startswith(b"HTTP/1.1 200") and screened == ["127.0.0.1"]
            assert await reader.readexactly(2) == b"ok"
            (proto,) = listener.state.connections
            assert isinstance(proto, _LimitedH11)
            # uvicorn's 25 attributes in a key-shared dict; past 30 it would be 1,584 octets
            assert sys.getsizeof(proto.__dict__) < 600, sorted(proto.__dict__)
            assert "ip" not in proto.__dict__ and proto.ip == "127.0.0.1"
            assert proto.screen_task is None  # done, not kept
        finally:
            writer.close()
            await listener.stop(1)
    asyncio.run(run())
