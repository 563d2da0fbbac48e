"""SMTP with smtplib against a real server: greeting, EHLO, MAIL/RCPT/DATA, errors,
relay refusal, submission AUTH, and local delivery through the durable queue."""

from __future__ import annotations

import imaplib
import smtplib
import socket

import pytest

from postroom.core.actor import Origin
from tests.support.server import RunningServer, wait_for
from tests.support.tls import insecure_context

MSG = (b"From: Sender <sender@example.net>\r\nTo: rcpt@example.test\r\nSubject: hello smtp\r\n"
       b"Message-ID: <s1@example.net>\r\n\r\nBody line\r\n..starts with a dot\r\n")



def inbox(srv: RunningServer, user: tuple[str, str]) -> list[bytes]:
    m = imaplib.IMAP4(host="127.0.0.1", port=srv.port("imap"))
    m.starttls(insecure_context())
    m.login(*user)
    m.select("INBOX")
    _, data = m.fetch("1:*", "(BODY.PEEK[])") if int(m.select("INBOX")[1][0] or 0) else ("", [])
    m.logout()
    return [part[1] for part in data if isinstance(part, tuple)]


def test_ehlo_advertises_only_what_is_implemented(smtp_server: RunningServer) -> None:
    with smtplib.SMTP("127.0.0.1", smtp_server.port("smtp")) as s:
        code, _ = s.ehlo("client.example")
        assert code == 250
        for ext in ("pipelining", "size", "8bitmime", "smtputf8", "enhancedstatuscodes",
                    "dsn", "chunking", "binarymime", "starttls"):
            assert s.has_extn(ext), ext
        assert not s.has_extn("auth")  # MX: AUTH only inside TLS
        assert s.esmtp_features["size"] == "200000"
        s.starttls(context=insecure_context())
        s.ehlo("client.example")
        assert "PLAIN" in s.esmtp_features["auth"] and not s.has_extn("starttls")


def test_local_delivery_end_to_end(smtp_server: RunningServer) -> None:
    user = smtp_server.add_user("rcpt")
    with smtplib.SMTP("127.0.0.1", smtp_server.port("smtp")) as s:
        refused = s.sendmail("sender@example.net", [user[0]], MSG)
        assert refused == {}
    wait_for(lambda: len(inbox(smtp_server, user)) == 1)
    stored = inbox(smtp_server, user)[0]
    assert stored.startswith(b"Return-Path: <sender@example.net>\r\nReceived: from ")
    assert stored.endswith(MSG)  # smtplib dot-stuffs, the server unstuffs


def test_errors_and_sequence(smtp_server: RunningServer) -> None:
    user = smtp_server.add_user("seq")
    with smtplib.SMTP("127.0.0.1", smtp_server.port("smtp")) as s:
        assert s.docmd("MAIL FROM:<a@example.net>")[0] == 503  # before EHLO
        s.ehlo("c.example")
        assert s.docmd("RCPT TO:<x@example.test>")[0] == 503  # before MAIL
        assert s.docmd("DATA")[0] == 503
        assert s.docmd("MAIL FROM:<a@example.net> SIZE=999999999")[:2] == (
            552, b"5.3.4 Message size exceeds fixed maximum message size")
        assert s.docmd("MAIL FROM:<a@example.net> FOO=1")[0] == 555
        assert s.docmd("MAIL FROM:a@example.net")[0] == 501
        assert s.docmd("MAIL FROM:<>")[0] == 250  # the null sender (RFC 5321 §4.5.5)
        assert s.docmd("MAIL FROM:<b@example.net>")[0] == 503  # nested
        code, text = s.docmd("RCPT TO:<nobody-here@example.test>")
        assert (code, text[:5]) == (550, b"5.1.1")
        assert s.docmd("DATA")[0] == 554  # no valid recipients
        assert s.docmd(f"RCPT TO:<{user[0]}>")[0] == 250
        assert s.docmd("RCPT TO:<Postmaster>")[0] == 250
        assert s.docmd("RSET")[0] == 250
        assert s.docmd("VRFY x")[0] == 252
        assert s.docmd("NOOP")[0] == 250
        assert s.docmd("FROB")[0] == 500


@pytest.mark.parametrize("rcpt", [
    "victim@elsewhere.example", "victim%elsewhere.example@example.test",
    "@example.test:victim@elsewhere.example", "victim@[192.0.2.1]",
    "victim@elsewhere.example.", '"victim@elsewhere.example"@example.test',
    "elsewhere.example!victim@example.test", "victim@bücher.example",
    "victim@xn--bcher-kva.example", "victim@[IPv6:2001:db8::1]", "victim@[127.0.0.1]",
    '"victim%elsewhere.example"@example.test', '"victim@elsewhere.example"',
    "victim@example.test.", "victim@example.test.elsewhere.example",
    "@example.test,@elsewhere.example:victim@elsewhere.example",
    "victim@elsewhere.example@example.test", "victim%elsewhere.example@[127.0.0.1]",
    "VICTIM@ELSEWHERE.EXAMPLE", "victim@elsewhere.example%example.test",
    "elsewhere.example!victim", "victim", "victim@ｅｘａｍｐｌｅ.test.elsewhere.example"])
