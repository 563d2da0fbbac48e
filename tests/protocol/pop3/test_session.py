"""POP3 with poplib and raw lines: every command, its error paths, and the sharing of one
INBOX with IMAP (RFC 1939, RFC 2449, RFC 2595, RFC 5034; specs.md §3 [TEST] lines)."""

from __future__ import annotations

import base64
import hashlib
import imaplib
import poplib
import socket
import time

import pytest

from tests.protocol.pop3.conftest import RawPop, deliver, message, pop_tls
from tests.support.server import RunningServer
from tests.support.tls import insecure_context


def drop(p: poplib.POP3) -> None:
    """End the connection without QUIT."""
    p.sock.shutdown(socket.SHUT_RDWR)
    p.close()


def imap(srv: RunningServer, address: str, password: str) -> imaplib.IMAP4_SSL:
    client = imaplib.IMAP4_SSL("127.0.0.1", srv.port("imaps"), ssl_context=insecure_context())
    client.login(address, password)
    return client


def test_capa_before_and_after_stls(pop_server: RunningServer) -> None:
    c = RawPop(pop_server.port("pop3"))
    assert c.greeting.startswith(b"+OK")
    assert c.cmd("CAPA").startswith(b"+OK")
    before = c.multi()
    assert b"STLS" in before and b"USER" not in before
    assert not any(x.startswith(b"SASL") for x in before)  # no password offers in the clear
    for cap in (b"TOP", b"UIDL", b"RESP-CODES", b"PIPELINING", b"UTF8"):
        assert cap in before
    c.starttls()
    assert c.cmd("CAPA").startswith(b"+OK")
    after = c.multi()
    assert b"USER" in after and b"STLS" not in after
    sasl = next(x for x in after if x.startswith(b"SASL "))
    assert {b"PLAIN", b"LOGIN", b"SCRAM-SHA-256"} <= set(sasl.split()[1:])
    assert c.cmd("STLS").startswith(b"-ERR")  # RFC 2595 §4: not twice
    c.close()


def test_no_password_before_tls(pop_server: RunningServer, user: tuple[str, str]) -> None:
    c = RawPop(pop_server.port("pop3"))
    assert c.cmd(f"USER {user[0]}").startswith(b"-ERR [AUTH]")
    assert c.cmd(f"PASS {user[1]}").startswith(b"-ERR [AUTH]")
    assert c.cmd("AUTH PLAIN").startswith(b"-ERR [AUTH]")
    assert c.cmd("STAT").startswith(b"-ERR")  # still not logged in
    c.close()


def test_stls_discards_pipelined_commands(pop_server: RunningServer,
                                          user: tuple[str, str]) -> None:
    """Bytes sent after STLS in the same packet are not run inside TLS (CVE-2011-0411)."""
    c = RawPop(pop_server.port("pop3"))
    c.send(b"STLS\r\nUSER " + user[0].encode() + b"\r\n")
    assert c.line().startswith(b"+OK")
    c.upgrade()
    assert c.cmd(f"PASS {user[1]}").startswith(b"-ERR")  # the USER was dropped
    c.close()


