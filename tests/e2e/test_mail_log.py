"""The mail log as an administrator reads it, and fail2ban on the login failures in it.

A real ``postroom serve`` writes its log to a file (``log.file``); the test makes every kind of
SMTP decision the log must show (unknown user, relaying, a login that fails, a sender address
that is not the user's, a full mailbox, a public folder closed to posting, an accepted message,
its delivery and a deferral), fails logins over IMAP, POP3 and SMTP, and then reads the file
line by line, and runs Debian's ``fail2ban-regex`` with the filter shipped in docs/fail2ban/.
"""

from __future__ import annotations

import imaplib
import poplib
import re
import shutil
import smtplib
import ssl
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.test_memory import port_of
from tests.e2e.test_serve import read_until, start, stop
from tests.support.cli import run

FILTER = Path(__file__).resolve().parents[2] / "docs" / "fail2ban" / "filter.d" / "postroom.conf"
CTX = ssl._create_unverified_context()
MSG = (b"From: {frm}\r\nTo: {to}\r\nSubject: log test\r\nMessage-ID: <log-{n}@test.example>\r\n"
       b"\r\nbody\r\n")


def lines(log: Path, needle: str) -> list[str]:
    return [ln for ln in log.read_text().splitlines() if needle in ln]


def wait_line(log: Path, pattern: str, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [ln for ln in log.read_text().splitlines() if re.search(pattern, ln)]
        if found:
            return found[-1]
        time.sleep(0.1)
    raise AssertionError(f"no log line matches {pattern!r}:\n{log.read_text()[-3000:]}")


def fail_logins(table: str) -> None:
    for _ in range(2):
        with pytest.raises(imaplib.IMAP4.error):
            imaplib.IMAP4_SSL("127.0.0.1", port_of(table, "imaps"), ssl_context=CTX).login(
                "alice@example.org", "wrong-password")
        pop = poplib.POP3_SSL("127.0.0.1", port_of(table, "pop3s"), context=CTX)
        pop.user("alice@example.org")
        with pytest.raises(poplib.error_proto):
            pop.pass_("wrong-password")
        with smtplib.SMTP_SSL("127.0.0.1", port_of(table, "submissions"), context=CTX) as s, \
                pytest.raises(smtplib.SMTPAuthenticationError):
            s.login("alice@example.org", "wrong-password")


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_fail2ban_matches_failed_logins(tmp_path: Path, fmt: str) -> None:
    if shutil.which("fail2ban-regex") is None:
        pytest.skip("fail2ban is not installed (make test installs it as root)")
    data, log = tmp_path / "var", tmp_path / "postroom.log"
    proc = start(data, "--set", f"log.file={log}", "--set", f"log.format={fmt}")
    try:
        table = read_until(proc, "Stop with")
        assert run(data, "user", "add", "alice@example.org", "--password",
                   "right-password-1").returncode == 0
        fail_logins(table)
        wait_line(log, "login failed.*smtp")
    finally:
        stop(proc)
    failed = lines(log, "login failed")
    for protocol in ("imap", "pop3", "smtp"):  # smtplib tries PLAIN, then LOGIN, each a failure
        assert len([ln for ln in failed if protocol in ln]) >= 2, (protocol, failed)
    if fmt == "text":
        assert all(re.search(r" postroom\.auth conn=\S+ login failed protocol=(imap|pop3|smtp) "
                             r"ip=127\.0\.0\.1 user=alice@example\.org$", ln) for ln in failed)
    result = subprocess.run(["fail2ban-regex", "--print-all-matched", str(log), str(FILTER)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    matched = re.search(r"Failregex: (\d+) total", result.stdout)
    assert matched and int(matched.group(1)) == len(failed), result.stdout
    assert "127.0.0.1" in result.stdout


def test_every_smtp_decision_has_a_line(tmp_path: Path) -> None:
    data, log = tmp_path / "var", tmp_path / "postroom.log"
    proc = start(data, "--set", f"log.file={log}", "--set",
                 'smtp.outbound.dns_servers=["127.0.0.1:9"]')
    try:
        table = read_until(proc, "Stop with")
        for args in (["user", "add", "alice@example.org", "--password", "alice-pw-123"],
                     ["user", "add", "full@example.org", "--password", "full-pw-123"],
                     ["folder", "create", "--public", "Closed", "--folder-address",
                      "closed@example.org"]):
            assert run(data, *args).returncode == 0
        mx, sub = port_of(table, "smtp"), port_of(table, "submissions")
        with smtplib.SMTP("127.0.0.1", mx) as s:
            s.ehlo("outside.example")
            s.mail("someone@outside.example")
            assert s.rcpt("nobody@example.org")[0] == 550
            assert s.rcpt("victim@far.example")[0] == 550
            assert s.rcpt("closed@example.org")[0] == 550
            s.rset()
        big = MSG.replace(b"body", b"x" * 4000)
        with smtplib.SMTP("127.0.0.1", mx) as s:  # fills the 1K mailbox, then it is full
            s.sendmail("a@outside.example", ["full@example.org"],
                       big.replace(b"{frm}", b"a@outside.example").replace(b"{n}", b"0"))
        wait_line(log, r"delivered queue_id=\d+ to=<full@example.org>")
        assert run(data, "user", "set", "full@example.org", "--quota", "1K").returncode == 0
        with smtplib.SMTP("127.0.0.1", mx) as s:
            s.ehlo("outside.example")
            s.mail("a@outside.example")
            assert s.rcpt("full@example.org")[0] == 452
        with smtplib.SMTP_SSL("127.0.0.1", sub, context=CTX) as s:
            s.login("alice@example.org", "alice-pw-123")
            with pytest.raises(smtplib.SMTPSenderRefused):
                s.sendmail("boss@example.org", ["x@far.example"], b"Subject: x\r\n\r\nx\r\n")
            s.sendmail("alice@example.org", ["alice@example.org", "x@far.example"],
                       MSG.replace(b"{frm}", b"alice@example.org").replace(b"{n}", b"1")
                       .replace(b"{to}", b"alice@example.org"))
            with pytest.raises(smtplib.SMTPAuthenticationError):
                smtplib.SMTP_SSL("127.0.0.1", sub, context=CTX).login("alice@example.org",
                                                                       "nope")
        accept = wait_line(log, r"smtp accept .*msgid=<log-1@test\.example>")
        wait_line(log, r"delivered queue_id=\d+ to=<alice@example.org> where=INBOX")
        wait_line(log, r"deferred queue_id=\d+ to=<x@far.example>")
    finally:
        stop(proc)
    rejects = lines(log, "smtp reject")
    expect = [("rcpt", "<nobody@example.org>", "550 5.1.1"),
              ("rcpt", "<victim@far.example>", "550 5.7.1"),
              ("rcpt", "<closed@example.org>", "550 5.7.1"),
              ("rcpt", "<full@example.org>", "452 4.2.2"),
              ("mail", "-", "553 5.7.1")]
    for stage, to, status in expect:
        assert any(f"stage={stage} " in ln and f" to={to} " in ln
                   and f'status="{status}"' in ln for ln in rejects), (stage, to, rejects)
    assert all("client=127.0.0.1" in ln and " reason=" in ln for ln in rejects)
    assert "auth=alice@example.org" in next(ln for ln in rejects if "stage=mail" in ln)
    for field in ("client=127.0.0.1", "from=<alice@example.org>",
                  "to=<alice@example.org>,<x@far.example>", "auth=alice@example.org",
                  "tls=yes", "size="):
        assert field in accept, (field, accept)
    assert lines(log, "login failed protocol=smtp ip=127.0.0.1 user=alice@example.org")
