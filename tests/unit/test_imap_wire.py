"""The IMAP wire parser, sans I/O: tokens, literals, sequence sets, names; hypothesis fuzz."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from postroom.protocols.imap import wire
from postroom.protocols.imap.fetch import parse_fetch
from postroom.protocols.imap.search import parse_search
from postroom.protocols.imap.structure import decode_params, filter_header
from postroom.protocols.imap.wire import Literal8, ParseError, parse_command


def test_tokens() -> None:
    cmd = parse_command(b'a1 FETCH 1:3,5 (FLAGS BODY.PEEK[HEADER.FIELDS (A B)]<0.10>)\r\n')
    assert cmd.tag == "a1" and cmd.name == "FETCH"
    assert cmd.args == ["1:3,5", ["FLAGS", "BODY.PEEK[HEADER.FIELDS (A B)]<0.10>"]]
    cmd = parse_command(b'x LOGIN "us\\"er" {3}\r\nabc\r\n')
    assert cmd.args == [b'us"er', b"abc"]
    cmd = parse_command(b"x APPEND INBOX ~{3}\r\n\x00\x01\x02\r\n")
    assert isinstance(cmd.args[1], Literal8)
    assert parse_command(b"x uid fetch 1 UID").name == "UID FETCH"
    assert parse_command(b"x NOOP").args == []


@pytest.mark.parametrize("raw", [b"", b"x", b" x NOOP", b"x  NOOP", b"x NOOP ", b"x FETCH (",
                                 b"x FETCH )", b'x LOGIN "a', b"x LOGIN {5}\r\nab",
                                 b'x LOGIN "a\\b" c', b"x A " + b"(" * 20 + b"1" + b")" * 20,
                                 b"x LOGIN {2}\r\n\x00a b", b"x UID", b"x+ NOOP"])
def test_bad(raw: bytes) -> None:
    with pytest.raises(ParseError):
        parse_command(raw)


def test_literal_marks() -> None:
    assert wire.literal_at_end(b"a LOGIN {5}\r\n") == wire.LiteralMark(5, True, False)
    assert wire.literal_at_end(b"a LOGIN {5+}\r\n") == wire.LiteralMark(5, False, False)
    assert wire.literal_at_end(b"a APPEND x ~{5}\r\n") == wire.LiteralMark(5, True, True)
    assert wire.literal_at_end(b"a NOOP\r\n") is None


def test_seqsets() -> None:
    assert wire.parse_seqset("1,3:5,9:*").ranges == ((1, 1), (3, 5), (9, wire.STAR))
    assert wire.parse_seqset("$").saved
    for bad in ("0", "1:0", "a", "1,,2", "", "4294967296"):
        with pytest.raises(ParseError):
            wire.parse_seqset(bad)
    assert wire.format_seqset([1, 2, 3, 5, 7, 8]) == "1:3,5,7:8"


@given(st.text(max_size=40))
def test_mutf7_round_trip(name: str) -> None:
    assert wire.mutf7_decode(wire.mutf7_encode(name)) == name


def test_mutf7_known() -> None:
    assert wire.mutf7_encode("Entwürfe") == "Entw&APw-rfe"
    assert wire.mutf7_encode("A&B") == "A&-B"
    assert wire.mutf7_decode("&ZeVnLIqe-") == "日本語"  # RFC 3501 §5.1.3 example


def test_quote() -> None:
    assert wire.quote("abc") == b'"abc"'
    assert wire.quote('a"b') == b'"a\\"b"'
    assert wire.quote("a\r\nb") == b"{4}\r\na\r\nb"
    assert wire.quote(None) == b"NIL"


def test_fetch_items() -> None:
    req = parse_fetch([["FLAGS", "BODY[1.2]<0.5>", "RFC822.HEADER"]], uid=True)
    assert [a.kind for a in req.atts] == ["UID", "FLAGS", "SECTION", "SECTION"]
    assert req.atts[2].label == "BODY[1.2]<0>" and not req.atts[2].peek
    for bad in (["BODY[]<5>"], ["BINARY[HEADER]"], ["BODY[1.X]"], ["XYZ"], [[]]):
        with pytest.raises(ParseError):
            parse_fetch(bad, uid=False)


def test_search_parse() -> None:
    prog = parse_search(["OR", "FROM", b"x", ["SEEN", "NOT", "DELETED"]], utf8_enabled=False,
                        esearch_ok=True)
    assert prog.keys[0] == "AND" and prog.keys[1][0][0] == "OR"
    with pytest.raises(ParseError):
        parse_search(["CHARSET", "UTF-8", "ALL"], utf8_enabled=True, esearch_ok=True)


def test_rfc2231_params() -> None:
    assert decode_params({"filename*0*": "utf-8''na%C3%AFve", "filename*1": ".bin"}) == \
        {"filename": "naïve.bin"}


def test_filter_header_keeps_folded_lines() -> None:
    raw = b"Subject: a\r\n b\r\nFrom: x\r\nTo: y\r\n\r\n"
    assert filter_header(raw, ("SUBJECT",), False) == b"Subject: a\r\n b\r\n\r\n"
    assert filter_header(raw, ("SUBJECT",), True) == b"From: x\r\nTo: y\r\n\r\n"


@settings(max_examples=2000, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_parser_never_crashes(data: bytes) -> None:
    """Any bytes: a Command or ParseError, never anything else (issue 3 acceptance)."""
    try:
        cmd = parse_command(data)
    except ParseError:
        return
    with contextlib.suppress(ParseError):
        parse_fetch(cmd.args[1:], uid=False)
    with contextlib.suppress(ParseError):
        parse_search(cmd.args, utf8_enabled=False, esearch_ok=True)


ATOMS = st.sampled_from(["FETCH", "1:*", "(", ")", "BODY[HEADER.FIELDS (A)]", "{3}\r\nabc",
                         '"q\\"x"', "NIL", "~{2}\r\n\x00a", "UID", "$", "OR", "FLAGS", " "])


@settings(max_examples=2000, deadline=None)
@given(st.lists(ATOMS, max_size=12))
def test_fuzz_structured(parts: list[str]) -> None:
    try:
        cmd = parse_command(("t1 " + " ".join(parts)).encode("latin-1"))
    except ParseError:
        return
    with contextlib.suppress(ParseError):
        parse_search(cmd.args, utf8_enabled=False, esearch_ok=True)
    with contextlib.suppress(ParseError):
        parse_fetch(cmd.args[1:] or ["FLAGS"], uid=True)


def test_seqset_contains() -> None:
    s = wire.parse_seqset("3:5,9:*")
    assert [n for n in range(1, 13) if s.contains(n, star=10)] == [3, 4, 5, 9, 10]
    assert wire.parse_seqset("*:4").contains(7, star=8)


def test_uid_runs_split_large_gaps() -> None:
    from postroom.store.repo.messages import uid_runs
    assert uid_runs([1, 2, 3, 100, 100_000]) == [(1, 100), (100_000, 100_000)]
    assert uid_runs([]) == []