def test_full_transaction(pop_server: RunningServer, user: tuple[str, str]) -> None:
    address, password = user
    msgs = [message("one"), message("two", "line\r\n.\r\n.dot\r\nend\r\n"), message("three")]
    uids = deliver(pop_server, address, *msgs)
    p = pop_tls(pop_server, address, password)
    count, octets = p.stat()
    assert count == 3 and octets == sum(len(m) for m in msgs)
    _resp, listing, _ = p.list()
    assert listing == [f"{i + 1} {len(m)}".encode() for i, m in enumerate(msgs)]
    assert p.list(2).split()[1:] == [b"2", str(len(msgs[1])).encode()]
    _, lines, _size = p.retr(1)
    assert b"\r\n".join(lines) + b"\r\n" == msgs[0]
    # a body line "." travels as ".." and poplib undoes it (RFC 1939 §3)
    _, lines, _ = p.retr(2)
    assert b"\r\n".join(lines) + b"\r\n" == msgs[1]
    _, lines, _ = p.top(2, 2)
    assert lines[-3:] == [b"", b"line", b"."]
    _, lines, _ = p.top(3, 0)
    assert lines[-1] == b"" and b"Subject: three" in lines
    _, uidls, _ = p.uidl()
    box = pop_server.call(pop_server.services.store.mailboxes.by_name(
        pop_server.call(pop_server.services.store.directory.get_account(address)).id, "INBOX"))
    assert uidls == [f"{i + 1} {box.uidvalidity}.{u}".encode() for i, u in enumerate(uids)]
    assert p.uidl(3).split()[1:] == [b"3", f"{box.uidvalidity}.{uids[2]}".encode()]
    assert p.noop().startswith(b"+OK")
    assert p.dele(2).startswith(b"+OK")
    for call in (lambda: p.retr(2), lambda: p.list(2), lambda: p.dele(2), lambda: p.top(2, 1),
                 lambda: p.uidl(2)):
        with pytest.raises(poplib.error_proto):
            call()
    assert p.stat() == (2, len(msgs[0]) + len(msgs[2]))
    assert [x.split()[0] for x in p.uidl()[1]] == [b"1", b"3"]
    p.rset()
    assert p.stat()[0] == 3
    p.dele(1)
    p.dele(3)
    assert b"2 messages deleted" in p.quit()
    # UPDATE removed them; the survivor keeps its UIDL (specs.md §3 [TEST])
    p = pop_tls(pop_server, address, password)
    assert p.uidl()[1] == [f"1 {box.uidvalidity}.{uids[1]}".encode()]
    p.quit()


def test_dele_then_drop_keeps_everything(pop_server: RunningServer,
                                         user: tuple[str, str]) -> None:
    address, password = user
    deliver(pop_server, address, message("a"), message("b"))
    p = pop_tls(pop_server, address, password)
    p.dele(1)
    p.retr(2)
    drop(p)  # no QUIT: no UPDATE state (RFC 1939 §6)
    time.sleep(0.3)
    p = pop_tls(pop_server, address, password)
    assert p.stat()[0] == 2
    p.quit()
    m = imap(pop_server, address, password)
    m.select("INBOX")
    assert m.search(None, "SEEN")[1] == [b""]  # the dropped session marked nothing seen
    m.logout()


def test_retr_then_quit_marks_seen_and_imap_sees_removal(pop_server: RunningServer,
                                                         user: tuple[str, str]) -> None:
    address, password = user
    deliver(pop_server, address, message("a"), message("b"), message("c"))
    m = imap(pop_server, address, password)
    m.select("INBOX")
    p = pop_tls(pop_server, address, password)
    p.retr(2)
    p.dele(1)
    p.quit()
    m.noop()
    expunges = [x for x in m.untagged_responses.get("EXPUNGE", [])]
    assert expunges == [b"1"]
    assert m.search(None, "SEEN")[1] == [b"1"]  # "b" is now message 1, seen
    assert m.search(None, "ALL")[1] == [b"1 2"]
    m.logout()


def test_second_session_gets_in_use(pop_server: RunningServer, user: tuple[str, str]) -> None:
    address, password = user
    first = pop_tls(pop_server, address, password)
    second = poplib.POP3("127.0.0.1", pop_server.port("pop3"), timeout=10)
    second.stls(insecure_context())
    second.user(address)
    with pytest.raises(poplib.error_proto, match=r"\[IN-USE\]"):
        second.pass_(password)
    with pytest.raises(poplib.error_proto):  # still in AUTHORIZATION
        second.stat()
    first.quit()
    second.user(address)  # RFC 1939 §4: may try again once the lock is free
    assert second.pass_(password).startswith(b"+OK")
    second.quit()
    # an IMAP session does not lock POP3 out
    m = imap(pop_server, address, password)
    m.select("INBOX")
    third = pop_tls(pop_server, address, password)
    third.quit()
    m.logout()


def test_lock_released_when_connection_drops(pop_server: RunningServer,
                                             user: tuple[str, str]) -> None:
    address, password = user
    first = pop_tls(pop_server, address, password)
    drop(first)
    time.sleep(0.3)
    pop_tls(pop_server, address, password).quit()


def test_pop3s_implicit_tls(pop_server: RunningServer, user: tuple[str, str]) -> None:
    address, password = user
    deliver(pop_server, address, message("tls"))
    p = poplib.POP3_SSL("127.0.0.1", pop_server.port("pop3s"), context=insecure_context(),
                        timeout=10)
    caps = p.capa()
    assert "USER" in caps and "STLS" not in caps and "SCRAM-SHA-256-PLUS" in caps["SASL"]
    p.user(address)
    p.pass_(password)
    assert p.stat()[0] == 1
    p.quit()


