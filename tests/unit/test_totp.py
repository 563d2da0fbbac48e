"""TOTP (directory/totp.py): RFC 6238 Appendix B vectors, RFC 4226 Appendix D vectors, and
pyotp as an independent oracle for the codes and the otpauth URI."""

from __future__ import annotations

import base64

import pyotp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from postroom.directory import totp

# RFC 6238 Appendix B: the SHA-1 seed is the ASCII string "12345678901234567890"
SEED = base64.b32encode(b"12345678901234567890").decode()
SEED256 = b"12345678901234567890123456789012"
SEED512 = b"1234567890123456789012345678901234567890123456789012345678901234"
VECTORS = [  # (time, SHA-1, SHA-256, SHA-512), 8 digits
    (59, "94287082", "46119246", "90693936"),
    (1111111109, "07081804", "68084774", "25091201"),
    (1111111111, "14050471", "67062674", "99943326"),
    (1234567890, "89005924", "91819424", "93441116"),
    (2000000000, "69279037", "90698825", "38618901"),
    (20000000000, "65353130", "77737706", "47863826"),
]


@pytest.mark.parametrize(("now", "sha1", "sha256", "sha512"), VECTORS)
def test_rfc6238_appendix_b(now: int, sha1: str, sha256: str, sha512: str) -> None:
    step = totp.step_of(now)
    assert totp.totp(SEED, now, digits=8) == sha1
    assert totp.hotp(SEED256, step, 8, "sha256") == sha256
    assert totp.hotp(SEED512, step, 8, "sha512") == sha512


def test_rfc4226_appendix_d() -> None:
    expected = ["755224", "287082", "359152", "969429", "338314", "254676", "287922",
                "162583", "399871", "520489"]
    assert [totp.hotp(b"12345678901234567890", c) for c in range(10)] == expected


@given(st.integers(min_value=0, max_value=253_402_300_799))
def test_codes_agree_with_pyotp(now: int) -> None:
    secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    assert totp.totp(secret, now) == pyotp.TOTP(secret).at(now)


def test_match_window_and_refusals() -> None:
    secret = totp.new_secret()
    now = 1_800_000_000.0
    oracle = pyotp.TOTP(secret)
    step = totp.step_of(now)
    assert totp.match(secret, oracle.at(now), now) == step
    assert totp.match(secret, oracle.at(now - 30), now) == step - 1
    assert totp.match(secret, oracle.at(now + 30), now) == step + 1
    assert totp.match(secret, oracle.at(now - 60), now) is None  # outside ±1 step
    assert totp.match(secret, oracle.at(now)[:5], now) is None
    assert totp.match(secret, "12345a", now) is None
    assert totp.match(secret, "١٢٣٤٥٦", now) is None  # non-ASCII digits
    assert totp.match(secret, " " + oracle.at(now)[:3] + " " + oracle.at(now)[3:], now) == step


def test_secret_and_uri_are_read_by_pyotp() -> None:
    secret = totp.new_secret()
    assert len(base64.b32decode(secret)) == 20
    uri = totp.uri(secret, "alice@example.test", "Postroom mail.example.test")
    parsed = pyotp.parse_uri(uri)
    assert isinstance(parsed, pyotp.TOTP)
    assert parsed.secret == secret and parsed.name == "alice@example.test"
    assert parsed.issuer == "Postroom mail.example.test"
    assert parsed.now() == pyotp.TOTP(secret).now()
