"""Browser tests: a real server with the admin listener (TLS) and IMAP, and Debian's Chromium
driven by Playwright from PyPI (``executable_path``; no browser is ever downloaded).

One server and one browser per test module; each test opens its own browser context (its own
cookies). ``WebAdmin`` logs in through the real login pages, second factor included: TOTP
codes come from ``pyotp``, an implementation independent of the server's.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from postroom.core.actor import Actor
from tests.support.browser import CHROMIUM, chromium, code
from tests.support.server import RunningServer, server_config

WEB = ["web.admin.port=0", "web.admin.enabled=true", "smtp.submission.enabled=true",
       "smtp.submission.port=0"]
PASSWORD = "pw-browser-123456"

if not Path(CHROMIUM).exists():  # pragma: no cover - make test installs chromium
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium, or set "
                "POSTROOM_CHROMIUM)", allow_module_level=True)

sync_api = pytest.importorskip("playwright.sync_api")
pyotp = pytest.importorskip("pyotp")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    srv = RunningServer(server_config(Path(tmp_path_factory.mktemp("browser")), extra=WEB))
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


class WebAdmin:
    """The admin listener of ``server``, and accounts that log in to it."""

    def __init__(self, server: RunningServer, browser: Any) -> None:
        self.server = server
        self.browser = browser
        self.base = f"https://127.0.0.1:{server.port('webadmin')}"
        self.secrets: dict[str, str] = {}  # address -> TOTP secret, once enrolled
        self.states: dict[str, Any] = {}  # address -> a logged-in context's storage state

    def account(self, address: str, *, role: str | None = None) -> str:
        """Create ``address`` (its domain too) with ``PASSWORD``; ``role`` "global" or a
        domain name makes it an administrator. Idempotent, so tests need not run in order."""
        services = self.server.services
        op = Actor.operator()

        async def make() -> None:
            if await services.store.directory.get_account(address) is not None:
                return  # made by an earlier test of the module
            domain = address.rsplit("@", 1)[1]
            if not await services.directory.is_local_domain(domain):
                await services.admin.domains.add(op, domain)
            rec = await services.directory.add_account(address, PASSWORD)
            await services.mailboxes.ensure_defaults(rec.id, rec.domain_id)
            if role is not None:
                await services.admin.roles.set(op, address, None if role == "global" else role,
                                               True)
        self.server.call(make())
        return address

    def context(self, **options: Any) -> Any:
        return self.browser.new_context(ignore_https_errors=True, base_url=self.base,
                                        **options)

    def logged_in(self, address: str, **options: Any) -> tuple[Any, Any]:
        """A new browser context (and page) with a session of ``address``: logged in through
        the pages once per module, then the session cookie is reused, so tests do not wait
        for fresh TOTP steps."""
        if address not in self.states:
            context = self.context()
            self.login(context.new_page(), address)
            self.states[address] = context.storage_state()
            context.close()
        context = self.context(storage_state=self.states[address], **options)
        return context, context.new_page()

    def code(self, address: str) -> str:
        """A TOTP code for a time step not used yet (the server refuses a replayed one)."""
        return code(self.secrets[address])

    def login(self, page: Any, address: str, password: str = PASSWORD) -> None:
        """Log in through the pages: password, then the code step or the enrolment of a
        second factor (keeping the secret for the next login)."""
        page.goto("/login")
        page.get_by_label("User name (your address)").fill(address)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_load_state()
        if "/login/enrol" in page.url:
            self.secrets[address] = page.locator("#totp-secret").inner_text().strip()
            page.get_by_label("Code from the app").fill(self.code(address))
            page.get_by_role("button", name="Turn on two-factor authentication").click()
            page.wait_for_load_state()
            assert page.locator("#recovery-codes li").count() == 10
            page.get_by_role("link", name="I have saved them: continue").click()
        elif "/login/code" in page.url:
            page.get_by_label("Code or recovery code").fill(self.code(address))
            page.get_by_role("button", name="Continue").click()
        page.wait_for_load_state()
        assert "/login" not in page.url, page.content()


@pytest.fixture(scope="module")
def web(server: RunningServer, browser: Any) -> WebAdmin:
    return WebAdmin(server, browser)