def test_wrong_password_and_failure_limit(pop_server: RunningServer,
                                          user: tuple[str, str]) -> None:
    c = RawPop(pop_server.port("pop3s"), implicit_tls=True)
    for _i in range(3):
        assert c.cmd(f"USER {user[0]}").startswith(b"+OK")
        reply = c.cmd("PASS wrong-password")
        assert reply.startswith(b"-ERR [AUTH] Authentication failed")
    assert c.line().startswith(b"-ERR")  # too many failures
    assert c.closed()
    # an unknown user gets the very same answer
    c = RawPop(pop_server.port("pop3s"), implicit_tls=True)
    assert c.cmd("USER nobody@example.test").startswith(b"+OK")
    assert c.cmd("PASS whatever").startswith(b"-ERR [AUTH] Authentication failed")
    assert c.cmd("PASS again").startswith(b"-ERR Send USER first")
    c.close()


def test_pass_with_spaces_and_disabled_account(pop_server: RunningServer) -> None:
    address, _password = pop_server.add_user(password="correct horse battery")
    c = RawPop(pop_server.port("pop3s"), implicit_tls=True)
    c.cmd(f"USER {address}")
    assert c.cmd("PASS correct horse battery").startswith(b"+OK")
    c.cmd("QUIT")
    pop_server.call(pop_server.services.directory.set_state(address, "disabled"))
    c = RawPop(pop_server.port("pop3s"), implicit_tls=True)
    c.cmd(f"USER {address}")
    assert c.cmd("PASS correct horse battery").startswith(b"-ERR [SYS/PERM]")
    c.close()


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_auth_plain_login_and_listing(pop_server: RunningServer, user: tuple[str, str]) -> None:
    address, password = user
    c = RawPop(pop_server.port("pop3s"), implicit_tls=True)
    assert c.cmd("AUTH").startswith(b"+OK")
    assert b"PLAIN" in c.multi()
    assert c.cmd("AUTH CRAM-MD5").startswith(b"-ERR")
    # initial response (RFC 5034 §4)
    reply = c.cmd(f"AUTH PLAIN {_b64(chr(0) + address + chr(0) + password)}")
    assert reply.startswith(b"+OK"), reply
    c.cmd("QUIT")
    # continuation, then LOGIN
    c = RawPop(pop_server.port("pop3s"), implicit_tls=True)
    assert c.cmd("AUTH PLAIN") == b"+ "
    assert c.cmd(_b64("\0" + address + "\0" + password)).startswith(b"+OK")
    c.cmd("QUIT")
    c = RawPop(pop_server.port("pop3s"), implicit_tls=True)
    assert c.cmd("AUTH LOGIN").startswith(b"+ ")
    assert c.cmd(_b64(address)).startswith(b"+ ")
    assert c.cmd(_b64(password)).startswith(b"+OK")
    c.cmd("QUIT")
    # cancel, bad base64, bad password
    c = RawPop(pop_server.port("pop3s"), implicit_tls=True)
    assert c.cmd("AUTH PLAIN") == b"+ "
    assert c.cmd("*").startswith(b"-ERR")
    assert c.cmd("AUTH PLAIN !!!notbase64").startswith(b"-ERR")
    assert c.cmd(f"AUTH PLAIN {_b64(chr(0) + address + chr(0) + 'nope')}").startswith(
        b"-ERR [AUTH]")
    assert c.cmd("AUTH PLAIN =").startswith(b"-ERR")  # empty response: no credentials
    assert c.cmd("AUTH LOGIN").startswith(b"+ ")
    assert c.cmd("A" * 5000).startswith(b"-ERR [AUTH]")  # an over-long response line
    assert c.cmd("NOOP").startswith(b"-ERR")  # still in AUTHORIZATION, still talking
    c.close()


