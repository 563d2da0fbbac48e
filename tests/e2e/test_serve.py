"""``postroom serve`` as started by ``make run``: first run, listener table, SIGTERM."""

from __future__ import annotations

import imaplib
import os
import signal
import socket
import ssl
import stat
import subprocess
import sys
import time
from pathlib import Path

PORTS_ZERO = ["--set", "smtp.mx.port=0", "--set", "smtp.submission.port=0",
              "--set", "smtp.submissions.port=0", "--set", "imap.imap.port=0",
              "--set", "imap.imaps.port=0", "--set", "pop3.pop3.port=0",
              "--set", "pop3.pop3s.port=0", "--set", "odmr.port=0",
              "--set", "minger.enabled=true", "--set", "minger.port=0",
              "--set", "web.admin.port=0", "--set", "web.https.port=0",
              "--set", "web.http.port=0", "--set", "sieve.managesieve.port=0"]


def start(data: Path, *extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.Popen([sys.executable, "-m", "postroom", "serve", "--data-dir", str(data),
                             "--domain", "example.org", *PORTS_ZERO, *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def read_until(proc: subprocess.Popen[str], marker: str, timeout: float = 30) -> str:
    out = ""
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while marker not in out:
        assert time.monotonic() < deadline, out
        line = proc.stdout.readline()
        assert line, f"server exited: {proc.stderr.read() if proc.stderr else ''}"
        out += line
    return out


def stop(proc: subprocess.Popen[str]) -> float:
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
    return time.monotonic() - t0


def test_first_run_table_password_and_sigterm(tmp_path: Path) -> None:
    data = tmp_path / "var"
    proc = start(data)
    try:
        out = read_until(proc, "Stop with")
    except BaseException:
        proc.kill()
        raise
    for service in ("smtp", "submission", "submissions", "imap", "imaps", "pop3", "pop3s",
                    "odmr", "managesieve", "minger"):
        assert f" {service} " in out
    assert "postmaster@example.org" in out
    # where to go next: WebAdmin's address, with the port the table shows
    web_line = next(ln for ln in out.splitlines() if " webadmin " in ln)
    web_port = next(c for c in web_line.replace("│", " ").split() if c.isdigit())
    assert f"WebAdmin: https://127.0.0.1:{web_port}/" in out
    mail_line = next(ln for ln in out.splitlines() if " https " in ln)
    mail_port = next(c for c in mail_line.replace("│", " ").split() if c.isdigit())
    assert f"Webmail: https://127.0.0.1:{mail_port}/ (every account)" in out
    password_file = data / "initial-admin-password"
    mode = stat.S_IMODE(password_file.stat().st_mode)
    assert mode == 0o600
    address, password = password_file.read_text().split()
    assert address == "postmaster@example.org" and password in out
    assert (data / "tls" / "cert.pem").exists() and (data / "postroom.db").exists()
    # The IMAPS port in the table answers, and the printed password logs in.
    imap_line = next(ln for ln in out.splitlines() if " imaps " in ln)
    port = int(next(c for c in imap_line.replace("│", " ").split() if c.isdigit()))
    imap = imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=ssl._create_unverified_context())
    assert imap.login(address, password)[0] == "OK"
    assert imap.select("INBOX")[0] == "OK"
    imap.logout()
    assert stop(proc) < 5.0

    # Second run: no new password, same data.
    proc = start(data)
    try:
        out = read_until(proc, "Stop with")
        assert "password:" not in out and password not in out
    finally:
        assert stop(proc) < 5.0
    assert password_file.read_text().split()[1] == password


def test_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        args = [a if a != "imap.imap.port=0" else f"imap.imap.port={port}" for a in PORTS_ZERO]
        result = subprocess.run([sys.executable, "-m", "postroom", "serve", "--data-dir",
                                 str(tmp_path / "var"), "--domain", "example.org", *args],
                                capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "address already in use" in result.stderr.lower()
    assert "--port-offset" in result.stderr and "for imap on" in result.stderr
    assert str(port) in result.stderr


def test_a_bad_network_names_its_key(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "postroom", "serve", "--data-dir",
                             str(tmp_path / "var"), "--domain", "example.org", *PORTS_ZERO,
                             "--set", 'minger.allowed_networks=["10.0.0.0/8", "bad"]'],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "minger.allowed_networks: 'bad'" in result.stderr


def test_the_server_names_itself_after_its_domain(tmp_path: Path) -> None:
    """With ``--domain example.org`` and no qualified machine name, the greetings, the
    Received lines and the generated certificate say mail.example.org, never localhost."""
    from postroom.app import qualified
    from postroom.net.tls import certificate_names

    fqdn = socket.getfqdn().lower()
    expected = fqdn if qualified(fqdn) else "mail.example.org"
    data = tmp_path / "var"
    proc = start(data)
    try:
        out = read_until(proc, "Stop with")
        smtp_line = next(ln for ln in out.splitlines() if " smtp " in ln)
        port = int(next(c for c in smtp_line.replace("│", " ").split() if c.isdigit()))
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            assert s.recv(200).startswith(f"220 {expected} ".encode())
    finally:
        stop(proc)
    names = certificate_names(data / "tls" / "cert.pem")
    assert names[:2] == [expected, "example.org"] or names[0] == expected
    assert "example.org" in names
