"""The MIME scanner: structure, offsets, envelopes, and never an exception on any input."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from postroom.mime.addresses import parse_address_list
from postroom.mime.scanner import MAX_DEPTH, scan

NESTED = (b"From: a@example.com\r\nSubject: =?utf-8?q?caf=C3=A9?=\r\n"
          b"Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n"
          b"preamble\r\n--outer\r\nContent-Type: multipart/alternative; boundary=inner\r\n\r\n"
          b"--inner\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nplain\r\n"
          b"--inner\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n--inner--\r\n"
          b"--outer\r\nContent-Type: application/pdf; name=\"a.pdf\"\r\n"
          b"Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; "
          b"filename=\"a.pdf\"\r\n\r\nJVBERi0=\r\n--outer--\r\n")


def test_nested_structure_and_offsets() -> None:
    info = scan(NESTED)
    root = info.root
    assert (root.mtype, root.subtype) == ("multipart", "mixed")
    alt, pdf = root.children
    assert (alt.subtype, [c.subtype for c in alt.children]) == ("alternative", ["plain", "html"])
    plain = alt.children[0]
    assert NESTED[plain.body_start:plain.body_end] == b"plain"
    assert plain.params == {"charset": "utf-8"} and plain.lines == 1
    assert NESTED[pdf.body_start:pdf.body_end] == b"JVBERi0="
    assert pdf.encoding == "BASE64"
    assert pdf.disposition == ("attachment", {"filename": "a.pdf"})
    assert info.envelope[1] == "=?utf-8?q?caf=C3=A9?="  # ENVELOPE keeps encoded words
    json.loads(info.to_json())


def test_no_body_and_lf_only() -> None:
    info = scan(b"Subject: x\n")
    assert info.root.body_start == info.root.body_end == len(b"Subject: x\n")
    info = scan(b"Subject: y\n\nline1\nline2\n")
    assert info.root.lines == 2 and info.envelope[1] == "y"


def test_addresses_and_groups() -> None:
    got = parse_address_list('"Smith, J" <j@x.example>, (c) plain@y.example, '
                             "Team: a@z.example, b@z.example;, <@route:r@w.example>")
    assert got == [["Smith, J", None, "j", "x.example"], [None, None, "plain", "y.example"],
                   [None, None, "Team", None], [None, None, "a", "z.example"],
                   [None, None, "b", "z.example"], [None, None, None, None],
                   [None, "@route", "r", "w.example"]]
    assert parse_address_list(None) is None
    assert parse_address_list("") is None


def test_depth_bomb_is_cheap() -> None:
    data = b""
    for i in range(200):
        data += f"Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n".encode()
    info = scan(data)
    depth, part = 0, info.root
    while part.children:
        part, depth = part.children[0], depth + 1
    assert depth <= MAX_DEPTH


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_scanner_never_fails_on_bytes(data: bytes) -> None:
    info = scan(data)
    assert 0 <= info.root.body_start <= info.root.body_end <= len(data)
    json.loads(info.to_json())


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([b"--b\r\n", b"--b--\r\n", b"Content-Type: multipart/mixed; "
                                 b"boundary=b\r\n", b"\r\n", b"text\r\n", b"Content-Type: "
                                 b"message/rfc822\r\n", b"From: <a@b>\r\n"]), max_size=40))
def test_scanner_never_fails_on_mime_fragments(parts: list[bytes]) -> None:
    data = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n" + b"".join(parts)
    info = scan(data)
    stack = [info.root]
    while stack:
        p = stack.pop()
        assert 0 <= p.header_start <= p.body_start <= p.body_end <= len(data)
        stack.extend(p.children)
        if p.message:
            stack.append(p.message)


def test_empty_part_before_next_delimiter() -> None:
    """Regression (found by hypothesis): a part that is only a CRLF must not end before it
    starts."""
    data = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\n--b\r\n"
    for part in scan(data).root.children:
        assert part.header_start <= part.body_start <= part.body_end


def test_boundary_right_after_header() -> None:
    """Regression: the first delimiter directly after the blank line was missed."""
    data = b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n\r\none\r\n--x--\r\n"
    [part] = scan(data).root.children
    assert data[part.body_start:part.body_end] == b"one"


def test_undecodable_charsets_never_fail_a_delivery() -> None:
    """A non-ASCII charset name in an encoded word (email's CharsetError) and a text part in
    a codec that raises even with errors="replace" (idna, punycode) used to raise out of the
    delivery-time scan, so the message was retried for ever; now they read as best they can."""
    from postroom.mime.text import decode_words, searchable, to_text

    assert decode_words("=?\xc3\xa9utf-8?q?x?=") == "=?\xc3\xa9utf-8?q?x?="
    assert to_text(b"caf\xc3\xa9", "idna") == "café"
    assert isinstance(to_text(b"\xff\xfe-", "punycode"), str)
    data = (b"Subject: =?\xc3\xa9utf-8?q?x?=\r\nContent-Type: text/plain; charset=idna\r\n"
            b"\r\nhello\r\n")
    header, body = searchable(data, scan(data))
    assert "subject:" in header and body.strip() == "hello"
