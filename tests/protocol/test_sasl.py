"""One SASL exchange for every protocol (protocols/sasl.py): the same SCRAM-SHA-256-PLUS with
channel binding on IMAP, SMTP and POP3 once TLS is up (RFC 5802, RFC 5929 §4), and the same
rule for an over-long response: refused, the line skipped, the connection lives on (a flood is
tests/protocol/test_line_flood.py's).

The SCRAM client here is written from RFC 5802, not from the server's code."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Iterator

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from tests.support.lineclient import LineClient
from tests.support.server import RunningServer, server_config

PROTOCOLS = ["imap", "smtp", "pop3"]


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    cfg = server_config(tmp_path_factory.mktemp("sasl"), extra=[
        "smtp.submissions.enabled=true", "smtp.submissions.port=0",
        "pop3.pop3s.enabled=true", "pop3.pop3s.port=0", "limits.max_line_length=4096"])
    server = RunningServer(cfg)
    yield server
    server.stop()


class Framed:
    """Each protocol's words for one AUTH exchange, over implicit TLS."""

    def __init__(self, srv: RunningServer, protocol: str) -> None:
        self.protocol = protocol
        port = {"imap": "imaps", "smtp": "submissions", "pop3": "pop3s"}[protocol]
        self.c = LineClient(srv.port(port), tls=True)
        if protocol == "smtp":
            self.c.send(b"EHLO client.example\r\n")
            while not self.c.line().startswith(b"250 "):
                pass

    def start(self, mech: str, initial: bytes) -> bytes:
        b64 = base64.b64encode(initial)
        if self.protocol == "imap":
            self.c.send(b"A1 AUTHENTICATE " + mech.encode() + b" " + b64 + b"\r\n")
        else:
            self.c.send(b"AUTH " + mech.encode() + b" " + b64 + b"\r\n")
        return self.c.line()

    def respond(self, data: bytes) -> bytes:
        self.c.send(data + b"\r\n")
        return self.c.line()

    def challenge(self, line: bytes) -> bytes | None:
        prefix = b"334 " if self.protocol == "smtp" else b"+ "
        return base64.b64decode(line[len(prefix):]) if line.startswith(prefix) else None

    def succeeded(self, line: bytes) -> bool:
        return line.startswith({"imap": b"A1 OK", "smtp": b"235 ", "pop3": b"+OK"}
                               [self.protocol])

    def too_long(self, line: bytes) -> bool:
        """The refusal of an over-long response, each protocol's way: SMTP's own code (RFC
        4954 §6), IMAP's untagged BAD at once, then the failed command, POP3's -ERR."""
        if self.protocol == "smtp":
            return line == b"500 5.5.6 Authentication Exchange line is too long"
        if self.protocol == "imap":
            return line == b"* BAD [TOOBIG] Command line too long" and self.c.line() == \
                b"A1 BAD Authentication failed: response line longer than 4096 octets"
        return line == b"-ERR [AUTH] Authentication failed: response line longer than 4096 octets"

    def channel_binding(self) -> bytes:
        """tls-server-end-point (RFC 5929 §4.1): the certificate's hash, with its signature
        hash algorithm (SHA-256 for MD5 and SHA-1)."""
        der = self.c.sock.getpeercert(binary_form=True)  # type: ignore[attr-defined]
        algo = x509.load_der_x509_certificate(der).signature_hash_algorithm
        if algo is None or isinstance(algo, (hashes.MD5, hashes.SHA1)):
            algo = hashes.SHA256()
        digest = hashes.Hash(algo)
        digest.update(der)
        return digest.finalize()


def scram_plus(f: Framed, user: str, password: str, binding: bytes) -> bytes:
    gs2 = b"p=tls-server-end-point,,"
    nonce = base64.b64encode(os.urandom(12)).decode()
    first_bare = f"n={user},r={nonce}"
    line = f.start("SCRAM-SHA-256-PLUS", gs2 + first_bare.encode())
    server_first = f.challenge(line)
    assert server_first is not None, line
    attrs = dict(item.split("=", 1) for item in server_first.decode().split(","))
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(attrs["s"]),
                                 int(attrs["i"]))
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    without = f"c={base64.b64encode(gs2 + binding).decode()},r={attrs['r']}"
    auth_msg = f"{first_bare},{server_first.decode()},{without}".encode()
    sig = hmac.new(hashlib.sha256(client_key).digest(), auth_msg, hashlib.sha256).digest()
    proof = bytes(a ^ b for a, b in zip(client_key, sig, strict=True))
    line = f.respond(base64.b64encode(f"{without},p={base64.b64encode(proof).decode()}"
                                      .encode()))
    final = f.challenge(line)
    if final is not None:
        server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
        assert final == b"v=" + base64.b64encode(
            hmac.new(server_key, auth_msg, hashlib.sha256).digest())
        line = f.respond(b"")
    return line


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_scram_plus_with_channel_binding(srv: RunningServer, protocol: str) -> None:
    user, password = srv.add_user()
    f = Framed(srv, protocol)
    assert f.succeeded(scram_plus(f, user, password, f.channel_binding()))
    # the same exchange bound to another certificate's hash fails
    other = Framed(srv, protocol)
    assert not other.succeeded(scram_plus(other, user, password, b"\0" * 32))


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_over_long_response_is_a_protocol_error(srv: RunningServer, protocol: str) -> None:
    user, password = srv.add_user()
    f = Framed(srv, protocol)
    limit = 12288 if protocol == "smtp" else 4096  # RFC 4954 §4; limits.max_line_length
    line = f.start("LOGIN", user.encode())
    assert f.challenge(line) is not None, line  # "Password:"
    assert f.too_long(f.respond(b"A" * (limit + 100)))
    # the session goes on: the next exchange works
    line = f.start("PLAIN", f"\0{user}\0{password}".encode())
    assert f.succeeded(line), line
