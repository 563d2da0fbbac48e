"""Named regressions for the SMTP findings of the hostile-input review (docs/smtp.md).

- DSN abuse: a forged reverse path with NOTIFY=SUCCESS RET=FULL must not mail the text to it.
- BDAT smuggling: the bare CR/LF rules apply to BDAT as to DATA.
- Send-as bypass: filler before ``From:``, or another originator field, cannot sneak past.
"""

from __future__ import annotations

import email
import smtplib
from collections.abc import Iterator

import pytest

from tests.protocol.smtp.test_extensions import Raw
from tests.protocol.smtp.test_session import inbox
from tests.support.server import RunningServer, server_config, wait_for
from tests.support.tls import insecure_context

SECRET = b"the-secret-body-the-attacker-wants-mailed-out"


def _notice_for(srv: RunningServer, sender: str) -> email.message.Message:
    """The notice queued towards ``sender`` (a remote address: it stays in the queue)."""
    def find() -> bytes | None:
        for rec in srv.call(srv.services.store.queue.list()):
            if rec.recipients == (sender,) and rec.sender == "":
                return srv.services.store.blobs.read(rec.blob)
        return None
    wait_for(lambda: find() is not None, what="the notice is queued")
    data = find()
    assert data is not None
    return email.message_from_bytes(data)


def test_dsn_abuse_success_notice_carries_headers_only(smtp_server: RunningServer) -> None:
    rcpt = smtp_server.add_user("dsnvictim")
    victim = "victim@elsewhere.example"
    body = b"Subject: hello\r\nFrom: x@y.example\r\n\r\n" + SECRET + b"\r\n"
    with smtplib.SMTP("127.0.0.1", smtp_server.port("smtp")) as s:  # no AUTH: anyone
        assert s.sendmail(victim, [rcpt[0]], body, mail_options=["RET=FULL"],
                          rcpt_options=["NOTIFY=SUCCESS"]) == {}
    wait_for(lambda: len(inbox(smtp_server, rcpt)) == 1)
    notice = _notice_for(smtp_server, victim)
    parts = notice.get_payload()
    assert isinstance(parts, list)
    assert "Action: delivered" in str(parts[1])
    assert parts[2].get_content_type() == "text/rfc822-headers"
    assert SECRET not in notice.as_bytes()


def test_failure_notice_to_an_authenticated_sender_still_returns_the_text(
        smtp_server: RunningServer) -> None:
    """The rule is for mail whose reverse path nobody vouched for; a user's own success
    notice keeps what RET asked for."""
    sender = smtp_server.add_user("vouched")
    rcpt = smtp_server.add_user("reader")
    own = b"From: " + sender[0].encode() + b"\r\nSubject: s\r\n\r\n" + SECRET + b"\r\n"
    with smtplib.SMTP("127.0.0.1", smtp_server.port("submission")) as s:
        s.starttls(context=insecure_context())
        s.login(*sender)
        assert s.sendmail(sender[0], [rcpt[0]], own, mail_options=["RET=FULL"],
                          rcpt_options=["NOTIFY=SUCCESS"]) == {}
    wait_for(lambda: len(inbox(smtp_server, sender)) == 1)
    notice = email.message_from_bytes(inbox(smtp_server, sender)[0])
    parts = notice.get_payload()
    assert isinstance(parts, list) and parts[2].get_content_type() == "message/rfc822"
    assert SECRET in notice.as_bytes()


