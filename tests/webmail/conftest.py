"""Webmail tests: one real server per module (webmail on the HTTPS listener, SMTP, IMAP) and,
for browser tests, Debian's Chromium driven by Playwright from PyPI (``executable_path``; no
browser is ever downloaded). ``mail`` (tests/support/webmail.py) makes accounts, delivers
mail and logs in."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.browser import CHROMIUM, chromium
from tests.support.server import RunningServer, server_config
from tests.support.webmail import WEBMAIL, Webmail


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    srv = RunningServer(server_config(Path(tmp_path_factory.mktemp("webmail")), extra=WEBMAIL))
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():  # pragma: no cover - make test installs chromium
        pytest.skip(f"no Chromium at {CHROMIUM}")
    pytest.importorskip("playwright.sync_api")
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def mail(server: RunningServer) -> Webmail:
    """HTTP-only helpers (no browser started)."""
    return Webmail(server)


@pytest.fixture(scope="module")
def mail_browser(server: RunningServer, browser: Any) -> Webmail:
    """The same helpers with the module's browser."""
    return Webmail(server, browser)
