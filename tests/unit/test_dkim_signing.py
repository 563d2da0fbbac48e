"""The DKIM signer alone (core/dkimsig.py): canonicalization against the RFC 8463 vector, and
signatures checked by two independent verifiers, dkimpy and OpenDKIM."""

from __future__ import annotations

import base64
import hashlib
import re
import time

import dkim
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from hypothesis import given
from hypothesis import strategies as st

from postroom.core import dkimsig
from postroom.services.dkimkeys import key_states
from postroom.services.pipeline.signing import body_hash, from_domain
from postroom.store.repo.signing import DkimKeyRec
from tests.support import dkimverify

# RFC 8463 Appendix A: the Ed25519 key and the message it signs
RFC8463_SEED = "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A="
RFC8463_PUBLIC = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
RFC8463_HEAD = (b"From: Joe SixPack <joe@football.example.com>\r\n"
                b"To: Suzie Q <suzie@shopping.example.net>\r\n"
                b"Subject: Is dinner ready?\r\n"
                b"Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\r\n"
                b"Message-ID: <20030712040037.46341.5F8J@football.example.com>\r\n")
RFC8463_BODY = b"Hi.\r\n\r\nWe lost the game.  Are you hungry yet?\r\n\r\nJoe.\r\n"
RFC8463_BH = "2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8="
RFC8463_B = ("/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQUdt9OdqQehSwhEIug4D11BusFa3bT3FY5OsU7ZbnKELq+eXdp1Q"
             "1Dw==")

MESSAGE = (b"From: Alice <alice@example.com>\r\nTo: bob@example.net\r\n"
           b"Subject:  Hello   there\r\n folded\r\nDate: Fri, 04 Dec 2026 05:00:00 +0000\r\n"
           b"Message-ID: <x@example.com>\r\n\r\nBody  line \t\r\n\r\nsecond\r\n\r\n\r\n")
NAMES = ["From", "To", "Subject", "Date", "Message-ID", "Reply-To"]


def split(message: bytes) -> tuple[bytes, bytes]:
    end = message.index(b"\r\n\r\n") + 2
    return message[:end], message[end + 2:]


def relaxed_hash(body: bytes, piece: int = 1 << 20) -> bytes:
    h = dkimsig.RelaxedBody()
    for i in range(0, len(body), piece):
        h.feed(body[i:i + piece])
    return h.digest()


def make(algorithm: str) -> dkimsig.SigningKey:
    key = ed25519.Ed25519PrivateKey.generate() if algorithm == "ed25519" else \
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return dkimsig.SigningKey("example.com", f"sel{algorithm[0]}", algorithm, key)


def records(key: dkimsig.SigningKey) -> dict[str, str]:
    return {f"{key.selector}._domainkey.{key.domain}":
            dkimsig.key_record(key.algorithm, dkimsig.public_key_b64(key.key))}


def signed(key: dkimsig.SigningKey, message: bytes = MESSAGE) -> bytes:
    head, body = split(message)
    return dkimsig.sign(head, relaxed_hash(body), key, NAMES, ["From", "Subject", "Reply-To"],
                        int(time.time())) + message


def dkimpy_verify(message: bytes, recs: dict[str, str]) -> bool:
    def lookup(name: bytes, timeout: int = 5) -> bytes:
        return recs.get(name.decode().rstrip("."), "").encode()
    return bool(dkim.verify(message, dnsfunc=lookup))


def test_relaxed_body_matches_rfc8463_vector() -> None:
    assert base64.b64encode(relaxed_hash(RFC8463_BODY)).decode() == RFC8463_BH


def test_rfc8463_signature_verifies_over_our_canonical_headers() -> None:
    """The RFC's own Ed25519 signature checks out over the header data we compute (the
    chosen fields, bottom-up, oversigned, relaxed), so our canonical form is the RFC's."""
    seed = base64.b64decode(RFC8463_SEED)
    private = ed25519.Ed25519PrivateKey.from_private_bytes(seed)
    assert dkimsig.public_key_b64(private) == RFC8463_PUBLIC
    listed, covered = dkimsig.choose_headers(
        dkimsig.header_fields(RFC8463_HEAD), ["from", "to", "subject", "date", "message-id"],
        ["from", "subject", "date"])
    assert sorted(listed) == sorted(["from", "to", "subject", "date", "message-id", "from",
                                     "subject", "date"])
    field = (b"DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed;\r\n"
             b" d=football.example.com; i=@football.example.com;\r\n"
             b" q=dns/txt; s=brisbane; t=1528637909; h=from : to :\r\n"
             b" subject : date : message-id : from : subject : date;\r\n"
             b" bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n b=\r\n")
    data = b"".join(dkimsig.relaxed_header(f) for f in covered) + \
        dkimsig.relaxed_header(field)[:-2]
    private.public_key().verify(base64.b64decode(RFC8463_B), hashlib.sha256(data).digest())


@given(st.binary(max_size=400), st.integers(min_value=1, max_value=17))
def test_body_hash_is_the_same_in_any_pieces(raw: bytes, piece: int) -> None:
    body = raw.replace(b"\r", b"").replace(b"\n", b"\r\n")
    assert relaxed_hash(body, piece) == relaxed_hash(body)


