"""Outbound authentication end to end: two Postroom instances and a loopback DNS server.

a.test signs (keys made with ``postroom dkim generate``, published from ``postroom dns --json``
into the loopback zone) and has BATV on. alice@a.test submits over SMTP AUTH on the
submission port to bob@b.test; the copy bob reads over IMAP at B is verified by OpenDKIM
(an implementation independent of ours), each signature alone: Ed25519 and RSA. Its
return path is BATV-signed, and a bounce sent back to it reaches alice, while a bounce to her
plain address is refused.
"""

from __future__ import annotations

import json
import smtplib
from collections.abc import Iterator
from email.utils import formatdate

import pytest

from tests.e2e.test_smtp_two_servers import inbox
from tests.protocol.smtp.test_signing import dkimpy_verify, only_signature
from tests.support import dkimverify
from tests.support.mailhost import Dns, Instance, server_pair
from tests.support.server import wait_for
from tests.support.tls import insecure_context


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Instance, Instance, Dns]]:
    with server_pair(tmp_path_factory.mktemp("signing-pair"),
                     a_extra=["--set", "batv.enabled=true"]) as pair:
        yield pair


def submit(inst: Instance, user: tuple[str, str], to: list[str], subject: str) -> None:
    """Submit as a mail client does: over STARTTLS with AUTH, with the Date: field that
    RFC 5322 §3.6 requires (OpenDKIM refuses to verify a message without it)."""
    body = (f"From: Alice <{user[0]}>\r\nTo: {', '.join(to)}\r\nSubject: {subject}\r\n"
            f"Date: {formatdate(usegmt=True)}\r\nMessage-ID: <{subject}@{inst.domain}>\r\n"
            f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
            f"Hello from {inst.domain}.\r\n\r\n-- \r\nAlice\r\n")
    with smtplib.SMTP(inst.address, inst.ports["submission"], timeout=30) as s:
        s.starttls(context=insecure_context())
        s.login(*user)
        assert s.sendmail(user[0], to, body.encode()) == {}


def raw_inbox(inst: Instance, user: tuple[str, str]) -> list[bytes]:
    return inst.raw_inbox(user)


def verify_both(raw: bytes, records: dict[str, str], what: str) -> str | None:
    """Each of the two signatures alone verifies with dkimpy and, where it can run here,
    with OpenDKIM (the independent implementation). Returns why OpenDKIM could not run, or
    None when it did."""
    reason = dkimverify.available()
    for i in range(2):
        one = only_signature(raw, i)
        assert dkimpy_verify(one, records)
        if reason is None:
            ok, said = dkimverify.verify(one, records)
            assert ok, f"OpenDKIM refused signature {i} of {what}: {said}"
    return reason


def publish(inst: Instance, dns: Dns) -> dict[str, str]:
    """Every TXT record ``postroom dns`` advises for the instance's domain, into the zone;
    returns them {name: text}."""
    result = inst.cli("dns", inst.domain, "--json")
    assert result.returncode == 0, result.stderr
    advice = json.loads(result.stdout)
    txt = {r["name"]: r["value"] for r in advice["records"] if r["type"] == "TXT"}
    for name, text in txt.items():
        pieces = [text[i:i + 255] for i in range(0, len(text), 255)]
        dns.zone.add(name, "TXT", " ".join(f'"{p}"' for p in pieces))
    return txt


def test_signed_at_a_verified_by_opendkim_at_b(pair: tuple[Instance, Instance, Dns]) -> None:
    a, b, dns = pair
    made = a.cli("dkim", "generate", "a.test", "--json")
    assert made.returncode == 0, made.stderr
    assert sorted(k["algorithm"] for k in json.loads(made.stdout)) == ["ed25519", "rsa"]
    records = publish(a, dns)
    assert sum(name.endswith("._domainkey.a.test") for name in records) == 2
    alice, bob = a.add_user("alice"), b.add_user("bob")
    submit(a, alice, [bob[0]], "signed-a-to-b")
    wait_for(lambda: any(m["Subject"] == "signed-a-to-b" for m in inbox(b, bob)),
             what="mail at B")
    (got,) = [m for m in inbox(b, bob) if m["Subject"] == "signed-a-to-b"]
    (raw,) = [r for r in raw_inbox(b, bob) if b"Subject: signed-a-to-b" in r]
    sigs = got.get_all("DKIM-Signature") or []
    assert len(sigs) == 2 and "a=ed25519-sha256" in sigs[0] and "a=rsa-sha256" in sigs[1]
    reason = verify_both(raw, records, "the message")
    if reason is not None:
        pytest.skip(f"independent verification not run: {reason}")


def test_batv_return_path_and_bounces(pair: tuple[Instance, Instance, Dns]) -> None:
    a, b, _ = pair
    carol, dan = a.add_user("carol"), b.add_user("dan")
    submit(a, carol, [dan[0]], "batv-a-to-b")
    wait_for(lambda: any(m["Subject"] == "batv-a-to-b" for m in inbox(b, dan)),
             what="mail at B")
    (got,) = [m for m in inbox(b, dan) if m["Subject"] == "batv-a-to-b"]
    return_path = got["Return-Path"].strip("<>")
    assert return_path.startswith("prvs=") and return_path.endswith("=" + carol[0])
    with smtplib.SMTP(a.address, a.smtp_port, timeout=30) as s:
        s.ehlo("mx.b.test")
        s.mail("")
        code, text = s.rcpt(carol[0])  # a bounce to her plain address: backscatter
        assert code == 550 and text.startswith(b"5.7.1"), text
        s.rset()
        s.mail("")
        assert s.rcpt(return_path)[0] == 250
        assert s.data(b"From: MAILER-DAEMON@b.test\r\nSubject: bounce-for-carol\r\n\r\n"
                      b"Delivery failed.\r\n")[0] == 250
    wait_for(lambda: any(m["Subject"] == "bounce-for-carol" for m in inbox(a, carol)),
             what="bounce at A")


def test_notices_from_our_postmaster_are_signed(pair: tuple[Instance, Instance, Dns]) -> None:
    """A delivery status notification written by A (from postmaster@a.test) carries A's
    signatures too: receivers apply DMARC to bounces as to any mail."""
    a, _, dns = pair
    if not json.loads(a.cli("dkim", "list", "a.test", "--json").stdout):
        assert a.cli("dkim", "generate", "a.test").returncode == 0
    records = publish(a, dns)
    erin = a.add_user("erin")
    submit(a, erin, ["nobody@b.test"], "to-nobody-signed")
    wait_for(lambda: any(b"multipart/report" in r for r in raw_inbox(a, erin)),
             what="notice at A")
    (raw,) = [r for r in raw_inbox(a, erin) if b"multipart/report" in r]
    head = raw.partition(b"\r\n\r\n")[0]  # the returned original has its own two
    assert head.count(b"DKIM-Signature:") == 2 and b"d=a.test" in head
    verify_both(raw, records, "the notice")
