"""spamd and clamd end to end: SMTP into a real Postroom server with the checks on, the mail
read back over IMAP, and the daemons' own records (spamd's Bayes counters) looked at.

Two servers, both with ``spamd`` and ``clamav`` in pipeline.checks:
- ``filing``: spam from 5 into Junk, never refused; infected mail refused at DATA (554 5.7.1);
- ``strict``: spam refused at DATA from 20 (550 5.7.1); infected mail quarantined into Junk.
"""

from __future__ import annotations

import imaplib
import os
import signal
import smtplib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.filters.test_clients import HAM, spam_message, with_attachment, zipped
from tests.support.daemons import EICAR, SIGNATURE, Clamd, Spamd, free_port
from tests.support.logs import server_log
from tests.support.server import RunningServer, run_cli, server_config, wait_for
from tests.support.tls import insecure_context

CHECKS = '["size","smuggling","loop","sender","spamd","clamav"]'
imaplib.Commands.setdefault("MOVE", ("SELECTED",))  # RFC 6851; imaplib predates it


def filter_server(data: Path, spamd: Spamd, clamd: Clamd, extra: list[str]) -> RunningServer:
    return RunningServer(server_config(data, extra=[
        "smtp.mx.enabled=true", "smtp.mx.port=0", f"pipeline.checks={CHECKS}",
        f"pipeline.spamd.address={spamd.address}", f"pipeline.clamav.address={clamd.address}",
        "pipeline.clamav.retry_delay=0.2", "smtp.outbound.dns_servers=[\"127.0.0.1:9\"]",
        *extra]))


@pytest.fixture(scope="module")
def filing(tmp_path_factory: pytest.TempPathFactory, spamd: Spamd,
           clamd: Clamd) -> Iterator[RunningServer]:
    srv = filter_server(tmp_path_factory.mktemp("filing"), spamd, clamd,
                        ["pipeline.spamd.junk_at=5.0", "pipeline.spamd.reject_at=0"])
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory, spamd: Spamd,
           clamd: Clamd) -> Iterator[RunningServer]:
    srv = filter_server(tmp_path_factory.mktemp("strict"), spamd, clamd,
                        ["pipeline.spamd.reject_at=20", "pipeline.clamav.on_infected="
                         "\"quarantine\""])
    yield srv
    srv.stop()


def send(srv: RunningServer, rcpt: str, data: bytes) -> tuple[int, bytes]:
    """(code, text) of the reply to the end of DATA."""
    with smtplib.SMTP("127.0.0.1", srv.port("smtp"), timeout=60) as s:
        s.ehlo("client.example")
        s.mail("sender@example.net")
        assert s.rcpt(rcpt)[0] == 250
        try:
            code, text = s.data(data)
        except smtplib.SMTPDataError as exc:
            return exc.smtp_code, exc.smtp_error
        return code, text


class Imap:
    def __init__(self, srv: RunningServer, user: tuple[str, str]) -> None:
        self.m = imaplib.IMAP4("127.0.0.1", srv.port("imap"))
        self.m.starttls(insecure_context())
        self.m.login(*user)

    def folder(self, name: str) -> list[bytes]:
        typ, data = self.m.select(name)
        assert typ == "OK", data
        if not int(data[0] or 0):
            return []
        _, fetched = self.m.uid("FETCH", "1:*", "(BODY.PEEK[])")
        return [part[1] for part in fetched if isinstance(part, tuple)]

    def close(self) -> None:
        self.m.logout()


def folders(srv: RunningServer, user: tuple[str, str]) -> dict[str, list[bytes]]:
    imap = Imap(srv, user)
    try:
        return {name: imap.folder(name) for name in ("INBOX", "Junk")}
    finally:
        imap.close()


# -- spamd -----------------------------------------------------------------------------------
def test_gtube_is_filed_in_junk(filing: RunningServer) -> None:
    user = filing.add_user("gtube")
    code, _ = send(filing, user[0], spam_message())
    assert code == 250
    got = folders(filing, user)
    assert got["INBOX"] == [] and len(got["Junk"]) == 1
    head = got["Junk"][0].split(b"\r\n\r\n")[0]
    assert b"\r\nX-Spam-Flag: YES\r\n" in head and b"X-Spam-Status: Yes, score=" in head
    assert b"GTUBE" in head


