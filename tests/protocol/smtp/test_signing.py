"""DKIM signing of submitted mail and BATV at RCPT, through real SMTP sessions on one server
(the two-server path, with OpenDKIM verifying, is tests/e2e/test_signing_two_servers.py)."""

from __future__ import annotations

import email
import smtplib
import time
from collections.abc import Iterator
from email.utils import formatdate
from pathlib import Path

import dkim
import pytest

from postroom.core.actor import Actor
from postroom.services import batv
from tests.protocol.smtp.test_session import inbox
from tests.support.logs import server_log
from tests.support.server import RunningServer, server_config, wait_for
from tests.support.tls import insecure_context

EXTRA = ["smtp.mx.enabled=true", "smtp.mx.port=0", "smtp.submission.enabled=true",
         "smtp.submission.port=0", "batv.enabled=true",
         "smtp.outbound.dns_servers=[\"127.0.0.1:9\"]"]


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    data: Path = tmp_path_factory.mktemp("signing")
    server = RunningServer(server_config(data, extra=EXTRA))
    server.call(server.services.admin.signing.dkim_generate(Actor.operator(), "example.test"))
    yield server
    server.stop()


def records(srv: RunningServer) -> dict[str, str]:
    keys = srv.call(srv.services.dkim_keys.keys("example.test"))
    return {k.record_name: k.record for k in keys}


def dkimpy_verify(message: bytes, recs: dict[str, str]) -> bool:
    def lookup(name: bytes, timeout: int = 5) -> bytes:
        return recs.get(name.decode().rstrip("."), "").encode()
    return bool(dkim.verify(message, dnsfunc=lookup))


def only_signature(message: bytes, index: int) -> bytes:
    """``message`` with only its ``index``-th DKIM-Signature field (each is checked alone)."""
    head, sep, body = message.partition(b"\r\n\r\n")
    fields: list[bytes] = []
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += b"\r\n" + line
        else:
            fields.append(line)
    sigs = [f for f in fields if f.lower().startswith(b"dkim-signature:")]
    kept = [f for f in fields if not f.lower().startswith(b"dkim-signature:") or
            f == sigs[index]]
    return b"\r\n".join(kept) + sep + body


def submit(srv: RunningServer, user: tuple[str, str], to: str, subject: str) -> None:
    body = (f"From: <{user[0]}>\r\nTo: <{to}>\r\nSubject: {subject}\r\n"
            f"Date: {formatdate(usegmt=True)}\r\n"
            f"Message-ID: <{subject}@example.test>\r\n\r\nSigned   text \r\n\r\n").encode()
    with smtplib.SMTP("127.0.0.1", srv.port("submission"), timeout=30) as s:
        s.starttls(context=insecure_context())
        s.login(*user)
        assert s.sendmail(user[0], [to], body) == {}


def test_authenticated_mail_is_signed_with_both_keys(srv: RunningServer) -> None:
    alice, bob = srv.add_user("alice"), srv.add_user("bob")
    with server_log() as logged:
        submit(srv, alice, bob[0], "signed-local")
        wait_for(lambda: inbox(srv, bob), what="mail at bob")
        decisions = [e.record for e in logged.since(0)
                     if e.record.getMessage() == "dkim sign"]
    (raw,) = inbox(srv, bob)
    msg = email.message_from_bytes(raw)
    sigs = msg.get_all("DKIM-Signature") or []
    assert [("ed25519-sha256" in s, "rsa-sha256" in s) for s in sigs] == \
        [(True, False), (False, True)]
    assert all("d=example.test" in s and "c=relaxed/relaxed" in s for s in sigs)
    for i in range(2):
        assert dkimpy_verify(only_signature(raw, i), records(srv)), sigs[i]
    assert [getattr(r, "decision", None) for r in decisions] == ["signed"]


def test_mail_from_outside_is_not_signed(srv: RunningServer) -> None:
    carol = srv.add_user("carol")
    with smtplib.SMTP("127.0.0.1", srv.port("smtp")) as s:
        s.sendmail("someone@example.net", [carol[0]],
                   f"From: <{carol[0]}>\r\nSubject: forged\r\n\r\nhi\r\n".encode())
    wait_for(lambda: inbox(srv, carol), what="mail at carol")
    assert b"DKIM-Signature" not in inbox(srv, carol)[0]


def bounce(srv: RunningServer, rcpt: str) -> tuple[int, bytes]:
    """A bounce (MAIL FROM:<>) to ``rcpt`` on the MX; the RCPT reply, and the message sent
    when it was accepted."""
    with smtplib.SMTP("127.0.0.1", srv.port("smtp")) as s:
        s.ehlo("mx.example.net")
        s.mail("")
        code, text = s.rcpt(rcpt)
        if code == 250:
            s.data(b"From: MAILER-DAEMON@example.net\r\nSubject: bounce for you\r\n\r\n"
                   b"Your mail could not be delivered.\r\n")
        return code, text


