"""Self-service under /me (docs/web.md "Self-service"): change password (the current one
needed; the other sessions end), TOTP enrol and disable, new recovery codes, app passwords
(shown once, listed, revoked), the sessions list (end one, log out everywhere), the Apple
profile; every page needs a login and every form its CSRF token."""

from __future__ import annotations

import imaplib
import plistlib
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest

from tests.support.server import RunningServer, server_config
from tests.support.tls import insecure_context
from tests.support.web import WebClient, recovery_codes

WEB = ["web.admin.enabled=true", "web.admin.port=0", "web.session_cache_seconds=0",
       "smtp.submissions.enabled=true", "smtp.submissions.port=0",
       "limits.auth_failures_per_ip=1000"]
PAGES = ["/me", "/me/password", "/me/2fa", "/me/app-passwords", "/me/sessions",
         "/me/apple.mobileconfig"]


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = RunningServer(server_config(Path(tmp_path_factory.mktemp("webme")), extra=WEB))
    yield server
    server.stop()


def user(srv: RunningServer) -> tuple[WebClient, str, str]:
    address, password = srv.add_user("me")
    web = WebClient(srv.port("webadmin"))
    web.login(address, password)
    return web, address, password


def imap_ok(srv: RunningServer, address: str, password: str) -> bool:
    imap = imaplib.IMAP4_SSL("127.0.0.1", srv.port("imaps"), ssl_context=insecure_context())
    try:
        imap.login(address, password)
    except imaplib.IMAP4.error:
        return False
    imap.logout()
    return True


@pytest.mark.parametrize("path", PAGES)
def test_pages_need_a_login(srv: RunningServer, path: str) -> None:
    web = WebClient(srv.port("webadmin"))
    page = web.get(path)
    assert page.status == 303 and page.location.startswith("/login?next=")


def test_forms_need_the_token(srv: RunningServer) -> None:
    web, _, password = user(srv)
    web.get("/me")
    for path in ("/me/password", "/me/app-passwords", "/me/2fa/enrol", "/me/2fa/disable",
                 "/me/2fa/recovery-codes", "/logout-everywhere"):
        assert web.post(path, {"name": "x", "current": password}, csrf=False).status == 403


def test_change_password(srv: RunningServer) -> None:
    web, address, password = user(srv)
    other = WebClient(srv.port("webadmin"))
    other.login(address, password)
    web.get("/me/password")
    page = web.post("/me/password", {"current": "wrong", "new": "N3w-password!",
                                     "again": "N3w-password!"})
    # one status table for every page (web/forms.py): a wrong current password is 403 as on
    # the 2FA and app-password forms, input to correct is 422
    assert page.status == 403 and "current password is not right" in page.text
    page = web.post("/me/password", {"current": password, "new": "N3w-password!",
                                     "again": "N3w-passwordX"})
    assert page.status == 422 and "differ" in page.text
    page = web.post("/me/password", {"current": password, "new": "N3w-password!",
                                     "again": "N3w-password!"})
    assert page.status == 303 and page.location == "/me"
    shown = web.get("/me")  # this session stays
    assert shown.status == 200 and "Your password is changed" in shown.text
    assert other.get("/me").status == 303  # the other one ended
    assert imap_ok(srv, address, "N3w-password!") and not imap_ok(srv, address, password)


