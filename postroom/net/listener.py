"""TCP and UDP listeners: accept, attribute (PROXY), limit, hand over, drain on shutdown.

A ``Service`` is what a protocol front-end gives the listener: ``serve(conn)`` runs one session;
``refuse(reason)`` is the one-line reply sent before closing a connection the listener will not
serve (too many from one address, listener full), in that protocol's own words; a service may
also have ``blocked(reason)``, said instead to a client address dynamic screening refuses, or
``serve_blocked(conn, reason)`` for a short exchange before closing (SMTP waits for QUIT).

How a session ends decides what is logged, once per connection and here: a client that goes
away, idles out or is cut off by TLS logs nothing; a flood of one line (``LineTooLong``, after
the session has answered in its protocol's words) logs one warning naming the service, the
client address and the limit, with no traceback, since any client can cause it at will; any
other exception is a bug and is logged with its traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import itertools
import logging
import os
import ssl
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from postroom.net import proxy
from postroom.net.connection import Connection, ConnectionClosed, IdleTimeout, LineTooLong
from postroom.obs.log import conn_id

log = logging.getLogger("postroom.net")

_ids = itertools.count(1)
_PREFIX = os.urandom(2).hex()


def new_conn_id() -> str:
    return f"{_PREFIX}{next(_ids):06x}"


class Service(Protocol):
    name: str

    async def serve(self, conn: Connection) -> None: ...

    def refuse(self, reason: str) -> bytes: ...


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(items: Sequence[str]) -> list[Network]:
    return [ipaddress.ip_network(item, strict=False) for item in items]


def in_networks(address: str, networks: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return any(ip in net for net in networks)


def plaintext_allowed(conn: Connection, networks: Sequence[Network]) -> bool:
    """May a password travel on this connection: inside TLS, or from a network the
    administrator listed in ``server.plaintext_auth_networks`` (specs.md §0). One rule for
    IMAP, SMTP and POP3."""
    return conn.tls or in_networks(conn.peer[0], networks)


@dataclass(slots=True)
class ListenerSpec:
    service: Service
    label: str  # e.g. "imap", "imaps"
    host: str
    port: int
    tls: str  # "none" | "starttls" | "implicit"
    ssl_context: ssl.SSLContext | None = None
    connections_per_ip: int = 50
    max_connections: int = 20000
    proxy_networks: list[Network] = field(default_factory=list)
    handshake_timeout: float = 30.0
    note: str = ""
    # Dynamic screening (services/screening.py): why a client address is refused at
    # connect, or None. Asked once per connection, after the PROXY header.
    screen: Callable[[str], Awaitable[str | None]] | None = None
    # Told the listener's label for each connection served (obs/metrics.py counts them).
    on_connect: Callable[[str], None] | None = None
    # Told the label and the seconds a served connection lasted, when it ends.
    on_close: Callable[[str, float], None] | None = None


class BoundListener:
    """What a TCP listener and an HTTP listener share: a socket bound from a spec's host,
    port and TLS mode, that starts accepting at once or only when ``serve`` is called (the
    server binds as root and accepts after dropping privileges), and the per-address
    connection count both limits read."""

    server: asyncio.Server | None
    per_ip: dict[str, int]

    @property
    def port(self) -> int:
        if self.server and self.server.sockets:
            return int(self.server.sockets[0].getsockname()[1])
        return self._spec_port()

    def _spec_port(self) -> int:
        raise NotImplementedError

    async def _bind(self, factory: Callable[[], asyncio.BaseProtocol], host: str, port: int,
                    ctx: ssl.SSLContext | None, serve: bool, **extra: Any) -> None:
        """Bind; accept at once, or (``serve=False``) only once ``serve()`` is called (no
        connection is even queued before: the socket is not listening yet)."""
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(factory, host, port, ssl=ctx,
                                               reuse_address=True, backlog=1024,
                                               start_serving=serve, **extra)

    async def serve(self) -> None:
        if self.server is not None:
            await self.server.start_serving()

    def count_in(self, ip: str) -> None:
        self.per_ip[ip] = self.per_ip.get(ip, 0) + 1

    def count_out(self, ip: str) -> None:
        left = self.per_ip.get(ip, 1) - 1
        if left:
            self.per_ip[ip] = left
        else:
            self.per_ip.pop(ip, None)


class TcpListener(BoundListener):
    def __init__(self, spec: ListenerSpec) -> None:
        self.spec = spec
        self.server: asyncio.Server | None = None
        self.per_ip: dict[str, int] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.conns: set[Connection] = set()
        self.draining = asyncio.Event()

    def _spec_port(self) -> int:
        return self.spec.port

    async def start(self, serve: bool = True) -> None:
        ctx = self.spec.ssl_context if self.spec.tls == "implicit" else None
        await self._bind(self._factory, self.spec.host, self.spec.port, ctx, serve,
                         ssl_handshake_timeout=self.spec.handshake_timeout if ctx else None)

    def _factory(self) -> Connection:
        conn = Connection(new_conn_id(), self.draining)
        task = asyncio.get_running_loop().create_task(self._run(conn))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return conn

    async def _run(self, conn: Connection) -> None:
        conn_id.set(conn.id)
        if not await self._made(conn):
            conn.close()
            return
        if (self.spec.proxy_networks and in_networks(conn.peer[0], self.spec.proxy_networks)
                and not await self._read_proxy(conn)):
            conn.close()
            return
        ip = conn.peer[0]
        if self.spec.screen is not None:
            reason = await self.spec.screen(ip)
            if reason is not None:
                log.warning("refused: blocked", extra={"ip": ip, "service": self.spec.label,
                                                       "reason": reason})
                await self._refuse_blocked(conn, reason)
                return
        if len(self.conns) >= self.spec.max_connections:
            await self._refuse(conn, "listener is at its connection limit")
            return
        if self.per_ip.get(ip, 0) >= self.spec.connections_per_ip:
            log.warning("refused: too many connections", extra={"ip": ip,
                                                                 "service": self.spec.label})
            await self._refuse(conn, "too many connections from your address")
            return
        self.count_in(ip)
        self.conns.add(conn)
        if self.spec.on_connect is not None:
            self.spec.on_connect(self.spec.label)
        opened = time.monotonic()
        log.debug("connect", extra={"ip": ip, "service": self.spec.label, "tls": conn.tls})
        try:
            await self.spec.service.serve(conn)
        except (ConnectionClosed, ConnectionError, IdleTimeout, ssl.SSLError):
            pass
        except LineTooLong as exc:
            log.warning("line too long: connection closed", extra={
                "service": self.spec.label, "ip": ip, "limit": exc.limit})
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("session failed", extra={"service": self.spec.label})
        finally:
            conn.close()
            self.conns.discard(conn)
            self.count_out(ip)
            if self.spec.on_close is not None:
                self.spec.on_close(self.spec.label, time.monotonic() - opened)

    async def _made(self, conn: Connection) -> bool:
        """Wait for the transport (and its TLS handshake) unless the server stops first.

        A separate coroutine so that its futures are gone once it returns: ``_run`` lives as
        long as the connection, and its frame would keep them alive."""
        if not conn.made.done():
            stopping = asyncio.ensure_future(self.draining.wait())
            waiters: list[asyncio.Future[Any]] = [conn.made, stopping]
            await asyncio.wait(waiters, timeout=self.spec.handshake_timeout + 5,
                               return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
        return conn.made.done() and not self.draining.is_set()

    async def _read_proxy(self, conn: Connection) -> bool:
        """The PROXY header (proxy.py bounds it: 107 octets for v1, 16 + 65,535 for v2), or
        False after one warning: the protocol has not started, so there is no one to answer."""
        while True:
            try:
                result = proxy.parse(conn.peek())
            except proxy.ProxyError as exc:
                log.warning("bad PROXY header", extra={"service": self.spec.label,
                                                       "ip": conn.peer[0], "error": str(exc)})
                return False
            if isinstance(result, proxy.ProxyInfo):
                conn.consume(result.consumed)
                if result.source is not None:
                    conn.peer = result.source
                return True
            try:
                await conn.wait_data(timeout=10)
            except (ConnectionClosed, IdleTimeout):
                return False

    async def _refuse(self, conn: Connection, reason: str) -> None:
        with contextlib.suppress(ConnectionClosed):
            await conn.send(self.spec.service.refuse(reason))
        conn.close()

    async def _refuse_blocked(self, conn: Connection, reason: str) -> None:
        """A blocked client: the service's own exchange for it (``serve_blocked``, SMTP's
        wait for QUIT), else its own words (``blocked``), else its ordinary refusal; then
        the connection is closed."""
        service = self.spec.service
        exchange = getattr(service, "serve_blocked", None)
        words = getattr(service, "blocked", None)
        with contextlib.suppress(ConnectionClosed, ConnectionError, IdleTimeout, LineTooLong,
                                 ssl.SSLError):
            if callable(exchange):
                await exchange(conn, reason)
            else:
                await conn.send(words(reason) if callable(words) else service.refuse(reason))
        conn.close()

    async def stop(self, grace: float) -> None:
        """Stop accepting, let sessions finish their current command, then cut the rest."""
        if self.server is not None:
            self.server.close()
        self.draining.set()
        for conn in list(self.conns):
            conn.wake_for_shutdown()
        if self.tasks:
            _done, pending = await asyncio.wait(list(self.tasks), timeout=grace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=1.0)


DatagramHandler = Callable[[bytes, tuple[str, int]], Awaitable[bytes | None]]


class _Datagram(asyncio.DatagramProtocol):
    def __init__(self, handler: DatagramHandler) -> None:
        self.handler = handler
        self.transport: Any = None  # event-loop transports need not subclass the ABCs
        self.tasks: set[asyncio.Task[None]] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        task = asyncio.get_running_loop().create_task(self._answer(data, (str(addr[0]),
                                                                          int(addr[1]))))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _answer(self, data: bytes, addr: tuple[str, int]) -> None:
        conn_id.set(new_conn_id())
        try:
            reply = await self.handler(data, addr)
        except Exception:
            log.exception("datagram handler failed", extra={"ip": addr[0]})
            return
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply, addr)


class UdpListener:
    def __init__(self, label: str, host: str, port: int, handler: DatagramHandler,
                 note: str = "") -> None:
        self.label, self.host, self.requested_port = label, host, port
        self.handler = handler
        self.note = note
        self.transport: asyncio.DatagramTransport | None = None
        self.protocol: _Datagram | None = None

    @property
    def port(self) -> int:
        if self.transport is not None:
            return int(self.transport.get_extra_info("sockname")[1])
        return self.requested_port

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.create_datagram_endpoint(
            lambda: _Datagram(self.handler), local_addr=(self.host, self.requested_port))
        self.transport = transport
        self.protocol = protocol

    async def stop(self, grace: float) -> None:
        if self.transport is not None:
            self.transport.close()
        if self.protocol and self.protocol.tasks:
            await asyncio.wait(list(self.protocol.tasks), timeout=grace)
