"""Fixtures for the operations pages' browser tests: a real server with WebAdmin, SMTP and a
log file; Debian's Chromium driven by Playwright from PyPI (``executable_path``, never a
downloaded browser); the axe accessibility check; a login as a global administrator.

The server runs in-process (tests/support/server.py) so that a test can also call services
(to look at the queue, say) the way the CLI would. Mail to remote domains goes to a smart host
on a closed loopback port, so it is deferred and stays in the queue (the "unreachable domain"
of the queue test). The log (mail log included) goes to a file, as ``log.file`` configures
it in production, so the mail-log page has something to search.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from postroom.core.actor import Actor
from postroom.obs import log as obs_log
from tests.support.axe import serious
from tests.support.server import RunningServer, server_config

CHROMIUM = os.environ.get("POSTROOM_CHROMIUM", "/usr/bin/chromium")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nobody listens once this socket is closed


@dataclass
class OpsHost:
    srv: RunningServer
    base: str  # https://127.0.0.1:PORT
    admin: str
    password: str
    log_file: Path
    sender: str  # a plain user who sends the test mail (the administrator has 2FA on, so
    sender_password: str  # SMTP AUTH would need an app password for them)
    totp_secret: str = ""  # set once the administrator has enrolled a second factor

    def port(self, label: str) -> int:
        return self.srv.port(label)


@pytest.fixture(scope="module")
def ops_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpsHost]:
    data = tmp_path_factory.mktemp("ops-web")
    log_file = data / "postroom.log"
    cfg = server_config(data / "data", extra=[
        "web.admin.enabled=true", "web.admin.port=0", "smtp.mx.enabled=true", "smtp.mx.port=0",
        "smtp.submission.enabled=true", "smtp.submission.port=0",
        "server.plaintext_auth_networks=[\"127.0.0.0/8\"]",
        f"smtp.outbound.smart_host=127.0.0.1:{_closed_port()}",
        "smtp.outbound.smart_host_tls=none", "smtp.outbound.connect_timeout=2",
        f"log.file={log_file}", "web.operations.dashboard_refresh=1"])
    root = logging.getLogger("postroom")
    saved = (root.handlers[:], root.level, root.propagate)
    obs_log.setup("info", "text", str(log_file))  # what ``postroom serve`` does with log.file
    srv = RunningServer(cfg)
    admin, password = srv.add_user("admin", "Admin-pass-1234")
    srv.call(srv.services.admin.roles.set(Actor.operator(), admin, None, True))
    sender, sender_password = srv.add_user("sender")
    host = OpsHost(srv, f"https://127.0.0.1:{srv.port('webadmin')}", admin, password, log_file,
                   sender, sender_password)
    try:
        yield host
    finally:
        srv.stop()
        for handler in root.handlers:
            handler.close()
        root.handlers[:], root.level, root.propagate = saved


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (make test does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                               args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            yield b
        finally:
            b.close()


def axe_problems(page: Any) -> list[str]:
    """The serious and critical axe violations on the page, one line each, with its URL."""
    return [f"{page.url}: {line}" for line in serious(page)]