def test_bdat_smuggling_bare_lf_and_cr_are_refused(smtp_server: RunningServer) -> None:
    rcpt = smtp_server.add_user("bdatsmuggle")
    for chunks in ([b"Subject: a\r\n\r\nline\nline\r\n"],
                   [b"Subject: a\r\n\r\nx\r.\r\nMAIL FROM:<e@vil>\r\n"],
                   [b"Subject: a\r\n\r\nends with CR\r", b"X"],  # a CR split across chunks
                   [b"Subject: a\r\n\r\nlast byte CR\r"]):
        raw = Raw(smtp_server.port("smtp"))
        assert raw.cmd("EHLO c.example")[0] == 250
        assert raw.cmd("MAIL FROM:<s@far.example>")[0] == 250
        assert raw.cmd(f"RCPT TO:<{rcpt[0]}>")[0] == 250
        for i, chunk in enumerate(chunks):
            last = " LAST" if i == len(chunks) - 1 else ""
            raw.send(f"BDAT {len(chunk)}{last}\r\n".encode() + chunk)
            code, text = raw.reply()
        assert (code, text[:5]) == (550, "5.5.2"), (chunks, code, text)
        raw.close()
    # a CRLF split between two chunks is fine
    raw = Raw(smtp_server.port("smtp"))
    assert raw.cmd("EHLO c.example")[0] == 250
    assert raw.cmd("MAIL FROM:<s@far.example>")[0] == 250
    assert raw.cmd(f"RCPT TO:<{rcpt[0]}>")[0] == 250
    first = b"Subject: a\r\n\r\nsplit\r"
    raw.send(b"BDAT %d\r\n" % len(first) + first)
    assert raw.reply()[0] == 250
    raw.send(b"BDAT 1 LAST\r\n\n")
    assert raw.reply()[0] == 250
    # BINARYMIME content may hold bare LF (RFC 3030 §3)
    assert raw.cmd("MAIL FROM:<s@far.example> BODY=BINARYMIME")[0] == 250
    assert raw.cmd(f"RCPT TO:<{rcpt[0]}>")[0] == 250
    binary = b"Subject: b\n\nbin\nary"
    raw.send(b"BDAT %d LAST\r\n" % len(binary) + binary)
    assert raw.reply()[0] == 250
    raw.close()


@pytest.fixture(scope="module")
def roomy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """Room for a 2 MB message, with the default 256 KiB header limit."""
    srv = RunningServer(server_config(tmp_path_factory.mktemp("roomy"), extra=[
        "smtp.submission.enabled=true", "smtp.submission.port=0",
        "limits.max_message_size=5000000"]))
    yield srv
    srv.stop()


def test_send_as_bypass_by_filler_or_other_originator_fields(roomy: RunningServer) -> None:
    smtp_server = roomy
    alice = smtp_server.add_user("alicefiller")
    bob = smtp_server.add_user("bobvictim")
    filler = b"".join(b"X-Filler-%d: %s\r\n" % (i, b"f" * 990) for i in range(2100))  # ~2 MB
    cases = [
        (filler + b"From: " + bob[0].encode() + b"\r\n", 552, "5.3.4"),
        (b"From: " + alice[0].encode() + b"\r\nSender: " + bob[0].encode() + b"\r\n",
         550, "5.7.1"),
        (b"From: " + alice[0].encode() + b"\r\nResent-From: " + bob[0].encode() + b"\r\n",
         550, "5.7.1"),
    ]
    with smtplib.SMTP("127.0.0.1", smtp_server.port("submission")) as s:
        s.starttls(context=insecure_context())
        s.login(*alice)
        for head, code, enhanced in cases:
            try:
                s.sendmail(alice[0], [bob[0]], head + b"Subject: x\r\n\r\nbody\r\n")
            except smtplib.SMTPDataError as exc:
                assert (exc.smtp_code, exc.smtp_error[:5]) == (code, enhanced.encode())
            else:
                raise AssertionError(f"accepted: {head[-80:]!r}")
            s.rset()
        # her own Sender: is fine
        own = (b"From: " + alice[0].encode() + b"\r\nSender: " + alice[0].encode()
               + b"\r\nSubject: ok\r\n\r\nbody\r\n")
        assert s.sendmail(alice[0], [bob[0]], own) == {}


def test_a_disabled_account_refuses_mail_at_rcpt(smtp_server: RunningServer) -> None:
    """``user disable`` promises that delivery is refused: 550 5.2.1 naming the reason, and
    450 4.2.1 while an account is frozen."""
    gone = smtp_server.add_user("disabledone")
    cold = smtp_server.add_user("frozenone")
    smtp_server.call(smtp_server.services.directory.set_state(gone[0], "disabled"))
    smtp_server.call(smtp_server.services.directory.set_state(cold[0], "frozen"))
    with smtplib.SMTP("127.0.0.1", smtp_server.port("smtp")) as s:
        s.ehlo("c.example")
        s.mail("someone@far.example")
        code, text = s.rcpt(gone[0])
        assert (code, text[:5]) == (550, b"5.2.1") and b"disabled" in text
        code, text = s.rcpt(cold[0])
        assert (code, text[:5]) == (450, b"4.2.1") and b"frozen" in text
