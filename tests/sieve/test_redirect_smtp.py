"""Sieve redirect and SRS over real SMTP between two servers (issue acceptance: "a redirect to
a remote address carries an SRS return path and is delivered once").

Two Postroom servers in this process: A (domain a.test) and B (b.test), each sending its
remote mail to the other's MX port as its smart host (no TLS, loopback). alice@a.test
redirects; carol and dave live at B and read their mail over IMAP. Also: a redirect that B
refuses comes back to dave as a failure notice (through the SRS address), a bounce sent to the
SRS address is passed on to dave, a forged one is refused at RCPT, a redirect to a local
address is delivered locally, and two users redirecting to each other end in a kept copy."""

from __future__ import annotations

import email
import email.policy
import smtplib
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path

import pytest

from postroom.core.records import QueueRec
from postroom.services.sieve.srs import Srs
from tests.protocol.smtp.test_session import inbox
from tests.support.server import RunningServer, server_config, wait_for

EXTRA = ["smtp.mx.enabled=true", "smtp.mx.port=0", "smtp.outbound.smart_host_tls=none",
         "smtp.outbound.retry_schedule=[1]", "smtp.outbound.connect_timeout=2",
         "smtp.deliver_at_acceptance=false"]


@dataclass
class Pair:
    a: RunningServer
    b: RunningServer


def _closed_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    root: Path = tmp_path_factory.mktemp("redirect")
    a = RunningServer(server_config(root / "a", extra=[*EXTRA, "server.hostname=mx.a.test"]))
    b = RunningServer(server_config(root / "b", extra=[*EXTRA, "server.hostname=mx.b.test"]))
    a.call(a.services.directory.add_domain("a.test"))
    b.call(b.services.directory.add_domain("b.test"))
    a.cfg.smtp.outbound.smart_host = f"127.0.0.1:{b.port('smtp')}"
    b.cfg.smtp.outbound.smart_host = f"127.0.0.1:{a.port('smtp')}"
    try:
        yield Pair(a, b)
    finally:
        a.stop()
        b.stop()


def user(srv: RunningServer, local: str, domain: str) -> tuple[str, str]:
    address = f"{local}-{uuid.uuid4().hex[:6]}@{domain}"
    password = uuid.uuid4().hex

    async def make() -> None:
        account = await srv.services.directory.add_account(address, password)
        await srv.services.mailboxes.ensure_defaults(account.id, account.domain_id)
    srv.call(make())
    return address, password


def activate(srv: RunningServer, address: str, source: str) -> None:
    async def go() -> None:
        services = srv.services
        account = await services.directory.require_account(address)
        owner = await services.directory.principal_for(account)
        await services.sieve_scripts.put(owner, "main", source)
        await services.sieve_scripts.activate(owner, "main")
    srv.call(go())


def text(sender: str, rcpt: str, subject: str) -> bytes:
    return (f"From: <{sender}>\r\nTo: <{rcpt}>\r\nSubject: {subject}\r\n"
            f"Date: {formatdate(usegmt=True)}\r\nMessage-ID: <{uuid.uuid4()}@b.test>\r\n"
            f"\r\nHello through {rcpt}.\r\n").encode()


def send(srv: RunningServer, sender: str, rcpt: str, data: bytes) -> None:
    """To ``srv``'s MX, as another server would."""
    with smtplib.SMTP("127.0.0.1", srv.port("smtp")) as s:
        s.ehlo("mx.b.test")
        assert s.sendmail(sender, [rcpt], data) == {}


def queue(srv: RunningServer) -> list[QueueRec]:
    return srv.call(srv.services.queue.list())


def parse(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def reports(messages: list[bytes]) -> list[str]:
    """The delivery-status parts of the DSNs among ``messages``."""
    out = []
    for raw in messages:
        msg = parse(raw)
        if msg.get_content_type() == "multipart/report":
            parts = list(msg.iter_parts())
            out.append(parts[1].as_string())
    return out


def test_redirect_carries_an_srs_return_path_and_is_delivered_once(pair: Pair) -> None:
    a, b = pair.a, pair.b
    alice = user(a, "alice", "a.test")
    carol, dave = user(b, "carol", "b.test"), user(b, "dave", "b.test")
    activate(a, alice[0], f'redirect "{carol[0]}";\n')
    # B is unreachable for A's first attempts: the redirected copy waits in A's queue and is
    # retried (every second here) until B answers; it arrives once all the same
    a.cfg.smtp.outbound.smart_host = f"127.0.0.1:{_closed_port()}"
    data = text(dave[0], alice[0], "redirect-1")
    try:
        send(a, dave[0], alice[0], data)
        wait_for(lambda: any(e.param_dict().get("forwarded_for") == alice[0]
                             and e.attempts >= 1 for e in queue(a)),
                 what="the redirected copy deferred at A")
        assert not inbox(a, alice)  # the redirect cancelled the keep
    finally:
        a.cfg.smtp.outbound.smart_host = f"127.0.0.1:{b.port('smtp')}"
    wait_for(lambda: inbox(b, carol), what="the redirected copy at B")
    wait_for(lambda: queue(a) == [], what="A's queue empty")
    time.sleep(1.5)  # one more retry period: nothing else arrives
    [raw] = inbox(b, carol)
    msg = parse(raw)
    return_path = msg["Return-Path"].strip("<>")
    local, _, domain = return_path.rpartition("@")
    assert local.startswith("SRS0=") and local.endswith(f"=b.test={dave[0].split('@')[0]}")
    assert domain == "a.test"  # signed by the redirecting user's domain
    assert msg["Delivered-To"] == alice[0]  # the loop marker
    assert raw.endswith(data)  # the message itself unchanged (RFC 5228 §4.2)
    assert not inbox(b, dave)  # no bounce


def test_a_refused_redirect_comes_back_to_the_original_sender(pair: Pair) -> None:
    """B refuses the target at RCPT: A's failure notice goes to the sender the SRS return
    path encodes (not dropped as mail to an unknown address of A's)."""
    a, b = pair.a, pair.b
    alice, dave = user(a, "alice", "a.test"), user(b, "dave", "b.test")
    activate(a, alice[0], 'redirect "nobody@b.test";\n')
    send(a, dave[0], alice[0], text(dave[0], alice[0], "redirect-2"))
    wait_for(lambda: reports(inbox(b, dave)), what="the failure notice at dave's")
    [status] = reports(inbox(b, dave))
    assert "Final-Recipient: rfc822; nobody@b.test" in status
    assert "Action: failed" in status
    assert f"Original-Recipient: rfc822; {alice[0]}" in status


def test_mail_to_the_srs_address_goes_to_the_original_sender(pair: Pair) -> None:
    a, b = pair.a, pair.b
    dave = user(b, "dave", "b.test")
    srs = a.call(a.services.sieve_mail.srs.return_path(dave[0], "a.test"))
    bounce = (f"From: Mail Delivery System <mailer-daemon@c.test>\r\nTo: <{srs}>\r\n"
              f"Subject: Undelivered Mail Returned to Sender\r\n"
              f"Date: {formatdate(usegmt=True)}\r\n\r\nYour message could not be delivered."
              "\r\n").encode()
    send(a, "", srs, bounce)  # a bounce from a third server, through our SRS address
    wait_for(lambda: inbox(b, dave), what="the bounce at dave's")
    [raw] = inbox(b, dave)
    assert parse(raw)["Subject"] == "Undelivered Mail Returned to Sender"
    # altered or expired SRS addresses are refused at RCPT
    secret = a.services.sieve_mail.srs.scheme().secret
    stale = Srs(secret, 21).forward(dave[0], "a.test", time.time() - 30 * 86400)
    forged = srs.replace("=dave", "=eve")
    for bad in (forged, stale):
        with smtplib.SMTP("127.0.0.1", a.port("smtp")) as s:
            s.ehlo("mx.c.test")
            s.mail("")
            code, reply = s.rcpt(bad)
        assert code == 550 and b"5.7.1" in reply and b"SRS" in reply, (bad, reply)


def test_local_redirect_and_a_loop_between_two_users(pair: Pair) -> None:
    """alice redirects to bob (local: delivered by the queue, sender kept), bob redirects back
    to alice: alice's script sees its own loop marker, and the message is kept in her INBOX
    (RFC 5228 §4.2: a detected loop is an error, the implicit keep applies)."""
    a, b = pair.a, pair.b
    alice, bob = user(a, "alice", "a.test"), user(a, "bob", "a.test")
    carol, dave = user(a, "carol", "a.test"), user(b, "dave", "b.test")
    activate(a, carol[0], f'redirect "{bob[0]}";\n')
    send(a, dave[0], carol[0], text(dave[0], carol[0], "redirect-local"))
    wait_for(lambda: inbox(a, bob), what="the local redirect at bob's")
    raw = inbox(a, bob)[0]
    assert raw.startswith(f"Return-Path: <{dave[0]}>".encode())  # no SRS for a local copy
    assert parse(raw)["Delivered-To"] == carol[0]
    activate(a, alice[0], f'redirect "{bob[0]}";\n')
    activate(a, bob[0], f'redirect "{alice[0]}";\n')
    send(a, dave[0], alice[0], text(dave[0], alice[0], "redirect-loop"))
    wait_for(lambda: inbox(a, alice), what="the looping message kept at alice's")
    wait_for(lambda: queue(a) == [], what="A's queue empty")
    time.sleep(1.0)
    assert len(inbox(a, alice)) == 1
    assert len(inbox(a, bob)) == 1  # only carol's copy: bob's script sent alice's on
