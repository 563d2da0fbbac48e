"""Bad input and limits: BAD not crash, no hang, explicit configurable limits (specs.md §1.2;
DESIGN.md §7 security regressions)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.imapclient import RawImap
from tests.support.server import RunningServer, server_config


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    srv = RunningServer(server_config(tmp_path_factory.mktemp("small"), extra=[
        'server.plaintext_auth_networks=["127.0.0.1/32"]', "limits.max_line_length=1024",
        "limits.max_message_size=2048", "limits.idle_timeout=1"]))
    yield srv
    srv.stop()


def test_garbage_gets_bad(client: RawImap) -> None:
    for junk in (b"", b"*", b"A1", b"A1 FETCH (", b"A1 LIST \"unterminated",
                 b"A1 SELECT \x00", b'A1 LOGIN "a\\x" b', b"(((", b"A1 UID",
                 b"A1 UID BOGUS 1", b"A1 STORE 1:* +FLAGS", b"\xff\xfe\xfd"):
        client.send(junk + b"\r\n")
        line = client.line()
        assert b" BAD " in line or line.startswith(b"* BAD"), (junk, line)
    assert client.ok("NOOP") == []


def test_nesting_depth(client: RawImap) -> None:
    client.ok("SELECT INBOX")
    _, tagged = client.cmd("SEARCH " + "(" * 40 + "ALL" + ")" * 40)
    assert b" BAD " in tagged and b"nested" in tagged


def test_long_line(small: RawImap | RunningServer) -> None:
    assert isinstance(small, RunningServer)
    c = RawImap(small.port("imap"))
    c.send(b"A1 NOOP " + b"x" * 5000 + b"\r\nA2 NOOP\r\n")
    assert c.line().startswith(b"* BAD [TOOBIG]")
    assert c.line() == b"A2 OK NOOP completed"


def test_too_many_bad_commands_disconnects(imap_server: RunningServer) -> None:
    c = RawImap(imap_server.port("imap"))
    for i in range(19):
        c.send(b"X%d BOGUS\r\n" % i)
        c.line()
    c.send(b"X99 BOGUS\r\n")
    assert c.line().startswith(b"X99 BAD")
    assert c.line().startswith(b"* BYE")


def test_append_over_limit(small: RunningServer) -> None:
    user, password = small.add_user()
    c = RawImap(small.port("imap"))
    c.login(user, password)
    c.send(b"A1 APPEND INBOX {5000}\r\n")
    assert c.line().startswith(b"A1 NO [TOOBIG]")
    assert c.ok("NOOP") == []
    body = b"Subject: x\r\n\r\n" + b"y" * 2100
    assert b"BAD [TOOBIG]" in c.append("INBOX", body)  # {n+}: read, dropped (RFC 7888 §4)


def test_idle_timeout_before_login(small: RunningServer) -> None:
    c = RawImap(small.port("imap"))
    assert c.line().startswith(b"* BYE")


def test_half_sent_literal_does_not_hang_others(imap_server: RunningServer,
                                                user: tuple[str, str]) -> None:
    stuck = socket.create_connection(("127.0.0.1", imap_server.port("imap")))
    stuck.sendall(b"A1 LOGIN {100+}\r\nabc")
    c = RawImap(imap_server.port("imap"))
    c.login(*user)
    assert c.ok("NOOP") == []
    stuck.close()


def test_fuzzed_sessions_never_crash(imap_server: RunningServer, user: tuple[str, str],
                                     tmp_path: Path) -> None:
    """Random mutations of valid commands, after login: every line gets an answer."""
    import random
    rnd = random.Random(1234)
    base = [b"SELECT INBOX", b"FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (FROM)])",
            b"SEARCH OR FROM x SUBJECT y", b'LIST "" "*"', b"STORE 1 +FLAGS (\\Seen)",
            b"STATUS INBOX (MESSAGES UIDNEXT)", b"UID FETCH 1:* (BODYSTRUCTURE)"]
    c = RawImap(imap_server.port("imap"))
    c.login(*user)
    c.append("INBOX", b"Subject: fuzz\r\n\r\nbody\r\n")
    for i in range(300):
        cmd = bytearray(rnd.choice(base))
        for _ in range(rnd.randint(1, 4)):
            pos = rnd.randrange(len(cmd))
            cmd[pos:pos + 1] = bytes([rnd.choice(b'()[]<>{}*%"\\ 0123456789AZaz\x00.:,+-')])
        tag = b"F%d" % i
        c.send(tag + b" " + bytes(cmd).replace(b"\r", b"").replace(b"\n", b"") + b"\r\n")
        while True:
            line = c.line()
            if line.startswith(b"+ "):  # a literal we accidentally announced
                c.send(b"x" * 200 + b"\r\n")
                continue
            if line.startswith(tag + b" ") or line.startswith(b"* BAD"):
                break
        assert b"SERVERBUG" not in line, (cmd, line)
        if i % 15 == 14:
            c.close()
            c = RawImap(imap_server.port("imap"))
            c.login(*user)