def test_gtube_is_rejected_at_data(strict: RunningServer) -> None:
    user = strict.add_user("gtube")
    code, text = send(strict, user[0], spam_message())
    assert code == 550 and text.startswith(b"5.7.1 ") and b"spam" in text
    assert folders(strict, user) == {"INBOX": [], "Junk": []}


def test_ham_reaches_inbox_with_spam_headers(filing: RunningServer) -> None:
    user = filing.add_user("ham")
    assert send(filing, user[0], HAM)[0] == 250
    got = folders(filing, user)
    assert got["Junk"] == [] and len(got["INBOX"]) == 1
    head = got["INBOX"][0].split(b"\r\n\r\n")[0]
    assert b"X-Spam-Status: No, score=" in head and b"\r\nX-Spam-Score: " in head
    assert b"X-Spam-Flag" not in head
    assert b"X-Virus-Status: Clean" in head
    assert got["INBOX"][0].endswith(HAM)  # the content itself is untouched


def test_an_account_that_opted_out_gets_spam_untouched(filing: RunningServer) -> None:
    user = filing.add_user("optout")
    run_cli(filing, "user", "set", user[0], "--spam-filter", "off")
    assert "spam_filter  off" in run_cli(filing, "user", "show", user[0])
    assert send(filing, user[0], spam_message())[0] == 250
    got = folders(filing, user)
    assert got["Junk"] == [] and len(got["INBOX"]) == 1
    assert b"X-Spam-" not in got["INBOX"][0]
    run_cli(filing, "user", "set", user[0], "--spam-filter", "on")
    assert send(filing, user[0], spam_message())[0] == 250
    assert len(folders(filing, user)["Junk"]) == 1


def test_mixed_recipients_spam_is_tagged_not_filed(filing: RunningServer) -> None:
    """One recipient opted out, one did not: one delivery serves both, so the message is
    tagged but goes to both INBOXes."""
    keen, opted = filing.add_user("keen"), filing.add_user("optedout")
    run_cli(filing, "user", "set", opted[0], "--spam-filter", "off")
    with smtplib.SMTP("127.0.0.1", filing.port("smtp"), timeout=60) as s:
        s.ehlo("client.example")
        s.mail("sender@example.net")
        assert s.rcpt(keen[0])[0] == 250 and s.rcpt(opted[0])[0] == 250
        assert s.data(spam_message())[0] == 250
    for user in (keen, opted):
        got = folders(filing, user)
        assert got["Junk"] == [] and len(got["INBOX"]) == 1
        assert b"X-Spam-Flag: YES" in got["INBOX"][0]


def _learned(logged: object, cls: str, n: int) -> bool:
    entries = logged.since(0)  # type: ignore[attr-defined]
    return sum(1 for e in entries if e.record.getMessage() == "spam learn"
               and getattr(e.record, "class", "") == cls
               and getattr(e.record, "result", "") == "told") >= n


def test_moving_into_junk_teaches_spamd_spam_and_out_of_it_ham(
        filing: RunningServer, spamd: Spamd) -> None:
    user = filing.add_user("learner")
    body = b"Our annual model railway exhibition opens in the old corn exchange " * 3
    msg = HAM.replace(b"Shall we meet", body + b"Shall we meet")
    assert send(filing, user[0], msg)[0] == 250
    before = spamd.magic()
    imap = Imap(filing, user)
    with server_log() as logged:
        assert imap.folder("INBOX")
        typ, data = imap.m.uid("MOVE", "1:*", "Junk")  # RFC 6851
        assert typ == "OK", data
        wait_for(lambda: _learned(logged, "spam", 1), 30, "spam report told")
        assert spamd.magic()["nspam"] == before.get("nspam", 0) + 1
        # out of Junk by COPY and EXPUNGE: ham
        assert imap.folder("Junk")
        assert imap.m.uid("COPY", "1:*", "Archive")[0] == "OK"
        imap.m.uid("STORE", "1:*", "+FLAGS.SILENT", "(\\Deleted)")
        imap.m.expunge()
        wait_for(lambda: _learned(logged, "ham", 1), 30, "ham report told")
    imap.close()
    after = spamd.magic()
    assert after["nham"] == before.get("nham", 0) + 1
    assert after["nspam"] == before.get("nspam", 0)  # relearned as ham: spamd moved it


