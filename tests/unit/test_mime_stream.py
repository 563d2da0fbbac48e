"""The streaming MIME scan equals scan() + searchable() for any chunking, in bounded memory."""

from __future__ import annotations

import base64
import io
import tracemalloc
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from postroom.mime.scanner import MAX_PARTS, MessageInfo, scan
from postroom.mime.stream import (
    HEADER_CAP,
    PADDING_CAP,
    TEXT_CAP,
    StreamScanner,
    describe_stream,
    scan_stream,
)
from postroom.mime.text import MAX_BODY_TEXT, searchable
from tests.unit.test_mime import NESTED

Result = tuple[MessageInfo, tuple[str, str]]


def reference(data: bytes) -> Result:
    info = scan(data)
    return info, searchable(data, info)


def chunked(data: bytes, sizes: list[int]) -> Iterator[bytes]:
    """``data`` in chunks of the given sizes, cycled."""
    pos, i = 0, 0
    while pos < len(data):
        size = sizes[i % len(sizes)]
        yield data[pos:pos + size]
        pos, i = pos + size, i + 1


def assert_same(data: bytes, *splits: list[int]) -> Result | None:
    """Streamed whole, byte by byte and in each of ``splits``: equal to the reference.

    The search text comes from the same helpers on both paths, so where they raise (today
    ``decode_words`` on an encoded word whose charset name is not ASCII, ``to_text`` on
    charset=idna) the stream raises the same exception, from ``feed`` or ``finish``."""
    try:
        want = reference(data)
    except Exception as exc:
        for sizes in ([max(1, len(data))], [1], *splits):
            with pytest.raises(type(exc)):
                scan_stream(chunked(data, sizes))
        return None
    for sizes in ([max(1, len(data))], [1], *splits):
        got = scan_stream(chunked(data, sizes))
        assert got == want, sizes  # the Part trees, envelopes and search text
        assert got[0].to_json() == want[0].to_json(), sizes
    return want


# -- generated MIME-ish messages -----------------------------------------------------------

BOUNDARIES = ["b", "bb", "b b", "b-", "=_x", "B"]  # prefixes of each other, blanks, dashes
FILLER = [b"text", b" ", b"\r\n", b"\n", b"\r", b"--b", b"--bb--", b"--b--", b"-", b"\t",
          b"=C3=A9", b"=\r\n", b"<p>a</p>", b"&amp;", b"\xc3\xa9", b"\xff", b"aGVsbG8=",
          b"\r\n--b\r\n", b"\n--bb \n", b"\r\n\r\n", b"Content-Type: text/html\r\n"]
HEADERS = [b"From: Ann <a@example.com>", b"Subject: =?utf-8?q?caf=C3=A9?=", b"To: b@x.example",
           b"References: <r@x>", b"Content-Transfer-Encoding: base64",
           b"Content-Transfer-Encoding: quoted-printable", b"Date: Mon, 1 Jan 2024 00:00 +0000",
           b"X-Folded: a\r\n b", b"bad header line", b"Content-Disposition: attachment; a=b"]
NEWLINE = st.sampled_from([b"\r\n", b"\n"])
filler = st.lists(st.sampled_from(FILLER), max_size=8).map(b"".join)


