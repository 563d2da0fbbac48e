"""FETCH (RFC 9051 §6.4.5, §7.5.2; RFC 3516 BINARY; specs.md §1.6 golden BODYSTRUCTUREs)."""

from __future__ import annotations

import base64

import pytest

from tests.protocol.imap.conftest import message
from tests.support.imapclient import RawImap

MIXED = (b"From: a@example.org\r\nSubject: mixed\r\nMIME-Version: 1.0\r\n"
         b"Content-Type: multipart/mixed; boundary=\"XX\"\r\n\r\npreamble\r\n--XX\r\n"
         b"Content-Type: text/plain; charset=utf-8\r\n\r\nHello\r\n--XX\r\n"
         b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n"
         b"Content-Disposition: attachment; filename*0*=utf-8''na%C3%AFve; filename*1=.bin\r\n"
         b"\r\n" + base64.b64encode(b"\x00\x01binary\x00") + b"\r\n--XX--\r\n")
ALTERNATIVE = (b"From: a@example.org\r\nSubject: alt\r\nContent-Type: multipart/alternative; "
               b"boundary=b1\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nplain\r\n--b1\r\n"
               b"Content-Type: text/html; charset=\"iso-8859-1\"\r\n"
               b"Content-Transfer-Encoding: quoted-printable\r\n\r\n<p>caf=E9</p>\r\n--b1--\r\n")
NESTED = (b"From: a@example.org\r\nSubject: fwd\r\nContent-Type: multipart/mixed; boundary=o\r\n"
          b"\r\n--o\r\nContent-Type: text/plain\r\n\r\nsee below\r\n--o\r\n"
          b"Content-Type: message/rfc822\r\n\r\nFrom: inner@example.org\r\nSubject: inner\r\n"
          b"\r\ninner body\r\n--o--\r\n")
HEADERLESS = b"\r\njust a body\r\n"


@pytest.fixture
def selected(client: RawImap) -> RawImap:
    for data in (message("plain", body="Hello there\r\nsecond line\r\n"), MIXED, ALTERNATIVE,
                 NESTED, HEADERLESS):
        assert b" OK " in client.append("INBOX", data)
    client.ok("SELECT INBOX")
    return client


def fetch1(c: RawImap, seq: int, items: str) -> bytes:
    lines = c.ok(f"FETCH {seq} {items}")
    return lines[-1]


def test_golden_bodystructures(selected: RawImap) -> None:
    bs = {n: fetch1(selected, n, "BODYSTRUCTURE") for n in range(1, 6)}
    assert bs[1] == (b'* 1 FETCH (BODYSTRUCTURE ("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL '
                     b'"7BIT" 26 2 NIL NIL NIL NIL))')
    assert bs[2] == (b'* 2 FETCH (BODYSTRUCTURE (("TEXT" "PLAIN" ("CHARSET" "utf-8") NIL NIL '
                     b'"7BIT" 5 1 NIL NIL NIL NIL)("APPLICATION" "OCTET-STREAM" NIL NIL NIL '
                     b'"BASE64" 12 NIL ("attachment" ("filename" "na\xc3\xafve.bin")) NIL NIL) '
                     b'"MIXED" ("boundary" "XX") NIL NIL NIL))')
    assert bs[3].startswith(b'* 3 FETCH (BODYSTRUCTURE (("TEXT" "PLAIN" ("CHARSET" "us-ascii")')
    assert b'("TEXT" "HTML" ("CHARSET" "iso-8859-1") NIL NIL "QUOTED-PRINTABLE" 13 1' in bs[3]
    assert b'"ALTERNATIVE" ("boundary" "b1")' in bs[3]
    assert (b'("MESSAGE" "RFC822" NIL NIL NIL "7BIT" 53 (NIL "inner" (("" NIL "inner" '
            b'"example.org")) (("" NIL "inner" "example.org"))') in bs[4] or \
        b'("MESSAGE" "RFC822" NIL NIL NIL "7BIT"' in bs[4]
    assert b'"inner body' not in bs[4] and b'("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL ' \
        b'"7BIT" 10 1 NIL NIL NIL NIL) 4 NIL NIL NIL NIL)' in bs[4]
    assert bs[5] == (b'* 5 FETCH (BODYSTRUCTURE ("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL '
                     b'"7BIT" 13 1 NIL NIL NIL NIL))')
    body = fetch1(selected, 2, "BODY")
    assert body.endswith(b'"MIXED"))') and b"attachment" not in body


