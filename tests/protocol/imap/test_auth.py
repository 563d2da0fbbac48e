"""Not-authenticated state: capabilities, STARTTLS, LOGIN, AUTHENTICATE, literals, throttling
(RFC 9051 §6.1–6.2, RFC 4959, RFC 7888; specs.md §1.2, §1.12, §7)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.imapclient import RawImap
from tests.support.server import RunningServer, server_config


@pytest.fixture(scope="module")
def strict_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """Default policy: no plaintext passwords anywhere."""
    srv = RunningServer(server_config(tmp_path_factory.mktemp("strict"),
                                      extra=["limits.auth_failures_per_ip=100"]))
    yield srv
    srv.stop()


def test_greeting_has_capabilities(imap_server: RunningServer) -> None:
    c = RawImap(imap_server.port("imap"))
    assert c.greeting.startswith(b"* OK [CAPABILITY IMAP4rev1 IMAP4rev2 ")
    assert b"LITERAL-" in c.greeting and b"LITERAL+" not in c.greeting
    assert b"STARTTLS" in c.greeting


def test_logindisabled_before_tls(strict_server: RunningServer) -> None:
    c = RawImap(strict_server.port("imap"))
    caps = c.ok("CAPABILITY")[0]
    assert b"LOGINDISABLED" in caps and b"AUTH=PLAIN" not in caps
    assert b"AUTH=SCRAM-SHA-256" in caps  # no password on the wire: allowed
    _, tagged = c.cmd('LOGIN "a@example.test" "secret"')
    assert tagged.startswith(b"T2 NO [PRIVACYREQUIRED]")
    _, tagged = c.auth_plain("a@example.test", "secret")
    assert b"NO [PRIVACYREQUIRED]" in tagged


def test_starttls_then_login(strict_server: RunningServer) -> None:
    user, password = strict_server.add_user()
    c = RawImap(strict_server.port("imap"))
    c.starttls()
    caps = c.ok("CAPABILITY")[0]
    assert b"STARTTLS" not in caps and b"LOGINDISABLED" not in caps
    assert b"AUTH=PLAIN" in caps and b"AUTH=SCRAM-SHA-256-PLUS" in caps
    c.login(user, password)
    _, tagged = c.cmd("STARTTLS")
    assert b" BAD " in tagged  # wrong state now


def test_starttls_discards_pipelined_plaintext(strict_server: RunningServer) -> None:
    """CVE-2011-0411 class: a command sent before the handshake must never run."""
    c = RawImap(strict_server.port("imap"))
    c.send(b"T1 STARTTLS\r\nT2 CAPABILITY\r\n")
    assert c.line().startswith(b"T1 OK")
    from tests.support.tls import insecure_context
    c.sock = insecure_context().wrap_socket(c.sock, server_hostname="x")
    c.send(b"T3 NOOP\r\n")
    assert c.line() == b"T3 OK NOOP completed"


def test_implicit_tls(strict_server: RunningServer) -> None:
    user, password = strict_server.add_user()
    c = RawImap(strict_server.port("imaps"), tls=True)
    assert b"STARTTLS" not in c.greeting and b"AUTH=PLAIN" in c.greeting
    c.login(user, password)


def test_wrong_password(imap_server: RunningServer, user: tuple[str, str]) -> None:
    c = RawImap(imap_server.port("imap"))
    _, tagged = c.cmd(f'LOGIN "{user[0]}" "wrong"')
    assert tagged == b"T1 NO [AUTHENTICATIONFAILED] Authentication failed"
    _, tagged = c.cmd('LOGIN "nobody@example.test" "wrong"')
    assert tagged == b"T2 NO [AUTHENTICATIONFAILED] Authentication failed"  # same words


def test_three_failures_close_the_session(imap_server: RunningServer,
                                          user: tuple[str, str]) -> None:
    c = RawImap(imap_server.port("imap"))
    for _ in range(2):
        assert b"NO [AUTHENTICATIONFAILED]" in c.cmd(f'LOGIN "{user[0]}" "x"')[1]
    c.send(f'T9 LOGIN "{user[0]}" "x"\r\n'.encode())
    assert c.line().startswith(b"T9 NO [AUTHENTICATIONFAILED]")
    assert c.line().startswith(b"* BYE")


def test_throttle_delays_after_threshold(tmp_path: Path) -> None:
    srv = RunningServer(server_config(tmp_path, extra=[
        'server.plaintext_auth_networks=["127.0.0.1/32"]', "limits.auth_failures_per_ip=2"]))
    try:
        user, _password = srv.add_user()
        timings = []
        for _ in range(4):
            c = RawImap(srv.port("imap"))
            start = time.monotonic()
            c.cmd(f'LOGIN "{user}" "bad"')
            timings.append(time.monotonic() - start)
        assert timings[-1] >= 0.9 > timings[0]  # the fourth failure waited
    finally:
        srv.stop()


def test_authenticate_plain_sasl_ir(imap_server: RunningServer, user: tuple[str, str]) -> None:
    c = RawImap(imap_server.port("imap"))
    _, tagged = c.auth_plain(*user)
    assert tagged.startswith(b"T1 OK [CAPABILITY ")


def test_authenticate_plain_with_challenge_and_cancel(imap_server: RunningServer,
                                                      user: tuple[str, str]) -> None:
    c = RawImap(imap_server.port("imap"))
    c.send(b"T1 AUTHENTICATE PLAIN\r\n")
    assert c.line() == b"+ "
    c.send(b"*\r\n")
    assert c.line().startswith(b"T1 BAD")
    c.send(b"T2 AUTHENTICATE PLAIN\r\n")
    assert c.line() == b"+ "
    c.send(b"!!notbase64\r\n")
    assert c.line().startswith(b"T2 BAD")
    c.send(b"T3 AUTHENTICATE PLAIN\r\n")
    c.line()
    c.send(base64.b64encode(f"\0{user[0]}\0{user[1]}".encode()) + b"\r\n")
    assert c.line().startswith(b"T3 OK")


def test_authenticate_login_prompts(imap_server: RunningServer, user: tuple[str, str]) -> None:
    c = RawImap(imap_server.port("imap"))
    c.send(b"T1 AUTHENTICATE LOGIN\r\n")
    assert base64.b64decode(c.line()[2:]) == b"Username:"
    c.send(base64.b64encode(user[0].encode()) + b"\r\n")
    assert base64.b64decode(c.line()[2:]) == b"Password:"
    c.send(base64.b64encode(user[1].encode()) + b"\r\n")
    assert c.line().startswith(b"T1 OK")


def _scram(c: RawImap, user: str, password: str, tamper: bool = False) -> bytes:
    """A client side of RFC 5802 written from the RFC, to check the server's side."""
    nonce = base64.b64encode(os.urandom(12)).decode()
    first_bare = f"n={user},r={nonce}"
    c.send(b"T1 AUTHENTICATE SCRAM-SHA-256 " + base64.b64encode(b"n,," + first_bare.encode())
           + b"\r\n")
    server_first = base64.b64decode(c.line()[2:]).decode()
    attrs = dict(item.split("=", 1) for item in server_first.split(","))
    assert attrs["r"].startswith(nonce)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(attrs["s"]),
                                 int(attrs["i"]))
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored = hashlib.sha256(client_key).digest()
    without = f"c=biws,r={attrs['r']}"
    auth_msg = f"{first_bare},{server_first},{without}".encode()
    sig = hmac.new(stored, auth_msg, hashlib.sha256).digest()
    proof = bytes(a ^ b for a, b in zip(client_key, sig, strict=True))
    if tamper:
        proof = bytes([proof[0] ^ 1]) + proof[1:]
    c.send(base64.b64encode(f"{without},p={base64.b64encode(proof).decode()}".encode())
           + b"\r\n")
    line = c.line()
    if line.startswith(b"+ "):
        final = base64.b64decode(line[2:])
        server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
        assert final == b"v=" + base64.b64encode(
            hmac.new(server_key, auth_msg, hashlib.sha256).digest())
        c.send(b"\r\n")
        line = c.line()
    return line


