"""Two-server set-ups for SMTP end-to-end tests: a real DNS server on loopback (dnslib) and
``postroom serve`` processes, each on its own loopback address.

Each instance listens on its own 127.0.0.x with the *same* SMTP port, so MX records can point
at them by address and every instance's ``smtp.outbound.port`` is that one port, as port 25 is
on the Internet.
"""

from __future__ import annotations

import contextlib
import imaplib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

import dnslib
from dnslib.server import BaseResolver, DNSLogger, DNSServer

from tests.support import cli
from tests.support.tls import insecure_context


class Zone(BaseResolver):  # type: ignore[misc]
    """Answers from a dict {(name, type): [rdata text]}; unknown names are NXDOMAIN."""

    def __init__(self) -> None:
        self.records: dict[tuple[str, str], list[str]] = {}
        self.lock = threading.Lock()

    def add(self, name: str, rtype: str, value: str) -> None:
        with self.lock:
            self.records.setdefault((name.lower().rstrip("."), rtype), []).append(value)

    def resolve(self, request: dnslib.DNSRecord, handler: object) -> dnslib.DNSRecord:
        reply = request.reply()
        qname = str(request.q.qname).lower().rstrip(".")
        qtype = dnslib.QTYPE[request.q.qtype]
        with self.lock:
            known = any(name == qname for name, _ in self.records)
            values = list(self.records.get((qname, qtype), []))
        if not known:
            reply.header.rcode = dnslib.RCODE.NXDOMAIN
            return reply
        for value in values:
            reply.add_answer(*dnslib.RR.fromZone(f"{qname}. 60 IN {qtype} {value}"))
        return reply


class Dns:
    def __init__(self) -> None:
        self.zone = Zone()
        self.server = DNSServer(self.zone, address="127.0.0.1", port=0,
                                logger=DNSLogger("-request,-reply,-truncated,-error,-recv,"
                                                 "-send,-data"))
        self.server.start_thread()
        self.port: int = self.server.server.server_address[1]

    def stop(self) -> None:
        self.server.stop()


def free_port(hosts: tuple[str, ...]) -> int:
    """A port free on every one of ``hosts``."""
    for _ in range(50):
        with socket.socket() as first:
            first.bind((hosts[0], 0))
            port = int(first.getsockname()[1])
            others = []
            try:
                for host in hosts[1:]:
                    s = socket.socket()
                    others.append(s)
                    s.bind((host, port))
            except OSError:
                continue
            finally:
                for s in others:
                    s.close()
            return port
    raise RuntimeError("no common free port")


