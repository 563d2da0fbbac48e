"""Greylisting and DNS block lists over real SMTP sockets against a real server on loopback,
with the loopback DNS server (tests/support/mailhost.py) serving the block list.

Greylisting's delay is 2 s here, so the retry really waits (a unit test with a moved clock
covers the long lifetimes: tests/contract/test_greylist.py)."""

from __future__ import annotations

import smtplib
import time
from collections.abc import Iterator

import pytest

from tests.support.mailhost import Dns
from tests.support.server import RunningServer, server_config, wait_for
from tests.support.tls import insecure_context

DELAY = 2.0
WAIT = DELAY + 1.1  # the store keeps whole seconds, rounding the first attempt up


@pytest.fixture(scope="module")
def dns() -> Iterator[Dns]:
    server = Dns()
    # 127.0.0.1, the test client, is on bl.test (RFC 5782 §2.1: octets reversed)
    server.zone.add("1.0.0.127.bl.test", "A", "127.0.0.2")
    server.zone.add("1.0.0.127.bl.test", "TXT", '"Blocked for testing, see https://bl.test/"')
    yield server
    server.stop()


def smtp_server(tmp_path_factory: pytest.TempPathFactory, dns: Dns, check: str,
                *extra: str) -> RunningServer:
    return RunningServer(server_config(tmp_path_factory.mktemp(check), extra=[
        "smtp.mx.enabled=true", "smtp.mx.port=0", "smtp.submission.enabled=true",
        "smtp.submission.port=0",
        f'pipeline.checks=["size", "smuggling", "loop", "sender", "{check}"]',
        f'smtp.outbound.dns_servers=["127.0.0.1:{dns.port}"]', *extra]))


@pytest.fixture(scope="module")
def grey(tmp_path_factory: pytest.TempPathFactory, dns: Dns) -> Iterator[RunningServer]:
    srv = smtp_server(tmp_path_factory, dns, "greylist", f"greylisting.delay={DELAY}")
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def listed(tmp_path_factory: pytest.TempPathFactory, dns: Dns) -> Iterator[RunningServer]:
    srv = smtp_server(tmp_path_factory, dns, "dnsbl",
                      'dnsbl.zones=[{zone = "bl.test", weight = 10}]', "dnsbl.threshold=10")
    yield srv
    srv.stop()


def send(srv: RunningServer, sender: str, rcpt: str) -> tuple[int, bytes]:
    """One attempt over the MX port: the RCPT reply, and on 250 the whole message sent."""
    with smtplib.SMTP("127.0.0.1", srv.port("smtp")) as s:
        s.ehlo("mx.remote.test")
        assert s.mail(sender)[0] == 250
        code, text = s.rcpt(rcpt)
        if code == 250:
            s.data(f"From: <{sender}>\r\nTo: <{rcpt}>\r\nSubject: hi\r\n\r\nhello\r\n")
        return code, text


def test_greylisting_defers_first_attempt_and_accepts_retry(grey: RunningServer) -> None:
    user, _password = grey.add_user("grey")
    code, text = send(grey, "news@remote.test", user)
    assert code == 451 and text.startswith(b"4.7.1 Greylisted")
    assert b"try again in 2 seconds" in text
    code, _ = send(grey, "news@remote.test", user)  # too soon: still deferred
    assert code == 451
    time.sleep(WAIT)
    code, text = send(grey, "news@remote.test", user)
    assert code == 250, text
    code, _ = send(grey, "news@remote.test", user)  # a known triplet passes at once
    assert code == 250


def test_greylisting_is_per_recipient(grey: RunningServer) -> None:
    known, _ = grey.add_user("known")
    fresh, _ = grey.add_user("fresh")
    assert send(grey, "list@remote.test", known)[0] == 451
    time.sleep(WAIT)
    with smtplib.SMTP("127.0.0.1", grey.port("smtp")) as s:
        s.ehlo("mx.remote.test")
        s.mail("list@remote.test")
        assert s.rcpt(known)[0] == 250
        code, text = s.rcpt(fresh)
        assert code == 451 and text.startswith(b"4.7.1")
        code, _ = s.data(b"Subject: one of two\r\n\r\nhello\r\n")
        assert code == 250  # the message goes to the recipient that passed


def test_authenticated_clients_are_not_greylisted(grey: RunningServer) -> None:
    user, password = grey.add_user("sender")
    rcpt, _ = grey.add_user("rcpt")
    with smtplib.SMTP("127.0.0.1", grey.port("submission")) as s:
        s.starttls(context=insecure_context())
        s.login(user, password)
        assert s.mail(user)[0] == 250
        assert s.rcpt(rcpt)[0] == 250  # first attempt, no delay
        assert s.data(f"From: <{user}>\r\n\r\nhi\r\n")[0] == 250


def test_greylist_state_is_in_the_store(grey: RunningServer) -> None:
    user, _ = grey.add_user("stored")
    assert send(grey, "a@remote.test", user)[0] == 451

    async def rows() -> int:
        triplet, _ = await grey.services.store.greylist.lookup(
            "127.0.0.0/24", "a@remote.test", user.lower(), "remote.test")
        return 0 if triplet is None else 1
    assert grey.call(rows()) == 1


def test_listed_client_is_refused_with_554_naming_the_zone(listed: RunningServer) -> None:
    user, _ = listed.add_user("target")
    with smtplib.SMTP("127.0.0.1", listed.port("smtp")) as s:
        s.ehlo("mx.spammer.test")
        code, text = s.mail("spam@spammer.test")
        assert code == 554
        assert text.startswith(b"5.7.1 Client address 127.0.0.1 is listed by bl.test")
        assert b"Blocked for testing, see https://bl.test/" in text
        assert s.rcpt(user)[0] == 503  # no transaction was started


def test_listed_but_authenticated_client_may_send(listed: RunningServer) -> None:
    user, password = listed.add_user("auth")
    with smtplib.SMTP("127.0.0.1", listed.port("submission")) as s:
        s.starttls(context=insecure_context())
        s.login(user, password)
        assert s.mail(user)[0] == 250
        assert s.rcpt(user)[0] == 250


def test_dnsbl_decision_is_in_the_mail_log(listed: RunningServer,
                                           caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("INFO", logger="postroom.mail"):
        with smtplib.SMTP("127.0.0.1", listed.port("smtp")) as s:
            s.ehlo("mx.spammer.test")
            assert s.mail("again@spammer.test")[0] == 554
        wait_for(lambda: any(r.getMessage() == "smtp reject" for r in caplog.records))
    decisions = [r for r in caplog.records if r.getMessage() == "dnsbl"]
    assert decisions and decisions[-1].decision == "reject"
    assert decisions[-1].listed == "bl.test(10)"
