"""Aliases and groups with remote members, end to end: two Postroom instances and a loopback
DNS server.

Mail from outside (dave@b.test, over SMTP to A's MX) reaches an alias or group at A whose
members are at A and at B. The local member reads it at A, the remote one at B, once each;
the copy B receives carries the ARC set A added with a.test's key (published from
``postroom dns`` into the loopback zone), verified by dkimpy's ARC verifier and by B's own
``mailauth`` check (``arc=pass`` in B's Authentication-Results); forwarded on by an alias at B
back to A, the chain has two sets and still verifies. A remote member that cannot
be reached gives the original sender a failure notice naming the alias.
"""

from __future__ import annotations

import smtplib
import uuid
from collections.abc import Iterator
from email.utils import formatdate

import dkim
import pytest

from tests.e2e.test_signing_two_servers import publish
from tests.e2e.test_smtp_two_servers import _reports, inbox, queue
from tests.support.mailhost import Instance, server_pair
from tests.support.server import wait_for

CHECK_LOOPBACK = ["--set", "mailauth.skip_networks=[]"]  # mail from 127.0.0.x is checked


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory,
         ) -> Iterator[tuple[Instance, Instance, dict[str, str]]]:
    with server_pair(tmp_path_factory.mktemp("forward-pair"), CHECK_LOOPBACK,
                     CHECK_LOOPBACK) as (a, b, dns):
        dns.zone.add("nullmx.test", "MX", "0 .")  # RFC 7505: no mail can reach this domain
        records: dict[str, str] = {}
        for inst in (a, b):
            made = inst.cli("dkim", "generate", inst.domain)
            assert made.returncode == 0, made.stderr
            records.update(publish(inst, dns))
        added = a.cli("domain", "add", "c.test")  # a second domain of A, without keys
        assert added.returncode == 0, added.stderr
        yield a, b, records


def send_from_outside(a: Instance, sender: str, rcpt: str, subject: str) -> None:
    """dave@b.test's server delivering to A's MX (no authentication: mail from outside)."""
    body = (f"From: Dave <{sender}>\r\nTo: <{rcpt}>\r\nSubject: {subject}\r\n"
            f"Date: {formatdate(usegmt=True)}\r\nMessage-ID: <{uuid.uuid4()}@b.test>\r\n"
            f"\r\nHello through {rcpt}.\r\n")
    with smtplib.SMTP(a.address, a.smtp_port, timeout=30) as s:
        s.ehlo("mx.b.test")
        assert s.sendmail(sender, [rcpt], body.encode()) == {}


def raw_messages(inst: Instance, user: tuple[str, str], subject: str) -> list[bytes]:
    return inst.raw_inbox(user, subject)


def arc_verify(raw: bytes, records: dict[str, str]) -> bytes | None:
    def lookup(name: bytes, timeout: int = 5) -> bytes:
        return records.get(name.decode().rstrip("."), "").encode()
    cv, _, reason = dkim.arc_verify(raw, dnsfunc=lookup)
    assert cv == b"pass", reason
    return cv


def users(a: Instance, b: Instance, tag: str) -> tuple[tuple[str, str], ...]:
    return a.add_user(f"alice-{tag}"), b.add_user(f"bob-{tag}"), b.add_user(f"dave-{tag}")


def test_alias_with_a_local_and_a_remote_member(
        pair: tuple[Instance, Instance, dict[str, str]]) -> None:
    a, b, records = pair
    alice, bob, dave = users(a, b, "1")
    assert a.cli("alias", "add", "list@a.test", alice[0], bob[0]).returncode == 0
    send_from_outside(a, dave[0], "list@a.test", "fwd-alias")
    wait_for(lambda: raw_messages(b, bob, "fwd-alias"), what="forwarded copy at B")
    wait_for(lambda: raw_messages(a, alice, "fwd-alias"), what="local copy at A")
    [raw] = raw_messages(b, bob, "fwd-alias")
    assert raw.startswith(f"Return-Path: <{dave[0]}>".encode())  # the original sender
    head = raw.partition(b"\r\n\r\n")[0].decode()
    assert "ARC-Seal: i=1;" in head and "d=a.test" in head, head
    assert "ARC-Authentication-Results: i=1; mx.a.test;" in head, head
    arc_verify(raw, records)
    assert "Authentication-Results: mx.b.test;" in head and "arc=pass" in head
    assert len(raw_messages(a, alice, "fwd-alias")) == 1
    wait_for(lambda: queue(a) == [], what="A's queue empty")


