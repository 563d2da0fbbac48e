"""web/guard.py and web/problems.py driven as ASGI: an application that fails answers 500 in
the path's error format with the security headers, and nothing of the exception leaks."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from postroom.web.app import _starlette
from postroom.web.guard import CSP, Guard


def call(app: Any, path: str, body: bytes = b"", headers: list[tuple[bytes, bytes]] | None
         = None) -> tuple[int, dict[bytes, bytes], bytes]:
    sent: list[dict[str, Any]] = []
    chunks = [body]

    async def receive() -> dict[str, Any]:
        data = chunks.pop(0) if chunks else b""
        return {"type": "http.request", "body": data, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
    scope = {"type": "http", "method": "POST", "path": path, "raw_path": path.encode(),
             "query_string": b"", "headers": headers or [], "scheme": "https",
             "server": ("x", 443), "client": ("127.0.0.1", 1), "root_path": "",
             "http_version": "1.1", "asgi": {"version": "3.0"}}
    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    out = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], dict(start["headers"]), out


async def broken(scope: Any, receive: Any, send: Any) -> None:
    raise RuntimeError("secret internals /etc/passwd")


@pytest.mark.parametrize("path,ctype", [("/api/v1/x", b"application/problem+json"),
                                        ("/page", b"text/plain; charset=utf-8")])
def test_an_exception_is_a_clean_500(path: str, ctype: bytes) -> None:
    status, headers, body = call(Guard(broken, tls=True, hsts_max_age=60, max_body=100), path)
    assert status == 500 and headers[b"content-type"] == ctype
    assert b"secret" not in body and b"Traceback" not in body
    assert headers[b"content-security-policy"] == CSP.encode()
    assert headers[b"strict-transport-security"] == b"max-age=60; includeSubDomains"
    if path.startswith("/api"):
        assert json.loads(body) == {"type": "about:blank", "title": "Internal Server Error",
                                    "status": 500}


def test_starlette_errors_pass_through_the_guard() -> None:
    from starlette.routing import Route

    async def fails(request: Any) -> Any:
        raise RuntimeError("secret")
    app = Guard(_starlette([Route("/api/boom", fails, methods=["POST"])]), tls=False,
                hsts_max_age=60, max_body=100)
    status, headers, body = call(app, "/api/boom")
    assert status == 500 and b"secret" not in body
    assert headers[b"content-type"] == b"application/problem+json"
    assert b"strict-transport-security" not in headers  # not on a plain listener


def test_a_streamed_body_over_the_limit_is_413() -> None:
    async def reads(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"read"})
    status, _, body = call(Guard(reads, tls=False, hsts_max_age=0, max_body=10), "/api/x",
                           body=b"y" * 11)
    assert status == 413 and json.loads(body)["status"] == 413