def spawn_serve(data: Path, domain: str, args: Sequence[str]) -> subprocess.Popen[str]:
    """``postroom serve`` on ``data`` for ``domain``, its output piped (see ``wait_ready``)."""
    env = {**os.environ, "COLUMNS": "200"}
    env.pop("POSTROOM_CONFIG", None)
    return subprocess.Popen(
        [sys.executable, "-m", "postroom", "serve", "--data-dir", str(data),
         "--domain", domain, *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def wait_ready(proc: subprocess.Popen[str], address: str, timeout: float,
               who: str) -> tuple[str, dict[str, int]]:
    """Read ``serve``'s output until its table is printed: (the output, label → port of each
    listener on ``address``). Raises AssertionError with the server's words if it exits. The
    pipes are read on from then on, so the server never blocks on a full one."""
    assert proc.stdout is not None and proc.stderr is not None
    deadline = time.monotonic() + timeout
    out = ""
    while "Stop with" not in out:
        assert time.monotonic() < deadline, f"{who} did not start: {out}"
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"{who} exited: {proc.stderr.read()}\n{out}")
        out += line
    ports = {m.group(1): int(m.group(2)) for m in re.finditer(
        r"^\s*(\S+)\W+" + re.escape(address) + r"\W+(\d+)", out, re.MULTILINE)}
    for pipe in (proc.stdout, proc.stderr):
        threading.Thread(target=_drain, args=(pipe,), daemon=True).start()
    return out, ports


def _drain(pipe: IO[str]) -> None:
    for _ in pipe:
        pass


class Instance:
    """``postroom serve`` for ``domain`` on ``address``; SMTP MX on ``smtp_port``."""

    def __init__(self, root: Path, domain: str, address: str, smtp_port: int, dns_port: int,
                 extra: list[str] | None = None) -> None:
        self.data = root / domain
        self.domain = domain
        self.address = address
        self.smtp_port = smtp_port
        self.log = root / f"{domain}.log"
        self.args = ["--set", f'server.listen=["{address}"]',
                     "--set", f"log.file={self.log}", "--set", "log.level=debug",
                     "--set", f"server.hostname=mx.{domain}",
                     "--set", f"smtp.mx.port={smtp_port}",
                     "--set", "smtp.submission.port=0", "--set", "smtp.submissions.port=0",
                     "--set", "imap.imap.port=0", "--set", "imap.imaps.port=0",
                     "--set", "pop3.pop3.enabled=false", "--set", "pop3.pop3s.enabled=false",
                     "--set", "odmr.enabled=false", "--set", "web.admin.enabled=false",
                     "--set", "web.https.enabled=false", "--set", "web.http.enabled=false",
                     "--set", "web.alt.enabled=false", "--set", "sieve.managesieve.port=0",
                     "--set", f'smtp.outbound.dns_servers=["127.0.0.1:{dns_port}"]',
                     "--set", f"smtp.outbound.port={smtp_port}",
                     "--set", "smtp.outbound.retry_schedule=[2]",
                     *(extra or [])]
        self.proc: subprocess.Popen[str] | None = None
        self.ports: dict[str, int] = {}
        self.output = ""

    def start(self) -> None:
        self.proc = spawn_serve(self.data, self.domain, self.args)
        self.output, self.ports = wait_ready(self.proc, self.address, 60, "server")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def cli(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        result = cli.run(self.data, *args, "--data-dir", str(self.data), *self.args,
                         stdin=stdin)
        return result

    def add_user(self, local: str, password: str = "pw-secret-123") -> tuple[str, str]:
        address = f"{local}@{self.domain}"
        result = self.cli("user", "add", address, "--password-stdin", stdin=password + "\n")
        assert result.returncode == 0, result.stderr
        return address, password

    def raw_inbox(self, user: tuple[str, str], subject: str | None = None) -> list[bytes]:
        """The INBOX messages as IMAP sends them (BODY[]), octet for octet; with ``subject``,
        only those whose Subject field is exactly that."""
        imap = imaplib.IMAP4(self.address, self.ports["imap"])
        try:
            imap.starttls(insecure_context())
            imap.login(*user)
            imap.select("INBOX", readonly=True)
            _, data = imap.uid("FETCH", "1:*", "(BODY.PEEK[])")
        finally:
            imap.logout()
        raw = [part[1] for part in data if isinstance(part, tuple)]
        if subject is None:
            return raw
        return [r for r in raw if f"Subject: {subject}\r\n".encode() in r]


@contextlib.contextmanager
def server_pair(root: Path, a_extra: Sequence[str] = (), b_extra: Sequence[str] = (),
                ) -> Iterator[tuple[Instance, Instance, Dns]]:
    """Two running servers, ``a.test`` on 127.0.0.1 and ``b.test`` on 127.0.0.2, each the MX
    of its domain on the same SMTP port, with a loopback DNS server both resolve through
    (add records to ``dns.zone`` at any time). Everything is stopped on exit."""
    dns = Dns()
    port = free_port(("127.0.0.1", "127.0.0.2"))
    for domain, address in (("a.test", "127.0.0.1"), ("b.test", "127.0.0.2")):
        dns.zone.add(domain, "MX", f"10 mx.{domain}.")
        dns.zone.add(f"mx.{domain}", "A", address)
    a = Instance(root, "a.test", "127.0.0.1", port, dns.port, extra=list(a_extra))
    b = Instance(root, "b.test", "127.0.0.2", port, dns.port, extra=list(b_extra))
    try:
        a.start()
        b.start()
        yield a, b, dns
    finally:
        a.stop()
        b.stop()
        dns.stop()