def test_group_with_a_remote_member(pair: tuple[Instance, Instance, dict[str, str]]) -> None:
    a, b, records = pair
    alice, bob, dave = users(a, b, "2")
    made = a.cli("group", "add", "team@a.test", "--member", alice[0], "--member", bob[0])
    assert made.returncode == 0, made.stderr
    send_from_outside(a, dave[0], "team@a.test", "fwd-group")
    wait_for(lambda: raw_messages(b, bob, "fwd-group"), what="forwarded copy at B")
    wait_for(lambda: raw_messages(a, alice, "fwd-group"), what="local copy at A")
    [raw] = raw_messages(b, bob, "fwd-group")
    arc_verify(raw, records)
    assert len(raw_messages(a, alice, "fwd-group")) == 1


def test_alias_whose_only_member_is_remote_forwards_unsealed_without_a_key(
        pair: tuple[Instance, Instance, dict[str, str]]) -> None:
    """Such an alias used to bounce ("No such user here"). c.test has no DKIM key: the copy
    goes unsealed, and A's log says why."""
    a, b, _ = pair
    _, bob, dave = users(a, b, "3")
    assert a.cli("alias", "add", "out@c.test", bob[0]).returncode == 0
    send_from_outside(a, dave[0], "out@c.test", "fwd-remote-only")
    wait_for(lambda: raw_messages(b, bob, "fwd-remote-only"), what="forwarded copy at B")
    [raw] = raw_messages(b, bob, "fwd-remote-only")
    assert b"ARC-Seal:" not in raw
    assert not _reports(inbox(b, dave))  # no bounce
    logged = [ln for ln in a.log.read_text().splitlines() if "arc seal" in ln
              and "c.test" in ln]
    assert logged and "unsealed" in logged[-1] and "no active RSA DKIM key" in logged[-1]


def test_unreachable_remote_member_gives_the_sender_a_notice(
        pair: tuple[Instance, Instance, dict[str, str]]) -> None:
    a, b, _ = pair
    alice, _, dave = users(a, b, "4")
    made = a.cli("alias", "add", "mixed@a.test", alice[0], "someone@nullmx.test")
    assert made.returncode == 0, made.stderr
    send_from_outside(a, dave[0], "mixed@a.test", "fwd-unreachable")
    wait_for(lambda: _reports(inbox(b, dave)), what="failure notice at B")
    ((notice, status),) = _reports(inbox(b, dave))
    assert notice["From"].startswith("Mail Delivery System")
    assert "Final-Recipient: rfc822; someone@nullmx.test" in status
    assert "Original-Recipient: rfc822; mixed@a.test" in status
    assert "Action: failed" in status
    wait_for(lambda: queue(a) == [], what="A's queue empty")
    assert len(raw_messages(a, alice, "fwd-unreachable")) == 1  # delivered once


def test_forwarded_twice_the_chain_grows_and_verifies(
        pair: tuple[Instance, Instance, dict[str, str]]) -> None:
    """hop@a.test -> relay@b.test -> alice at A: B seals over A's set (i=2, cv=pass), and the
    chain of two sets verifies at the end, by dkimpy and by A's own check."""
    a, b, records = pair
    alice, _, dave = users(a, b, "5")
    assert b.cli("alias", "add", "relay@b.test", alice[0]).returncode == 0
    assert a.cli("alias", "add", "hop@a.test", "relay@b.test").returncode == 0
    send_from_outside(a, dave[0], "hop@a.test", "fwd-twice")
    wait_for(lambda: raw_messages(a, alice, "fwd-twice"), what="copy back at A")
    [raw] = raw_messages(a, alice, "fwd-twice")
    head = raw.partition(b"\r\n\r\n")[0].decode()
    assert "ARC-Seal: i=2;" in head and "cv=pass" in head and "d=b.test" in head, head
    arc_verify(raw, records)
    assert head.startswith(f"Return-Path: <{dave[0]}>")
    newest = head.split("\r\nAuthentication-Results: ")[1]  # A's, on the way back
    assert newest.startswith("mx.a.test;") and "arc=pass" in newest, head