def test_enrol_new_codes_and_disable(srv: RunningServer) -> None:
    web, address, password = user(srv)
    page = web.get("/me/2fa")
    assert page.status == 200 and 'id="totp-secret"' in page.text
    assert web.get("/me/2fa/qr.svg").headers["Content-Type"].startswith("image/svg+xml")
    web.get("/me/2fa")
    secret = page.text.split('id="totp-secret">')[1].split("<")[0]
    page = web.post("/me/2fa/enrol", {"code": "abc"})
    assert page.status == 422
    page = web.post("/me/2fa/enrol", {"code": web.code(secret)})
    assert page.status == 200 and len(recovery_codes(page)) == 10
    assert page.headers["Cache-Control"] == "no-store"
    first = recovery_codes(page)
    page = web.get("/me")
    assert "On. 10 recovery codes left." in page.text
    assert not imap_ok(srv, address, password)  # mail needs app passwords now
    web.get("/me/2fa")
    page = web.post("/me/2fa/recovery-codes", {"password": password, "code": first[0]})
    fresh = recovery_codes(page)
    assert page.status == 200 and len(fresh) == 10 and not set(fresh) & set(first)
    # a new login needs the code
    again = WebClient(srv.port("webadmin"))
    again.used_steps = web.used_steps
    again.login(address, password, totp=secret)
    web.get("/me/2fa")
    assert web.post("/me/2fa/disable", {"password": password, "code": "000"}).status == 403
    page = web.post("/me/2fa/disable", {"password": password, "code": fresh[3]})
    assert page.status == 303
    assert "Off." in web.get("/me").text
    assert imap_ok(srv, address, password)


def test_app_passwords_pages(srv: RunningServer) -> None:
    web, address, password = user(srv)
    web.get("/me/app-passwords")
    page = web.post("/me/app-passwords", {"name": "", "password": password})
    assert page.status == 422
    page = web.post("/me/app-passwords", {"name": "Laptop <Thunderbird>",
                                          "password": password})
    assert page.status == 200 and page.headers["Cache-Control"] == "no-store"
    assert "Laptop &lt;Thunderbird&gt;" in page.text  # escaped
    found = re.search(r'<code id="new-app-password">([a-z0-9-]+)</code>', page.text)
    assert found
    secret = found.group(1)
    assert imap_ok(srv, address, secret)
    listing = web.get("/me/app-passwords")
    assert secret not in listing.text and "Laptop" in listing.text
    [app_id] = re.findall(r'action="/me/app-passwords/(\d+)/revoke"', listing.text)
    page = web.post(f"/me/app-passwords/{app_id}/revoke", {})
    assert page.status == 303
    assert not imap_ok(srv, address, secret)
    assert web.post(f"/me/app-passwords/{app_id}/revoke", {}).status == 404
    # another user's app password cannot be revoked by id
    other, other_address, other_password = user(srv)
    other.get("/me/app-passwords")
    other.post("/me/app-passwords", {"name": "phone", "password": other_password})
    listing = other.get("/me/app-passwords")
    [theirs] = re.findall(r'action="/me/app-passwords/(\d+)/revoke"', listing.text)
    web.get("/me")
    assert web.post(f"/me/app-passwords/{theirs}/revoke", {}).status == 404
    assert "phone" in other.get("/me/app-passwords").text
    del other_address


def test_sessions_list_end_one_and_everywhere(srv: RunningServer) -> None:
    web, address, password = user(srv)
    phone = WebClient(srv.port("webadmin"))
    phone.login(address, password)
    page = web.get("/me/sessions")
    ends = re.findall(r'action="/me/sessions/([0-9a-f]+)/end"', page.text)
    assert page.status == 200 and len(ends) == 1 and "this session" in page.text
    assert web.post(f"/me/sessions/{ends[0]}/end", {}).status == 303
    assert phone.get("/me").status == 303 and web.get("/me").status == 200
    phone.login(address, password)
    web.get("/me/sessions")
    assert web.post("/logout-everywhere", {}).status == 303
    assert phone.get("/me").status == 303 and web.get("/me").status == 303


def test_apple_profile(srv: RunningServer) -> None:
    web, address, password = user(srv)
    page = web.get("/me/apple.mobileconfig")
    assert page.status == 200
    assert page.headers["Content-Type"].startswith("application/x-apple-aspen-config")
    assert "attachment" in page.headers["Content-Disposition"]
    document = plistlib.loads(page.body)
    assert document["PayloadType"] == "Configuration"
    [mail] = document["PayloadContent"]
    assert mail["PayloadType"] == "com.apple.mail.managed"
    assert mail["EmailAddress"] == address and mail["EmailAccountType"] == "EmailTypeIMAP"
    assert mail["IncomingMailServerHostName"] == "mail.example.test"
    assert mail["IncomingMailServerPortNumber"] == srv.port("imaps")
    assert mail["OutgoingMailServerPortNumber"] == srv.port("submissions")
    assert mail["IncomingMailServerUsername"] == address
    assert password.encode() not in page.body
    assert "IncomingPassword" not in mail and "OutgoingPassword" not in mail
    assert plistlib.loads(web.get("/me/apple.mobileconfig").body)["PayloadUUID"] == \
        document["PayloadUUID"]  # the same profile, replaced on the device


