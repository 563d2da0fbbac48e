"""Several ``postroom serve`` nodes on one PostgreSQL database: the cluster tests' set-up.

Each node has its own data directory (its lock, its TLS certificate, its log) and shares with
the others what a real cluster shares: the database (``store.dsn``), the blobs (in the
database, ``blobs.backend = "postgresql"``, unless the test chooses) and the secret key (the
same ``secret.key`` copied into every data directory before the first start, as an
administrator would). Every listener is on 127.0.0.1 and a port the kernel chose; the ports are
read from the table ``serve`` prints.

A node's database connections can be routed through a ``TcpProxy`` (``proxied=True``) so that a
test can cut that one node off PostgreSQL while the others keep working.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path

from tests.support import cli
from tests.support.mailhost import spawn_serve, wait_ready
from tests.support.pg import database, server
from tests.support.tcpproxy import TcpProxy

DOMAIN = "cluster.test"
PASSWORD = "pw-secret-123"


def _pg_address(dsn: str) -> tuple[str, int]:
    m = re.match(r"postgresql://[^@]*@([^:/]+)(?::(\d+))?/", dsn)
    assert m, dsn
    return m.group(1), int(m.group(2) or 5432)


class Node:
    """One ``postroom serve`` process of the cluster."""

    def __init__(self, root: Path, name: str, dsn: str, extra: Sequence[str],
                 proxy: TcpProxy | None = None) -> None:
        self.name = name
        self.data = root / name
        self.log = root / f"{name}.log"
        self.proxy = proxy
        self.dsn = proxy.dsn(dsn) if proxy else dsn
        self.args = ["--set", 'server.listen=["127.0.0.1"]',
                     "--set", f"log.file={self.log}", "--set", "log.level=debug",
                     "--set", f"server.hostname={name}.{DOMAIN}",
                     "--set", "store.backend=postgresql", "--set", f"store.dsn={self.dsn}",
                     "--set", "cluster.enabled=true", "--set", f"cluster.node={name}",
                     "--set", "cluster.lease_seconds=4", "--set", "cluster.heartbeat_seconds=0.5",
                     "--set", "cluster.feed_timeout=2",
                     "--set", "smtp.mx.port=0", "--set", "smtp.submission.port=0",
                     "--set", "smtp.submissions.port=0",
                     "--set", "imap.imap.port=0", "--set", "imap.imaps.port=0",
                     "--set", "pop3.pop3.port=0", "--set", "pop3.pop3s.enabled=false",
                     "--set", "odmr.enabled=false", "--set", "web.admin.enabled=false",
                     "--set", "web.https.enabled=false", "--set", "web.http.enabled=false",
                     "--set", "web.alt.enabled=false", "--set", "sieve.managesieve.port=0",
                     "--set", 'smtp.outbound.dns_servers=["127.0.0.1:9"]',
                     "--set", "smtp.outbound.retry_schedule=[2]",
                     *extra]
        self.proc: subprocess.Popen[str] | None = None
        self.ports: dict[str, int] = {}
        self.output = ""

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> None:
        self.proc = spawn_serve(self.data, DOMAIN, self.args)

    def wait_ready(self, timeout: float = 90) -> None:
        assert self.proc is not None
        self.output, self.ports = wait_ready(self.proc, "127.0.0.1", timeout, self.name)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop the process (SIGKILL: at once, as a crash)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def cli(self, *args: str, stdin: str | None = None, timeout: float = 120,
            ) -> subprocess.CompletedProcess[str]:
        """``postroom ARGS`` with this node's configuration (as an admin on this node)."""
        return cli.run(self.data, *args, "--data-dir", str(self.data), *self.args,
                       stdin=stdin, timeout=timeout)

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except FileNotFoundError:
            return ""


class Cluster:
    """``size`` nodes named n1, n2, … on one fresh database (see module docstring)."""

    def __init__(self, root: Path, dsn: str, size: int = 2, extra: Sequence[str] = (),
                 proxied: Sequence[int] = (), per_node: dict[int, Sequence[str]] | None = None,
                 ) -> None:
        self.root = root
        self.dsn = dsn
        self.blobs = root / "blobs"
        self.key = secrets.token_bytes(32)
        self.proxies: dict[int, TcpProxy] = {}
        self.nodes: list[Node] = []
        # Blobs in the database by default, as a cluster without shared storage keeps them;
        # ``extra`` may choose another backend.
        shared = ["--set", "blobs.backend=postgresql", "--set", f"blobs.path={self.blobs}",
                  *extra]
        for i in range(size):
            proxy = None
            if i in proxied:
                proxy = self.proxies[i] = TcpProxy(_pg_address(dsn))
            own = list((per_node or {}).get(i, ()))
            node = Node(root, f"n{i + 1}", dsn, [*shared, *own], proxy)
            self.nodes.append(node)

    def __getitem__(self, i: int) -> Node:
        return self.nodes[i]

    def _prepare(self, node: Node) -> None:
        node.data.mkdir(mode=0o700, parents=True, exist_ok=True)
        key = node.data / "secret.key"
        if not key.exists():
            fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(self.key)

    def start(self) -> None:
        """The first node alone (it migrates the database and makes the domain), then the
        others together."""
        for node in self.nodes:
            self._prepare(node)
        first, rest = self.nodes[0], self.nodes[1:]
        first.start()
        first.wait_ready()
        for node in rest:
            node.start()
        for node in rest:
            node.wait_ready()

    def restart(self, i: int) -> None:
        node = self.nodes[i]
        node.stop()
        node.start()
        node.wait_ready()

    def add_user(self, local: str, password: str = PASSWORD) -> tuple[str, str]:
        address = f"{local}@{DOMAIN}"
        result = self.nodes[0].cli("user", "add", address, "--password-stdin",
                                   stdin=password + "\n")
        assert result.returncode == 0, result.stderr
        return address, password

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
        for proxy in self.proxies.values():
            proxy.close()


@contextlib.contextmanager
def running_cluster(root: Path, size: int = 2, extra: Sequence[str] = (),
                    proxied: Sequence[int] = (),
                    per_node: dict[int, Sequence[str]] | None = None) -> Iterator[Cluster]:
    """A started cluster of ``size`` nodes on a fresh database, stopped (and the database
    dropped) on exit."""
    with server() as admin, database(admin) as dsn:
        cluster = Cluster(root, dsn, size, extra, proxied, per_node)
        try:
            cluster.start()
            yield cluster
        finally:
            cluster.stop()
