"""Pure parser and formatter tests for the IMAP conformance fixes (issue 19's findings): each
test names the rule it checks. Protocol-level counterparts: tests/protocol/imap/
test_conformance.py."""

from __future__ import annotations

import base64

import pytest

from postroom.mime.addresses import parse_address_list
from postroom.mime.scanner import scan
from postroom.protocols.imap import binary, search, sort
from postroom.protocols.imap.cmd_mailbox import _childinfo, pattern_regex
from postroom.protocols.imap.cmd_message import _reported, parse_append
from postroom.protocols.imap.wire import (
    Literal,
    Literal8,
    ParseError,
    SeqSet,
    parse_command,
    parse_seqset,
)

# -- item 8: APPEND's date-time is a quoted string, its message a literal ------------------------
MSG = b"From: a@b.example\r\nSubject: x\r\n\r\nbody\r\n"


def _append(raw: bytes) -> list[tuple[bytes, list[str], int | None]]:
    return parse_append(parse_command(raw + b"\r\n").args)  # as framed: the final CRLF


def test_literal_tokens_are_literals() -> None:
    cmd = parse_command(b'a X "quoted" {3}\r\nlit ~{2}\r\n\x00\x01')
    assert type(cmd.args[0]) is bytes and isinstance(cmd.args[1], Literal)
    assert isinstance(cmd.args[2], Literal8)


def test_multiappend_without_flags_or_date() -> None:
    raw = b"a APPEND INBOX {%d+}\r\n%s {%d+}\r\n%s" % (len(MSG), MSG, len(MSG), MSG)
    assert _append(raw) == [(MSG, [], None), (MSG, [], None)]


def test_append_forms() -> None:
    assert _append(b"a APPEND INBOX {%d}\r\n%s" % (len(MSG), MSG)) == [(MSG, [], None)]
    items = _append(b'a APPEND INBOX (\\Seen) "07-Feb-1994 21:52:25 -0800" {%d+}\r\n%s '
                    b"(\\Draft) {%d+}\r\n%s" % (len(MSG), MSG, len(MSG), MSG))
    assert items[0] == (MSG, ["\\Seen"], 760686745) and items[1] == (MSG, ["\\Draft"], None)
    # A message that looks like a date-time, or a date that is a literal, is still what its
    # token type says.
    date = b"07-Feb-1994 21:52:25 -0800"
    assert _append(b"a APPEND INBOX {%d}\r\n%s" % (len(date), date)) == [(date, [], None)]
    with pytest.raises(ParseError):
        _append(b'a APPEND INBOX "07-Feb-1994 21:52:25 -0800"')  # no message
    with pytest.raises(ParseError):
        _append(b'a APPEND INBOX "not a message"')  # a quoted string is no message


# -- item 10: "[" is an astring character outside fetch sections ----------------------------------
def test_brackets_outside_sections_are_atom_characters() -> None:
    name = b"!#$&'+,-.0123456789:;<=>?@^_`|[}"
    assert parse_command(b"a SELECT " + name).args == [name.decode()]
    assert parse_command(b'a LIST "" ' + name + b"%*").args[1] == name.decode() + "%*"
    assert parse_command(b"a SELECT x]y").args == ["x]y"]  # ASTRING-CHAR includes "]"
    cmd = parse_command(b"a FETCH 1 (BODY.PEEK[HEADER.FIELDS (A B)]<0.10> binary[1])")
    assert cmd.args[1] == ["BODY.PEEK[HEADER.FIELDS (A B)]<0.10>", "binary[1]"]
    with pytest.raises(ParseError):
        parse_command(b"a FETCH 1 BODY[HEADER")


