"""HTTP listeners: an ASGI application on a listener of the registry (postroom/registry.py).

The listener is ours, the HTTP/1.1 protocol is uvicorn's (h11): we bind the socket with the
listener's address, port and TLS context, and enforce the same per-address and per-listener
connection limits as the mail listeners, in the protocol factory; each connection is then
served by uvicorn's ``H11Protocol``, a production HTTP implementation, with the application
running in this process and this event loop. A connection over a limit gets ``503`` and is
closed, as a mail listener answers 421 or ``* BYE``. A client address that dynamic screening
blocks (services/screening.py, ``HttpSpec.screen``) gets ``403`` with the reason and is closed
before any request is read; the bytes it sends meanwhile wait (past ``SCREEN_HOLD`` reading
pauses until screening has answered).

A connection from one of ``server.proxy_protocol_networks`` must open with a PROXY v1/v2 header
(net/proxy.py), exactly as on the mail ports: the bytes are held back from uvicorn until the
header is complete, the per-address limit counts the address it names, and that address is
the ASGI scope's ``client``. The TLS context is the server's one context, so a SIGHUP that
loads a new certificate into it reaches the HTTP listeners with the mail ports'.

Every request is timed around the application (``on_request``: the listener's label, the
status sent, the seconds from the request head to the response's last byte), so the request
metrics (obs/metrics.py) include what the guard answers itself (413, 500).

Shutdown follows uvicorn's own: stop accepting, ask every connection to finish its response,
wait up to the grace period, then cancel what is left.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from postroom.net import proxy
from postroom.net.listener import BoundListener, Network, in_networks

log = logging.getLogger("postroom.http")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
AsgiApp = Callable[[Scope, Callable[[], Awaitable[Message]],
                    Callable[[Message], Awaitable[None]]], Awaitable[None]]

SCREEN_HOLD = 65536  # octets of a request held back while the client's address is screened


def _blocked(reason: str) -> bytes:
    body = f"Your address is blocked: {reason}\n".encode("utf-8", "replace")
    return (b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain; charset=utf-8\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n"
            + body)


_BUSY = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
         b"Content-Length: 33\r\nConnection: close\r\n\r\nToo many connections; try again.\n")


@dataclass(slots=True)
class HttpSpec:
    label: str
    host: str
    port: int
    tls: str  # "none" | "implicit"
    ssl_context: ssl.SSLContext | None
    connections_per_ip: int
    max_connections: int
    note: str = ""
    proxy_networks: list[Network] = field(default_factory=list)
    on_connect: Callable[[str], None] | None = None  # told the label of each connection served
    # Dynamic screening (services/screening.py): why a client address is refused at connect
    # (None: it is not), as on the mail listeners (net/listener.py ListenerSpec.screen)
    screen: Callable[[str], Awaitable[str | None]] | None = None
    # told (label, status, seconds) of each request answered
    on_request: Callable[[str, int, float], None] | None = None
    # told (label, seconds) of each served connection when it ends
    on_close: Callable[[str, float], None] | None = None
    keepalive_timeout: float = 5.0
    max_header_size: int = 16384
    handshake_timeout: float = 30.0


class HttpListener(BoundListener):
    def __init__(self, spec: HttpSpec, app: AsgiApp) -> None:
        self.spec = spec
        if spec.on_request is not None:
            app = _timed(app, spec.label, spec.on_request)
        self.config = uvicorn.Config(app, lifespan="off", log_config=None, access_log=False,
                                     server_header=False, proxy_headers=False,
                                     ws="none", http="h11",
                                     timeout_keep_alive=int(max(1, spec.keepalive_timeout)),
                                     h11_max_incomplete_event_size=spec.max_header_size)
        self.config.load()
        self.state = ServerState()
        self.per_ip: dict[str, int] = {}
        self.server: asyncio.Server | None = None

    def _spec_port(self) -> int:
        return self.spec.port

    async def start(self, serve: bool = True) -> None:
        ctx = self.spec.ssl_context if self.spec.tls == "implicit" else None
        await self._bind(self._protocol, self.spec.host, self.spec.port, ctx, serve,
                         ssl_handshake_timeout=self.spec.handshake_timeout if ctx else None)

    def _protocol(self) -> _LimitedH11:
        return _LimitedH11(self, config=self.config, server_state=self.state, app_state={})

    async def stop(self, grace: float) -> None:
        if self.server is not None:
            self.server.close()
        for connection in list(self.state.connections):
            connection.shutdown()
        if self.state.tasks:
            _done, pending = await asyncio.wait(list(self.state.tasks), timeout=grace)
            for task in pending:
                task.cancel()


def _timed(app: AsgiApp, label: str, on_request: Callable[[str, int, float], None]) -> AsgiApp:
    """``app``, telling ``on_request`` of every HTTP request it answers. A request whose
    application fails before a response starts counts as the 500 the server then sends."""
    async def timed(scope: Scope, receive: Callable[[], Awaitable[Message]],
                    send: Callable[[Message], Awaitable[None]]) -> None:
        if scope.get("type") != "http":
            await app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message.get("type") == "http.response.start":
                status = int(message.get("status", 500))
            await send(message)
        try:
            await app(scope, receive, sending)
        finally:
            on_request(label, status, time.perf_counter() - start)
    return timed


PROXY_TIMEOUT = 10.0  # seconds a load balancer has to send its header, as on the mail ports


class _LimitedH11(H11Protocol):
    """uvicorn's HTTP/1.1 protocol behind the listener's connection limits and PROXY header.

    Our attributes are slots: uvicorn's protocol sets 25 attributes of its own, and past 30
    an instance's ``__dict__`` no longer shares its keys with the other instances (CPython
    3.11): 1,584 octets per connection instead of about 300, on every open connection (an
    ActiveSync phone holds one all day; docs/eas/bench.md)."""

    __slots__ = ("ip", "listener", "opened", "pending", "proxy_timer", "raw", "screen_task",
                 "screening", "source")

    def __init__(self, listener: HttpListener, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.listener = listener
        self.ip: str | None = None  # set once the connection is served (and counted)
        self.opened = 0.0  # time.monotonic() when it was
        self.pending: bytearray | None = None  # bytes held back while a PROXY header arrives
        self.raw: asyncio.Transport | None = None
        self.source: tuple[str, int] | None = None
        self.proxy_timer: asyncio.TimerHandle | None = None
        self.screening = False  # the address is being screened; bytes wait in ``pending``
        self.screen_task: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        peer = transport.get_extra_info("peername")
        ip = str(peer[0]) if peer else ""
        spec = self.listener.spec
        if spec.proxy_networks and in_networks(ip, spec.proxy_networks):
            self.raw, self.pending = transport, bytearray()
            self.proxy_timer = asyncio.get_running_loop().call_later(
                PROXY_TIMEOUT, transport.close)
            return
        self._screen(transport, ip, b"")

    def _screen(self, transport: asyncio.Transport, ip: str, rest: bytes) -> None:
        """Admit the connection once screening says the address is not blocked (a blocked
        one gets 403 and is closed, as a mail listener answers with its refusal)."""
        screen = self.listener.spec.screen
        if screen is None:
            if self._admit(transport, ip) and rest:
                super().data_received(rest)
            return
        self.raw, self.pending, self.screening = transport, bytearray(rest), True
        self.screen_task = asyncio.get_running_loop().create_task(
            self._screened(screen, transport, ip))

    async def _screened(self, screen: Callable[[str], Awaitable[str | None]],
                        transport: asyncio.Transport, ip: str) -> None:
        try:
            reason = await screen(ip)
        except Exception:
            log.exception("screening failed; the connection is served")
            reason = None
        held, self.pending, self.screening = bytes(self.pending or b""), None, False
        # the task is kept only while it runs (the loop holds weak references to tasks); a
        # done task kept for the connection's life cost every idle connection its object,
        # its coroutine and its context
        self.screen_task = None
        if transport.is_closing():
            return
        if reason is not None:
            log.warning("refused: blocked", extra={"ip": ip, "service": self.listener.spec.label,
                                                   "reason": reason})
            transport.write(_blocked(reason))
            transport.close()
            return
        if transport.is_reading() is False:
            transport.resume_reading()  # paused at SCREEN_HOLD while screening ran
        if self._admit(transport, ip) and held:
            super().data_received(held)

    def _admit(self, transport: asyncio.Transport, ip: str) -> bool:
        spec, per_ip = self.listener.spec, self.listener.per_ip
        if len(self.listener.state.connections) >= spec.max_connections or \
                per_ip.get(ip, 0) >= spec.connections_per_ip:
            log.warning("refused: too many connections", extra={"ip": ip,
                                                                 "service": spec.label})
            transport.write(_BUSY)
            transport.close()
            return False
        self.ip = ip
        self.opened = time.monotonic()
        self.listener.count_in(ip)
        if spec.on_connect is not None:
            spec.on_connect(spec.label)
        super().connection_made(transport)
        if self.source is not None:
            self.client = self.source  # the scope's client: the address the header named
        return True

    def data_received(self, data: bytes) -> None:
        if self.screening and self.pending is not None:
            self.pending += data
            if len(self.pending) > SCREEN_HOLD and self.raw is not None:
                # Back-pressure, not a refusal: a browser posts a large upload at once on a
                # new connection; closing here made it see a reset instead of any answer.
                self.raw.pause_reading()
        elif self.pending is not None:
            self._proxy_data(data)
        elif self.ip is not None:
            super().data_received(data)

    def _proxy_data(self, data: bytes) -> None:
        assert self.pending is not None and self.raw is not None
        self.pending += data
        try:
            result = proxy.parse(bytes(self.pending))
        except proxy.ProxyError as exc:
            log.warning("bad PROXY header", extra={"service": self.listener.spec.label,
                                                   "error": str(exc)})
            self._end_proxy()
            self.raw.close()
            return
        if not isinstance(result, proxy.ProxyInfo):
            return
        rest = bytes(self.pending[result.consumed:])
        transport = self.raw
        peer = transport.get_extra_info("peername")
        self._end_proxy()
        self.source = result.source
        ip = result.source[0] if result.source else (str(peer[0]) if peer else "")
        self._screen(transport, ip, rest)

    def _end_proxy(self) -> None:
        self.pending = None
        if self.proxy_timer is not None:
            self.proxy_timer.cancel()
            self.proxy_timer = None

    def connection_lost(self, exc: Exception | None) -> None:
        self._end_proxy()
        if self.ip is None:
            return
        self.listener.count_out(self.ip)
        if self.listener.spec.on_close is not None:
            self.listener.spec.on_close(self.listener.spec.label,
                                        time.monotonic() - self.opened)
        super().connection_lost(exc)
