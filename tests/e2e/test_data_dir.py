"""The data directory as the server leaves it: private modes whatever the umask, one server at
a time, and a warning about anything an earlier run or an administrator left readable."""

from __future__ import annotations

import os
import smtplib
import stat
import subprocess
import sys
import time
from pathlib import Path

from tests.e2e.test_memory import port_of
from tests.e2e.test_serve import PORTS_ZERO, read_until, stop
from tests.support.cli import run


def serve(data: Path, *extra: str) -> subprocess.Popen[str]:
    """``postroom serve`` started with the common umask 022, as from a login shell."""
    return subprocess.Popen([sys.executable, "-m", "postroom", "serve", "--data-dir", str(data),
                             "--domain", "example.org", *PORTS_ZERO, *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "COLUMNS": "200"},
                            preexec_fn=lambda: os.umask(0o022))


def modes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)) or ".": stat.S_IMODE(p.lstat().st_mode)
            for p in [root, *root.rglob("*")]}


def test_everything_is_private_and_one_server_per_directory(tmp_path: Path) -> None:
    data = tmp_path / "var"
    proc = serve(data)
    try:
        table = read_until(proc, "Stop with")
        assert run(data, "user", "add", "alice@example.org", "--password",
                   "alice-pw-123").returncode == 0
        with smtplib.SMTP("127.0.0.1", port_of(table, "smtp")) as s:
            s.sendmail("a@far.example", ["alice@example.org"], b"Subject: x\r\n\r\nsecret\r\n")
        deadline = time.monotonic() + 30
        while not any((data / "blobs").rglob("*")) and time.monotonic() < deadline:
            time.sleep(0.1)
        second = serve(data)
        _, err = second.communicate(timeout=60)
        assert second.returncode != 0 and "Traceback" not in err
        assert f"in use by another Postroom server (PID {proc.pid})" in err, err
        found = modes(data)  # while running: the WAL and shared-memory files exist
    finally:
        stop(proc)
    assert any(name.startswith("blobs/") and len(name) > 20 for name in found)
    for name in ("postroom.db", "postroom.db-wal", "postroom.db-shm", "initial-admin-password",
                 "tls/key.pem", "tls/cert.pem", "postroom.pid"):
        assert found.get(name) == 0o600, (name, oct(found.get(name, 0)))
    loose = {n: oct(m) for n, m in found.items() if m & 0o077}
    assert loose == {}, loose


def test_looser_modes_are_named_at_start(tmp_path: Path) -> None:
    data = tmp_path / "var"
    proc = serve(data)
    read_until(proc, "Stop with")
    stop(proc)
    data.chmod(0o755)
    (data / "postroom.db").chmod(0o644)
    proc = serve(data)
    try:
        read_until(proc, "Stop with")
    finally:
        stop(proc)
    assert proc.stderr is not None
    err = proc.stderr.read()
    assert "readable by other users" in err and "postroom.db (-rw-r--r--)" in err
    assert f"chmod -R go-rwx {data.resolve()}" in err
