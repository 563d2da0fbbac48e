"""Minger grammar (draft-hathcock-minger-06 §2–§3), the rate limiter and the client cache."""

from __future__ import annotations

import base64
import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from postroom.core import minger
from postroom.net.minger import MingerCache
from postroom.protocols.minger import RateLimiter


def test_digest_formula() -> None:
    expected = base64.b64encode(hashlib.md5(b"s3cret:arvel@example.com").digest()).decode()
    assert minger.digest("s3cret", "arvel@example.com") == expected


def test_parse_query_parts() -> None:
    d = minger.digest("s", "a@b.test")
    q = minger.parse_query(f"a@b.test d={d} client=x v_2=3\r\n".encode())
    assert (q.mailbox, q.digest, q.tags) == ("a@b.test", d, {"client": "x", "v_2": "3"})
    assert minger.parse_query(b'"odd local"@[192.0.2.1]').mailbox == '"odd local"@[192.0.2.1]'


@pytest.mark.parametrize("raw", [b"", b" a@b.test", b"a@b.test ", b"a@@b.test", b"a@b..test",
                                 b"a@b.test d=", b"a@b.test d=a", b"a@b.test d=1 d=2",
                                 b"a@b.test x=1 x=2", b"a@b.test d=x" * 200, b"a@b.test\tx=1",
                                 b"a@b.test x=-"])
def test_parse_query_refuses(raw: bytes) -> None:
    with pytest.raises(minger.MingerSyntaxError):
        minger.parse_query(raw)


def test_response_with_or_without_space() -> None:
    assert minger.parse_response(b"arvel@example.com 5", "arvel@example.com") == 5
    assert minger.parse_response(b"arvel@example.com3", "ARVEL@example.com") == 3
    for bad in (b"other@example.com 5", b"arvel@example.com 9", b"arvel@example.com x"):
        with pytest.raises(minger.MingerSyntaxError):
            minger.parse_response(bad, "arvel@example.com")


@given(st.binary(max_size=300))
def test_parser_never_crashes_and_echo_is_bounded(data: bytes) -> None:
    try:
        q = minger.parse_query(data)
    except minger.MingerSyntaxError:
        token = minger.echo_token(data)
        assert len(minger.format_response(token, 0)) <= max(len(data), 1) + 2
    else:
        assert minger.is_mailbox(q.mailbox)


def test_round_trip() -> None:
    raw = minger.format_query("a@b.test", "secret", {"t": "1"})
    q = minger.parse_query(raw)
    assert q.digest == minger.digest("secret", "a@b.test") and q.tags == {"t": "1"}
    assert minger.parse_response(minger.format_response(q.mailbox, 5), "a@b.test") == 5


def test_check_secret() -> None:
    assert minger.check_secret("x" * 50)
    for bad in ("", "x" * 51, "with space", "tab\t"):
        with pytest.raises(ValueError):
            minger.check_secret(bad)


def test_rate_limiter_refills() -> None:
    limiter = RateLimiter(60)  # one per second, burst 60
    assert all(limiter.allow("a", now=0.0) for _ in range(60))
    assert not limiter.allow("a", now=0.0)
    assert limiter.allow("b", now=0.0)
    assert limiter.allow("a", now=1.01)
    assert not limiter.allow("a", now=1.02)


def test_rate_limiter_memory_is_bounded() -> None:
    limiter = RateLimiter(60)
    for i in range(25_000):
        limiter.allow(f"10.0.{i // 250}.{i % 250}", now=float(i))
    assert len(limiter.buckets) <= 10_000


def test_cache_keeps_answers_for_their_ttl(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    monkeypatch.setattr("postroom.net.minger.time.monotonic", lambda: now[0])
    cache = MingerCache(positive_ttl=60, negative_ttl=10)
    cache.put("h", 1, "A@b.test", 5)
    cache.put("h", 1, "c@b.test", 3)
    cache.put("h", 1, "d@b.test", 2)  # failures are never cached
    assert cache.get("h", 1, "a@b.test") == 5 and cache.get("h", 1, "c@b.test") == 3
    assert cache.get("h", 1, "d@b.test") is None
    now[0] += 11
    assert cache.get("h", 1, "a@b.test") == 5 and cache.get("h", 1, "c@b.test") is None
    now[0] += 50
    assert cache.get("h", 1, "a@b.test") is None
