"""SIGHUP and ``postroom reload``: a new certificate and new limits without dropping a
connection; what needs a restart is named; a broken file is refused and the server goes on."""

from __future__ import annotations

import imaplib
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

from cryptography import x509

from postroom.net.tls import ensure_self_signed
from tests.e2e.test_memory import port_of
from tests.e2e.test_serve import read_until, stop
from tests.support.cli import run

CTX = ssl._create_unverified_context()


def serve(data: Path, conf: Path, log: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "postroom", "serve", "--config", str(conf),
                             "--data-dir", str(data), "--domain", "example.org",
                             "--set", f"log.file={log}"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def served_cn(port: int) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
            CTX.wrap_socket(raw, server_hostname="x") as tls:
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return str(x509.load_der_x509_certificate(der).subject.rfc4514_string())


def wait_log(log: Path, needle: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while needle not in log.read_text():
        assert time.monotonic() < deadline, log.read_text()[-2000:]
        time.sleep(0.1)


def test_reload_without_dropping_connections(tmp_path: Path) -> None:
    data, log, conf = tmp_path / "var", tmp_path / "log", tmp_path / "postroom.toml"
    first, first_key = ensure_self_signed(tmp_path / "one", "one.example.org")
    second, second_key = ensure_self_signed(tmp_path / "two", "two.example.org")
    base = ("[imap.imap]\nport = 0\n[imap.imaps]\nport = 0\n[smtp.mx]\nport = 0\n"
            "[smtp.submission]\nport = 0\n[smtp.submissions]\nport = 0\n[pop3.pop3]\nport = 0\n"
            "[pop3.pop3s]\nport = 0\n[odmr]\nport = 0\n[web.admin]\nport = 0\n"
            "[web.https]\nport = 0\n[web.http]\nport = 0\n[web.alt]\nport = 0\n"
            "[sieve.managesieve]\nport = 0\n")
    conf.write_text(base + f'[tls]\ncert = "{first}"\nkey = "{first_key}"\n')
    proc = serve(data, conf, log)
    try:
        table = read_until(proc, "Stop with")
        imaps = port_of(table, "imaps")
        assert run(data, "user", "add", "a@example.org", "--password", "a-pw-12345"
                   ).returncode == 0
        held = imaplib.IMAP4_SSL("127.0.0.1", imaps, ssl_context=CTX)
        held.login("a@example.org", "a-pw-12345")
        assert "one.example.org" in served_cn(imaps)

        # a new certificate, a new limit, and a port change that needs a restart
        conf.write_text(base.replace("[smtp.mx]\nport = 0", "[smtp.mx]\nport = 2525")
                        + f'[tls]\ncert = "{second}"\nkey = "{second_key}"\n'
                        + "[limits]\nconnections_per_ip = 7\n")
        result = run(data, "reload", "--config", str(conf))
        assert result.returncode == 0 and f"PID {proc.pid}" in result.stdout, result.stderr
        wait_log(log, "configuration reloaded")
        assert proc.poll() is None
        assert "two.example.org" in served_cn(imaps)  # new handshakes, new certificate
        assert held.noop()[0] == "OK"  # the open connection lives on
        text = log.read_text()
        assert "not applied until the server restarts: smtp.mx.port: 0 → 2525" in text
        assert "limits.connections_per_ip" in text and "tls.cert" in text

        # a broken file is refused; the server goes on with what it has
        conf.write_text(base + '[tls]\ncert = "/nowhere.pem"\nkey = "/nowhere.key"\n')
        proc.send_signal(signal.SIGHUP)
        wait_log(log, "reload refused")
        assert proc.poll() is None and "tls.cert: /nowhere.pem: no such file" in log.read_text()
        assert "two.example.org" in served_cn(imaps)
        assert held.noop()[0] == "OK"
        bad = run(data, "reload", "--config", str(conf))
        assert bad.returncode == 2 and "tls.cert: /nowhere.pem: no such file" in bad.stderr
        held.logout()
    finally:
        stop(proc)
    assert "reload" not in run(data, "reload").stdout  # nobody to ask any more
    assert "no server is running" in run(data, "reload").stderr
