"""A small browser for WebAdmin tests: real HTTPS requests (http.client), a cookie jar, the
CSRF token read from the last page's forms, and the login steps (password, TOTP code with
pyotp as the authenticator, the enrolment an administrator must do).

    web = WebClient(srv.port("webadmin"))
    web.login(address, password)               # a user, or an admin with totp_admins=optional
    secret = web.login_enrolling(address, password)   # an admin's first login: enrols TOTP
    web.login(address, password, totp=secret)  # later logins
"""

from __future__ import annotations

import html
import http.client
import re
import time
from http.cookies import SimpleCookie
from urllib.parse import urlencode, urlsplit

import pyotp

from tests.support.tls import insecure_context

_CSRF = re.compile(r'<input type="hidden" name="csrf" value="([^"]*)">')
_SECRET = re.compile(r'<code id="totp-secret">([A-Z2-7]+)</code>')
_CODES = re.compile(r"<li><code>([a-z2-7-]+)</code></li>")


class Page:
    def __init__(self, status: int, headers: http.client.HTTPMessage, body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    @property
    def location(self) -> str:
        return self.headers.get("Location") or ""

    def cookies(self) -> list[str]:
        return self.headers.get_all("Set-Cookie") or []


class WebClient:
    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.port = port
        self.host = host
        self.jar: dict[str, str] = {}
        self.csrf = ""
        self.last: Page | None = None
        self.used_steps: set[int] = set()

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> Page:
        conn = http.client.HTTPSConnection(self.host, self.port, context=insecure_context(),
                                           timeout=20)
        head = {"Host": f"{self.host}:{self.port}", **(headers or {})}
        if self.jar:
            head["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.jar.items())
        conn.request(method, path, body=body, headers=head)
        response = conn.getresponse()
        page = Page(response.status, response.headers, response.read())
        conn.close()
        for line in page.cookies():
            cookie: SimpleCookie = SimpleCookie()
            cookie.load(line)
            for name, morsel in cookie.items():
                if morsel["max-age"] == "0":
                    self.jar.pop(name, None)
                else:
                    self.jar[name] = morsel.value
        found = _CSRF.search(page.text)
        if found:
            self.csrf = html.unescape(found.group(1))
        self.last = page
        return page

    def get(self, path: str) -> Page:
        return self.request("GET", path)

    def post(self, path: str, fields: dict[str, str] | None = None, *, csrf: bool = True,
             headers: dict[str, str] | None = None) -> Page:
        data = dict(fields or {})
        if csrf:
            data.setdefault("csrf", self.csrf)
        return self.request("POST", path, urlencode(data).encode(), {
            "Content-Type": "application/x-www-form-urlencoded", **(headers or {})})

    def follow(self, page: Page) -> Page:
        assert page.status in (302, 303), (page.status, page.text)
        parts = urlsplit(page.location)
        return self.get(parts.path + (f"?{parts.query}" if parts.query else ""))

    def code(self, secret: str) -> str:
        """A TOTP code newer than every one used before by this client: the server accepts a
        step once and only newer ones after it, within ±1 step of now; so this takes the
        next step up to now + 1 and waits only when those are used up. Share ``used_steps``
        between clients of one account."""
        while True:
            now = int(time.time() // 30)
            step = max(now, max(self.used_steps, default=0) + 1)  # now - 1 may lapse
            if step <= now + 1:
                self.used_steps.add(step)
                return pyotp.TOTP(secret).at(step * 30)
            time.sleep(0.5)

    def login(self, address: str, password: str, totp: str | None = None,
              next_path: str = "") -> Page:
        """Log in; the page the login lands on."""
        self.get("/login")
        fields = {"username": address, "password": password}
        if next_path:
            fields["next"] = next_path
        page = self.post("/login", fields)
        if totp is not None:
            assert page.status == 303 and page.location.startswith("/login/code"), page.text
            self.follow(page)
            fields = {"code": self.code(totp)}
            if next_path:
                fields["next"] = next_path
            page = self.post("/login/code", fields)
        assert page.status == 303, (page.status, page.text)
        return self.follow(page)

    def login_enrolling(self, address: str, password: str) -> str:
        """First login of an account that must enrol TOTP: enrol, return the secret."""
        self.get("/login")
        page = self.post("/login", {"username": address, "password": password})
        assert page.status == 303 and page.location.startswith("/login/enrol"), page.text
        page = self.follow(page)
        secret = _SECRET.search(page.text)
        assert secret, page.text
        page = self.post("/login/enrol", {"code": self.code(secret.group(1))})
        assert page.status == 200 and len(_CODES.findall(page.text)) == 10, page.text
        return secret.group(1)


def recovery_codes(page: Page) -> list[str]:
    return _CODES.findall(page.text)
