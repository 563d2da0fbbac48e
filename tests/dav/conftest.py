"""DAV tests: one real server per module (the HTTPS listener with /dav/, SMTP, IMAP), driven
by real clients: the ``caldav`` library, Debian's ``litmus``, raw HTTP for bad input, and
Debian's Chromium via Playwright for webmail's calendar and contacts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.browser import CHROMIUM, chromium
from tests.support.dav import DAV, Dav
from tests.support.server import RunningServer, server_config


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    srv = RunningServer(server_config(Path(tmp_path_factory.mktemp("dav")), extra=DAV))
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
def dav(server: RunningServer) -> Dav:
    return Dav(server)


@pytest.fixture(scope="module")
def dav_browser(server: RunningServer, browser: Any) -> Dav:
    return Dav(server, browser)