# -- item 12: bounded SEARCH nesting --------------------------------------------------------------
def test_search_nesting_is_bounded() -> None:
    limit = search.MAX_SEARCH_NESTING
    for key in ("NOT ", "OR ALL "):
        search.parse_search(parse_command(f"a SEARCH {key * limit}ALL".encode()).args,
                            utf8_enabled=False, esearch_ok=True)
        with pytest.raises(ParseError, match="nested deeper"):
            search.parse_search(parse_command(f"a SEARCH {key * (limit + 1)}ALL".encode()).args,
                                utf8_enabled=False, esearch_ok=True)
    with pytest.raises(ParseError):
        search.parse_search(parse_command(b"a SEARCH " + b"NOT " * 1000 + b"ALL").args,
                            utf8_enabled=False, esearch_ok=True)
    # parentheses count too, together with NOT
    mixed = "NOT (" * 10 + "ALL" + ")" * 10
    search.parse_search(parse_command(f"a SEARCH {mixed}".encode()).args,
                        utf8_enabled=False, esearch_ok=True)


# -- item 7: ESEARCH ------------------------------------------------------------------------------
def test_esearch_modseq_covers_reported_messages() -> None:
    found = [3, 5, 9]
    assert _reported(found, None) == found
    assert _reported(found, ("ALL",)) == found and _reported(found, ("COUNT",)) == found
    assert _reported(found, ("MIN",)) == [3] and _reported(found, ("MAX",)) == [9]
    assert _reported(found, ("MIN", "MAX")) == [3, 9]


# -- item 3: BINARY decoding -------------------------------------------------------------------
def test_quoted_printable_rfc2045() -> None:
    raw = (b"hello  \r\nbar=\r\n\r\nfoo\t=\r\nbar\r\nfoo\t \t= \r\n=62\r\nfoo = \t\r\nbar\r\n"
           b"foo =\r\n=62\r\nfoo  \r\nbar=\r\n\r\nfoo_bar\r\n")
    assert binary.decode_qp(raw) == (b"hello\r\nbar\r\nfoo\tbar\r\nfoo\t \tb\r\nfoo bar\r\n"
                                     b"foo b\r\nfoo\r\nbar\r\nfoo_bar\r\n")
    assert binary.decode_qp(b"a=3D=3db=\nc=ZZ=") == b"a==bc=ZZ"  # lower hex; junk kept
    assert binary.decode_qp(b"no break") == b"no break"


def test_decode_transfer() -> None:
    assert binary.decode_transfer(b"aGk=\r\n", "base64") == b"hi"
    assert binary.decode_transfer(b"\x00raw", "binary") == b"\x00raw"
    with pytest.raises(binary.UnknownCte):
        binary.decode_transfer(b"x", "x-uuencode")


# -- item 4: NUL octets ---------------------------------------------------------------------------
def test_literals_never_carry_nul_unless_literal8() -> None:
    assert binary.literal(b"a\x00b", True) == b"~{3}\r\na\x00b"  # RFC 3516 §4.3
    assert binary.literal(b"ab", True) == b"{2}\r\nab"  # no NUL: an ordinary literal
    assert binary.literal(b"a\x00b", False) == b"{3}\r\na\x80b"  # BODY[]: same length


def test_binary_append_is_stored_base64() -> None:
    body = b"\x00\x01-\xff\r\n\r\n"
    msg = (b"From: a@b.example\r\nContent-Transfer-Encoding: binary\r\n"
           b"Content-Type: application/octet-stream\r\n\r\n" + body)
    stored = binary.to_storable(msg)
    assert b"\x00" not in stored and b"Content-Transfer-Encoding: binary" not in stored
    root = scan(stored).root
    assert root.encoding == "BASE64"
    assert base64.b64decode(stored[root.body_start:root.body_end]) == body
    plain = b"From: a@b.example\r\n\r\nhello\r\n"
    assert binary.to_storable(plain) is plain
    multi = (b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain"
             b"\r\n\r\nhi\r\n--b\r\nContent-Transfer-Encoding: binary\r\n\r\n\x00\xff\r\n--b--\r\n")
    out = binary.to_storable(multi)
    parts = scan(out).root.children
    assert [p.encoding for p in parts] == ["7BIT", "BASE64"]
    assert out[parts[0].body_start:parts[0].body_end] == b"hi"
    assert base64.b64decode(out[parts[1].body_start:parts[1].body_end]) == b"\x00\xff"


