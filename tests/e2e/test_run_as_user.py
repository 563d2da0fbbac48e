"""``server.user``: started as root, the server binds a privileged port and then runs as an
unprivileged user, whose files the whole data directory is; the CLI run as root acts as that
user too, so what it writes stays readable by the server (privileges.py)."""

from __future__ import annotations

import imaplib
import os
import pwd
import shutil
import smtplib
import socket
import ssl
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_memory import port_of
from tests.e2e.test_serve import read_until, stop

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to bind below 1024")

USER = "nobody"
PORTS = ("[imap.imap]\nport = 0\n[imap.imaps]\nport = 0\n[smtp.submission]\nport = 0\n"
         "[smtp.submissions]\nport = 0\n[pop3.pop3]\nport = 0\n[pop3.pop3s]\nport = 0\n"
         "[odmr]\nport = 0\n[web.admin]\nport = 0\n[web.https]\nport = 0\n"
         "[web.http]\nport = 0\n[web.alt]\nport = 0\n[sieve.managesieve]\nport = 0\n")


REPO = Path(__file__).resolve().parents[2]
PROBE = ("import os, pwd; u = pwd.getpwnam({user!r}); os.setgroups([]); os.setgid(u.pw_gid); "
         "os.setuid(u.pw_uid); import encodings.idna, importlib.readers, postroom.server")


def interpreter() -> tuple[list[str], dict[str, str]]:
    """A Python the unprivileged user can read: the suite's own, unless it lives in a private
    home (pyenv under /root, as on the CI machine); then the system's python3 of the same
    version, on the suite's installed packages (the same ABI). Lazy imports after the drop
    need the standard library to be readable, as it is in any real installation."""
    env = {**os.environ, "COLUMNS": "200"}
    env.pop("POSTROOM_CONFIG", None)
    env.pop("POSTROOM_HOME", None)
    candidates = [([sys.executable], env)]
    system = Path(f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}")
    if system.exists():
        site = next(p for p in sys.path if p.endswith("site-packages"))
        candidates.append(([str(system)], {**env, "PYTHONPATH": f"{REPO}:{site}",
                                           "PYTHONNOUSERSITE": "1"}))
    for cmd, cenv in candidates:
        probe = subprocess.run([*cmd, "-c", PROBE.format(user=USER)], env=cenv, cwd=REPO,
                               capture_output=True, timeout=60)
        if probe.returncode == 0:
            return cmd, cenv
    pytest.skip(f"no Python on this machine that {USER} may read")


def postroom(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd, env = interpreter()
    return subprocess.run([*cmd, "-m", "postroom", *args], capture_output=True, text=True,
                          env={**env, "POSTROOM_HOME": str(data)}, cwd=REPO, timeout=120)


def free_privileged_port() -> int:
    for port in range(900, 1000):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    pytest.skip("no free port below 1024")


@pytest.fixture
def base() -> Iterator[Path]:
    """A directory the unprivileged user can pass through (pytest's tmp_path is root's 0700)."""
    path = Path(tempfile.mkdtemp(prefix="postroom-user-"))
    path.chmod(0o711)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def ids(pid: int) -> tuple[set[str], set[str]]:
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    uid = next(line for line in status if line.startswith("Uid:")).split()[1:]
    gid = next(line for line in status if line.startswith("Gid:")).split()[1:]
    return set(uid), set(gid)


def test_binds_as_root_then_runs_as_the_user(base: Path) -> None:
    who = pwd.getpwnam(USER)
    data, log, conf = base / "var", base / "postroom.log", base / "postroom.toml"
    smtp_port = free_privileged_port()
    conf.write_text(f'[server]\nuser = "{USER}"\n[smtp.mx]\nport = {smtp_port}\n' + PORTS)
    cmd, env = interpreter()
    proc = subprocess.Popen([*cmd, "-m", "postroom", "serve", "--config", str(conf),
                             "--data-dir", str(data), "--domain", "example.org",
                             "--set", f"log.file={log}"], env=env, cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        table = read_until(proc, "Stop with")
        assert port_of(table, "smtp") == smtp_port
        # real, effective, saved and file-system IDs: all the user's, none root's
        assert ids(proc.pid) == ({str(who.pw_uid)}, {str(who.pw_gid)})
        # the CLI as root becomes the user too (otherwise root-owned files the server
        # could not read)
        added = postroom(data, "user", "add", "u@example.org", "--password", "u-password-1",
                         "--config", str(conf))
        assert added.returncode == 0, added.stderr
        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=20) as smtp:
            smtp.sendmail("x@elsewhere.example", ["u@example.org"],
                          b"Subject: privileged\r\n\r\nbody\r\n")
        imap = imaplib.IMAP4_SSL("127.0.0.1", port_of(table, "imaps"),
                                 ssl_context=ssl._create_unverified_context())
        imap.login("u@example.org", "u-password-1")
        for _ in range(100):  # delivery is asynchronous to the 250
            if imap.select("INBOX")[1] != [b"0"]:
                break
            imap.noop()
        assert imap.select("INBOX")[1] == [b"1"]
        imap.logout()
        assert "running as nobody" in log.read_text()
        assert log.stat().st_uid == who.pw_uid  # reopened by the user on reload
        for path in [data, *data.rglob("*")]:
            assert path.lstat().st_uid == who.pw_uid, path
        assert stop(proc) < 10
    finally:
        if proc.poll() is None:
            proc.kill()


def test_refusals_name_the_fix(base: Path) -> None:
    data = base / "var"
    data.mkdir(mode=0o700)  # root's
    owned = postroom(data, "serve", "--set", f"server.user={USER}")
    assert owned.returncode == 1
    assert f"belongs to 'root', but server.user is '{USER}'" in owned.stderr
    assert f"chown -R {USER}: " in owned.stderr
    missing = postroom(data, "serve", "--set", "server.user=no-such-user-here")
    assert missing.returncode == 1 and "no such user 'no-such-user-here'" in missing.stderr
    cli = postroom(data, "user", "list", "--set", f"server.user={USER}")
    assert cli.returncode == 1 and "chown -R" in cli.stderr
