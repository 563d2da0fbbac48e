"""Logging in to WebAdmin (docs/web.md "Logging in", "Sessions"): the login form and its
CSRF token, session cookies, safe ``next``, logout, log out everywhere, sessions ended by a
password change or a disabled or removed account, cross-site refusals, and screened clients
refused at connect. Real server, real HTTPS (tests/support/web.py)."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from postroom.core.actor import Actor
from postroom.obs.log import TextFormatter
from tests.support.server import RunningServer, server_config, wait_for
from tests.support.tls import insecure_context
from tests.support.web import WebClient

WEB = ["web.admin.enabled=true", "web.admin.port=0", "web.session_cache_seconds=0"]


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = RunningServer(server_config(Path(tmp_path_factory.mktemp("weblogin")), extra=WEB))
    yield server
    server.stop()


def client(srv: RunningServer) -> WebClient:
    return WebClient(srv.port("webadmin"))


def logged_in(web: WebClient) -> bool:
    """GET /login sends a logged-in user home, and shows the form to anybody else."""
    page = web.get("/login")
    return page.status == 303


def test_login_form_and_session_cookie(srv: RunningServer) -> None:
    address, password = srv.add_user()
    web = client(srv)
    page = web.get("/login")
    assert page.status == 200 and 'name="csrf"' in page.text
    assert '<label for="username">' in page.text and '<label for="password">' in page.text
    [pre] = [c for c in page.cookies() if c.startswith("__Host-postroom-webadmin-csrf=")]
    for attribute in ("Path=/", "Secure", "HttpOnly", "SameSite=Strict"):
        assert attribute in pre
    assert "Domain" not in pre
    page = web.post("/login", {"username": address, "password": password})
    assert page.status == 303 and page.location == "/me"  # a user's home
    [cookie] = [c for c in page.cookies() if c.startswith("__Host-postroom-webadmin=")]
    for attribute in ("Path=/", "Secure", "HttpOnly", "SameSite=Strict"):
        assert attribute in cookie
    assert "Max-Age" not in cookie and "expires" not in cookie.lower()
    assert logged_in(web)


def test_wrong_password_is_refused_and_logged(srv: RunningServer,
                                              caplog: pytest.LogCaptureFixture) -> None:
    address, _ = srv.add_user()
    web = client(srv)
    web.get("/login")
    with caplog.at_level("INFO", logger="postroom.auth"):
        page = web.post("/login", {"username": address, "password": "not-the-password"})
    assert page.status == 403 and "Wrong user name or password." in page.text
    assert "__Host-postroom-webadmin=" not in " ".join(page.cookies())
    failed = [r for r in caplog.records if r.getMessage() == "login failed"]
    assert failed and failed[-1].__dict__["protocol"] == "webadmin"
    assert failed[-1].__dict__["user"] == address
    # the line docs/fail2ban/filter.d/postroom.conf matches
    line = TextFormatter().format(failed[-1])
    assert re.search(r" postroom\.auth conn=\S+ login failed protocol=webadmin "
                     r"ip=127\.0\.0\.1 user=", line), line
    assert not logged_in(web)
    page = web.post("/login", {"username": "", "password": ""})
    assert page.status == 400


def test_login_without_or_with_a_wrong_csrf_token_is_403(srv: RunningServer) -> None:
    address, password = srv.add_user()
    web = client(srv)
    page = web.post("/login", {"username": address, "password": password}, csrf=False)
    assert page.status == 403  # no pre-session cookie, no token
    web.get("/login")
    page = web.post("/login", {"username": address, "password": password}, csrf=False)
    assert page.status == 403
    page = web.post("/login", {"username": address, "password": password,
                               "csrf": web.csrf[:-1] + "x"})
    assert page.status == 403
    assert not logged_in(web)
    page = web.post("/login", {"username": address, "password": password})
    assert page.status == 303


def test_logged_in_forms_need_the_session_token(srv: RunningServer) -> None:
    address, password = srv.add_user()
    web = client(srv)
    web.login(address, password)
    page = web.post("/logout", {}, csrf=False)
    assert page.status == 403 and logged_in(web)
    page = web.post("/logout", {"csrf": "forged"})
    assert page.status == 403 and logged_in(web)
    page = web.request("POST", "/logout", b"", {"X-CSRF-Token": web.csrf})
    assert page.status == 303 and page.location.startswith("/login")
    assert not logged_in(web)


def test_multipart_form_carries_the_token(srv: RunningServer) -> None:
    address, password = srv.add_user()
    web = client(srv)
    web.login(address, password)
    boundary = "postroom-test-boundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n"
            f"{web.csrf}\r\n--{boundary}--\r\n").encode()
    page = web.request("POST", "/logout", body,
                       {"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert page.status == 303 and not logged_in(web)


def test_cross_site_requests_are_refused(srv: RunningServer) -> None:
    address, password = srv.add_user()
    web = client(srv)
    web.login(address, password)
    for headers in ({"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"},
                    {"Origin": "https://evil.example"},
                    {"Origin": f"https://127.0.0.1:{web.port + 1}"}):
        page = web.post("/logout", {}, headers=headers)
        assert page.status == 403, headers
    assert logged_in(web)
    # "null" is what a browser sends on our own forms under Referrer-Policy: no-referrer;
    # the token decides
    assert web.post("/logout", {"csrf": "forged"}, headers={"Origin": "null"}).status == 403
    assert logged_in(web)
    page = web.post("/logout", {}, headers={
        "Sec-Fetch-Site": "same-origin", "Origin": f"https://127.0.0.1:{web.port}"})
    assert page.status == 303 and not logged_in(web)


@pytest.mark.parametrize(("wanted", "lands"), [
    ("/queue?page=2", "/queue?page=2"), ("//evil.example/x", "/me"),
    ("https://evil.example/", "/me"), ("/\\evil.example", "/me"), ("/a\r\nSet-Cookie: x", "/me"),
    ("javascript:alert(1)", "/me")])
def test_next_is_a_path_on_this_site(srv: RunningServer, wanted: str, lands: str) -> None:
    address, password = srv.add_user()
    web = client(srv)
    web.get("/login")
    page = web.post("/login", {"username": address, "password": password, "next": wanted})
    assert page.status == 303 and page.location == lands


def test_logout_everywhere_ends_every_session(srv: RunningServer) -> None:
    address, password = srv.add_user()
    laptop, phone = client(srv), client(srv)
    laptop.login(address, password)
    phone.login(address, password)
    page = phone.post("/logout-everywhere", {})
    assert page.status == 303
    assert not logged_in(laptop) and not logged_in(phone)


def test_a_password_change_ends_the_sessions(srv: RunningServer) -> None:
    address, password = srv.add_user()
    web = client(srv)
    web.login(address, password)
    srv.call(srv.services.admin.users.set_password(Actor.operator(), address, "New-pass-1234"))
    assert not logged_in(web)
    web.login(address, "New-pass-1234")
    assert logged_in(web)


def test_disabled_and_removed_accounts_lose_their_sessions(srv: RunningServer) -> None:
    address, password = srv.add_user()
    web = client(srv)
    web.login(address, password)
    srv.call(srv.services.directory.set_state(address, "disabled"))
    assert not logged_in(web)
    srv.call(srv.services.directory.set_state(address, "active"))
    assert not logged_in(web)  # the session was ended, not suspended
    web.get("/login")
    page = web.post("/login", {"username": address, "password": password})
    assert page.status == 303
    srv.call(srv.services.admin.users.remove(Actor.operator(), address))
    assert not logged_in(web)


def test_a_disabled_account_cannot_log_in(srv: RunningServer) -> None:
    address, password = srv.add_user()
    srv.call(srv.services.directory.set_state(address, "disabled"))
    web = client(srv)
    web.get("/login")
    page = web.post("/login", {"username": address, "password": password})
    assert page.status == 403 and "Wrong user name or password." in page.text


def test_app_passwords_do_not_log_in_on_the_web(srv: RunningServer) -> None:
    """An app password is for mail clients: on the web it would skip the second factor."""
    address, _ = srv.add_user()
    rec = srv.call(srv.services.directory.require_account(address))
    actor = Actor(srv.call(srv.services.directory.principal_for(rec)), Actor.operator().origin)
    _, app_password = srv.call(srv.services.app_passwords.create(actor, "phone"))
    web = client(srv)
    web.get("/login")
    page = web.post("/login", {"username": address, "password": app_password})
    assert page.status == 403


def raw_get(port: int) -> bytes:
    """Everything the server says to one request, read until it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
            insecure_context().wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        tls.sendall(b"GET /login HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := tls.recv(4096):
            answer += chunk
    return answer


def test_failed_web_logins_feed_dynamic_screening(tmp_path: Path) -> None:
    """Failed web logins are offences like IMAP's: past screening.auth_failures the address
    is blocked, on the web listener as on the mail ports."""
    server = RunningServer(server_config(tmp_path, extra=[
        *WEB, "limits.auth_failures_per_ip=1000", "screening.exempt_networks=[]",
        "screening.auth_failures=3"]))
    try:
        address, _ = server.add_user()
        web = client(server)
        web.get("/login")
        for _ in range(3):
            assert web.post("/login", {"username": address, "password": "wrong"}).status == 403
        wait_for(lambda: server.call(server.services.screening.reason("127.0.0.1")) is not None,
                 what="the address blocked")
        answer = raw_get(server.port("webadmin"))
        assert answer.startswith(b"HTTP/1.1 403 Forbidden")
        assert b"Your address is blocked: 3 failed logins" in answer
    finally:
        server.stop()


def test_screened_clients_are_refused_at_connect(tmp_path: Path) -> None:
    server = RunningServer(server_config(tmp_path, extra=WEB))
    try:
        srv = server
        srv.call(srv.services.admin.screening.block(Actor.operator(), "127.0.0.1", 600.0,
                                                    "test block"))
        answer = raw_get(srv.port("webadmin"))
        assert answer.startswith(b"HTTP/1.1 403 Forbidden")
        assert b"test block" in answer
    finally:
        server.stop()


def test_bad_input_gets_a_4xx_never_a_500(srv: RunningServer) -> None:
    address, password = srv.add_user()
    web = client(srv)
    web.get("/login")
    assert web.post("/login", {"username": "x" * 5000, "password": "p"}).status == 400
    assert web.post("/login", {"username": address, "password": "p" * 5000}).status == 400
    assert web.post("/login", {"username": "not an address", "password": "p"}).status == 403
    page = web.request("POST", "/login", b"csrf=" + web.csrf.encode() + b"&username=\xff\xfe"
                       b"&password=%00", {"Content-Type": "application/x-www-form-urlencoded"})
    assert 400 <= page.status < 500
    page = web.request("POST", "/login", b"--b\r\nbroken", {
        "Content-Type": "multipart/form-data; boundary=b", "X-CSRF-Token": web.csrf})
    assert 400 <= page.status < 500
    page = web.request("POST", "/login", b"{}", {"Content-Type": "application/json"})
    assert page.status == 403  # no token in a body we do not read
    assert web.post("/login/code", {"code": "1"}).status == 303  # no half login: start over
    web.login(address, password)
    web.get("/me")
    for path in ("/me/app-passwords/abc/revoke", "/me/app-passwords/99999999999999999999/"
                 "revoke", "/me/sessions/%00/end", "/me/sessions/" + "a" * 3000 + "/end"):
        page = web.post(path, {})
        assert 300 <= page.status < 500, (path, page.status)
    cookie = "__Host-postroom-webadmin=" + "x" * 4000
    page = client(srv).request("GET", "/me", None, {"Cookie": cookie})
    assert page.status in (303, 400, 431)


def test_only_pages_hand_out_the_pre_session_token(srv: RunningServer) -> None:
    """A stylesheet or a health probe fetched alongside the login page must not replace the
    token of the form the page shows."""
    for path in ("/static/app.css", "/healthz"):
        page = client(srv).get(path)
        assert page.status == 200 and not page.cookies(), path
    web = client(srv)
    web.get("/login")
    token = web.jar["__Host-postroom-webadmin-csrf"]
    web.get("/login")
    assert web.jar["__Host-postroom-webadmin-csrf"] == token  # kept while it is sent back