def reference_relaxed(body: bytes) -> bytes:
    """RFC 6376 §3.4.4 read literally, line by line: the oracle for the streaming hash."""
    lines = body.split(b"\r\n")
    if lines and lines[-1] == b"":
        lines.pop()
    lines = [re.sub(rb"[ \t]+", b" ", line).rstrip(b" ") for line in lines]
    while lines and lines[-1] == b"":
        lines.pop()
    return hashlib.sha256(b"".join(line + b"\r\n" for line in lines)).digest()


@given(st.lists(st.sampled_from([b"a", b"b", b" ", b"\t", b"  ", b"\r\n", b"\r\n\r\n"]),
                max_size=60), st.integers(min_value=1, max_value=9))
def test_body_hash_follows_the_rfc_text(parts: list[bytes], piece: int) -> None:
    body = b"".join(parts)
    assert relaxed_hash(body, piece) == reference_relaxed(body)


def test_relaxed_rules() -> None:
    assert dkimsig.relaxed_header(b"SubJect :  a \t b\r\n\t c  \r\n") == b"subject:a b c\r\n"
    # trailing whitespace and trailing empty lines do not count; inner WSP runs become one SP
    assert relaxed_hash(b"a  b \t\r\n\r\n\r\n") == relaxed_hash(b"a b\r\n")
    assert relaxed_hash(b"") == hashlib.sha256(b"").digest()
    assert relaxed_hash(b"x") == relaxed_hash(b"x\r\n")  # a final CRLF is supplied


def test_headers_signed_bottom_up_with_oversigning() -> None:
    head = b"Received: x\r\nTo: a@b.c\r\nTo: d@e.f\r\nFrom: f@g.h\r\n"
    listed, covered = dkimsig.choose_headers(dkimsig.header_fields(head),
                                             ["From", "To", "Cc"], ["From", "Cc"])
    assert listed == ["from", "from", "to", "to", "cc"]
    assert covered == [b"From: f@g.h\r\n", b"To: d@e.f\r\n", b"To: a@b.c\r\n"]


@pytest.mark.parametrize("algorithm", ["ed25519", "rsa"])
def test_signature_verifies_with_dkimpy(algorithm: str) -> None:
    key = make(algorithm)
    message = signed(key)
    assert dkimpy_verify(message, records(key))
    assert not dkimpy_verify(message.replace(b"second", b"Second"), records(key))
    assert not dkimpy_verify(message.replace(b"Subject:", b"Subject: Re:"), records(key))
    # an added second From: breaks it (From is oversigned)
    assert not dkimpy_verify(message.replace(b"\r\n\r\nBody", b"\r\nFrom: m@evil.test"
                                             b"\r\n\r\nBody"), records(key))
    # re-folding and trailing whitespace in transit do not (relaxed canonicalization)
    moved = message.replace(b"Subject:  Hello   there\r\n folded",
                            b"Subject: Hello there\r\n\t  folded")
    assert dkimpy_verify(moved.replace(b"second\r\n", b"second   \r\n"), records(key))


@pytest.mark.parametrize("algorithm", ["ed25519", "rsa"])
def test_signature_verifies_with_opendkim(algorithm: str) -> None:
    reason = dkimverify.available()
    if reason:
        pytest.skip(reason)
    key = make(algorithm)
    ok, said = dkimverify.verify(signed(key), records(key))
    assert ok, said
    ok, said = dkimverify.verify(signed(key).replace(b"second", b"Second"), records(key))
    assert not ok and "Bad signature" in said


def test_signature_field_is_folded_and_has_no_length_tag() -> None:
    field = signed(make("rsa")).split(b"\r\nFrom:")[0]
    assert all(len(line) <= 78 for line in field.split(b"\r\n"))
    assert b" l=" not in field and b"c=relaxed/relaxed" in field


def test_body_hash_reads_past_the_header_section() -> None:
    import io
    head, body = split(MESSAGE)
    assert body_hash(io.BytesIO(MESSAGE), len(head)) == relaxed_hash(body)
    assert body_hash(io.BytesIO(head), len(head)) == relaxed_hash(b"")


def test_from_domain() -> None:
    assert from_domain(b"From: A <a@Example.COM>\r\n") == "example.com"
    assert from_domain(b"From: a@b.test\r\nFrom: c@d.test\r\n") is None
    assert from_domain(b"To: a@b.test\r\n") is None
    assert from_domain(b"From: undisclosed\r\n") is None


def rec(key_id: int, algorithm: str, activate: int, retire: int | None = None) -> DkimKeyRec:
    return DkimKeyRec(key_id, "example.com", f"s{key_id}", algorithm, "", "", 0, activate,
                      retire)


def test_key_states_through_a_rotation() -> None:
    old, new = rec(1, "rsa", 0), rec(2, "rsa", 100)
    other = rec(3, "ed25519", 0)

    def states(now: int) -> list[str]:
        return [s for _, s, _ in key_states([old, other, new], now, retire_after=50)]
    assert states(10) == ["active", "active", "pending"]     # new key published first
    assert states(100) == ["retiring", "active", "active"]   # it signs; the old one overlaps
    assert states(149) == ["retiring", "active", "active"]
    assert states(150) == ["retired", "active", "active"]    # the overlap is over
    # an explicit retirement ends it at once
    assert [s for _, s, _ in key_states([rec(1, "rsa", 0, retire=5)], 5, 50)] == ["retired"]
