"""IDLE (RFC 2177) edge cases: DONE split or pipelined, keep-alives, shutdown, and many idle
sessions on one mailbox all hearing of one new message."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.protocol.imap.conftest import message
from tests.support.imapclient import RawImap
from tests.support.server import RunningServer, server_config


def idling(server: RunningServer, user: tuple[str, str], select: bool = True) -> RawImap:
    c = RawImap(server.port("imap"))
    c.login(*user)
    if select:
        c.ok("SELECT INBOX")
    c.send(b"I1 IDLE\r\n")
    assert c.line() == b"+ idling"
    return c


def test_done_may_arrive_in_pieces(imap_server: RunningServer, user: tuple[str, str]) -> None:
    c = idling(imap_server, user)
    c.send(b"DO")
    time.sleep(0.3)
    c.send(b"NE\r")
    time.sleep(0.3)
    c.send(b"\n")
    assert c.line() == b"I1 OK IDLE terminated"
    c.ok("NOOP")


def test_done_pipelined_with_the_next_command(imap_server: RunningServer,
                                              user: tuple[str, str]) -> None:
    c = idling(imap_server, user)
    c.send(b"DONE\r\nI2 NOOP\r\n")
    assert c.line() == b"I1 OK IDLE terminated"
    assert c.line().startswith(b"I2 OK")


def test_done_is_case_insensitive(imap_server: RunningServer, user: tuple[str, str]) -> None:
    c = idling(imap_server, user, select=False)
    c.send(b"done\r\n")
    assert c.line() == b"I1 OK IDLE terminated"


def test_eof_in_idle_ends_the_session_quietly(imap_server: RunningServer,
                                              user: tuple[str, str]) -> None:
    c = idling(imap_server, user)
    c.close()
    other = RawImap(imap_server.port("imap"))  # the server still answers
    other.login(*user)
    other.ok("NOOP")


def test_thirty_idle_sessions_all_hear_of_one_message(imap_server: RunningServer,
                                                         user: tuple[str, str]) -> None:
    idlers = [idling(imap_server, user) for _ in range(30)]  # under connections_per_ip
    writer = RawImap(imap_server.port("imap"))
    writer.login(*user)
    start = time.monotonic()
    writer.append("INBOX", message("for everyone"))
    for c in idlers:
        assert c.line() == b"* 1 EXISTS"
    assert time.monotonic() - start < 5
    for c in idlers:
        c.send(b"DONE\r\n")
        line = c.line()
        while line.startswith(b"*"):  # \Recent goes to one session only (RFC 3501 §2.3.2)
            line = c.line()
        assert line == b"I1 OK IDLE terminated"
        c.close()


@pytest.fixture
def keepalive_server(tmp_path: Path) -> Iterator[RunningServer]:
    srv = RunningServer(server_config(tmp_path, extra=[
        'server.plaintext_auth_networks=["127.0.0.1/32"]', "imap.idle_keepalive=1"]))
    yield srv
    srv.stop()


def test_keepalive_while_idle_then_changes_still_arrive(
        keepalive_server: RunningServer) -> None:
    user = keepalive_server.add_user()
    c = idling(keepalive_server, user)
    start = time.monotonic()
    assert c.line() == b"* OK Still here"
    assert c.line() == b"* OK Still here"
    assert 1.5 < time.monotonic() - start < 5
    writer = RawImap(keepalive_server.port("imap"))
    writer.login(*user)
    writer.append("INBOX", message("after keep-alives"))
    line = c.line()
    while line == b"* OK Still here":
        line = c.line()
    assert line == b"* 1 EXISTS"
    c.send(b"DONE\r\n")
    line = c.line()
    while line.startswith(b"*"):
        line = c.line()
    assert line == b"I1 OK IDLE terminated"


def test_keepalive_also_without_a_selected_mailbox(keepalive_server: RunningServer) -> None:
    c = idling(keepalive_server, keepalive_server.add_user(), select=False)
    assert c.line() == b"* OK Still here"
    c.send(b"DONE\r\n")
    assert c.line() == b"I1 OK IDLE terminated"


def test_shutdown_says_bye_to_idle_clients(tmp_path: Path) -> None:
    srv = RunningServer(server_config(tmp_path, extra=[
        'server.plaintext_auth_networks=["127.0.0.1/32"]']))
    c = idling(srv, srv.add_user())
    srv.stop()
    assert c.line().startswith(b"* BYE")


def test_idle_keepalive_setting_is_checked() -> None:
    from postroom import config

    with pytest.raises(config.ConfigError, match=r"imap\.idle_keepalive: expected `float` >= 1"):
        config.load(None, ["imap.idle_keepalive=0"])
