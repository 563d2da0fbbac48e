"""One server with ManageSieve (4190-style STARTTLS listener on a kernel-chosen port) per
test session, and a raw line client for the protocol's edge cases (RFC 5804).

Small limits so that the edges are cheap to reach: 1 KiB command lines, 4 KiB scripts, three
scripts per account, 8 s of silence before the server hangs up. SMTP is on too, so that a
script stored over ManageSieve can be seen at work."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.lineclient import LineClient
from tests.support.server import RunningServer, server_config

MAX_LINE = 1024
MAX_SCRIPT = 4096
MAX_SCRIPTS = 3
IDLE = 8
EXTRA = ["limits.auth_failures_per_ip=1000", f"limits.max_line_length={MAX_LINE}",
         f"sieve.max_script_size={MAX_SCRIPT}", f"sieve.max_scripts={MAX_SCRIPTS}",
         f"limits.idle_timeout={IDLE}",
         # SMTP in, so that a script stored here can be seen filtering a delivery
         "smtp.mx.enabled=true", "smtp.mx.port=0", 'smtp.outbound.dns_servers=["127.0.0.1:9"]']


@pytest.fixture(scope="session")
def sieve_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    data: Path = tmp_path_factory.mktemp("managesieve")
    srv = RunningServer(server_config(data, extra=EXTRA))
    yield srv
    srv.stop()


@pytest.fixture
def user(sieve_server: RunningServer) -> tuple[str, str]:
    return sieve_server.add_user()


def cert_file(srv: RunningServer) -> Path:
    """The server's self-signed certificate: the trust anchor real clients verify with."""
    return Path(srv.cfg.server.data_dir) / "tls" / "cert.pem"


_FINAL = re.compile(rb"(OK|NO|BYE)(\s|$)")
_LITERAL = re.compile(rb"\{(\d+)\+?\}$")


class RawSieve(LineClient):
    """Line-level ManageSieve: sends what the test writes, reads responses with their
    literals (``{n}``) in place. ``items`` are the response's lines before OK/NO/BYE."""

    def __init__(self, port: int) -> None:
        super().__init__(port, timeout=20)
        first = self.greeting
        self.caps, self.greeted = self.capabilities(first)

    def item(self, first: bytes | None = None) -> bytes:
        """One response line, a literal at its end read and put in place of ``{n}``."""
        line = self.line() if first is None else first
        m = _LITERAL.search(line)
        while m:
            data = self.read_exact(int(m.group(1)))
            line = line[:m.start()] + data + self.line()
            m = _LITERAL.search(line)
        return line

    def response(self, first: bytes | None = None) -> tuple[list[bytes], bytes]:
        items: list[bytes] = []
        line = self.item(first)
        while not _FINAL.match(line):
            items.append(line)
            line = self.item()
        return items, line

    def cmd(self, text: str | bytes) -> tuple[list[bytes], bytes]:
        self.send((text.encode() if isinstance(text, str) else text) + b"\r\n")
        return self.response()

    def final(self, text: str | bytes) -> bytes:
        return self.cmd(text)[1]

    def capabilities(self, first: bytes | None = None) -> tuple[dict[str, str], bytes]:
        items, final = self.response(first)
        caps: dict[str, str] = {}
        for item in items:
            m = re.fullmatch(rb'"([^"]+)"(?: "([^"]*)")?', item)
            assert m, item
            caps[m.group(1).decode()] = (m.group(2) or b"").decode()
        return caps, final

    def starttls(self) -> dict[str, str]:
        assert self.final("STARTTLS").startswith(b"OK")
        self.upgrade()
        caps, final = self.capabilities()  # RFC 5804 §2.2: re-issued unasked
        assert final.startswith(b"OK"), final
        self.caps = caps
        return caps

    def login(self, user: str, password: str) -> bytes:
        """STARTTLS, then AUTHENTICATE PLAIN with an initial response."""
        self.starttls()
        b64 = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
        return self.final(f'AUTHENTICATE "PLAIN" "{b64}"')

    def putscript(self, name: str, script: str | bytes) -> bytes:
        raw = script.encode() if isinstance(script, str) else script
        return self.final(b'PUTSCRIPT "' + name.encode() + b'" {%d+}\r\n' % len(raw) + raw)


@pytest.fixture
def client(sieve_server: RunningServer, user: tuple[str, str]) -> Iterator[RawSieve]:
    c = RawSieve(sieve_server.port("managesieve"))
    assert c.login(*user).startswith(b"OK"), "login"
    yield c
    c.close()
