"""SMTP extensions with smtplib and raw sockets: CHUNKING/BDAT and BINARYMIME (RFC 3030), DSN
parameters and notices (RFC 3461/3464), relaying for authenticated senders, and the queue
commands of the CLI against the running server's store."""

from __future__ import annotations

import email
import json
import smtplib
import socket
import time
from collections.abc import Iterator

import pytest

from tests.protocol.smtp.test_session import MSG, inbox
from tests.support import cli
from tests.support.server import RunningServer, wait_for
from tests.support.tls import insecure_context


class Raw:
    """A line-level SMTP client for what smtplib cannot send (BDAT, pipelined chunks)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.f = self.sock.makefile("rb")
        assert self.reply()[0] == 220

    def reply(self) -> tuple[int, str]:
        lines = []
        while True:
            line = self.f.readline()
            assert line, "connection closed"
            lines.append(line[4:].decode().rstrip())
            if line[3:4] != b"-":
                return int(line[:3]), " ".join(lines)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def cmd(self, line: str) -> tuple[int, str]:
        self.send(line.encode() + b"\r\n")
        return self.reply()

    def closed(self) -> bool:
        return self.f.readline() == b""

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def raw(smtp_server: RunningServer) -> Iterator[Raw]:
    client = Raw(smtp_server.port("smtp"))
    assert client.cmd("EHLO c.example")[0] == 250
    yield client
    client.close()


def test_ehlo_lists_dsn_chunking_binarymime(raw: Raw) -> None:
    code, text = raw.cmd("EHLO again.example")
    assert code == 250
    for keyword in ("DSN", "CHUNKING", "BINARYMIME"):
        assert keyword in text.split()


def test_bdat_one_chunk_and_several(smtp_server: RunningServer, raw: Raw) -> None:
    user = smtp_server.add_user("bdat")
    assert raw.cmd("MAIL FROM:<a@example.net>")[0] == 250
    assert raw.cmd(f"RCPT TO:<{user[0]}>")[0] == 250
    head, body = MSG[:40], MSG[40:]
    raw.send(f"BDAT {len(head)}\r\n".encode() + head)
    assert raw.reply() == (250, f"2.0.0 {len(head)} octets received")
    raw.send(f"BDAT {len(body)} LAST\r\n".encode() + body)
    code, text = raw.reply()
    assert code == 250 and "queued as" in text
    # BDAT 0 LAST ends an empty-so-far transaction legally (RFC 3030 §2)
    assert raw.cmd("MAIL FROM:<a@example.net>")[0] == 250
    assert raw.cmd(f"RCPT TO:<{user[0]}>")[0] == 250
    raw.send(f"BDAT {len(MSG)}\r\n".encode() + MSG + b"BDAT 0 LAST\r\n")
    assert raw.reply()[0] == 250
    assert raw.reply()[0] == 250
    wait_for(lambda: len(inbox(smtp_server, user)) == 2)
    for stored in inbox(smtp_server, user):
        assert stored.endswith(MSG.replace(b"\r\n..", b"\r\n.."))  # no dot-unstuffing in BDAT


def test_bdat_errors(smtp_server: RunningServer, raw: Raw) -> None:
    user = smtp_server.add_user("bdaterr")
    # without MAIL: refused, and the chunk's octets are never run as commands
    payload = b"QUIT\r\n"
    raw.send(f"BDAT {len(payload)} LAST\r\n".encode() + payload)
    assert raw.reply()[0] == 503
    assert raw.cmd("NOOP")[0] == 250
    # DATA after BDAT needs RSET first
    raw.cmd("MAIL FROM:<a@example.net>")
    raw.cmd(f"RCPT TO:<{user[0]}>")
    raw.send(b"BDAT 5\r\nhello")
    assert raw.reply()[0] == 250
    assert raw.cmd("DATA")[0] == 503
    assert raw.cmd("RSET")[0] == 250
    # BODY=BINARYMIME only with BDAT
    raw.cmd("MAIL FROM:<a@example.net> BODY=BINARYMIME")
    raw.cmd(f"RCPT TO:<{user[0]}>")
    code, text = raw.cmd("DATA")
    assert code == 503 and "BINARYMIME" in text
    raw.send(f"BDAT {len(MSG)} LAST\r\n".encode() + MSG)
    assert raw.reply()[0] == 250
    # a chunk past the size limit fails the transaction; the next chunk has none
    raw.cmd("MAIL FROM:<a@example.net>")
    raw.cmd(f"RCPT TO:<{user[0]}>")
    big = 200001
    raw.send(f"BDAT {big}\r\n".encode() + b"x" * big + b"BDAT 3 LAST\r\nabc")
    assert raw.reply()[:1] == (552,)
    assert raw.reply()[0] == 503
    assert raw.cmd("NOOP")[0] == 250
    # no recipients: 554, octets discarded
    raw.cmd("MAIL FROM:<a@example.net>")
    raw.send(b"BDAT 4 LAST\r\nNOOP")
    assert raw.reply()[0] == 554
    wait_for(lambda: len(inbox(smtp_server, user)) == 1)
    # a BDAT without a usable size cannot be skipped safely: 501 and the connection ends
    code, _ = raw.cmd("BDAT lots")
    assert code == 501 and raw.closed()


@pytest.mark.parametrize(("mail", "rcpt", "code"), [
    ("RET=HDRS ENVID=abc+2Bdef", "NOTIFY=SUCCESS,DELAY ORCPT=rfc822;x+40y.example", 250),
    ("RET=FULL", "NOTIFY=NEVER", 250),
    ("RET=BODY", "", 501),
    ("ENVID=a+ZZ", "", 501),
    ("", "NOTIFY=NEVER,SUCCESS", 501),
    ("", "NOTIFY=SOMETIMES", 501),
    ("", "ORCPT=nosemicolon", 501),
    ("BODY=9BIT", "", 501),
    ("FROBNICATE=1", "", 555),
])
def test_dsn_and_body_parameters(smtp_server: RunningServer, raw: Raw, mail: str, rcpt: str,
                                 code: int) -> None:
    user = smtp_server.add_user("dsnp")
    got = raw.cmd(f"MAIL FROM:<a@example.net> {mail}".rstrip())[0]
    if got != 250:
        assert got == code
        return
    assert raw.cmd(f"RCPT TO:<{user[0]}> {rcpt}".rstrip())[0] == code


def test_success_notice_for_local_delivery(smtp_server: RunningServer) -> None:
    sender = smtp_server.add_user("asks")
    rcpt = smtp_server.add_user("gets")
    with smtplib.SMTP("127.0.0.1", smtp_server.port("submission")) as s:
        s.starttls(context=insecure_context())
        s.login(*sender)
        own = MSG.replace(b"sender@example.net", sender[0].encode())
        assert s.sendmail(sender[0], [rcpt[0]], own, mail_options=["RET=HDRS", "ENVID=e+2B1"],
                          rcpt_options=["NOTIFY=SUCCESS", f"ORCPT=rfc822;{rcpt[0]}"]) == {}
    wait_for(lambda: len(inbox(smtp_server, rcpt)) == 1)
    wait_for(lambda: len(inbox(smtp_server, sender)) == 1)
    notice = email.message_from_bytes(inbox(smtp_server, sender)[0])
    assert notice.get_content_type() == "multipart/report"
    parts = notice.get_payload()
    assert isinstance(parts, list)
    status = str(parts[1])
    assert "Action: delivered" in status and "Original-Envelope-Id: e+1" in status
    assert f"Original-Recipient: rfc822; {rcpt[0]}" in status
    assert parts[2].get_content_type() == "text/rfc822-headers"  # RET=HDRS
    # no notice about a notice, and none without NOTIFY=SUCCESS
    assert notice["Return-Path"] == "<>"


def test_no_notice_for_null_sender(smtp_server: RunningServer) -> None:
    """A bounce that cannot be delivered is dropped, never bounced (RFC 5321 §6.1)."""
    rcpt = smtp_server.add_user("nullsender")
    with smtplib.SMTP("127.0.0.1", smtp_server.port("smtp")) as s:
        assert s.sendmail("", [rcpt[0]], MSG, rcpt_options=["NOTIFY=SUCCESS"]) == {}
    wait_for(lambda: len(inbox(smtp_server, rcpt)) == 1)
    assert smtp_server.call(smtp_server.services.store.queue.list()) == []


def _queue_cli(srv: RunningServer, *args: str) -> str:
    result = cli.run(srv.cfg.data_path, "queue", *args, "--data-dir", str(srv.cfg.data_path),
                     "--set", "store.backend=sqlite")
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_authenticated_relay_and_queue_commands(smtp_server: RunningServer) -> None:
    """An authenticated sender may relay; the entry shows in ``postroom queue``; hold,
    release, delete and bounce act on it (bounce: a failure notice to the sender)."""
    sender = smtp_server.add_user("relayer")
    own = MSG.replace(b"sender@example.net", sender[0].encode())
    queue = smtp_server.services.store.queue
    # MX port: relaying needs AUTH inside TLS; unauthenticated it is refused
    with smtplib.SMTP("127.0.0.1", smtp_server.port("smtp")) as s:
        s.ehlo("c.example")
        s.docmd("MAIL FROM:<x@example.net>")
        assert s.docmd("RCPT TO:<far@remote.invalid>")[0] == 550
        s.rset()
        s.starttls(context=insecure_context())
        s.login(*sender)
        assert s.sendmail(sender[0], ["far@remote.invalid"], own) == {}
    rows = json.loads(_queue_cli(smtp_server, "list", "--json"))
    (row,) = [r for r in rows if r["sender"] == sender[0]]
    assert row["destination"] == "remote" and row["recipients"] == ["far@remote.invalid"]
    entry = str(row["id"])
    _queue_cli(smtp_server, "hold", entry)
    assert smtp_server.call(queue.get(int(entry))).state == "hold"
    shown = json.loads(_queue_cli(smtp_server, "show", entry, "--json"))
    assert shown["state"] == "hold" and shown["id"] == int(entry)
    _queue_cli(smtp_server, "release", entry)
    _queue_cli(smtp_server, "hold", entry)
    _queue_cli(smtp_server, "bounce", entry)
    wait_for(lambda: len(inbox(smtp_server, sender)) == 1, timeout=20)
    notice = email.message_from_bytes(inbox(smtp_server, sender)[0])
    assert "Action: failed" in str(notice.get_payload()[1])  # type: ignore[index]
    # delete: silently gone
    with smtplib.SMTP_SSL("127.0.0.1", smtp_server.port("submissions"),
                          context=insecure_context()) as s:
        s.login(*sender)
        s.sendmail(sender[0], ["far2@remote.invalid"], own)
    (row,) = [r for r in json.loads(_queue_cli(smtp_server, "list", "--json"))
              if r["sender"] == sender[0]]
    _queue_cli(smtp_server, "delete", str(row["id"]))
    assert [r for r in smtp_server.call(queue.list()) if r.sender == sender[0]] == []
    result = cli.run(smtp_server.cfg.data_path, "queue", "show", "999999", "--data-dir",
                     str(smtp_server.cfg.data_path))
    assert result.returncode == 1 and "no queue entry 999999" in result.stderr


def _cli(srv: RunningServer, *args: str) -> str:
    result = cli.run(srv.cfg.data_path, *args, "--data-dir", str(srv.cfg.data_path))
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_send_as_grants(smtp_server: RunningServer) -> None:
    """MAIL FROM and From: may name another address only with a send-as grant."""
    user = smtp_server.add_user("sendas")
    rcpt = smtp_server.add_user("sendas-rcpt")
    shared = "team-" + user[0]
    msg = MSG.replace(b"sender@example.net", shared.encode())

    def send() -> int:
        with smtplib.SMTP_SSL("127.0.0.1", smtp_server.port("submissions"),
                              context=insecure_context()) as s:
            s.login(*user)
            code = s.docmd(f"MAIL FROM:<{shared}>")[0]
            if code != 250:
                return code
            s.docmd(f"RCPT TO:<{rcpt[0]}>")
            assert s.docmd("DATA")[0] == 354
            return _data(s, msg)
    assert send() == 553
    _cli(smtp_server, "user", "send-as", user[0], "--add", shared)
    assert shared in _cli(smtp_server, "user", "send-as", user[0])
    assert send() == 250
    _cli(smtp_server, "user", "send-as", user[0], "--remove", shared)
    _cli(smtp_server, "user", "send-as", user[0], "--add", "@example.test")
    assert send() == 250  # a domain grant
    shown = json.loads(_cli(smtp_server, "user", "send-as", user[0], "--json"))
    assert shown["send_as"] == ["@example.test"]
    wait_for(lambda: len(inbox(smtp_server, rcpt)) == 2)


def _data(s: smtplib.SMTP, msg: bytes) -> int:
    assert s.sock is not None
    s.sock.sendall(msg.replace(b"\r\n.", b"\r\n..") + b".\r\n")
    return s.getreply()[0]


@pytest.mark.parametrize("full_first", [True, False])
def test_full_mailbox_holds_back_only_its_recipient(smtp_server: RunningServer,
                                                    full_first: bool) -> None:
    """One recipient's mailbox overflows at delivery: the other gets exactly one copy now,
    the full one waits in the queue and gets exactly one copy once it has room."""
    roomy = smtp_server.add_user("roomy")
    full = smtp_server.add_user("full", quota=100)  # RCPT passes (0 used), the append cannot
    rcpts = [full[0], roomy[0]] if full_first else [roomy[0], full[0]]
    with smtplib.SMTP("127.0.0.1", smtp_server.port("smtp")) as s:
        assert s.sendmail("a@example.net", rcpts, MSG) == {}
    queue = smtp_server.services.store.queue

    def waiting() -> list[str]:
        return [r for e in smtp_server.call(queue.list()) for r in e.recipients]
    wait_for(lambda: waiting() == [full[0]])
    assert len(inbox(smtp_server, roomy)) == 1
    (entry,) = [e for e in smtp_server.call(queue.list()) if full[0] in e.recipients]
    assert entry.attempts == 1 and "quota" in entry.last_error
    smtp_server.call(smtp_server.services.store.directory.update_account(full[0],
                                                                        quota_bytes=None))
    _queue_cli(smtp_server, "retry", str(entry.id))
    wait_for(lambda: len(inbox(smtp_server, full)) == 1, timeout=20)
    assert waiting() == [] and len(inbox(smtp_server, roomy)) == 1


def test_no_notice_to_a_local_sender_that_does_not_exist(smtp_server: RunningServer) -> None:
    """A notice for ``ghost@example.test`` (our domain, no such account) has nobody to go to:
    it is dropped, not sent out towards our own MX and kept retrying in the queue."""
    rcpt = smtp_server.add_user("ghostrcpt")
    with smtplib.SMTP("127.0.0.1", smtp_server.port("smtp")) as s:
        assert s.sendmail("ghost@example.test", [rcpt[0]], MSG,
                          rcpt_options=["NOTIFY=SUCCESS"]) == {}
    wait_for(lambda: len(inbox(smtp_server, rcpt)) == 1)
    time.sleep(0.5)
    queued = smtp_server.call(smtp_server.services.store.queue.list())
    assert [e for e in queued if "ghost@example.test" in e.recipients] == []
