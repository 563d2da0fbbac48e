"""HTTP listeners: an ASGI application on a listener of the registry (postroom/registry.py).

The listener is ours, the HTTP/1.1 protocol is uvicorn's (h11): we bind the socket with the
listener's address, port and TLS context, and enforce the same per-address and per-listener
connection limits as the mail listeners, in the protocol factory; each connection is then
served by uvicorn's ``H11Protocol``, a production HTTP implementation, with the application
running in this process and this event loop. A connection over a limit gets ``503`` and is
closed, as a mail listener answers 421 or ``* BYE``.

Shutdown follows uvicorn's own: stop accepting, ask every connection to finish its response,
wait up to the grace period, then cancel what is left.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

log = logging.getLogger("postroom.http")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
AsgiApp = Callable[[Scope, Callable[[], Awaitable[Message]],
                    Callable[[Message], Awaitable[None]]], Awaitable[None]]

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


class HttpListener:
    def __init__(self, spec: HttpSpec, app: AsgiApp) -> None:
        self.spec = spec
        self.config = uvicorn.Config(app, lifespan="off", log_config=None, access_log=False,
                                     server_header=False, proxy_headers=False,
                                     ws="none", http="h11")
        self.config.load()
        self.state = ServerState()
        self.per_ip: dict[str, int] = {}
        self.server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        if self.server and self.server.sockets:
            return int(self.server.sockets[0].getsockname()[1])
        return self.spec.port

    async def start(self, serve: bool = True) -> None:
        """Bind; accept at once, or only once ``serve()`` is called (as TcpListener)."""
        loop = asyncio.get_running_loop()
        ctx = self.spec.ssl_context if self.spec.tls == "implicit" else None
        self.server = await loop.create_server(self._protocol, self.spec.host, self.spec.port,
                                               ssl=ctx, reuse_address=True, backlog=1024,
                                               start_serving=serve)

    async def serve(self) -> None:
        if self.server is not None:
            await self.server.start_serving()

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


class _LimitedH11(H11Protocol):
    """uvicorn's HTTP/1.1 protocol behind the listener's connection limits."""

    def __init__(self, listener: HttpListener, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.listener = listener
        self.ip: str | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        peer = transport.get_extra_info("peername")
        ip = str(peer[0]) if peer else ""
        spec, per_ip = self.listener.spec, self.listener.per_ip
        if len(self.listener.state.connections) >= spec.max_connections or \
                per_ip.get(ip, 0) >= spec.connections_per_ip:
            log.warning("refused: too many connections", extra={"ip": ip,
                                                                 "service": spec.label})
            transport.write(_BUSY)
            transport.close()
            return
        self.ip = ip
        per_ip[ip] = per_ip.get(ip, 0) + 1
        super().connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self.ip is not None:
            super().data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.ip is None:
            return
        per_ip = self.listener.per_ip
        left = per_ip.get(self.ip, 1) - 1
        if left:
            per_ip[self.ip] = left
        else:
            per_ip.pop(self.ip, None)
        super().connection_lost(exc)