def test_flash_is_not_taken_from_the_url(srv: RunningServer) -> None:
    """Review finding 4: ``?flash=`` put attacker text on pages of this origin."""
    web = WebClient(srv.port("webadmin"))
    lure = "Session expired; re-enter your password at evil.example"
    page = web.get("/login?" + urlencode({"flash": lure}))
    assert page.status == 200 and "evil.example" not in page.text
    web.jar["__Host-postroom-flash"] = "UmUtZW50ZXIgYXQgZXZpbC5leGFtcGxl.bm90YW1hYw"
    page = web.get("/login")  # a cookie this server did not seal: dropped, not shown
    assert page.status == 200 and "evil" not in page.text and 'class="flash"' not in page.text
    assert "__Host-postroom-flash" not in web.jar


def test_flash_is_shown_once(srv: RunningServer) -> None:
    web, _, _ = user(srv)
    web.get("/me")
    page = web.post("/logout")
    assert page.status == 303 and page.location == "/login"
    assert "You are logged out." in web.get("/login").text
    assert "You are logged out." not in web.get("/login").text


def test_second_factor_changes_need_the_password(srv: RunningServer,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    """Review finding 3: a copied session cookie alone cannot turn the second factor off,
    make new recovery codes or mint an app password; each wrong try is a failed login."""
    web, address, password = user(srv)
    web.get("/me/2fa")
    secret = web.last.text.split('id="totp-secret">')[1].split("<")[0] if web.last else ""
    codes = recovery_codes(web.post("/me/2fa/enrol", {"code": web.code(secret)}))
    web.get("/me/2fa")
    with caplog.at_level("INFO", logger="postroom.auth"):
        page = web.post("/me/2fa/disable", {"code": codes[0]})  # the code alone
        assert page.status == 403 and "current password is not right" in page.text
        page = web.post("/me/2fa/recovery-codes", {"code": codes[1], "password": "wrong"})
        assert page.status == 403
        page = web.post("/me/app-passwords", {"name": "x", "password": password})  # no code
        assert page.status == 403 and "code is not right" in page.text
        page = web.post("/me/app-passwords", {"name": " ", "password": password,
                                              "code": codes[2]})
        assert page.status == 422  # a bad name: no attempt counted, the code not spent
    failed = [r for r in caplog.records if r.getMessage() == "login failed"]
    assert len(failed) == 3 and all(r.__dict__["user"] == address for r in failed)
    assert "On. 10 recovery codes left." in web.get("/me").text  # nothing changed, none spent
    page = web.post("/me/app-passwords", {"name": "phone", "password": password,
                                          "code": codes[0]})
    assert page.status == 200 and 'id="new-app-password"' in page.text
    page = web.post("/me/2fa/disable", {"password": password, "code": web.code(secret)})
    assert page.status == 303 and "Two-factor authentication is off." in web.follow(page).text


def test_wrong_guesses_end_the_session(srv: RunningServer) -> None:
    """After ``web.login_code_attempts`` (5) wrong passwords or codes the session ends, so a
    stolen cookie cannot guess codes at line speed."""
    web, address, password = user(srv)
    web.get("/me/app-passwords")
    for _ in range(4):
        assert web.post("/me/app-passwords", {"name": "x", "password": "guess"}).status == 403
    page = web.post("/me/app-passwords", {"name": "x", "password": "guess"})
    assert page.status == 303 and page.location == "/login"
    assert "Too many wrong passwords or codes" in web.get("/login").text
    assert web.get("/me").status == 303  # logged out
    again = WebClient(srv.port("webadmin"))
    again.login(address, password)
    assert again.get("/me").status == 200  # the owner logs in again as before