def test_auth_scram_sha_256(pop_server: RunningServer, user: tuple[str, str]) -> None:
    import hmac
    import secrets
    address, password = user
    c = RawPop(pop_server.port("pop3s"), implicit_tls=True)
    nonce = secrets.token_urlsafe(18)
    first_bare = f"n={address},r={nonce}"
    reply = c.cmd(f"AUTH SCRAM-SHA-256 {_b64('n,,' + first_bare)}")
    assert reply.startswith(b"+ ")
    server_first = base64.b64decode(reply[2:]).decode()
    attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(attrs["s"]),
                                 int(attrs["i"]))
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    stored = hashlib.sha256(client_key).digest()
    final_bare = f"c=biws,r={attrs['r']}"
    auth_msg = f"{first_bare},{server_first},{final_bare}".encode()
    sig = hmac.new(stored, auth_msg, "sha256").digest()
    proof = bytes(a ^ b for a, b in zip(client_key, sig, strict=True))
    reply = c.cmd(_b64(f"{final_bare},p={base64.b64encode(proof).decode()}"))
    assert reply.startswith(b"+ ") and base64.b64decode(reply[2:]).startswith(b"v=")
    assert c.cmd("").startswith(b"+OK")
    assert c.cmd("STAT").startswith(b"+OK")
    c.close()


def test_apop(pop_server: RunningServer) -> None:
    address, _password = pop_server.add_user()
    other, _ = pop_server.add_user()
    pop_server.call(pop_server.services.directory.set_apop_secret(address, "apop-secret-1"))
    c = RawPop(pop_server.port("pop3"))
    stamp = c.greeting[c.greeting.index(b"<"):c.greeting.index(b">") + 1]
    digest = hashlib.md5(stamp + b"apop-secret-1").hexdigest()
    assert c.cmd(f"APOP {address} {'0' * 32}").startswith(b"-ERR [AUTH]")
    assert c.cmd(f"APOP {other} {digest}").startswith(b"-ERR [AUTH]")  # no secret: no APOP
    assert c.cmd(f"APOP {address} {digest}").startswith(b"+OK")
    c.close()
    # poplib's own APOP works too
    p = poplib.POP3("127.0.0.1", pop_server.port("pop3"), timeout=10)
    assert p.apop(address, "apop-secret-1").startswith(b"+OK")
    p.quit()
    c = RawPop(pop_server.port("pop3"))
    assert c.cmd(f"APOP {address}").startswith(b"-ERR")  # syntax
    c.close()


def test_garbage_gets_err_never_a_crash(pop_server: RunningServer,
                                        user: tuple[str, str]) -> None:
    address, password = user
    deliver(pop_server, address, message("g"))
    c = RawPop(pop_server.port("pop3s"), implicit_tls=True)
    for bad in (b"", b"XYZZY", b"\xff\xfe\xfd", b"LI\x00ST", b"RETR 1", b"12345",
                b"CAPA\tX", b"LIST"):
        assert c.cmd(bad).startswith(b"-ERR"), bad
    c.close()  # a fresh session: 20 errors in one close it (next test)
    c = RawPop(pop_server.port("pop3s"), implicit_tls=True)
    c.cmd(f"USER {address}")
    assert c.cmd(f"PASS {password}").startswith(b"+OK")
    for bad in (b"LIST abc", b"LIST 0", b"LIST 2", b"LIST -1", b"LIST 99999999999",
                b"RETR", b"RETR 1 2", b"TOP 1", b"TOP 1 x", b"DELE", b"STAT 1", b"UIDL 1 2",
                b"USER x", b"AUTH PLAIN", b"STLS", b"APOP a b", b"NOOP x", b"RSET x"):
        assert c.cmd(bad).startswith(b"-ERR"), bad
    assert c.cmd(b"L" * 5000).startswith(b"-ERR Line too long")
    assert c.cmd("STAT").startswith(b"+OK 1 ")  # the session goes on
    c.close()


def test_too_many_errors_close_the_connection(pop_server: RunningServer) -> None:
    c = RawPop(pop_server.port("pop3"))
    replies = [c.cmd("BOGUS") for _ in range(20)]
    assert all(r.startswith(b"-ERR") for r in replies)
    assert c.line().startswith(b"-ERR Too many errors")
    assert c.closed()


