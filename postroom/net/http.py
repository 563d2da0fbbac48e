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

from postroom.net.listener import BoundListener

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


class HttpListener(BoundListener):
    def __init__(self, spec: HttpSpec, app: AsgiApp) -> None:
        self.spec = spec
        self.config = uvicorn.Config(app, lifespan="off", log_config=None, access_log=False,
                                     server_header=False, proxy_headers=False,
                                     ws="none", http="h11")
        self.config.load()
        self.state = ServerState()
        self.per_ip: dict[str, int] = {}
        self.server: asyncio.Server | None = None

    def _spec_port(self) -> int:
        return self.spec.port

    async def start(self, serve: bool = True) -> None:
        ctx = self.spec.ssl_context if self.spec.tls == "implicit" else None
        await self._bind(self._protocol, self.spec.host, self.spec.port, ctx, serve)

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
        self.listener.count_in(ip)
        super().connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self.ip is not None:
            super().data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.ip is None:
            return
        self.listener.count_out(self.ip)
        super().connection_lost(exc)