def test_a_silent_spamd_never_holds_up_a_move(tmp_path: Path, clamd: Clamd) -> None:
    """spamd accepts connections and never answers: the MOVE into Junk returns at once and
    succeeds; the report fails later, in the background, and says so in the mail log."""
    silent = socket.create_server(("127.0.0.1", 0))
    port = silent.getsockname()[1]
    srv = RunningServer(server_config(tmp_path / "data", extra=[
        "smtp.mx.enabled=true", "smtp.mx.port=0", f"pipeline.checks={CHECKS}",
        f"pipeline.spamd.address=127.0.0.1:{port}", "pipeline.spamd.timeout=2",
        f"pipeline.clamav.address={clamd.address}"]))
    try:
        user = srv.add_user("silent")
        assert send(srv, user[0], HAM)[0] == 250  # unchecked after 2 s
        imap = Imap(srv, user)
        with server_log() as logged:
            assert imap.folder("INBOX")
            started = time.monotonic()
            assert imap.m.uid("MOVE", "1:*", "Junk")[0] == "OK"
            assert time.monotonic() - started < 1.5
            wait_for(lambda: any(e.record.getMessage() == "spam learn"
                                 and getattr(e.record, "result", "") == "failed"
                                 for e in logged.since(0)), 30, "failed report logged")
        assert len(imap.folder("Junk")) == 1
        imap.close()
    finally:
        srv.stop()
        silent.close()


# -- clamav ----------------------------------------------------------------------------------
INFECTED = [
    pytest.param(b"From: x@example.net\r\nSubject: test\r\n\r\n" + EICAR + b"\r\n",
                 id="plain"),
    pytest.param(with_attachment(EICAR, "eicar.com"), id="base64-attachment"),
    pytest.param(with_attachment(zipped(EICAR), "eicar.zip"), id="zip"),
]


@pytest.mark.parametrize("content", INFECTED)
def test_eicar_is_rejected(filing: RunningServer, clamd_up: Clamd, content: bytes) -> None:
    user = filing.add_user("virus")
    code, text = send(filing, user[0], content)
    assert code == 554 and text.startswith(b"5.7.1 ") and SIGNATURE.encode() in text
    assert folders(filing, user) == {"INBOX": [], "Junk": []}


@pytest.mark.parametrize("content", INFECTED)
def test_eicar_is_quarantined_when_configured(strict: RunningServer, clamd_up: Clamd,
                                              content: bytes) -> None:
    user = strict.add_user("virusq")
    assert send(strict, user[0], content)[0] == 250
    got = folders(strict, user)
    assert got["INBOX"] == [] and len(got["Junk"]) == 1
    assert f"X-Virus-Status: Infected ({SIGNATURE}".encode() in got["Junk"][0]