def test_envelope(selected: RawImap) -> None:
    env = fetch1(selected, 1, "ENVELOPE")
    assert env == (b'* 1 FETCH (ENVELOPE ("Mon, 7 Feb 1994 21:52:25 -0800" "plain" '
                   b'(("Alice" NIL "alice" "example.org")) (("Alice" NIL "alice" "example.org"))'
                   b' (("Alice" NIL "alice" "example.org")) (("Bob" NIL "bob" "example.test")) '
                   b'NIL NIL NIL "<plain@x>"))')
    assert fetch1(selected, 5, "ENVELOPE") == \
        b"* 5 FETCH (ENVELOPE (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL))"


def test_sections(selected: RawImap) -> None:
    out = fetch1(selected, 2, "BODY.PEEK[1]")
    assert out == b"* 2 FETCH (BODY[1] {5}\r\nHello)"
    mime = fetch1(selected, 2, "BODY.PEEK[1.MIME]")
    assert mime == (b"* 2 FETCH (BODY[1.MIME] {43}\r\n"
                    b"Content-Type: text/plain; charset=utf-8\r\n\r\n)")
    hdr = fetch1(selected, 2, "BODY.PEEK[HEADER.FIELDS (subject FROM)]")
    assert hdr == (b"* 2 FETCH (BODY[HEADER.FIELDS (SUBJECT FROM)] {39}\r\n"
                   b"From: a@example.org\r\nSubject: mixed\r\n\r\n)")
    notf = fetch1(selected, 2, "BODY.PEEK[HEADER.FIELDS.NOT (Content-Type MIME-Version)]")
    assert b"Content-Type" not in notf and b"Subject: mixed" in notf
    inner = fetch1(selected, 4, "BODY.PEEK[2.HEADER]")
    assert inner == (b"* 4 FETCH (BODY[2.HEADER] {43}\r\nFrom: inner@example.org\r\n"
                     b"Subject: inner\r\n\r\n)")
    assert fetch1(selected, 4, "BODY.PEEK[2.TEXT]") == \
        b"* 4 FETCH (BODY[2.TEXT] {10}\r\ninner body)"
    assert fetch1(selected, 4, "BODY.PEEK[2.1]") == \
        b"* 4 FETCH (BODY[2.1] {10}\r\ninner body)"
    assert fetch1(selected, 1, "BODY.PEEK[1]") == \
        b"* 1 FETCH (BODY[1] {26}\r\nHello there\r\nsecond line\r\n)"  # single part: 1 = body
    assert fetch1(selected, 1, "BODY.PEEK[9]") == b'* 1 FETCH (BODY[9] "")'
    assert fetch1(selected, 1, "BODY.PEEK[TEXT]<6.5>") == b"* 1 FETCH (BODY[TEXT]<6> {5}\r\nthere)"
    assert fetch1(selected, 1, "BODY.PEEK[]<99999.5>") == b"* 1 FETCH (BODY[]<99999> {0}\r\n)"


def test_binary(selected: RawImap) -> None:
    out = fetch1(selected, 2, "BINARY.PEEK[2]")
    assert out == b"* 2 FETCH (BINARY[2] ~{9}\r\n\x00\x01binary\x00)"
    assert fetch1(selected, 2, "BINARY.SIZE[2]") == b"* 2 FETCH (BINARY.SIZE[2] 9)"
    assert fetch1(selected, 3, "BINARY.PEEK[2]") == b"* 3 FETCH (BINARY[2] {11}\r\n<p>caf\xe9</p>)"