def test_scram_sha_256(imap_server: RunningServer, user: tuple[str, str]) -> None:
    assert _scram(RawImap(imap_server.port("imap")), *user).startswith(b"T1 OK")
    bad = _scram(RawImap(imap_server.port("imap")), *user, tamper=True)
    assert bad.startswith(b"T1 NO [AUTHENTICATIONFAILED]")
    unknown = _scram(RawImap(imap_server.port("imap")), "ghost@example.test", "x")
    assert unknown.startswith(b"T1 NO [AUTHENTICATIONFAILED]")


def test_non_synchronising_login(imap_server: RunningServer, user: tuple[str, str]) -> None:
    """specs.md §1.2 [TEST]: LOGIN {n+} user {n+} pass → OK (the Outlook form)."""
    u, p = user[0].encode(), user[1].encode()
    c = RawImap(imap_server.port("imap"))
    c.send(b"A1 LOGIN {%d+}\r\n%s {%d+}\r\n%s\r\n" % (len(u), u, len(p), p))
    assert c.response("A1")[1].startswith(b"A1 OK")


def test_synchronising_literal_gets_continuation(imap_server: RunningServer) -> None:
    c = RawImap(imap_server.port("imap"))
    c.send(b"A1 LOGIN {3}\r\n")
    assert c.line().startswith(b"+ ")
    c.send(b"abc {3}\r\n")
    assert c.line().startswith(b"+ ")
    c.send(b"def\r\n")
    assert c.line().startswith(b"A1 NO [AUTHENTICATIONFAILED]")


