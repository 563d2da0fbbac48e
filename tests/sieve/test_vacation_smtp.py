"""Vacation replies over real SMTP, read back over IMAP (issue acceptance: "vacation not
answering lists or auto-submitted mail and answering once per period").

One server: mail comes in on the MX port from smtplib; a reply to a remote sender stays in the
queue (the outbound resolver never answers), where it is read; a reply to a local sender is
delivered and read with imaplib. Every message itself is delivered to the user's INBOX."""

from __future__ import annotations

import email
import email.policy
import smtplib
import time
import uuid
from collections.abc import Iterator
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path

import dkim
import pytest

from postroom.core.actor import Actor
from postroom.core.records import QueueRec
from tests.protocol.smtp.test_session import inbox
from tests.support.logs import server_log
from tests.support.server import RunningServer, server_config, wait_for

EXTRA = ["smtp.mx.enabled=true", "smtp.mx.port=0", "smtp.outbound.dns_servers=[\"127.0.0.1:9\"]",
         "sieve.vacation.min_seconds=1"]
SCRIPT = ('require ["vacation", "vacation-seconds"];\n'
          'vacation :seconds {seconds} :subject "Away" "I am away until Monday.";\n')


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    data: Path = tmp_path_factory.mktemp("vacation")
    server = RunningServer(server_config(data, extra=EXTRA))
    server.call(server.services.admin.signing.dkim_generate(Actor.operator(), "example.test"))
    yield server
    server.stop()


def activate(srv: RunningServer, address: str, source: str) -> None:
    async def go() -> None:
        services = srv.services
        account = await services.directory.require_account(address)
        owner = await services.directory.principal_for(account)
        await services.sieve_scripts.put(owner, "main", source)
        await services.sieve_scripts.activate(owner, "main")
    srv.call(go())


def send(srv: RunningServer, sender: str, rcpt: str, subject: str, extra: str = "",
         to: str | None = None) -> str:
    """Over the MX port, as another server would; returns the Message-ID."""
    mid = f"<{uuid.uuid4()}@b.example>"
    text = (f"From: Dave <{sender or 'mailer-daemon@b.example'}>\r\nTo: <{to or rcpt}>\r\n"
            f"Subject: {subject}\r\nDate: {formatdate(usegmt=True)}\r\nMessage-ID: {mid}\r\n"
            f"{extra}\r\nHello.\r\n")
    with smtplib.SMTP("127.0.0.1", srv.port("smtp")) as s:
        s.ehlo("mx.b.example")
        assert s.sendmail(sender, [rcpt], text.encode()) == {}
    return mid


def replies(srv: RunningServer, to: str) -> list[QueueRec]:
    return [e for e in srv.call(srv.services.queue.list())
            if e.param_dict().get("auto_reply") and e.recipients == (to,)]


def content(srv: RunningServer, entry: QueueRec) -> bytes:
    with srv.services.queue.open(entry) as fh:
        return fh.read()


def parse(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def test_vacation_answers_once_per_period_never_lists_or_automatic_mail(
        srv: RunningServer) -> None:
    user = srv.add_user("alice")
    alice = user[0]
    dave = f"dave-{uuid.uuid4().hex[:6]}@b.example"
    activate(srv, alice, SCRIPT.format(seconds=3))
    with server_log() as logged:
        first = send(srv, dave, alice, "Lunch?")
        wait_for(lambda: replies(srv, dave), what="the first reply")
        send(srv, dave, alice, "Lunch, again?")  # within the period: no second reply
        send(srv, dave, alice, "List", "List-Id: Lunch <lunch.b.example>\r\n")
        send(srv, dave, alice, "Robot", "Auto-Submitted: auto-generated\r\n")
        send(srv, dave, alice, "Bulk", "Precedence: bulk\r\n")
        send(srv, "", alice, "Bounce")  # null reverse path
        other = f"erin-{uuid.uuid4().hex[:6]}@b.example"
        send(srv, other, alice, "Bcc", to="friends@b.example")  # alice not in To/Cc
        wait_for(lambda: sum(ln.record.getMessage() == "sieve vacation"
                             for ln in logged.since(0)) == 7, what="seven vacation decisions")
        decisions = [(getattr(ln.record, "decision", ""), getattr(ln.record, "reason", ""))
                     for ln in logged.since(0) if ln.record.getMessage() == "sieve vacation"]
    assert [d for d, _ in decisions] == ["sent"] + ["not sent"] * 6, decisions
    reasons = [r for _, r in decisions[1:]]
    assert reasons[0] == "already answered within the period"
    assert "List-Id" in reasons[1] and "Auto-Submitted: auto-generated" in reasons[2]
    assert "Precedence: bulk" in reasons[3] and reasons[4] == "null reverse path"
    assert "To, Cc or Bcc" in reasons[5]
    [reply] = replies(srv, dave)
    assert reply.sender == ""  # RFC 3834 §3.3: nothing answers an auto-reply back
    msg = parse(content(srv, reply))
    assert msg["In-Reply-To"] == first and msg["Auto-Submitted"] == "auto-replied"
    assert not replies(srv, other)
    assert len(inbox(srv, user)) == 7  # every message was delivered all the same
    # after the period the sender is answered again, once
    time.sleep(3.2)
    send(srv, dave, alice, "Still there?")
    wait_for(lambda: len(replies(srv, dave)) == 2, what="the second reply")
    time.sleep(0.3)
    assert len(replies(srv, dave)) == 2


def test_reply_to_a_local_sender_read_over_imap(srv: RunningServer) -> None:
    """bob (local) writes to alice, who is away: her reply is in bob's INBOX with the RFC
    3834 fields, signed; bob is away too, and his script does not answer her reply (it is
    auto-replied, and comes from the null reverse path)."""
    user = srv.add_user("alice")
    alice = user[0]
    bob = srv.add_user("bob")
    activate(srv, alice, SCRIPT.format(seconds=3600))
    activate(srv, bob[0], SCRIPT.format(seconds=3600))
    with server_log() as logged:
        mid = send(srv, bob[0], alice, "Meeting")
        wait_for(lambda: inbox(srv, bob), what="the reply in bob's INBOX")
        wait_for(lambda: sum(ln.record.getMessage() == "sieve vacation"
                             for ln in logged.since(0)) == 2, what="two vacation decisions")
        decisions = [(getattr(ln.record, "user", ""), getattr(ln.record, "decision", ""))
                     for ln in logged.since(0) if ln.record.getMessage() == "sieve vacation"]
    assert decisions == [(alice, "sent"), (bob[0], "not sent")]
    [raw] = inbox(srv, bob)
    msg = parse(raw)
    assert raw.startswith(b"Return-Path: <>\r\n")  # delivered from the null reverse path
    assert msg["From"] == alice and msg["To"] == bob[0] and msg["Subject"] == "Away"
    assert msg["In-Reply-To"] == mid and msg["References"] == mid
    assert msg["Auto-Submitted"] == "auto-replied"  # RFC 3834 §5
    body = msg.get_body(("plain",))
    assert body is not None and "away until Monday" in body.get_content()
    # signed with example.test's key (the From: domain), like the server's own notices
    keys = srv.call(srv.services.dkim_keys.keys("example.test"))
    recs = {k.record_name: k.record for k in keys}

    def lookup(name: bytes, timeout: int = 5) -> bytes:
        return recs.get(name.decode().rstrip("."), "").encode()
    assert b"DKIM-Signature:" in raw
    assert dkim.verify(raw.partition(b"\r\n")[2], dnsfunc=lookup)
    time.sleep(0.5)
    assert [parse(m)["Subject"] for m in inbox(srv, user)] == ["Meeting"]
