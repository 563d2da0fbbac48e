"""Greylisting, DNS block lists and screening between ``postroom serve`` processes, with the
loopback DNS server for MX records and the block list.

A (a.test, 127.0.0.1) sends to B (b.test, 127.0.0.2), which greylists with a 2 s delay: A's
queue gets 451 4.7.1 at RCPT, retries (its retry schedule is 2 s), and the mail arrives. A
client on a listed address (127.0.0.5, on bl.test) is refused by B at MAIL FROM with 554 5.7.1
naming the list; one on an unlisted address (127.0.0.6) is not.
"""

from __future__ import annotations

import smtplib
from collections.abc import Iterator

import pytest

from tests.e2e.test_smtp_two_servers import inbox, submit
from tests.support.mailhost import Instance, server_pair
from tests.support.server import wait_for


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Instance, Instance]]:
    with server_pair(tmp_path_factory.mktemp("filters"), b_extra=[
            "--set",
            'pipeline.checks=["size", "smuggling", "loop", "sender", "dnsbl", "greylist"]',
            "--set", "greylisting.delay=2",
            "--set", 'dnsbl.zones=[{zone = "bl.test", weight = 10}]']) as (a, b, dns):
        dns.zone.add("5.0.0.127.bl.test", "A", "127.0.0.2")
        dns.zone.add("5.0.0.127.bl.test", "TXT", '"127.0.0.5 sends spam"')
        yield a, b


def test_greylisted_mail_arrives_after_the_senders_retry(
        pair: tuple[Instance, Instance]) -> None:
    a, b = pair
    alice = a.add_user("alice")
    bob = b.add_user("bob")
    submit(a, alice, [bob[0]], "through-greylisting")
    wait_for(lambda: any(m["Subject"] == "through-greylisting" for m in inbox(b, bob)),
             timeout=60, what="mail at B after A's retry")
    a_log = a.log.read_text()
    assert "deferred" in a_log and "451 4.7.1" in a_log  # A was told to come back
    b_log = b.log.read_text()
    assert "decision=defer" in b_log and "decision=pass" in b_log


def test_listed_client_refused_unlisted_accepted(pair: tuple[Instance, Instance]) -> None:
    _, b = pair
    bob = b.add_user("bob2")
    with smtplib.SMTP("127.0.0.2", b.smtp_port, source_address=("127.0.0.5", 0)) as s:
        s.ehlo("spam.test")
        code, text = s.mail("x@spam.test")
        assert code == 554 and b"listed by bl.test: 127.0.0.5 sends spam" in text
    with smtplib.SMTP("127.0.0.2", b.smtp_port, source_address=("127.0.0.6", 0)) as s:
        s.ehlo("ok.test")
        assert s.mail("x@ok.test")[0] == 250
        code, text = s.rcpt(bob[0])
        assert code == 451 and text.startswith(b"4.7.1")  # on to greylisting
