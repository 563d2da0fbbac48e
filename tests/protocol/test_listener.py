"""The listener layer over real sockets, with a tiny line protocol that exercises every path.

``LineService`` is a test protocol (not a stand-in for a Postroom component): ``STARTTLS``
upgrades, ``SLOW`` takes a while (for graceful shutdown), anything else is echoed with the
peer address the listener attributed the connection to.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import pytest_asyncio

from postroom.net import proxy
from postroom.net.connection import Connection, ShuttingDown
from postroom.net.listener import ListenerSpec, TcpListener, UdpListener, parse_networks
from postroom.net.tls import ensure_self_signed, server_context


@dataclass
class LineService:
    name: str = "line"
    tls_ctx: ssl.SSLContext | None = None
    idle: float = 5.0
    served: list[str] = field(default_factory=list)

    async def serve(self, conn: Connection) -> None:
        await conn.send(b"HELLO\r\n")
        while True:
            try:
                line = await conn.readline(1000, timeout=self.idle)
            except ShuttingDown:
                await conn.send(b"BYE shutting down\r\n")
                return
            cmd = line.strip()
            self.served.append(cmd.decode())
            if cmd == b"STARTTLS" and self.tls_ctx:
                await conn.send(b"GO\r\n")
                await conn.start_tls(self.tls_ctx)
            elif cmd == b"SLOW":
                await asyncio.sleep(0.5)
                await conn.send(b"SLOW DONE\r\n")
            elif cmd == b"QUIT":
                await conn.send(b"BYE\r\n")
                return
            else:
                await conn.send(b"ECHO " + cmd + b" FROM " + conn.peer[0].encode() +
                                (b" TLS" if conn.tls else b"") + b"\r\n")

    def refuse(self, reason: str) -> bytes:
        return f"NO {reason}\r\n".encode()


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    cert, key = ensure_self_signed(Path(tmp_path_factory.mktemp("tls")), "localhost")
    client = ssl.create_default_context(cafile=str(cert))
    return server_context(cert, key), client


async def _listener(service: LineService, tls_mode: str = "starttls",
                    ctx: ssl.SSLContext | None = None, **kw: object) -> TcpListener:
    spec = ListenerSpec(service, "line", "127.0.0.1", 0, tls_mode, ctx, **kw)  # type: ignore[arg-type]
    listener = TcpListener(spec)
    await listener.start()
    return listener


@pytest_asyncio.fixture
async def started(tls: tuple[ssl.SSLContext, ssl.SSLContext]) -> AsyncIterator[
        tuple[TcpListener, LineService]]:
    service = LineService(tls_ctx=tls[0])
    listener = await _listener(service, ctx=tls[0])
    yield listener, service
    await listener.stop(1.0)


async def _open(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port)


async def test_echo_and_quit(started: tuple[TcpListener, LineService]) -> None:
    listener, _ = started
    r, w = await _open(listener.port)
    assert await r.readline() == b"HELLO\r\n"
    w.write(b"PING\r\n")
    assert await r.readline() == b"ECHO PING FROM 127.0.0.1\r\n"
    w.write(b"QUIT\r\n")
    assert await r.readline() == b"BYE\r\n"
    w.close()


async def test_starttls_discards_pipelined_plaintext(
        started: tuple[TcpListener, LineService],
        tls: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    """CVE-2011-0411 class: bytes sent in clear after STARTTLS must never run inside TLS."""
    listener, service = started

    def client() -> tuple[bytes, bytes]:
        raw = socket.create_connection(("127.0.0.1", listener.port), timeout=5)
        assert raw.recv(100) == b"HELLO\r\n"
        raw.sendall(b"STARTTLS\r\nINJECTED\r\n")  # one segment: command + smuggled command
        got = b""
        while not got.endswith(b"\r\n"):
            got += raw.recv(100)
        tls_sock = tls[1].wrap_socket(raw, server_hostname="localhost")
        tls_sock.sendall(b"AFTER\r\n")
        reply = tls_sock.recv(200)
        tls_sock.close()
        return got, reply

    got, reply = await asyncio.to_thread(client)
    assert got == b"GO\r\n"
    # Whatever the server did with INJECTED, it was not run as a command inside TLS.
    assert reply == b"ECHO AFTER FROM 127.0.0.1 TLS\r\n"
    assert "INJECTED" not in service.served


async def test_implicit_tls(tls: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    service = LineService()
    listener = await _listener(service, "implicit", tls[0])
    try:
        r, w = await asyncio.open_connection("127.0.0.1", listener.port, ssl=tls[1],
                                             server_hostname="localhost")
        assert await r.readline() == b"HELLO\r\n"
        w.write(b"X\r\n")
        assert await r.readline() == b"ECHO X FROM 127.0.0.1 TLS\r\n"
        w.close()
        # A plaintext client on the TLS port gets nothing served and is cut off.
        r2, w2 = await _open(listener.port)
        w2.write(b"PLAIN\r\n\r\n")
        assert await asyncio.wait_for(r2.read(), 5) == b""
        assert "PLAIN" not in service.served
    finally:
        await listener.stop(1.0)


async def test_connections_per_ip_limit() -> None:
    listener = await _listener(LineService(), connections_per_ip=2)
    try:
        conns = [await _open(listener.port) for _ in range(2)]
        for r, _ in conns:
            assert await r.readline() == b"HELLO\r\n"
        r3, _w3 = await _open(listener.port)
        assert await r3.readline() == b"NO too many connections from your address\r\n"
        assert await r3.read() == b""
        conns[0][1].close()
        await asyncio.sleep(0.2)
        r4, w4 = await _open(listener.port)
        assert await r4.readline() == b"HELLO\r\n"
        for _, w in (*conns, (r4, w4)):
            w.close()
    finally:
        await listener.stop(1.0)


async def test_idle_timeout_closes() -> None:
    listener = await _listener(LineService(idle=0.3))
    try:
        r, _ = await _open(listener.port)
        assert await r.readline() == b"HELLO\r\n"
        assert await asyncio.wait_for(r.read(), 3) == b""
    finally:
        await listener.stop(1.0)


async def test_graceful_shutdown_finishes_inflight_command() -> None:
    listener = await _listener(LineService())
    r1, w1 = await _open(listener.port)
    r2, w2 = await _open(listener.port)
    for r in (r1, r2):
        assert await r.readline() == b"HELLO\r\n"
    w1.write(b"SLOW\r\n")
    await asyncio.sleep(0.1)
    stop = asyncio.ensure_future(listener.stop(3.0))
    assert await r1.readline() == b"SLOW DONE\r\n"  # in-flight command completed
    assert await r1.readline() == b"BYE shutting down\r\n"
    assert await r2.readline() == b"BYE shutting down\r\n"  # idle session told at once
    await asyncio.wait_for(stop, 4)
    with pytest.raises(OSError):
        await _open(listener.port)
    w1.close()
    w2.close()


async def test_line_too_long_is_reported() -> None:
    listener = await _listener(LineService())
    try:
        r, w = await _open(listener.port)
        await r.readline()
        w.write(b"A" * 5000 + b"\r\n")
        assert await asyncio.wait_for(r.read(), 3) == b""  # test protocol: LineTooLong ends it
    finally:
        await listener.stop(1.0)


async def test_proxy_protocol_v1_and_v2() -> None:
    listener = await _listener(LineService(), proxy_networks=parse_networks(["127.0.0.0/8"]))
    try:
        r, w = await _open(listener.port)
        w.write(b"PROXY TCP4 203.0.113.9 127.0.0.1 5555 25\r\nWHO\r\n")
        assert await r.readline() == b"HELLO\r\n"
        assert await r.readline() == b"ECHO WHO FROM 203.0.113.9\r\n"
        w.close()
        body = socket.inet_pton(socket.AF_INET6, "2001:db8::7") + bytes(16) + \
            struct.pack("!HH", 1, 2)
        r, w = await _open(listener.port)
        w.write(proxy.V2_SIGNATURE + bytes([0x21, 0x21]) + struct.pack("!H", len(body)) + body)
        w.write(b"WHO\r\n")
        assert await r.readline() == b"HELLO\r\n"
        assert await r.readline() == b"ECHO WHO FROM 2001:db8::7\r\n"
        w.close()
        r, w = await _open(listener.port)  # a trusted peer without the header: refused
        w.write(b"EHLO x\r\n")
        assert await asyncio.wait_for(r.read(), 3) == b""
    finally:
        await listener.stop(1.0)


async def test_udp_listener() -> None:
    async def handler(data: bytes, addr: tuple[str, int]) -> bytes | None:
        return None if data == b"quiet" else b"re:" + data

    udp = UdpListener("test", "127.0.0.1", 0, handler)
    await udp.start()
    try:
        loop = asyncio.get_running_loop()
        got: asyncio.Queue[bytes] = asyncio.Queue()

        class Client(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: object) -> None:
                got.put_nowait(data)

        transport, _ = await loop.create_datagram_endpoint(
            Client, remote_addr=("127.0.0.1", udp.port))
        transport.sendto(b"quiet")
        transport.sendto(b"ping")
        assert await asyncio.wait_for(got.get(), 3) == b"re:ping"
        transport.close()
    finally:
        await udp.stop(1.0)
