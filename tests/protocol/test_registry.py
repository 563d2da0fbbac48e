"""The listener registry (postroom/registry.py): a TCP protocol and an HTTP application are two
kinds of service with the same keys (enabled, port, listen, tls, limits).

The HTTP row here serves a tiny ASGI application written for the test, as the web front-ends
will register theirs; the server, the listener and the HTTP implementation are the real ones."""

from __future__ import annotations

import http.client
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from postroom.net.http import AsgiApp, Scope
from postroom.registry import REGISTRY, ServiceDef
from postroom.server import FrontEndContext
from tests.support.server import RunningServer, server_config
from tests.support.tls import insecure_context

HELLO = ServiceDef("hello", "imap.imaps", "hello", kind="asgi", note="test app")


def hello_app(ctx: FrontEndContext, sdef: ServiceDef) -> AsgiApp:
    async def app(scope: Scope, receive: object, send: object) -> None:
        assert scope["type"] == "http"
        body = f"hello from {ctx.hostname} on {sdef.label}: {scope['path']}".encode()
        await send({"type": "http.response.start", "status": 200,  # type: ignore[operator]
                    "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": body})  # type: ignore[operator]
    return app


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    # The HTTP row reads the keys of imap.imaps (enabled, port, tls = implicit, limits).
    cfg = server_config(Path(tmp_path_factory.mktemp("registry")),
                        extra=["imap.imaps.connections_per_ip=2"])
    rows = (*(r for r in REGISTRY if r.label != "imaps"), HELLO)
    server = RunningServer(cfg, registry=rows, apps={"hello": hello_app})
    yield server
    server.stop()


def get(port: int, path: str) -> tuple[int, bytes]:
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=insecure_context(),
                                       timeout=10)
    conn.request("GET", path)
    response = conn.getresponse()
    out = response.status, response.read()
    conn.close()
    return out


def test_an_asgi_row_is_served_with_the_listener_keys(srv: RunningServer) -> None:
    port = srv.port("hello")
    assert get(port, "/x") == (200, b"hello from mail.example.test on hello: /x")
    rows = {r.service: r for r in srv.server.table()}
    assert rows["hello"].tls == "implicit" and rows["hello"].note == "test app"
    assert "imap" in rows  # TCP rows are still there


def test_http_listeners_keep_the_per_address_limit(srv: RunningServer) -> None:
    port = srv.port("hello")
    held = []
    for _ in range(2):
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        tls = insecure_context().wrap_socket(raw, server_hostname="mail.example.test")
        tls.sendall(b"GET /keep HTTP/1.1\r\nHost: x\r\n\r\n")
        assert tls.recv(65536).startswith(b"HTTP/1.1 200")
        held.append(tls)
    status, body = get(port, "/third")
    assert status == 503 and b"Too many connections" in body
    for s in held:
        s.close()


def test_plain_http_on_a_tls_listener_is_not_served(srv: RunningServer) -> None:
    raw = socket.create_connection(("127.0.0.1", srv.port("hello")), timeout=10)
    raw.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    try:
        answer = raw.recv(65536)  # a TLS alert, or the connection closed
    except ConnectionError:
        answer = b""
    assert not answer.startswith(b"HTTP/")