def test_bounce_to_an_unsigned_return_path_is_refused(srv: RunningServer) -> None:
    dave = srv.add_user("dave")
    with server_log() as logged:
        code, text = bounce(srv, dave[0])
        lines = [e.record for e in logged.since(0) if e.record.getMessage() == "batv"]
    assert code == 550 and text.startswith(b"5.7.1 Bounce refused")
    assert [getattr(r, "decision", None) for r in lines] == ["refused"]


def test_bounce_to_a_valid_tag_is_delivered_untagged(srv: RunningServer) -> None:
    erin = srv.add_user("erin")
    tagged = srv.call(srv.services.batv.return_path(erin[0]))
    assert tagged.startswith("prvs=") and tagged.endswith("=" + erin[0])
    code, _ = bounce(srv, tagged)
    assert code == 250
    wait_for(lambda: inbox(srv, erin), what="bounce at erin")
    assert b"bounce for you" in inbox(srv, erin)[0]


def test_expired_or_forged_tags_are_refused(srv: RunningServer) -> None:
    fred = srv.add_user("fred")
    service = srv.services.batv
    srv.call(service.return_path(fred[0]))  # the signing key exists
    key = srv.call(service._signing_key())
    secret = service._secret(key)
    old = batv.tag(secret, key.number, fred[0], 7, time.time() - 9 * 86400)
    code, text = bounce(srv, old)
    assert code == 550 and b"expired" in text
    good = batv.tag(secret, key.number, fred[0], 7, time.time())
    forged = good[:-len(fred[0]) - 2] + ("0" if good[-len(fred[0]) - 2] != "0" else "1") + \
        "=" + fred[0]
    code, text = bounce(srv, forged)
    assert code == 550 and b"signature is wrong" in text
    assert inbox(srv, fred) == []


def test_tag_on_mail_with_a_sender_is_only_stripped(srv: RunningServer) -> None:
    gina = srv.add_user("gina")
    with smtplib.SMTP("127.0.0.1", srv.port("smtp")) as s:
        refused = s.sendmail("auto@example.net", [f"prvs=0000000000={gina[0]}"],
                             b"Subject: auto-reply\r\n\r\nI am away.\r\n")
    assert refused == {}
    wait_for(lambda: inbox(srv, gina), what="auto-reply at gina")


def test_bounces_to_postmaster_are_always_taken(srv: RunningServer) -> None:
    srv.call(srv.services.directory.add_account("postmaster@example.test", "pw-postmaster-1"))
    code, _ = bounce(srv, "postmaster@example.test")
    assert code == 250


def test_reload_turns_signing_off_and_on(srv: RunningServer) -> None:
    """``dkim.sign`` is read per message: a reload changes it without a restart."""
    helen, ivan = srv.add_user("helen"), srv.add_user("ivan")
    data = Path(srv.cfg.server.data_dir)

    async def reload(sign: bool) -> list[str]:
        flag = "true" if sign else "false"
        return srv.server.reload(server_config(data, extra=[*EXTRA, f"dkim.sign={flag}"]))
    assert srv.call(reload(False)) == []
    try:
        submit(srv, helen, ivan[0], "unsigned-after-reload")
        wait_for(lambda: inbox(srv, ivan), what="mail at ivan")
        assert b"DKIM-Signature" not in inbox(srv, ivan)[0]
    finally:
        assert srv.call(reload(True)) == []
    submit(srv, helen, ivan[0], "signed-again")
    wait_for(lambda: len(inbox(srv, ivan)) == 2, what="second mail at ivan")
    assert b"DKIM-Signature" in inbox(srv, ivan)[1]


def test_a_large_message_spilled_to_disk_is_signed(srv: RunningServer) -> None:
    """Past the first 256 KiB the content is on disk while it is judged; the body hash
    streams it in a worker thread, never whole in memory."""
    jack, kate = srv.add_user("jack"), srv.add_user("kate")
    line = "0123456789 abcdefghij  ABCDEFGHIJ\t0123456789 abcdefghij ABCDEFGHIJ \r\n"
    body = (f"From: <{jack[0]}>\r\nTo: <{kate[0]}>\r\nSubject: large\r\n"
            f"Date: {formatdate(usegmt=True)}\r\n\r\n" + line * 12000).encode()
    assert len(body) > 800_000
    with smtplib.SMTP("127.0.0.1", srv.port("submission"), timeout=60) as s:
        s.starttls(context=insecure_context())
        s.login(*jack)
        assert s.sendmail(jack[0], [kate[0]], body) == {}
    wait_for(lambda: inbox(srv, kate), what="large mail at kate")
    (raw,) = inbox(srv, kate)
    for i in range(2):
        assert dkimpy_verify(only_signature(raw, i), records(srv))
