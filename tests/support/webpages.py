"""Driving WebAdmin pages over real HTTPS without a browser, as a given user.

``as_user_sessions`` replaces the session layer (web/session.py ``wrap``) with one that takes
the user from a test cookie naming a ``WebUser`` prepared by the test, so page tests exercise
the pages, the services and the error mapping without going through the login and second-
factor steps (those have their own tests, and the browser tests log in for real). It must be
in place before the server builds its applications.
"""

from __future__ import annotations

import http.client
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlencode

import pytest

from postroom.core.actor import Actor, Origin
from postroom.core.principal import Principal
from postroom.web.identity import WebUser
from tests.support.tls import insecure_context

COOKIE = "test-as"
_CSRF = re.compile(r'name="csrf" value="([^"]*)"')


@contextmanager
def as_user_sessions() -> Iterator[dict[str, WebUser]]:
    """A table token → WebUser that the replaced session layer reads."""
    from postroom.web import session

    table: dict[str, WebUser] = {}

    def wrap(app: Any, services: Any, settings: Any, realm: str) -> Any:
        async def wrapped(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] == "http":
                user = None
                for name, value in scope["headers"]:
                    if name == b"cookie":
                        for part in value.decode().split(";"):
                            key, _, token = part.strip().partition("=")
                            if key == COOKIE:
                                user = table.get(token)
                scope.setdefault("state", {})["user"] = user
            await app(scope, receive, send)
        return wrapped

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(session, "wrap", wrap)
        yield table


def web_user(table: dict[str, WebUser], principal: Principal) -> str:
    """A token for ``principal`` (its cookie value)."""
    token = secrets.token_urlsafe(8)
    table[token] = WebUser(Actor(principal, Origin("webadmin", "127.0.0.1")), token,
                           "csrf-" + token)
    return token


class Page:
    def __init__(self, status: int, headers: http.client.HTTPMessage, body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.text = body.decode("utf-8", "replace")

    @property
    def location(self) -> str:
        return str(self.headers.get("Location") or "")

    def csrf(self) -> str:
        found = _CSRF.search(self.text)
        assert found, "no CSRF field on the page"
        return found.group(1)


class PageClient:
    def __init__(self, port: int, token: str | None = None) -> None:
        self.port = port
        self.token = token

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> Page:
        conn = http.client.HTTPSConnection("127.0.0.1", self.port,
                                           context=insecure_context(), timeout=30)
        all_headers = dict(headers or {})
        if self.token:
            all_headers["Cookie"] = f"{COOKIE}={self.token}"
        conn.request(method, path, body=body, headers=all_headers)
        response = conn.getresponse()
        page = Page(response.status, response.headers, response.read())
        conn.close()
        return page

    def get(self, path: str) -> Page:
        return self.request("GET", path)

    def post(self, path: str, fields: dict[str, str], csrf: str | None = None) -> Page:
        data = dict(fields)
        if csrf is not None:
            data["csrf"] = csrf
        return self.request("POST", path, urlencode(data).encode(),
                            {"Content-Type": "application/x-www-form-urlencoded"})

    def post_multipart(self, path: str, fields: dict[str, str],
                       files: dict[str, tuple[str, bytes]]) -> Page:
        boundary = "----postroom" + secrets.token_hex(8)
        parts: list[bytes] = []
        for name, value in fields.items():
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"'
                         f"\r\n\r\n{value}\r\n".encode())
        for name, (filename, content) in files.items():
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                         f'filename="{filename}"\r\nContent-Type: text/csv\r\n\r\n'.encode()
                         + content + b"\r\n")
        body = b"".join(parts) + f"--{boundary}--\r\n".encode()
        return self.request("POST", path, body,
                            {"Content-Type": f"multipart/form-data; boundary={boundary}"})