# -- item 6: ENVELOPE addresses, SEARCH and SORT on them --------------------------------------
def test_envelope_names_and_groups() -> None:
    assert parse_address_list("user@domain (Real Name)") == [
        ["Real Name", None, "user", "domain"]]  # RFC 5322 §4.4: the comment is the name
    assert parse_address_list("(note) user@domain") == [[None, None, "user", "domain"]]
    assert parse_address_list("<user (c)@ (c) domain.org>") == [
        [None, None, "user", "domain.org"]]
    assert parse_address_list("group: g1@d1.org, g2@d2.org;, group2: g3@d3.org;") == [
        [None, None, "group", None], [None, None, "g1", "d1.org"],
        [None, None, "g2", "d2.org"], [None, None, None, None],
        [None, None, "group2", None], [None, None, "g3", "d3.org"], [None, None, None, None]]
    assert parse_address_list("group:;, group2: (foo) ;") == [
        [None, None, "group", None], [None, None, None, None],
        [None, None, "group2", None], [None, None, None, None]]
    assert parse_address_list("<@route:user@domain>") == [[None, "@route", "user", "domain"]]
    env = scan(b"From: user@domain (Real Name)\r\nSender: \r\nReply-To: \r\n\r\nx").envelope
    assert env[2] == env[3] == env[4] == [["Real Name", None, "user", "domain"]]


def test_address_text_for_search() -> None:
    text = search.address_text
    assert text(parse_address_list("user-from@domain.org (RealFrom)")) == \
        "RealFrom <user-from@domain.org>"
    assert text(parse_address_list("=?utf-8?q?J=C3=B6rg?= <j@x>")) == "Jörg <j@x>"
    assert text(parse_address_list("<user-from (c)@ (c) domain.org>")) == \
        "user-from@domain.org"
    grouped = text(parse_address_list("g: a@x.org, b@x.org;, h:;"))
    assert "g: a@x.org, b@x.org;" in grouped and "h:" in grouped
    assert text(parse_address_list("d")) == "d"


def _item(seq: int, frm: str | None = None, to: str | None = None, cc: str | None = None,
          ) -> sort.Item:
    env = [None] * 10
    env[2], env[5], env[6] = (parse_address_list(x) for x in (frm, to, cc))
    return sort.Item(seq, seq, 0, 0, env)


def test_sort_on_addresses_uses_first_mailbox_group_names_included() -> None:
    items = [_item(1, "user2@domain2.org", cc="user2@domain2.org (foo bar)"),
             _item(2, "user2@domain1.org", cc="user2: blah@domain1.org;"),
             _item(3, "user1@domain1.org", cc="user1@domain1.org")]
    for key in ("FROM", "CC"):  # RFC 5256 §3: addr-mailbox of the first address
        assert [i.number for i in sort.sort_items(items, [(key, False)])] == [3, 1, 2]
        assert [i.number for i in sort.sort_items(items, [(key, True)])] == [1, 2, 3]


def test_sort_display() -> None:
    tos = ["foo bar <a@b.c>", "b@c.d", "d", "=?iso-8859-1?q?foo_aar?= <e@f.g>",
           "=?iso-8859-1?q?foo_car?= <f@g.h>", "a: xx@xx.org, yy@yy.org;",
           "z: aa@aa.org, bb@bb.org;", "empty:;"]
    items = [_item(n, to=t) for n, t in enumerate(tos, 1)]
    got = [i.number for i in sort.sort_items(items, [("DISPLAYTO", False)])]
    assert got == [6, 2, 3, 8, 4, 1, 5, 7]  # RFC 5957 §3


# -- item 10: THREAD=REFERENCES corner cases (RFC 5256 §4) ------------------------------------
def _t(seq: int, mid: str | None, refs: str | None = None, irt: str | None = None,
       subject: str | None = None, date: int = 0) -> sort.Item:
    env: list[object] = [None] * 10
    env[1], env[8], env[9] = subject, irt, mid
    return sort.Item(seq, seq, date, 0, env, refs)