def test_size_macros_and_rfc822(selected: RawImap) -> None:
    size_line = fetch1(selected, 1, "RFC822.SIZE")
    size = int(size_line.split(b"RFC822.SIZE ")[1].rstrip(b")"))
    full = fetch1(selected, 1, "BODY.PEEK[]")
    assert full.startswith(b"* 1 FETCH (BODY[] {%d}\r\n" % size)
    fast = fetch1(selected, 1, "FAST")
    assert b"FLAGS (" in fast and b"INTERNALDATE \"" in fast and b"RFC822.SIZE" in fast
    allm = fetch1(selected, 1, "ALL")
    assert b"ENVELOPE" in allm
    assert b"BODY (" in fetch1(selected, 1, "FULL")
    hdr = fetch1(selected, 1, "RFC822.HEADER")
    assert hdr.startswith(b"* 1 FETCH (RFC822.HEADER {") and b"\\Seen" not in hdr
    text = selected.ok("FETCH 1 RFC822.TEXT")
    assert b"RFC822.TEXT {26}" in b"".join(text) and b"\\Seen" in b"".join(text)


def test_fetch_sets_seen_unless_peek(selected: RawImap) -> None:
    assert b"\\Seen" not in fetch1(selected, 3, "(BODY.PEEK[] FLAGS)")
    out = b"".join(selected.ok("FETCH 3 BODY[1]"))
    assert b"FLAGS (\\Seen \\Recent)" in out or b"FLAGS (\\Seen)" in out
    assert b"\\Seen" in fetch1(selected, 3, "FLAGS")


def test_uid_fetch_and_bad_input(selected: RawImap) -> None:
    assert selected.ok("UID FETCH 2:3 FLAGS") == [  # recent: this SELECT was the first
        b"* 2 FETCH (UID 2 FLAGS (\\Recent))", b"* 3 FETCH (UID 3 FLAGS (\\Recent))"]
    assert selected.ok("UID FETCH 99:* UID") == [b"* 5 FETCH (UID 5)"]  # n:* includes last
    assert selected.ok("UID FETCH 50:60 UID") == []
    assert b" BAD " in selected.cmd("FETCH 6 FLAGS")[1]  # beyond EXISTS
    assert b" BAD " in selected.cmd("FETCH 1 (FLAGS BOGUS)")[1]
    assert b" BAD " in selected.cmd("FETCH 1 BODY[1.X]")[1]
    assert b" BAD " in selected.cmd("FETCH 0 FLAGS")[1]
    assert b" BAD " in selected.cmd("FETCH 1")[1]


def test_large_body_is_streamed(client: RawImap) -> None:
    big = message("big", body=("y" * 998 + "\r\n") * 3000)
    client.append("INBOX", big)
    client.ok("SELECT INBOX")
    out = client.ok("FETCH 1 BODY.PEEK[]")
    assert out[0] == b"* 1 FETCH (BODY[] {%d}\r\n" % len(big) + big + b")"


def test_batch_mixes_prefetched_and_sectioned_reads(client: RawImap) -> None:
    """Small messages are read whole a batch at a time, big ones section by section: one
    FETCH over both answers exactly as one FETCH per message does."""
    client.ok("CREATE Mixed")
    sizes = [1, 120, 2, 70, 3]  # KB; 120 and 70 are above the whole-message read limit
    for n, kb in enumerate(sizes):
        client.append("Mixed", message(f"m{n}", body=("z" * 1022 + "\r\n") * kb))
    client.ok("SELECT Mixed")
    items = "(BODY.PEEK[HEADER.FIELDS (SUBJECT)] BODY.PEEK[TEXT]<1000.30> BINARY.SIZE[1] " \
        "RFC822.SIZE BODY.PEEK[])"
    together = client.ok(f"FETCH 1:{len(sizes)} {items}")
    one_by_one = [line for n in range(1, len(sizes) + 1)
                  for line in client.ok(f"FETCH {n} {items}")]
    assert together == one_by_one
    assert b"BODY[HEADER.FIELDS (SUBJECT)] {15}\r\nSubject: m1\r\n\r\n" in together[1]