def test_no_open_relay(smtp_server: RunningServer, rcpt: str) -> None:
    with smtplib.SMTP("127.0.0.1", smtp_server.port("smtp")) as s:
        s.ehlo("c.example")
        s.docmd("MAIL FROM:<spammer@elsewhere.example> SMTPUTF8")
        assert s.sock is not None
        s.sock.sendall(f"RCPT TO:<{rcpt}>\r\n".encode())
        code, _ = s.getreply()
        assert code >= 500, (rcpt, code)


def test_submission_requires_auth_and_own_sender(smtp_server: RunningServer) -> None:
    user = smtp_server.add_user("sub")
    other = smtp_server.add_user("other")
    with smtplib.SMTP("127.0.0.1", smtp_server.port("submission")) as s:
        s.ehlo("c.example")
        assert not s.has_extn("auth")  # not before STARTTLS
        assert s.docmd("MAIL FROM:<x@example.test>")[0] == 530
        s.starttls(context=insecure_context())
        s.ehlo("c.example")
        with pytest.raises(smtplib.SMTPAuthenticationError):
            s.login(user[0], "wrong")
        s.login(*user)
        assert s.docmd(f"MAIL FROM:<{other[0]}>")[0] == 553  # not yours
        s.rset()
        # The From: header is held to the same rule as MAIL FROM (RFC 6409 §8.1)
        with pytest.raises(smtplib.SMTPDataError) as refused:
            s.sendmail(user[0], [other[0]], MSG)
        assert refused.value.smtp_code == 550 and b"5.7.1" in refused.value.smtp_error
        assert s.sendmail(user[0], [other[0]], MSG.replace(b"sender@example.net",
                                                           user[0].encode())) == {}
    wait_for(lambda: len(inbox(smtp_server, other)) == 1)


def test_implicit_tls_submissions(smtp_server: RunningServer) -> None:
    user = smtp_server.add_user("tls")
    with smtplib.SMTP_SSL("127.0.0.1", smtp_server.port("submissions"),
                          context=insecure_context()) as s:
        s.login(*user)
        assert s.sendmail(user[0], [user[0]], MSG.replace(b"sender@example.net",
                                                          user[0].encode())) == {}
    wait_for(lambda: len(inbox(smtp_server, user)) == 1)


def test_smuggling_and_bare_lf_refused(smtp_server: RunningServer) -> None:
    user = smtp_server.add_user("smug")
    sock = socket.create_connection(("127.0.0.1", smtp_server.port("smtp")))
    f = sock.makefile("rb")
    f.readline()
    smuggled = (b"Subject: a\r\n\r\nx\n.\nMAIL FROM:<evil@x.example>\r\nRCPT TO:<" +
                user[0].encode() + b">\r\nDATA\r\n\r\nsmuggled\r\n.\r\n")
    sock.sendall(b"EHLO c.example\r\nMAIL FROM:<a@example.net>\r\nRCPT TO:<" +
                 user[0].encode() + b">\r\nDATA\r\n")
    while not f.readline().startswith(b"354"):
        pass
    sock.sendall(smuggled + b"QUIT\r\n")
    rest = f.read()
    assert rest.startswith(b"550 5.5.2 ") and rest.endswith(b"221 2.0.0 "
                                                            b"mail.example.test closing "
                                                            b"connection\r\n")
    assert inbox(smtp_server, user) == []


def test_pipelined_replies_in_order(smtp_server: RunningServer) -> None:
    user = smtp_server.add_user("pipe")
    sock = socket.create_connection(("127.0.0.1", smtp_server.port("smtp")))
    f = sock.makefile("rb")
    f.readline()
    sock.sendall(b"EHLO c.example\r\n")
    while f.readline()[3:4] == b"-":
        pass
    sock.sendall(b"MAIL FROM:<a@example.net>\r\nRCPT TO:<nobody@example.test>\r\nRCPT TO:<"
                 + user[0].encode() + b">\r\nDATA\r\n")
    codes = [f.readline()[:3] for _ in range(4)]
    assert codes == [b"250", b"550", b"250", b"354"]
    sock.sendall(MSG + b".\r\nQUIT\r\n")
    assert f.readline().startswith(b"250 2.0.0 Ok: queued as ")
    sock.close()
    wait_for(lambda: len(inbox(smtp_server, user)) == 1)


def test_public_folder_address_needs_p(smtp_server: RunningServer) -> None:
    """Mail to a public folder's address: outside senders need ``p`` for ``anyone``."""
    from postroom.core.principal import Principal

    svc, op = smtp_server.services, Principal.operator()
    smtp_server.call(svc.mailboxes.create(op, "Public Folders/Orders",
                                          address="orders@example.test"))
    with smtplib.SMTP("127.0.0.1", smtp_server.port("smtp")) as s:
        s.ehlo("c.example")
        s.docmd("MAIL FROM:<customer@example.net>")
        assert s.docmd("RCPT TO:<orders@example.test>")[:2] == (
            550, b"5.7.1 You may not post to <orders@example.test>")
    smtp_server.call(svc.acl.set(op, "Public Folders/Orders", "anyone", "p",
                                Origin("test", "local")))
    with smtplib.SMTP("127.0.0.1", smtp_server.port("smtp")) as s:
        assert s.sendmail("customer@example.net", ["orders@example.test"], MSG) == {}

    async def count() -> int:
        box = await svc.store.mailboxes.by_address("orders@example.test")
        assert box is not None
        return (await svc.store.mailboxes.get(box.id)).message_count  # type: ignore[union-attr]
    wait_for(lambda: smtp_server.call(count()) == 1)