def test_big_literal_before_login_is_refused(imap_server: RunningServer) -> None:
    """specs.md §1.2 [TEST]: 5000-octet {n+} APPEND under LITERAL- → BAD [TOOBIG]."""
    c = RawImap(imap_server.port("imap"))
    c.send(b"A1 APPEND INBOX {5000+}\r\n" + b"x" * 5000 + b"\r\n")
    assert c.line().startswith(b"A1 BAD [TOOBIG]")
    c.send(b"A2 {5000}\r\n")
    assert c.line().startswith(b"A2 NO [TOOBIG]")  # refused instead of "+": nothing follows
    c.send(b"A3 NOOP\r\n")
    assert c.line() == b"A3 OK NOOP completed"


def test_commands_in_wrong_state(imap_server: RunningServer) -> None:
    c = RawImap(imap_server.port("imap"))
    assert c.cmd("SELECT INBOX")[1].startswith(b"T1 BAD")
    assert c.cmd("FETCH 1 FLAGS")[1].startswith(b"T2 BAD")


def test_id_and_logout(imap_server: RunningServer) -> None:
    c = RawImap(imap_server.port("imap"))
    untagged = c.ok('ID ("name" "test")')
    assert untagged[0].startswith(b'* ID ("name" "Postroom"')
    assert c.ok("ID NIL")
    untagged, tagged = c.cmd("LOGOUT")
    assert untagged == [b"* BYE Logging out"] and tagged.startswith(b"T3 OK")


def test_compress_deflate(client: RawImap) -> None:
    import zlib
    client.send(b"C1 COMPRESS DEFLATE\r\n")
    assert client.line() == b"C1 OK DEFLATE active"
    comp = zlib.compressobj(6, zlib.DEFLATED, -15)
    dec = zlib.decompressobj(-15)
    client.send(comp.compress(b"C2 NOOP\r\n") + comp.flush(zlib.Z_SYNC_FLUSH))
    data = b""
    while b"C2 " not in data:
        data += dec.decompress(client.sock.recv(4096))
    assert b"C2 OK NOOP completed" in data