def test_pipelined_commands_answer_in_order(pop_server: RunningServer,
                                            user: tuple[str, str]) -> None:
    address, password = user
    deliver(pop_server, address, message("p1"), message("p2"))
    c = RawPop(pop_server.port("pop3s"), implicit_tls=True)
    c.send(f"USER {address}\r\nPASS {password}\r\nSTAT\r\nLIST\r\nUIDL 2\r\nRETR 1\r\n"
           "NOOP\r\nQUIT\r\n".encode())
    assert c.line().startswith(b"+OK")
    assert c.line().startswith(b"+OK Logged in")
    assert c.line().startswith(b"+OK 2 ")
    assert c.line().startswith(b"+OK") and len(c.multi()) == 2
    assert c.line().startswith(b"+OK 2 ")
    assert c.line().startswith(b"+OK") and b"Subject: p1" in c.multi()
    assert c.line() == b"+OK"
    assert c.line().startswith(b"+OK")
    assert c.closed()


def test_quit_in_authorization_and_utf8(pop_server: RunningServer) -> None:
    c = RawPop(pop_server.port("pop3"))
    assert c.cmd("UTF8").startswith(b"+OK")
    assert c.cmd("quit").startswith(b"+OK")  # keywords are case-insensitive
    assert c.closed()


def test_message_removed_by_imap_meanwhile(pop_server: RunningServer,
                                           user: tuple[str, str]) -> None:
    address, password = user
    deliver(pop_server, address, message("x"), message("y"))
    p = pop_tls(pop_server, address, password)
    m = imap(pop_server, address, password)
    m.select("INBOX")
    m.store("1", "+FLAGS", "\\Deleted")
    m.expunge()
    m.logout()
    with pytest.raises(poplib.error_proto, match="removed"):
        p.retr(1)
    assert p.retr(2)[1][-1] == b"Hello there"
    p.dele(1)
    assert b"0 messages deleted" in p.quit()  # already gone, nothing to remove


def test_large_message_with_dot_lines_across_chunks(pop_server: RunningServer,
                                                    user: tuple[str, str]) -> None:
    address, password = user
    line = b"." + b"x" * 97 + b"\r\n"  # every line starts with a dot; 100 octets each
    body = line * 6000  # 600 KB: several read chunks, boundaries inside lines
    data = message("big", "").rstrip(b"\r\n") + b"\r\n\r\n" + body
    deliver(pop_server, address, data)
    p = pop_tls(pop_server, address, password)
    assert p.list(1).split()[2] == str(len(data)).encode()
    _, lines, _octets = p.retr(1)
    assert b"\r\n".join(lines) + b"\r\n" == data
    _, lines, _ = p.top(1, 3)
    assert lines[-3:] == [line.rstrip(b"\r\n")] * 3
    p.quit()


def test_message_without_final_newline(pop_server: RunningServer,
                                       user: tuple[str, str]) -> None:
    address, password = user
    data = b"Subject: x\r\n\r\nno newline at the end"
    deliver(pop_server, address, data)
    c = RawPop(pop_server.port("pop3s"), implicit_tls=True)
    c.cmd(f"USER {address}")
    c.cmd(f"PASS {password}")
    assert c.cmd("RETR 1").startswith(b"+OK")
    assert c.multi()[-1] == b"no newline at the end"
    c.close()


def test_plaintext_networks_and_throttle(tmp_path: object) -> None:
    from pathlib import Path

    from tests.support.server import server_config
    srv = RunningServer(server_config(Path(str(tmp_path)), extra=[
        "pop3.pop3.enabled=true", "pop3.pop3.port=0", "pop3.pop3s.enabled=false",
        'server.plaintext_auth_networks=["127.0.0.1/32"]', "limits.auth_failures_per_ip=2"]))
    try:
        address, password = srv.add_user()
        p = poplib.POP3("127.0.0.1", srv.port("pop3"), timeout=10)
        assert "USER" in p.capa()
        assert "STLS" in p.capa()
        p.user(address)
        assert p.pass_(password).startswith(b"+OK")
        p.quit()
        # the throttle shared with IMAP and SMTP: past the threshold, failures wait
        timings = []
        for _ in range(4):
            c = RawPop(srv.port("pop3"))
            c.cmd(f"USER {address}")
            start = time.monotonic()
            assert c.cmd("PASS bad").startswith(b"-ERR [AUTH]")
            timings.append(time.monotonic() - start)
            c.close()
        assert timings[-1] >= 0.9 > timings[0]
    finally:
        srv.stop()
