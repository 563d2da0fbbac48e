"""Logging in with Playwright (Debian's Chromium), for browser tests of WebAdmin pages.

    page = context.new_page()           # context = browser.new_context(ignore_https_errors=True)
    secret = login(page, base, address, password)          # first login of an administrator:
                                                           # enrols TOTP, returns the secret
    login(page, base, address, password, secret=secret)    # later logins: the code step

``codes`` remembers the TOTP steps used per secret, so one test can log in several times
without waiting (the server accepts each step once, newer ones only).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pyotp

_used: dict[str, set[int]] = {}


def code(secret: str) -> str:
    """A TOTP code newer than every one this process used for ``secret``."""
    used = _used.setdefault(secret, set())
    while True:
        now = int(time.time() // 30)
        step = max(now, max(used, default=0) + 1)
        if step <= now + 1:
            used.add(step)
            return pyotp.TOTP(secret).at(step * 30)
        time.sleep(0.5)


def login(page: Any, base: str, address: str, password: str, secret: str | None = None,
          next_path: str = "") -> str | None:
    """Log in through the pages; the TOTP secret when this login enrolled one, else
    ``secret``. An administrator without TOTP (``web.totp_admins = "required"``) enrols here;
    the recovery codes page is left with its "continue" link."""
    page.goto(base + "/login" + (f"?next={next_path}" if next_path else ""))
    page.get_by_label("User name (your address)").fill(address)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()
    if "/login/enrol" in page.url:
        secret = page.locator("#totp-secret").inner_text()
        page.get_by_label("Code from the app").fill(code(secret))
        page.get_by_role("button", name="Turn on two-factor authentication").click()
        page.get_by_role("link", name=re.compile("continue")).click()
    elif "/login/code" in page.url:
        assert secret is not None, "this account has TOTP on: pass its secret"
        page.get_by_label("Code or recovery code").fill(code(secret))
        page.get_by_role("button", name="Continue").click()
    page.wait_for_load_state()
    assert "/login" not in page.url, page.url
    return secret


CHROMIUM = os.environ.get("POSTROOM_CHROMIUM", "/usr/bin/chromium")


@contextmanager
def chromium() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright from PyPI (``executable_path``: no browser is
    ever downloaded), headless; closed on leaving. Callers skip first when ``CHROMIUM`` is
    missing."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            yield browser
        finally:
            browser.close()


def submit(page: Any, button: str) -> None:
    """Press the button named exactly ``button`` and wait for the page it loads."""
    page.get_by_role("button", name=button, exact=True).click()
    page.wait_for_load_state()