def _thread(items: list[sort.Item]) -> bytes:
    return sort.render(sort.thread_references(items))


def test_thread_last_reference_loop_leaves_no_parent() -> None:
    # Step 1B: C's last reference B is C's own descendant, so C keeps no parent at all.
    items = [_t(1, "<a@b>", date=3), _t(2, "<b@b>", "<a@b> <c@b>", date=1),
             _t(3, "<c@b>", "<b@b>", date=2)]
    assert _thread(items) == b"(3 2)(1)"
    assert _thread([_t(1, "<b@b>", "<a@b> <c@b>", date=1),
                    _t(2, "<c@b>", "<b@b>", date=2)]) == b"(2 1)"


def test_thread_missing_parents_and_duplicates() -> None:
    assert _thread([_t(1, None, "<a@b>"), _t(2, None, "<a@b>", date=1)]) == b"((1)(2))"
    assert _thread([_t(1, "<a@b>"), _t(2, "<a@b>")]) == b"(1)(2)"  # duplicate IDs
    assert _thread([_t(1, "<a@b>"), _t(2, "<b@b>", "<a@b>"), _t(3, "<c@b>", "<b@b>"),
                    _t(4, "<b@b>", "<a@b>")]) == b"(1 (2 3)(4))"
    assert _thread([_t(1, "<a@b>"), _t(2, "<c@b>", "<b@b>"), _t(3, "<b@b>", "<a@b>")]) == \
        b"(1 3 2)"  # a dummy filled by the message that arrives later


def test_thread_in_reply_to_and_self_reference() -> None:
    assert _thread([_t(1, "<1@b>", date=5), _t(2, "<2@b>", irt="<1@b>"),
                    _t(3, "<3@b>", irt="<1@b>"), _t(4, "<4@b>", irt="<2@b>")]) == \
        b"(1 (2 4)(3))"
    assert _thread([_t(1, "<a@b>", "<a@b>")]) == b"(1)"  # a message referring to itself


def test_thread_subject_merging_and_date_order() -> None:
    assert _thread([_t(1, "<a@b>", subject="foo"),
                    _t(2, "<a@b>", subject="Re: foo", date=1)]) == b"(1 2)"
    assert _thread([_t(1, "<a@b>", subject="foo"),
                    _t(2, "<b@b>", "<c@b>", subject="Re: foo", date=1)]) == b"(1 2)"
    # Threads sorted by the date of their first message, not by sequence number.
    assert _thread([_t(1, "<x@b>", date=50), _t(2, "<y@b>", date=10)]) == b"(2)(1)"


# -- item 10: LIST RECURSIVEMATCH / CHILDINFO (RFC 5258 §3.5) ----------------------------------
def test_childinfo_only_for_descendants_outside_the_pattern() -> None:
    subs = {"m/test2/test1", "m/test7/test7", "m/test8/test8", "m/test8/test9"}
    assert _childinfo("m/test2", subs, [pattern_regex("m/test2%")])
    assert not _childinfo("m/test2", subs, [pattern_regex("m/test2"),
                                            pattern_regex("m/test2/test1")])
    assert not _childinfo("m/test7", subs, [pattern_regex("m*test7")])
    assert _childinfo("m/test8", subs, [pattern_regex("m*test8")])  # test9 is not matched
    assert not _childinfo("m/test3", subs, [pattern_regex("m/%")])


# -- item 7: sequence numbers beyond EXISTS in SEARCH -----------------------------------------
def test_seqset_beyond_exists_is_empty_for_search_only() -> None:
    from postroom.protocols.imap.view import Selected

    sel = Selected.__new__(Selected)
    sel.uids = [4, 7, 9]
    sel.saved = []
    assert sel.resolve(parse_seqset("1000"), False, strict=False) == []
    assert sel.resolve(parse_seqset("2:1000"), False, strict=False) == [7, 9]
    assert sel.resolve(SeqSet(((2, 2), (500, 600))), False, strict=False) == [7]
    with pytest.raises(ParseError):
        sel.resolve(parse_seqset("1000"), False)
