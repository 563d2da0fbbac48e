"""TOTP on the web login (docs/web.md "Two-factor authentication"): an administrator without
it is sent to enrolment and can do nothing else; the code step with pyotp as the
authenticator; a code works once; recovery codes; wrong codes count as failed logins and end
the login after ``web.login_code_attempts``; ``web.totp_admins = "optional"``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyotp
import pytest

from postroom.core.actor import Actor
from postroom.services.admin.directory import NewAccount
from tests.support.server import RunningServer, run_cli, server_config
from tests.support.web import WebClient, recovery_codes

WEB = ["web.admin.enabled=true", "web.admin.port=0", "web.session_cache_seconds=0",
       "web.login_code_attempts=3"]


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = RunningServer(server_config(Path(tmp_path_factory.mktemp("web2fa")), extra=WEB))
    yield server
    server.stop()


def admin(srv: RunningServer, name: str) -> tuple[str, str]:
    address, password = f"{name}@example.test", "Admin-pass-1234"
    srv.call(srv.services.admin.users.add(Actor.operator(), NewAccount(address, password)))
    srv.call(srv.services.admin.roles.set(Actor.operator(), address, None, True))
    return address, password


def test_an_admin_must_enrol_before_anything_else(srv: RunningServer) -> None:
    address, password = admin(srv, "root1")
    web = WebClient(srv.port("webadmin"))
    web.get("/login")
    page = web.post("/login", {"username": address, "password": password, "next": "/me"})
    assert page.status == 303 and page.location == "/login/enrol?next=%2Fme"
    for path in ("/me", "/me?x=1"):  # nothing but the enrolment is reachable
        assert web.get(path).status == 303 and web.last is not None
        assert web.last.location.startswith("/login")
    page = web.get("/login/enrol")
    assert page.status == 200 and 'id="totp-secret"' in page.text
    assert page.headers["Cache-Control"] == "no-store"  # it shows the secret
    assert '<img src="/login/enrol/qr.svg"' in page.text
    ended = web.post("/logout-everywhere", {})
    assert ended.status == 303 and ended.location == "/login"  # a half login is no user
    qr = web.get("/login/enrol/qr.svg")
    assert qr.status == 200 and qr.headers["Content-Type"].startswith("image/svg+xml")
    assert b"<script" not in qr.body and b"<svg" in qr.body
    web.get("/login/enrol")
    secret = page.text.split('id="totp-secret">')[1].split("<")[0]
    uri = page.text.split('id="totp-uri">')[1].split("<")[0].replace("&amp;", "&")
    assert pyotp.parse_uri(uri).secret == secret
    page = web.post("/login/enrol", {"code": "000000" if pyotp.TOTP(secret).now() != "000000"
                                     else "111111"})
    assert page.status == 400 and "not right" in page.text
    page = web.post("/login/enrol", {"code": web.code(secret)})
    assert page.status == 200 and len(recovery_codes(page)) == 10
    assert page.headers["Cache-Control"] == "no-store"
    assert web.get("/me").status == 200  # logged in now
    assert srv.call(srv.services.two_factor.enabled(
        srv.call(srv.services.directory.require_account(address)).id))


def test_code_step_codes_work_once_and_recovery_codes(srv: RunningServer) -> None:
    address, password = admin(srv, "root2")
    first = WebClient(srv.port("webadmin"))
    secret = first.login_enrolling(address, password)
    codes = recovery_codes(first.last) if first.last else []
    web = WebClient(srv.port("webadmin"))
    web.used_steps = first.used_steps
    page = web.login(address, password, totp=secret, next_path="/me")
    assert page.status == 200 and web.last is not None and "My account" in page.text
    # the same code again (a replay) is refused: log in anew within the same step
    replay = WebClient(srv.port("webadmin"))
    replay.get("/login")
    page = replay.post("/login", {"username": address, "password": password})
    assert page.location.startswith("/login/code")
    replay.follow(page)
    step = max(web.used_steps)
    page = replay.post("/login/code", {"code": pyotp.TOTP(secret).at(step * 30)})
    assert page.status == 403
    page = replay.post("/login/code", {"code": codes[0]})
    assert page.status == 303 and page.location == "/"
    landed = replay.get("/me")
    assert landed.status == 200 and "You used a recovery code; 9 left." in landed.text
    again = WebClient(srv.port("webadmin"))
    again.get("/login")
    again.follow(again.post("/login", {"username": address, "password": password}))
    assert again.post("/login/code", {"code": codes[0]}).status == 403  # spent


def test_wrong_codes_are_failed_logins_and_end_the_login(
        srv: RunningServer, caplog: pytest.LogCaptureFixture) -> None:
    address, password = admin(srv, "root3")
    WebClient(srv.port("webadmin")).login_enrolling(address, password)
    web = WebClient(srv.port("webadmin"))
    web.get("/login")
    web.follow(web.post("/login", {"username": address, "password": password}))
    with caplog.at_level("INFO", logger="postroom.auth"):
        for _ in range(2):
            assert web.post("/login/code", {"code": "12345x"}).status == 403
        page = web.post("/login/code", {"code": "abc"})
    assert page.status == 303 and page.location == "/login"
    assert "Too many wrong codes" in web.get("/login").text
    failed = [r for r in caplog.records if r.getMessage() == "login failed"]
    assert len(failed) == 3 and all(r.__dict__["user"] == address for r in failed)
    assert web.get("/login/code").location == "/login"  # the half login ended


def test_a_user_logs_in_without_a_code_and_may_enrol(srv: RunningServer) -> None:
    address, password = srv.add_user()
    web = WebClient(srv.port("webadmin"))
    page = web.login(address, password)
    assert page.status == 200 and "My account" in page.text


def test_optional_for_admins_required_for_users(tmp_path: Path) -> None:
    server = RunningServer(server_config(tmp_path, extra=[
        *WEB, "web.totp_admins=optional", "web.totp_users=required"]))
    try:
        address, password = admin(server, "root4")
        web = WebClient(server.port("webadmin"))
        web.get("/login")
        page = web.post("/login", {"username": address, "password": password})
        assert page.status == 303 and page.location == "/"
        address, password = server.add_user()
        web = WebClient(server.port("webadmin"))
        web.get("/login")
        page = web.post("/login", {"username": address, "password": password})
        assert page.status == 303 and page.location.startswith("/login/enrol")
    finally:
        server.stop()


def test_limits_are_checked_in_the_config() -> None:
    from postroom import config
    from postroom.config import ConfigError
    for bad in ("web.session_idle_timeout=5", "web.session_lifetime=10",
                "web.session_cache_seconds=600", "web.login_code_attempts=0",
                "web.totp_admins=off", "web.totp_users=sometimes",
                "login.max_app_passwords=-1"):
        with pytest.raises(ConfigError):
            config.load(None, [bad])



def test_cli_resets_two_factor_and_ends_sessions(srv: RunningServer) -> None:
    """``postroom user 2fa-reset`` and ``logout-everywhere`` (another process, same store):
    the running server honours them (here at once: web.session_cache_seconds = 0)."""
    address, password = admin(srv, "root5")
    web = WebClient(srv.port("webadmin"))
    web.login_enrolling(address, password)
    assert web.get("/me").status == 200
    out = run_cli(srv, "user", "logout-everywhere", address)
    assert "1 web session ended" in out
    assert web.get("/me").status == 303
    assert '"two_factor": "on"' in run_cli(srv, "user", "show", address, "--json")
    out = run_cli(srv, "user", "2fa-reset", address)
    assert "two-factor authentication reset" in out
    assert '"two_factor": "off"' in run_cli(srv, "user", "show", address, "--json")
    web.get("/login")
    page = web.post("/login", {"username": address, "password": password})
    assert page.location.startswith("/login/enrol")  # enrols again: policy requires it
    out = run_cli(srv, "user", "2fa-reset", "nobody@example.test", ok=False)
    assert "no account nobody@example.test" in out
    audit = run_cli(srv, "audit", "list", "--action", "user.")
    assert "user.2fa.reset" in audit and "user.logout-everywhere" in audit


def test_enrolment_finished_in_another_tab_restarts_the_login(srv: RunningServer) -> None:
    address, password = admin(srv, "root6")
    tab1 = WebClient(srv.port("webadmin"))
    tab1.get("/login")
    tab1.follow(tab1.post("/login", {"username": address, "password": password}))
    # the same account enrols elsewhere meanwhile
    WebClient(srv.port("webadmin")).login_enrolling(address, password)
    page = tab1.get("/login/enrol")
    assert page.status == 303 and page.location == "/login"
    assert tab1.get("/login").status == 200  # back at the password step