@st.composite
def entity(draw: st.DrawFn, depth: int = 0) -> bytes:
    """One MIME entity: a header block and a body, nested multiparts and embedded messages."""
    nl = draw(NEWLINE)
    kinds = ["text", "html", "octet", "none", "multipart", "multipart", "message"]
    if depth == 0:  # mostly structured at the top
        kinds = ["multipart"] * 4 + ["message", "text"]
    kind = draw(st.sampled_from(kinds if depth < 4 else kinds[:4]))
    lines = draw(st.lists(st.sampled_from(HEADERS), max_size=3))
    if kind == "multipart":
        boundary = draw(st.sampled_from(BOUNDARIES))
        sub = draw(st.sampled_from(["mixed", "alternative", "digest"]))
        quoted = draw(st.booleans())
        value = f'"{boundary}"' if quoted or " " in boundary else boundary
        lines.append(f"Content-Type: multipart/{sub}; boundary={value}".encode())
        delim = b"--" + boundary.encode()
        body = draw(filler)  # preamble
        for child in draw(st.lists(entity(depth + 1), max_size=3)):
            padding = draw(st.sampled_from([b"", b" ", b" \t"]))
            body += nl + delim + padding + nl + child
        if draw(st.booleans()):  # a close delimiter, then an epilogue
            body += nl + delim + b"--" + draw(st.sampled_from([b"", b" "])) + nl + draw(filler)
    elif kind == "message":
        lines.append(draw(st.sampled_from([b"Content-Type: message/rfc822",
                                           b"Content-Type: message/global"])))
        body = draw(entity(depth + 1))
    else:
        ctype = {"text": b"Content-Type: text/plain; charset=utf-8", "html": b"Content-Type: "
                 b"text/html", "octet": b"Content-Type: application/octet-stream"}.get(kind)
        if ctype:
            lines.append(ctype)
        body = draw(filler)
    lines = draw(st.permutations(lines))
    blank = draw(st.sampled_from([nl] * 5 + [b""]))  # sometimes no blank line at all
    return b"".join(line + nl for line in lines) + blank + body


@st.composite
def message(draw: st.DrawFn) -> bytes:
    data = draw(entity())
    how = draw(st.sampled_from(["as is", "as is", "truncated", "spliced", "blank first"]))
    if how == "truncated":
        data = data[:draw(st.integers(0, len(data)))]
    elif how == "spliced":
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.sampled_from(FILLER) | st.binary(max_size=8)) + data[at:]
    elif how == "blank first":
        data = draw(NEWLINE) + data
    return data


SPLITS = st.lists(st.lists(st.integers(1, 48), min_size=1, max_size=6), min_size=1, max_size=3)


@settings(max_examples=250, deadline=None)
@given(message(), SPLITS)
def test_stream_equals_scan_on_mime(data: bytes, splits: list[list[int]]) -> None:
    assert_same(data, *splits)


@settings(max_examples=80, deadline=None)
@given(st.binary(max_size=600), SPLITS)
def test_stream_equals_scan_on_bytes(data: bytes, splits: list[list[int]]) -> None:
    assert_same(data, *splits)


@settings(max_examples=120, deadline=None)
@given(st.lists(st.sampled_from([b"--b\r\n", b"--b--\r\n", b"Content-Type: multipart/mixed; "
                                 b"boundary=b\r\n", b"\r\n", b"text\r\n", b"Content-Type: "
                                 b"message/rfc822\r\n", b"From: <a@b>\r\n", b"--b \n", b"--b",
                                 b"\r", b"\n", b"Content-Type: multipart/mixed; boundary=c\n",
                                 b"--c\n", b"--c--"]), max_size=40), SPLITS)
def test_stream_equals_scan_on_fragments(parts: list[bytes], splits: list[list[int]]) -> None:
    assert_same(b"Content-Type: multipart/mixed; boundary=b\r\n\r\n" + b"".join(parts), *splits)


# -- fixtures of test_mime.py and other fixed shapes -----------------------------------------

