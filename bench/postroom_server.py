"""Postroom as the bench runs it: ``postroom serve`` in its own process on loopback high ports,
the embedded default store (SQLite + files) in a throwaway data directory.

Accounts and mail are put in before the server starts, through the same services the CLI
uses (``populate``), so filling 100,000 messages takes seconds, not an APPEND marathon.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from bench.reference import free_port, terminate, tree_pss, wait_port
from postroom import config
from postroom.app import Services, build_services

CHECKOUT = Path(__file__).resolve().parents[1]


class Postroom:
    name = "postroom"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.imap_port = free_port()
        self.pop3_port = free_port()
        self.smtp_port = free_port()
        self.imaps_port = free_port()  # the self-signed certificate Postroom makes itself
        self.proc: subprocess.Popen[bytes] | None = None

    def overrides(self) -> list[str]:
        return [f"smtp.mx.port={self.smtp_port}", "smtp.submission.enabled=false",
                "smtp.submissions.enabled=false", "odmr.enabled=false",
                f"imap.imaps.port={self.imaps_port}", "pop3.pop3s.enabled=false",
                f"imap.imap.port={self.imap_port}", f"pop3.pop3.port={self.pop3_port}",
                "server.domain=bench.test", "server.hostname=mail.bench.test",
                'server.plaintext_auth_networks=["127.0.0.1/32"]',
                "limits.connections_per_ip=20000", "log.level=warning",
                # no fixed port 4190: two Postrooms on one host (a bench beside a test
                # server) would fight over it
                "sieve.managesieve.enabled=false"]

    def populate(self, fill: Callable[[Services], Awaitable[None]]) -> None:
        cfg = config.load(None, self.overrides())
        cfg.server.data_dir = str(self.root / "data")

        async def run() -> None:
            services = build_services(cfg)
            try:
                await fill(services)
                # Index what was put in now, as an import does, rather than in the server's
                # first minutes while workloads are timed.
                await services.indexer.run_once()
            finally:
                await services.close()
        asyncio.run(run())

    def start(self) -> None:
        self.proc = spawn_serve(self.root, self.overrides())
        wait_port(self.imap_port, timeout=60)

    def stop(self) -> None:
        terminate(self.proc)
        self.proc = None

    def pss_kib(self) -> int:
        return tree_pss(self.proc.pid) if self.proc is not None else 0


def spawn_serve(root: Path, overrides: list[str]) -> subprocess.Popen[bytes]:
    """``postroom serve`` on ``root/data`` with ``--set`` overrides, its output in
    ``root/serve.log`` (the bench waits for its port itself)."""
    args = [str(Path(sys.executable).parent / "postroom"), "serve",
            "--data-dir", str(root / "data")]
    for item in overrides:
        args += ["--set", item]
    log = (root / "serve.log").open("ab")
    return subprocess.Popen(args, stdout=log, stderr=log,
                            env=dict(os.environ, PYTHONUNBUFFERED="1"))




class WebPostroom(Postroom):
    """Postroom with its public HTTPS listener on a high port (the DAV and ActiveSync
    benches), started from this checkout: ``python -m postroom serve`` rather than the
    installed ``postroom`` script, which may belong to another checkout."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.web_port = free_port()

    def overrides(self) -> list[str]:
        return [*super().overrides(), "web.https.enabled=true",
                f"web.https.port={self.web_port}", "web.https.tls=implicit",
                "web.http.enabled=false", "web.alt.enabled=false", "web.admin.enabled=false"]

    def start(self) -> None:
        args = [sys.executable, "-m", "postroom", "serve", "--data-dir",
                str(self.root / "data")]
        for item in self.overrides():
            args += ["--set", item]
        log = (self.root / "serve.log").open("ab")
        self.proc = subprocess.Popen(args, stdout=log, stderr=log, cwd=CHECKOUT,
                                     env=dict(os.environ, PYTHONUNBUFFERED="1"))
        wait_port(self.web_port, timeout=60)
