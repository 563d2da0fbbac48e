"""Driving WebAdmin pages over real HTTPS without a browser, as a given user: the client logs
in through the real login page and keeps the session's cookies (tests/support/web.py does the
login); pages, services and the error mapping are exercised behind the real session layer.
"""

from __future__ import annotations

import http.client
import re
import secrets
from urllib.parse import urlencode

from postroom.web import flash
from tests.support.tls import insecure_context
from tests.support.web import WebClient

_CSRF = re.compile(r'name="csrf" value="([^"]*)"')


def logged_in(port: int, address: str, password: str) -> PageClient:
    """A client holding a real session of ``address``: it logs in through ``/login`` (the
    server must not require a second factor of this account: ``web.totp_admins = optional``
    for administrators)."""
    web = WebClient(port)
    web.login(address, password)
    return PageClient(port, "; ".join(f"{k}={v}" for k, v in web.jar.items()))


class Page:
    def __init__(self, status: int, headers: http.client.HTTPMessage, body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.text = body.decode("utf-8", "replace")

    @property
    def location(self) -> str:
        return str(self.headers.get("Location") or "")

    def flash(self) -> str:
        """The message this redirect leaves for the next page (web/flash.py: a cookie sealed
        with the server process's key, so this works for in-process servers only)."""
        for line in self.headers.get_all("Set-Cookie") or []:
            name, _, value = line.split(";")[0].partition("=")
            if name == flash.COOKIE:
                return flash.unseal(value)
        return ""

    def csrf(self) -> str:
        found = _CSRF.search(self.text)
        assert found, "no CSRF field on the page"
        return found.group(1)


class PageClient:
    def __init__(self, port: int, cookies: str = "") -> None:
        self.port = port
        self.cookies = cookies  # the session's Cookie header ("" = nobody logged in)

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> Page:
        conn = http.client.HTTPSConnection("127.0.0.1", self.port,
                                           context=insecure_context(), timeout=30)
        all_headers = dict(headers or {})
        if self.cookies:
            all_headers["Cookie"] = self.cookies
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