def test_a_large_message_is_streamed_from_disk_to_clamd(filing: RunningServer,
                                                        clamd_up: Clamd) -> None:
    """2 MB messages, spilled to disk while received: clamd gets them in chunks (and finds
    EICAR after 1.5 MB of text), and spamd (max_size 500 KB) is not asked."""
    user = filing.add_user("large")
    filler = b"0123456789abcdef" * (2 * 1024 * 1024 // 16)
    clean = with_attachment(filler, "data.bin")
    infected = with_attachment(EICAR, "e.com", filler=75_000)
    assert len(clean) > 2_000_000 and len(infected) > 1_500_000
    with server_log() as logged:
        assert send(filing, user[0], clean)[0] == 250
        code, text = send(filing, user[0], infected)
        assert code == 554 and SIGNATURE.encode() in text
        spamd_lines = [e.record for e in logged.since(0)
                       if e.record.getMessage() == "filter"
                       and getattr(e.record, "check", "") == "spamd"]
    assert [getattr(r, "verdict", "") for r in spamd_lines] == ["skip", "skip"]
    got = folders(filing, user)
    assert len(got["INBOX"]) == 1 and b"X-Virus-Status: Clean" in got["INBOX"][0]


def test_clamd_stopped_tempfails_and_nothing_is_lost(filing: RunningServer,
                                                     clamd_up: Clamd) -> None:
    user = filing.add_user("tempfail")
    message = with_attachment(b"quarterly report", "report.txt")
    clamd_up.stop()
    code, text = send(filing, user[0], message)
    assert code == 451 and text.startswith(b"4."), text
    assert folders(filing, user) == {"INBOX": [], "Junk": []}
    clamd_up.start()
    assert send(filing, user[0], message)[0] == 250  # the sender's retry
    got = folders(filing, user)
    assert len(got["INBOX"]) == 1 and b"X-Virus-Status: Clean" in got["INBOX"][0]


def test_clamd_reloading_during_a_delivery_stream_loses_nothing(
        filing: RunningServer, clamd_up: Clamd) -> None:
    user = filing.add_user("reload")
    codes: list[int] = []
    guard = threading.Lock()

    def sender(n: int) -> None:
        with smtplib.SMTP("127.0.0.1", filing.port("smtp"), timeout=60) as s:
            s.ehlo("client.example")
            for i in range(n):
                s.mail("sender@example.net")
                s.rcpt(user[0])
                try:
                    code, _ = s.data(HAM.replace(b"lunch-1", f"r-{id(s)}-{i}".encode()))
                except smtplib.SMTPDataError as exc:
                    code = exc.smtp_code
                with guard:
                    codes.append(code)

    threads = [threading.Thread(target=sender, args=(12,)) for _ in range(3)]
    for t in threads:
        t.start()
    reloads = 0
    while any(t.is_alive() for t in threads) and reloads < 6:
        if reloads % 2:
            assert clamd_up.proc is not None
            os.kill(clamd_up.proc.pid, signal.SIGUSR2)  # clamd reloads its database
        else:
            assert clamd_up.command("RELOAD") == "RELOADING"
        reloads += 1
        threading.Event().wait(0.15)
    for t in threads:
        t.join(120)
    assert reloads >= 2
    assert codes == [250] * 36
    assert len(folders(filing, user)["INBOX"]) == 36


def test_status_shows_clamd_engine_and_spamd(filing: RunningServer, spamd: Spamd,
                                             clamd_up: Clamd) -> None:
    out = run_cli(filing, "status", "--set", f"pipeline.checks={CHECKS}",
                  "--set", f"pipeline.spamd.address={spamd.address}",
                  "--set", f"pipeline.clamav.address={clamd_up.socket}")
    assert "spamd           ok at" in out and "PONG" in out
    assert "clamd           ok at" in out and "engine        ClamAV " in out
    assert "in use" in out


def test_a_reload_applies_new_thresholds(tmp_path: Path, spamd: Spamd, clamd: Clamd) -> None:
    """``postroom reload`` (SIGHUP) rebuilds the checks from the new configuration, the
    filters' settings and the opt-out lookup included, and points the learner at the new
    spamd address."""
    srv = filter_server(tmp_path / "data", spamd, clamd, [
        f"pipeline.spamd.address=127.0.0.1:{free_port()}", "pipeline.spamd.connect_timeout=1"])
    try:
        user = srv.add_user("reloaded")
        assert send(srv, user[0], spam_message())[0] == 250  # spamd unreachable: unchecked
        got = folders(srv, user)
        assert len(got["INBOX"]) == 1 and b"X-Spam-Status: Unchecked" in got["INBOX"][0]
        new = server_config(tmp_path / "data", extra=[
            "smtp.mx.enabled=true", "smtp.mx.port=0", f"pipeline.checks={CHECKS}",
            f"pipeline.spamd.address={spamd.socket}", f"pipeline.clamav.address={clamd.socket}",
            "pipeline.spamd.reject_at=20"])

        async def reload() -> list[str]:
            return srv.server.reload(new)
        srv.call(reload())
        code, text = send(srv, user[0], spam_message())
        assert code == 550 and text.startswith(b"5.7.1 ")
        imap = Imap(srv, user)
        with server_log() as logged:
            assert imap.folder("INBOX")
            assert imap.m.uid("MOVE", "1:*", "Junk")[0] == "OK"
            wait_for(lambda: _learned(logged, "spam", 1), 30, "spam report told")
        imap.close()
    finally:
        srv.stop()
