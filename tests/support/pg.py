"""Find a PostgreSQL server for the contract suite, or start a private one for the run.

Order: ``POSTROOM_TEST_PG_DSN``; a server answering on 127.0.0.1:5432 (user postgres, trust);
otherwise Debian's postgresql binaries (installed by ``make test`` when missing) run a
throwaway cluster in a temporary directory on a free port, stopped at the end of the run.
Each test gets its own database, dropped afterwards.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"


def _answers(dsn: str) -> bool:
    try:
        psycopg.connect(dsn, connect_timeout=3).close()
        return True
    except psycopg.Error:
        return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivateCluster:
    def __init__(self) -> None:
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not bins:
            raise RuntimeError("no PostgreSQL server on 127.0.0.1:5432 and no initdb "
                               "(install Debian's postgresql)")
        self.bindir = os.path.dirname(bins[-1])
        self.dir = tempfile.mkdtemp(prefix="postroom-pg-")
        self.port = _free_port()
        self.user = "postgres" if os.geteuid() == 0 else None
        if self.user:
            pw = pwd.getpwnam(self.user)
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        self._run("initdb", "-D", f"{self.dir}/data", "-A", "trust", "-U", "postgres")
        self._run("pg_ctl", "-D", f"{self.dir}/data", "-l", f"{self.dir}/log", "-w", "start",
                  "-o", f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 "
                  "-c fsync=on")
        self.dsn = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        cmd = [os.path.join(self.bindir, tool), *args]
        if self.user:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", f"{self.dir}/data", "-m", "fast", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


@contextmanager
def server() -> Iterator[str]:
    dsn = os.environ.get("POSTROOM_TEST_PG_DSN") or DEFAULT_DSN
    if _answers(dsn):
        yield dsn
        return
    cluster = PrivateCluster()
    try:
        for _ in range(50):
            if _answers(cluster.dsn):
                break
            time.sleep(0.1)
        yield cluster.dsn
    finally:
        cluster.stop()


@contextmanager
def database(admin_dsn: str) -> Iterator[str]:
    name = f"postroom_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = admin_dsn.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
