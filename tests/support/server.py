"""A real Postroom server on loopback, in its own thread and event loop, for protocol tests.

Blocking clients (imaplib, smtplib, mbsync) talk to it over real sockets while the test
thread stays free; ``call`` runs a coroutine on the server's loop (to create accounts or look
at the store the way the CLI would).
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from postroom import config
from postroom.app import Services, build_services
from postroom.config import Config
from postroom.server import Server

T = TypeVar("T")
_counter = itertools.count(1)


def server_config(data_dir: Path, backend: str = "sqlite", dsn: str = "",
                  extra: list[str] | None = None) -> Config:
    """Only IMAP (and whatever ``extra`` enables), every port chosen by the kernel."""
    overrides = [f"store.backend={backend}", "smtp.mx.enabled=false",
                 "smtp.submission.enabled=false", "smtp.submissions.enabled=false",
                 "pop3.pop3.enabled=false", "pop3.pop3s.enabled=false", "odmr.enabled=false",
                 "web.admin.enabled=false", "web.https.enabled=false", "web.http.enabled=false",
                 "web.alt.enabled=false", "sieve.managesieve.port=0",
                 "imap.imap.port=0", "imap.imaps.port=0", "server.domain=example.test",
                 "server.hostname=mail.example.test", f"store.dsn={dsn}", *(extra or [])]
    cfg = config.load(None, overrides)
    cfg.server.data_dir = str(data_dir)
    return cfg


class RunningServer:
    def __init__(self, cfg: Config, **server_args: Any) -> None:
        """``server_args`` go to ``Server`` (a registry with extra rows, their apps)."""
        self.cfg = cfg
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.services: Services = self.call(self._build())
        self.server = Server(cfg, self.services, "mail.example.test", **server_args)
        self.call(self.server.start())

    async def _build(self) -> Services:
        services = build_services(self.cfg)
        if not await services.store.directory.list_domains():
            await services.directory.add_domain("example.test")
        return services

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def port(self, label: str) -> int:
        for tcp in self.server.tcp:
            if tcp.spec.label == label:
                return tcp.port
        for http in self.server.http:
            if http.spec.label == label:
                return http.port
        raise KeyError(label)

    def add_user(self, name: str | None = None, password: str | None = None,
                 quota: int | None = None) -> tuple[str, str]:
        address = f"{name or 'user'}{next(_counter)}-{secrets.token_hex(3)}@example.test"
        password = password or secrets.token_urlsafe(12)

        async def make() -> None:
            account = await self.services.directory.add_account(address, password,
                                                                quota_bytes=quota)
            await self.services.mailboxes.ensure_defaults(account.id, account.domain_id)
        self.call(make())
        return address, password

    def stop(self) -> None:
        self.call(self.server.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def wait_for(predicate: Callable[[], object], timeout: float = 30.0, what: str = "") -> None:
    """Poll ``predicate`` until it is true; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"condition not met in {timeout:g} s{': ' + what if what else ''}")


def run_cli(srv: RunningServer, *args: str, stdin: str | None = None, ok: bool = True) -> str:
    """The real ``postroom`` command on ``srv``'s data directory; its stdout and stderr."""
    from tests.support import cli

    result = cli.run(Path(srv.cfg.server.data_dir), *args, stdin=stdin)
    if ok:
        assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr
