"""Two Postroom instances and a real DNS server on loopback (issue 5 acceptance).

a.test's MX is instance A on 127.0.0.1, b.test's is instance B on 127.0.0.2, both on one SMTP
port; ``nullmx.test`` publishes a null MX (RFC 7505). Mail is submitted on A with smtplib over
STARTTLS + AUTH, routed by MX lookups, and read back over IMAP.
"""

from __future__ import annotations

import email
import imaplib
import json
import smtplib
from collections.abc import Iterator
from email.message import Message
from pathlib import Path

import pytest

from tests.support.mailhost import Dns, Instance, free_port, server_pair
from tests.support.server import wait_for
from tests.support.tls import insecure_context


def inbox(inst: Instance, user: tuple[str, str]) -> list[Message]:
    imap = imaplib.IMAP4(inst.address, inst.ports["imap"])
    try:
        imap.starttls(insecure_context())
        imap.login(*user)
        imap.select("INBOX", readonly=True)
        _, data = imap.uid("SEARCH", "ALL")
        out = []
        for uid in data[0].split():
            _, parts = imap.uid("FETCH", uid, "(BODY.PEEK[])")
            item = parts[0]
            assert isinstance(item, tuple)
            out.append(email.message_from_bytes(item[1]))
        return out
    finally:
        imap.logout()


def submit(inst: Instance, user: tuple[str, str], to: list[str], subject: str,
           notify: str | None = None, sender: str | None = None) -> None:
    """Submit on ``inst`` as ``user``; ``sender`` overrides the envelope and From: address."""
    sender = sender or user[0]
    body = (f"From: <{sender}>\r\nTo: {', '.join(to)}\r\nSubject: {subject}\r\n"
            f"Message-ID: <{subject}@{inst.domain}>\r\n\r\nHello from {inst.domain}.\r\n")
    with smtplib.SMTP(inst.address, inst.ports["submission"], timeout=30) as s:
        s.starttls(context=insecure_context())
        s.login(*user)
        rcpt_options = [f"NOTIFY={notify}"] if notify else []
        assert s.sendmail(sender, to, body.encode(), rcpt_options=rcpt_options) == {}


def queue(inst: Instance) -> list[dict[str, object]]:
    result = inst.cli("queue", "list", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert isinstance(rows, list)
    return rows


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Instance, Instance, Dns]]:
    # A warns about delayed mail after 1 s instead of 4 h (the B-down test reads the warning)
    with server_pair(tmp_path_factory.mktemp("pair"),
                     a_extra=["--set", "smtp.outbound.delay_warning=1"]) as (a, b, dns):
        dns.zone.add("nullmx.test", "MX", "0 .")
        yield a, b, dns


def _subject_in(messages: list[Message], subject: str) -> bool:
    return any(m["Subject"] == subject for m in messages)


def _reports(messages: list[Message]) -> list[tuple[Message, str]]:
    """(notice, its delivery-status text) for every DSN in ``messages``."""
    out = []
    for m in messages:
        if m.get_content_type() != "multipart/report":
            continue
        assert m.get_param("report-type") == "delivery-status"
        payload = m.get_payload()
        assert isinstance(payload, list)
        status = payload[1]
        assert status.get_content_type() == "message/delivery-status"
        out.append((m, str(status)))
    return out


def test_mail_crosses_to_the_other_server(pair: tuple[Instance, Instance, Dns]) -> None:
    a, b, _ = pair
    alice = a.add_user("alice")
    bob = b.add_user("bob")
    submit(a, alice, [bob[0]], "a-to-b")
    wait_for(lambda: _subject_in(inbox(b, bob), "a-to-b"), what="mail at B")
    (got,) = [m for m in inbox(b, bob) if m["Subject"] == "a-to-b"]
    assert got["Return-Path"] == f"<{alice[0]}>"
    received = got.get_all("Received")
    assert received and "by mx.b.test" in received[0] and "by mx.a.test" in received[1]
    assert "ESMTPS" in received[0]  # A used STARTTLS towards B
    # and back: B's user answers A's
    submit(b, bob, [alice[0]], "b-to-a")
    wait_for(lambda: _subject_in(inbox(a, alice), "b-to-a"), what="reply at A")
    wait_for(lambda: queue(a) == [] and queue(b) == [], what="queues empty")


def test_unknown_user_at_b_gives_a_dsn_at_a(pair: tuple[Instance, Instance, Dns]) -> None:
    a, _, _ = pair
    carol = a.add_user("carol")
    submit(a, carol, ["nobody@b.test"], "to-nobody")
    wait_for(lambda: _reports(inbox(a, carol)), what="DSN at A")
    ((notice, status),) = _reports(inbox(a, carol))
    assert notice["From"].startswith("Mail Delivery System")
    assert "Reporting-MTA: dns; mx.a.test" in status
    assert "Final-Recipient: rfc822; nobody@b.test" in status
    assert "Action: failed" in status and "Status: 5.1.1" in status
    assert "Remote-MTA: dns; mx.b.test" in status
    assert "Diagnostic-Code: smtp; 550 5.1.1" in status
    payload = notice.get_payload()
    assert isinstance(payload, list) and payload[2].get_content_type() == "message/rfc822"
    assert "to-nobody" in str(payload[2])
    assert queue(a) == []


def test_null_mx_bounces_at_once(pair: tuple[Instance, Instance, Dns]) -> None:
    a, _, _ = pair
    dave = a.add_user("dave")
    submit(a, dave, ["someone@nullmx.test"], "to-nullmx")
    wait_for(lambda: _reports(inbox(a, dave)), what="null MX DSN")
    ((_, status),) = _reports(inbox(a, dave))
    assert "Status: 5.1.10" in status and "Action: failed" in status


def test_success_notice_when_asked(pair: tuple[Instance, Instance, Dns]) -> None:
    a, b, _ = pair
    erin = a.add_user("erin")
    frank = b.add_user("frank")
    submit(a, erin, [frank[0]], "notify-success", notify="SUCCESS,FAILURE")
    wait_for(lambda: _subject_in(inbox(b, frank), "notify-success"), what="delivery")
    # B speaks DSN, so B (the final MTA) reports "delivered" from <>, back through A's MX
    wait_for(lambda: _reports(inbox(a, erin)), what="success DSN")
    ((_, status),) = _reports(inbox(a, erin))
    assert "Action: delivered" in status and "Reporting-MTA: dns; mx.b.test" in status


def test_smart_host_with_starttls_and_auth(pair: tuple[Instance, Instance, Dns],
                                           tmp_path: Path) -> None:
    """A third server with no DNS route of its own sends everything through B's submission
    port: STARTTLS (required), then AUTH as an account of B."""
    _, b, dns = pair
    relay = b.add_user("relay")
    ivan = b.add_user("ivan")
    c = Instance(tmp_path, "c.test", "127.0.0.3", free_port(("127.0.0.3",)), dns.port, extra=[
        "--set", f"smtp.outbound.smart_host=127.0.0.2:{b.ports['submission']}",
        "--set", "smtp.outbound.smart_host_tls=starttls",
        "--set", f"smtp.outbound.smart_host_user={relay[0]}",
        "--set", f"smtp.outbound.smart_host_password={relay[1]}"])
    c.start()
    try:
        # B lets its authenticated user send only as its own address, so C's user sends as
        # the smart host account, which C's administrator granted (send-as).
        user_c = c.add_user("relay-c")
        granted = c.cli("user", "send-as", user_c[0], "--add", relay[0])
        assert granted.returncode == 0, granted.stderr
        submit(c, user_c, [ivan[0]], "via-smart-host", sender=relay[0])
        wait_for(lambda: _subject_in(inbox(b, ivan), "via-smart-host"), what="via B")
        (got,) = [m for m in inbox(b, ivan) if m["Subject"] == "via-smart-host"]
        assert "ESMTPSA" in got.get_all("Received")[0]  # TLS and AUTH towards B (RFC 3848)
    finally:
        c.stop()


def test_b_down_then_back(pair: tuple[Instance, Instance, Dns]) -> None:
    a, b, _ = pair
    gina = a.add_user("gina")
    hank = b.add_user("hank")
    b.stop()
    try:
        submit(a, gina, [hank[0]], "while-b-down")

        def deferred() -> bool:
            rows = queue(a)
            return any(int(str(r["attempts"])) >= 1 and r["last_error"] for r in rows)
        wait_for(deferred, what="A deferred the message")
        (row,) = queue(a)
        assert row["destination"] == "remote" and "cannot connect" in str(row["last_error"])
        wait_for(lambda: _reports(inbox(a, gina)), what="delay warning")
        ((_, status),) = _reports(inbox(a, gina))
        assert "Action: delayed" in status and "Will-Retry-Until:" in status
    finally:
        b.start()
    wait_for(lambda: _subject_in(inbox(b, hank), "while-b-down"), what="delivered after B")
    assert [m["Subject"] for m in inbox(b, hank)].count("while-b-down") == 1
    wait_for(lambda: queue(a) == [], what="A's queue empty")
    assert len(_reports(inbox(a, gina))) == 1  # one warning, however many retries
