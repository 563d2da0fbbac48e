"""Dynamic screening over real sockets against a real server on loopback: failed IMAP logins
block the client's address, which SMTP, IMAP and POP3 then refuse at connect; the real
``postroom screening`` command lifts the block (the running server sees it within
``screening.refresh``); a block outlives a restart."""

from __future__ import annotations

import imaplib
import poplib
import smtplib
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server import RunningServer, run_cli, server_config, wait_for

REFRESH = 0.3


def config(data: Path) -> list[str]:
    return ["smtp.mx.enabled=true", "smtp.mx.port=0", "pop3.pop3.enabled=true",
            "pop3.pop3.port=0", 'server.plaintext_auth_networks=["127.0.0.0/8"]',
            "limits.auth_failures_per_ip=1000", "screening.exempt_networks=[]",
            "screening.auth_failures=3", "screening.bad_sessions=1",
            "screening.unknown_recipients=4",
            f"screening.refresh={REFRESH}"]


@pytest.fixture
def srv(tmp_path: Path) -> Iterator[RunningServer]:
    server = RunningServer(server_config(tmp_path / "data", extra=config(tmp_path)))
    yield server
    server.stop()


def greeting(port: int) -> bytes:
    """The first line a service sends, and whether it then closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        return s.makefile("rb").readline()


def blocked_exchange(port: int) -> list[bytes]:
    """RFC 5321 §3.1: after a 554 greeting the server waits for QUIT, answering 503 to the
    rest; then it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        f = s.makefile("rb")
        lines = [f.readline()]
        s.sendall(b"EHLO client.test\r\n")
        lines.append(f.readline())
        s.sendall(b"QUIT\r\n")
        lines.append(f.readline())
        lines.append(f.readline())  # b"": closed
        return lines


def fail_imap_logins(srv: RunningServer, times: int) -> None:
    for _ in range(times):
        imap = imaplib.IMAP4("127.0.0.1", srv.port("imap"))
        with pytest.raises(imaplib.IMAP4.error):
            imap.login("nobody@example.test", "wrong-password")
        imap.logout()


def test_failed_imap_logins_block_every_protocol_until_unblocked(srv: RunningServer) -> None:
    user, password = srv.add_user("owner")
    fail_imap_logins(srv, 3)
    smtp = greeting(srv.port("smtp"))
    assert smtp.startswith(b"554 5.7.1 ") and b"blocked" in smtp and b"3 failed logins" in smtp
    lines = blocked_exchange(srv.port("smtp"))
    assert [line[:9] for line in lines] == [b"554 5.7.1", b"503 5.5.1", b"221 2.0.0", b""]
    with pytest.raises(smtplib.SMTPConnectError) as exc:
        smtplib.SMTP("127.0.0.1", srv.port("smtp"))
    assert exc.value.smtp_code == 554
    assert greeting(srv.port("imap")).startswith(b"* BYE Access denied")
    assert greeting(srv.port("pop3")).startswith(b"-ERR Access denied")
    with pytest.raises((imaplib.IMAP4.abort, imaplib.IMAP4.error, OSError)):
        imaplib.IMAP4("127.0.0.1", srv.port("imap")).login(user, password)
    with pytest.raises(poplib.error_proto):
        poplib.POP3("127.0.0.1", srv.port("pop3"))

    listing = run_cli(srv, "screening", "list", "--json")
    assert '"network": "127.0.0.1/32"' in listing and '"source": "auto"' in listing
    out = run_cli(srv, "screening", "unblock", "127.0.0.1")
    assert "unblocked 127.0.0.1/32" in out
    wait_for(lambda: greeting(srv.port("smtp")).startswith(b"220 "), timeout=10,
             what="the server sees the unblock")
    imap = imaplib.IMAP4("127.0.0.1", srv.port("imap"))
    assert imap.login(user, password)[0] == "OK"
    imap.logout()
    audit = run_cli(srv, "audit", "list", "--action", "screening.")
    assert "screening.unblock" in audit and "127.0.0.1/32" in audit


def test_cli_block_is_seen_by_the_running_server_and_survives_restart(
        tmp_path: Path) -> None:
    srv = RunningServer(server_config(tmp_path / "data", extra=config(tmp_path)))
    try:
        assert greeting(srv.port("smtp")).startswith(b"220 ")
        out = run_cli(srv, "screening", "block", "127.0.0.0/24", "--for", "1h",
                      "--reason", "manual test")
        assert "127.0.0.0/24 blocked until" in out
        wait_for(lambda: greeting(srv.port("smtp")).startswith(b"554 5.7.1"), timeout=10,
                 what="the server sees the block")
        assert b"manual test" in greeting(srv.port("imap"))
    finally:
        srv.stop()
    again = RunningServer(server_config(tmp_path / "data", extra=config(tmp_path)))
    try:
        assert greeting(again.port("pop3")).startswith(b"-ERR Access denied")
        run_cli(again, "screening", "unblock", "127.0.0.0/24")
        wait_for(lambda: greeting(again.port("pop3")).startswith(b"+OK"), timeout=10)
    finally:
        again.stop()


def test_protocol_abuse_blocks(srv: RunningServer) -> None:
    """A session closed for too many bad commands (screening.bad_sessions = 1 here)."""
    with socket.create_connection(("127.0.0.1", srv.port("smtp")), timeout=5) as s:
        f = s.makefile("rb")
        f.readline()
        s.sendall(b"BOGUS\r\n" * 25)
        lines = []
        while line := f.readline():
            lines.append(line)
    assert lines[-1].startswith(b"421")
    wait_for(lambda: greeting(srv.port("imap")).startswith(b"* BYE Access denied"),
             timeout=5)


def test_unknown_recipients_block(srv: RunningServer) -> None:
    """Address harvesting: RCPT after RCPT to users that do not exist."""
    with smtplib.SMTP("127.0.0.1", srv.port("smtp")) as s:
        s.ehlo("harvester.test")
        s.mail("h@harvester.test")
        for n in range(3):
            assert s.rcpt(f"guess{n}@example.test")[0] == 550
    assert greeting(srv.port("smtp")).startswith(b"220 ")
    with smtplib.SMTP("127.0.0.1", srv.port("smtp")) as s:
        s.ehlo("harvester.test")
        s.mail("h@harvester.test")
        assert s.rcpt("guess9@example.test")[0] == 550  # the fourth within the window
    assert greeting(srv.port("smtp")).startswith(b"554 5.7.1 ")
    assert b"4 unknown recipients" in greeting(srv.port("pop3"))


def test_cli_refuses_bad_input(srv: RunningServer) -> None:
    out = run_cli(srv, "screening", "block", "192.0.2.1", "--for", "soon", ok=False)
    assert "error: --for 'soon'" in out
    out = run_cli(srv, "screening", "block", "no-such-host", ok=False)
    assert "is not an IP address or network" in out
    out = run_cli(srv, "screening", "unblock", "192.0.2.1", ok=False)
    assert "192.0.2.1 is not blocked" in out
    assert "(none)" in run_cli(srv, "screening", "list")
