"""The login and self-service pages in a real browser (Playwright driving Debian's Chromium):
an administrator's first login with TOTP enrolment, the code step at the next login, a
form posted without its CSRF token gets 403, and axe finds no serious or critical
accessibility violation on any of these pages (docs/web.md "Logging in")."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from postroom.core.actor import Actor
from postroom.services.admin.directory import NewAccount
from tests.support.axe import serious
from tests.support.browser import code, login
from tests.support.server import RunningServer, server_config

playwright_sync = pytest.importorskip("playwright.sync_api")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
WEB = ["web.admin.enabled=true", "web.admin.port=0", "web.session_cache_seconds=0",
       "smtp.submissions.enabled=true", "smtp.submissions.port=0"]


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = RunningServer(server_config(Path(tmp_path_factory.mktemp("browser")), extra=WEB))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():  # pragma: no cover - make test installs chromium
        pytest.fail("chromium is not installed (make test installs it)")
    with playwright_sync.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


def test_admin_login_with_totp_and_accessible_pages(srv: RunningServer, browser: Any) -> None:
    address, password = "chief@example.test", "Chief-pass-1234"
    srv.call(srv.services.admin.users.add(Actor.operator(), NewAccount(address, password)))
    srv.call(srv.services.admin.roles.set(Actor.operator(), address, None, True))
    base = f"https://127.0.0.1:{srv.port('webadmin')}"
    context = browser.new_context(ignore_https_errors=True)
    page = context.new_page()
    problems: dict[str, list[str]] = {}

    def check(name: str) -> None:
        found = serious(page)
        if found:
            problems[name] = found

    page.goto(base + "/login?next=/me")
    check("login")
    page.get_by_label("User name (your address)").fill(address)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/login/enrol"))
    check("enrol")
    secret = page.locator("#totp-secret").inner_text()
    page.get_by_label("Code from the app").fill(code(secret))
    page.get_by_role("button", name="Turn on two-factor authentication").click()
    assert page.locator("#recovery-codes li").count() == 10
    check("recovery codes")
    page.get_by_role("link", name=re.compile("continue")).click()
    page.wait_for_url(re.compile(r"/me$"))
    check("me")
    for path in ("/me/password", "/me/2fa", "/me/app-passwords", "/me/sessions"):
        page.goto(base + path)
        check(path)
    page.goto(base + "/me/app-passwords")
    page.get_by_label("Name (the device or program)").fill("phone")
    page.get_by_label("Your current password").fill(password)  # asked again (review 3)
    page.get_by_label("Current code from your authenticator app").fill(code(secret))
    page.get_by_role("button", name="Create app password").click()
    assert re.fullmatch(r"[a-z2-9]{4}(-[a-z2-9]{4}){4}",
                        page.locator("#new-app-password").inner_text())
    check("app password created")

    # a form posted without its CSRF token: 403
    page.goto(base + "/me/password")
    page.evaluate("document.querySelector('main form input[name=csrf]').remove()")
    page.get_by_label("Current password").fill(password)
    page.get_by_label("New password", exact=True).fill("Other-pass-1234")
    page.get_by_label("New password again").fill("Other-pass-1234")
    with page.expect_response(lambda r: r.url.endswith("/me/password")) as answer:
        page.get_by_role("button", name="Change password").click()
    assert answer.value.status == 403

    # log out, and in again with a code
    page.goto(base + "/me")
    page.get_by_role("button", name="Log out", exact=True).click()
    page.wait_for_url(re.compile(r"/login"))
    page.get_by_label("User name (your address)").fill(address)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/login/code"))
    check("code")
    page.get_by_label("Code or recovery code").fill(code(secret))
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(re.compile(r"/$"))  # an administrator's home: the dashboard

    # the helper other browser tests use logs in the same way
    other = context.new_page()
    context.clear_cookies()
    assert login(other, base, address, password, secret=secret, next_path="/me") == secret
    assert other.url.endswith("/me")
    context.close()
    assert problems == {}