def test_fixtures_of_test_mime() -> None:
    result = assert_same(NESTED, [7], [3, 1, 50])
    assert result is not None
    info, (header, body) = result
    assert body == "plain\n html " and "subject: café" in header
    assert_same(b"Subject: x\n")
    assert_same(b"Subject: y\n\nline1\nline2\n", [2, 5])
    assert_same(b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\n--b\r\n", [4])
    assert_same(b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n\r\none\r\n--x--\r\n")
    assert info.root.children[1].encoding == "BASE64"


def test_depth_bomb_and_part_limit() -> None:
    bomb = b"".join(f"Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n".encode()
                    for i in range(200))
    assert_same(bomb, [13])
    digest = b"Content-Type: message/rfc822\r\n\r\n" * 60 + b"Subject: deep\r\n\r\nbody"
    assert_same(digest, [5])
    many = (b"Content-Type: multipart/mixed; boundary=p\r\n\r\n"
            + b"--p\r\nContent-Type: text/plain\r\n\r\nx\r\n" * (MAX_PARTS + 50) + b"--p--\r\n")
    result = assert_same(many, [4096], [997])
    assert result is not None and len(result[0].root.children) == MAX_PARTS - 1


def test_edge_shapes() -> None:
    assert_same(b"")
    assert_same(b"\r\n\r\nbody starts after a blank first line", [1, 2])
    # An outer delimiter inside an inner part still ends it, and "$" matches at that end.
    assert_same(b"Content-Type: multipart/mixed; boundary=o\n\n--o\nContent-Type: multipart/"
                b"mixed; boundary=i\n\n--i\n\nin\n--i\n--o\n\nafter\n--o--\nepilogue --o\n",
                [3], [1, 9])
    # Delimiter lines at the very end, with padding, without a final line break.
    for tail in (b"--b", b"--b  ", b"--b--", b"--b--\t", b"--b\r", b"--bc", b"--b-",
                 b"--b\r\n\r", b"--b\n\r\n", b"--b\r\n\r\n--b\n\r", b"--b\r\n\n--b--"):
        assert_same(b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nx\r\n" + tail,
                    [2], [5])


# -- the caps: the only places where the result may differ -------------------------------------

MULTI = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n"


def test_header_cap_keeps_offsets() -> None:
    data = (b"X-Long: " + b"x" * 100 + b"\r\nContent-Type: text/html\r\n\r\n<b>hi</b>")
    full, (_, text) = reference(data)
    capped, (capped_header, capped_text) = scan_stream([data], header_cap=64)
    assert capped_header == ""  # no line ends within the first 64 bytes
    assert (full.root.mtype, full.root.subtype, text) == ("text", "html", " hi ")
    # The Content-Type line ends past the cap: not parsed, the part stays text/plain ...
    assert (capped.root.subtype, capped_text) == ("plain", "<b>hi</b>")
    # ... but the blank line is still found: the offsets are exact.
    assert capped.root.body_start == full.root.body_start
    # At the real cap: a Subject after 256 KiB of header is not seen, the body still is.
    big = b"X-Pad: " + b"p" * HEADER_CAP + b"\r\nSubject: late\r\n\r\nbody"
    info, (header, body) = scan_stream(chunked(big, [65536]))
    assert info.envelope[1] is None and scan(big).envelope[1] == "late"
    assert (header, body) == ("", "body")  # the unfinished X-Pad line is dropped too
    assert info.root.body_start == scan(big).root.body_start


def test_text_cap() -> None:
    data = b"Content-Type: text/plain\r\n\r\n" + b"0123456789" * 10
    _, (_, text) = scan_stream([data], text_cap=25)
    assert text == "0123456789" * 2 + "01234"
    # Real cap: with 2 MiB of raw text the index is already full (1M characters) ...
    big = b"Content-Type: text/plain\r\n\r\n\xc3\xa9" + b"a" * (TEXT_CAP + 10)
    _, (_, text) = scan_stream(chunked(big, [1 << 20]))
    assert text == reference(big)[1][1] and len(text) == MAX_BODY_TEXT
    # ... except that bytes past the cap are not seen: a non-UTF-8 byte there makes scan()
    # decode the whole part as Latin-1.
    bad = big + b"\xff"
    assert reference(bad)[1][1].startswith("Ã©aaa")
    assert scan_stream(chunked(bad, [1 << 20]))[1][1].startswith("éaaa")
    assert scan_stream([bad])[0] == scan(bad)  # structure and offsets unaffected


def test_padding_cap() -> None:
    for blanks, is_delimiter in ((4, True), (5, False)):
        data = MULTI + b"--b" + b" " * blanks + b"\r\n\r\none\r\n--b--\r\n"
        info, _ = scan_stream(chunked(data, [3]), padding_cap=4)
        assert (info == scan(data)) is is_delimiter
        assert [len(c.children) for c in (info.root, scan(data).root)] == [1, 1]
    data = MULTI + b"--b" + b"\t" * (PADDING_CAP + 1) + b"\r\n\r\none\r\n--b--\r\n"
    info, _ = scan_stream(chunked(data, [4096]))
    assert info.root.children[0].body_start == info.root.body_start  # the empty stand-in
    assert scan(data).root.children[0].body_start > len(MULTI)


# -- bounded memory, and the describe() shape -------------------------------------------------

ATTACHMENT_LINES = 400_000  # 76 + 2 bytes each: ~31 MB


def big_message() -> Iterator[bytes]:
    """~31 MB: text, html and an embedded message, then a base64 attachment, made on the fly."""
    yield (b"From: a@example.com\r\nSubject: big\r\nContent-Type: multipart/mixed; "
           b"boundary=\"=_big\"\r\n\r\n--=_big\r\nContent-Type: multipart/alternative; "
           b"boundary=alt\r\n\r\n--alt\r\nContent-Type: text/plain\r\n\r\n" + b"words " * 5000
           + b"\r\n--alt\r\nContent-Type: text/html\r\n\r\n" + b"<p>para</p>\r\n" * 5000
           + b"\r\n--alt--\r\n\r\n--=_big\r\nContent-Type: message/rfc822\r\n\r\n"
           b"Subject: inner\r\n\r\ninner body\r\n--=_big\r\nContent-Type: application/zip\r\n"
           b"Content-Transfer-Encoding: base64\r\n\r\n")
    line = base64.b64encode(bytes(range(57))) + b"\r\n"
    block = line * 1000
    for _ in range(ATTACHMENT_LINES // 1000):
        yield block
    yield b"--=_big--\r\n"


def test_bounded_memory_on_a_large_message() -> None:
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        info, (header, body) = scan_stream(big_message())
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    assert peak < 3 * 1024 * 1024, peak
    alt, inner, zipped = info.root.children
    assert [c.subtype for c in alt.children] == ["plain", "html"]
    assert inner.envelope is not None and inner.envelope[1] == "inner"
    assert zipped.body_end - zipped.body_start == ATTACHMENT_LINES * 78 - 2
    assert zipped.encoding == "BASE64" and zipped.lines == 0
    assert body.startswith("words words") and "para" in body and body.endswith("inner body")
    assert header.startswith("from: a@example.com\nsubject: big")


def test_bounded_memory_on_a_large_text_part() -> None:
    """A 30 MB text part: only TEXT_CAP of it is kept; decoding that is the peak."""
    def chunks() -> Iterator[bytes]:
        yield b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
        block = "Zeile mit Umlauten: äöü.\r\n".encode() * 4000
        for _ in range(300):
            yield block
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        info, (_, body) = scan_stream(chunks())
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    assert peak < 4 * TEXT_CAP, peak
    assert info.root.lines == 1_200_000 and len(body) == MAX_BODY_TEXT


def test_feed_contract() -> None:
    scanner = StreamScanner()
    for chunk in (b"", b"Subject: s\r\n", b"", b"\r\nbody"):
        scanner.feed(chunk)  # empty chunks are allowed anywhere
    result = scanner.finish()
    assert scanner.finish() is result == reference(b"Subject: s\r\n\r\nbody")
    with pytest.raises(ValueError):
        scanner.feed(b"more")


def test_describe_stream_matches_describe() -> None:
    data = NESTED + b"trailing epilogue"
    info = scan(data)
    assert describe_stream(io.BytesIO(data), chunk=5) == (info.to_json(), searchable(data, info))
