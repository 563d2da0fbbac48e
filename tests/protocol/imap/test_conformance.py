"""Issue 19's IMAP conformance findings, over real sockets against a real server: \\Recent,
keyword announcement, BINARY and NUL content, CONDSTORE's first HIGHESTMODSEQ, addresses in
ENVELOPE/SEARCH/SORT, ESEARCH, mailbox names with "[", LIST RECURSIVEMATCH, THREAD, rights,
SEARCH nesting. The pure parts are in tests/unit/test_imap_conformance.py; APPEND framing is
test_append_split.py, keyword order under load test_keyword_order.py."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.protocol.imap.conftest import message
from tests.support.imapclient import RawImap
from tests.support.server import RunningServer

Session = tuple[RawImap, RawImap, RawImap]


def connect(server: RunningServer, user: tuple[str, str]) -> RawImap:
    c = RawImap(server.port("imap"))
    c.login(*user)
    return c


@pytest.fixture
def three(imap_server: RunningServer, user: tuple[str, str]) -> Iterator[Session]:
    """Three sessions of one user."""
    cs = tuple(connect(imap_server, user) for _ in range(3))
    yield cs  # type: ignore[misc]
    for c in cs:
        c.close()


def recent_line(lines: list[bytes]) -> bytes:
    return next(ln for ln in lines if ln.endswith(b" RECENT"))


# -- item 1: \Recent ----------------------------------------------------------------------------
def test_recent_goes_to_the_first_read_write_select(three: Session) -> None:
    c1, c2, c3 = three
    c3.append("INBOX", message("one"))
    c3.append("INBOX", message("two"), "\\Seen")
    # EXAMINE sees them as recent without taking them (RFC 3501 §2.3.2, §6.3.2)
    assert recent_line(c1.ok("EXAMINE INBOX")) == b"* 2 RECENT"
    assert c3.ok("STATUS INBOX (RECENT)") == [b'* STATUS "INBOX" (RECENT 2)']
    assert recent_line(c1.ok("SELECT INBOX")) == b"* 2 RECENT"
    assert c1.ok("FETCH 1:2 FLAGS") == [b"* 1 FETCH (FLAGS (\\Recent))",
                                        b"* 2 FETCH (FLAGS (\\Seen \\Recent))"]
    assert c1.ok("SEARCH NEW")[-1] == b"* SEARCH 1"
    assert c1.ok("SEARCH OLD")[-1] == b"* SEARCH"
    assert c3.ok("STATUS INBOX (RECENT)") == [b'* STATUS "INBOX" (RECENT 0)']
    assert recent_line(c2.ok("SELECT INBOX")) == b"* 0 RECENT"
    assert c2.ok("SEARCH RECENT")[-1] == b"* SEARCH"
    assert c2.ok("SEARCH OLD")[-1] == b"* SEARCH 1 2"
    # A message arriving while both have INBOX selected is recent in exactly one of them.
    c3.append("INBOX", message("three"))
    n1, n2 = c1.ok("NOOP"), c2.ok("NOOP")
    assert b"* 3 EXISTS" in n1 and b"* 3 EXISTS" in n2
    counts = {recent_line(n1), recent_line(n2)}
    assert counts in ({b"* 3 RECENT", b"* 0 RECENT"}, {b"* 2 RECENT", b"* 1 RECENT"})
    flags = [c.ok("FETCH 3 FLAGS")[0] for c in (c1, c2)]
    assert sum(b"\\Recent" in f for f in flags) == 1


def test_recent_in_imap4rev2_is_taken_but_never_shown(three: Session) -> None:
    c1, c2, c3 = three
    c3.append("INBOX", message("one"))
    c1.ok("ENABLE IMAP4rev2")
    lines = c1.ok("SELECT INBOX")
    assert not any(b"RECENT" in ln for ln in lines)  # RFC 9051: no \Recent at all
    assert b"\\Recent" not in c1.ok("FETCH 1 FLAGS")[0]
    # As in Dovecot, a read-write SELECT takes recency whatever the protocol version.
    assert recent_line(c2.ok("SELECT INBOX")) == b"* 0 RECENT"


# -- items 2 and 9 (single session): keywords are announced before FETCH shows them -------------
def announced_before(lines: list[bytes], keyword: bytes) -> bool:
    """The first line naming ``keyword`` is an untagged FLAGS response."""
    first = next(ln for ln in lines if re.search(rb"[ (]" + re.escape(keyword) + rb"[ )]", ln))
    return first.startswith(b"* FLAGS (")


def test_new_keywords_are_announced_before_use(imap_server: RunningServer, three: Session,
                                               ) -> None:
    c1, c2, c3 = three
    c3.append("INBOX", message("one"))
    c1.ok("SELECT INBOX")
    c2.ok("SELECT INBOX")
    lines = c1.ok("STORE 1 +FLAGS ($Alpha)")  # by this session
    assert announced_before(lines, b"$Alpha")
    assert any(ln.startswith(b"* OK [PERMANENTFLAGS (") and b"$Alpha" in ln for ln in lines)
    assert announced_before(c2.ok("NOOP"), b"$Alpha")  # from another session, by the feed
    assert not any(ln.startswith(b"* FLAGS") for ln in c2.ok("FETCH 1 FLAGS"))  # only once
    c3.append("INBOX", message("two"), "$Beta")  # APPEND into the selected mailbox
    c2.ok("NOOP")
    assert announced_before(c2.ok("FETCH 2 FLAGS"), b"$Beta")
    # ... and in IDLE
    c2.send(b"I1 IDLE\r\n")
    assert c2.line() == b"+ idling"
    c1.ok("STORE 1 +FLAGS ($Gamma)")
    got = [c2.line(), c2.line(), c2.line()]
    assert got[0].startswith(b"* FLAGS (") and b"$Gamma" in got[0]
    assert got[1].startswith(b"* OK [PERMANENTFLAGS (") and b"$Gamma" in got[1]
    assert got[2].startswith(b"* 1 FETCH ") and b"$Gamma" in got[2]
    c2.send(b"DONE\r\n")
    assert c2.response("I1")[1] == b"I1 OK IDLE terminated"


def test_keyword_named_nil(client: RawImap) -> None:
    """RFC 9051 §4.5: NIL "is never used for any data item that takes the form of an atom"; a
    keyword is an atom, so a keyword NIL is the keyword NIL (Dovecot stores and shows it)."""
    client.append("INBOX", message())
    client.ok("SELECT INBOX")
    lines = client.ok("STORE 1 +FLAGS NIL")
    assert lines[0].startswith(b"* FLAGS (") and lines[0].endswith(b" NIL)")
    assert lines[-1] == b"* 1 FETCH (UID 1 FLAGS (NIL \\Recent))"


# -- item 3: BINARY ------------------------------------------------------------------------------
QP_PART = (b"hello  \r\nbar=\r\n\r\nfoo\t=\r\nbar\r\nfoo\t \t= \r\n=62\r\nfoo = \t\r\nbar\r\n"
           b"foo =\r\n=62\r\nfoo  \r\nbar=\r\n\r\nfoo_bar\r\n")
QP_MESSAGE = (b"From: user@domain.org\r\nMime-Version: 1.0\r\n"
              b"Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n"
              b"Content-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
              + QP_PART + b"\r\n--b--\r\n")
QP_DECODED = (b"hello\r\nbar\r\nfoo\tbar\r\nfoo\t \tb\r\nfoo bar\r\nfoo b\r\nfoo\r\nbar\r\n"
              b"foo_bar\r\n")


def fetched(c: RawImap, what: str) -> bytes:
    return b"".join(ln for ln in c.ok(what) if b" FETCH " in ln)


def test_binary_sections(client: RawImap) -> None:
    client.append("INBOX", QP_MESSAGE)
    client.ok("SELECT INBOX")
    whole = fetched(client, "FETCH 1 (BINARY.PEEK[] BINARY.SIZE[])")
    assert b"BINARY[] {%d}\r\n" % len(QP_MESSAGE) + QP_MESSAGE in whole  # header included
    assert b"BINARY.SIZE[] %d" % len(QP_MESSAGE) in whole
    assert fetched(client, "FETCH 1 BINARY.SIZE[1]") == b"* 1 FETCH (BINARY.SIZE[1] 65)"
    assert fetched(client, "FETCH 1 BINARY.PEEK[1]") == \
        b"* 1 FETCH (BINARY[1] {65}\r\n" + QP_DECODED + b")"
    # partial ranges count decoded octets (RFC 3516 §4.2)
    assert fetched(client, "FETCH 1 BINARY.PEEK[1]<10.10>") == \
        b"* 1 FETCH (BINARY[1]<10> {10}\r\n" + QP_DECODED[10:20] + b")"
    b64 = (b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n"
           b"\r\nYWJjAGRlZg==\r\n")
    client.append("INBOX", b64)
    assert fetched(client, "FETCH 2 BINARY.PEEK[1]") == \
        b"* 2 FETCH (BINARY[1] ~{7}\r\nabc\x00def)"  # a NUL: literal8 (RFC 3516 §4.3)
    assert fetched(client, "FETCH 2 BINARY.SIZE[1]") == b"* 2 FETCH (BINARY.SIZE[1] 7)"
    client.append("INBOX", b"Content-Transfer-Encoding: x-uuencode\r\n\r\nbegin\r\n")
    assert b"NO [UNKNOWN-CTE]" in client.cmd("FETCH 3 BINARY.PEEK[1]")[1]


# -- item 4: NUL octets -------------------------------------------------------------------------
def test_nul_content_never_goes_out_in_a_plain_literal(imap_server: RunningServer,
                                                       user: tuple[str, str],
                                                       client: RawImap) -> None:
    svc = imap_server.services
    data = b"From: a@b.example\r\nSubject: nul\r\n\r\nab\x00cd\r\n"
    principal = imap_server.call(svc.directory.authenticate(*user))
    assert principal is not None
    imap_server.call(svc.messages.append(principal, "INBOX", [(data, [], None)]))  # via SMTP
    client.ok("SELECT INBOX")
    body = fetched(client, "FETCH 1 BODY.PEEK[]")
    assert b"\x00" not in body and body.endswith(b"ab\x80cd\r\n)")  # one octet for one
    assert fetched(client, "FETCH 1 BODY.PEEK[TEXT]") == \
        b"* 1 FETCH (BODY[TEXT] {7}\r\nab\x80cd\r\n)"
    assert fetched(client, "FETCH 1 BINARY.PEEK[1]") == \
        b"* 1 FETCH (BINARY[1] ~{7}\r\nab\x00cd\r\n)"


def test_binary_append_is_stored_as_base64(client: RawImap) -> None:
    data = (b"From: user@domain.org\r\nMime-Version: 1.0\r\n"
            b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n"
            b"\r\n\x00\x01-\xff\r\n\r\n")
    client.send(b"A1 APPEND INBOX ~{%d+}\r\n" % len(data) + data + b"\r\n")
    assert client.response("A1")[1].startswith(b"A1 OK [APPENDUID ")
    client.ok("SELECT INBOX")
    body = fetched(client, "FETCH 1 BODY.PEEK[1]")
    assert b"\x00" not in body and b"\x80" not in body  # base64 (RFC 3516 §4.4, as Dovecot)
    assert fetched(client, "FETCH 1 (BINARY.SIZE[1] BINARY.PEEK[1])") == \
        b"* 1 FETCH (BINARY.SIZE[1] 8 BINARY[1] ~{8}\r\n\x00\x01-\xff\r\n\r\n)"


# -- item 5: CONDSTORE enabled by FETCH MODSEQ ----------------------------------------------------
def test_first_modseq_fetch_sends_highestmodseq(client: RawImap) -> None:
    client.append("INBOX", message())
    client.ok("SELECT INBOX")
    lines = client.ok("FETCH 1 MODSEQ")
    assert re.fullmatch(rb"\* OK \[HIGHESTMODSEQ \d+\] .*", lines[0])  # RFC 7162 §3.1
    assert re.fullmatch(rb"\* 1 FETCH \(MODSEQ \(\d+\)\)", lines[1])
    assert not any(b"HIGHESTMODSEQ" in ln for ln in client.ok("FETCH 1 MODSEQ"))


# -- item 6: addresses ---------------------------------------------------------------------------
ADDRESSED = [
    "From: user-from@domain.org\r\nTo: user-to@domain.org\r\nCc: user-cc@domain.org\r\n",
    "From: RealFrom <user-from@domain.org>\r\nTo: RealTo <user-to@domain.org>\r\n",
    "From: <user-from (comment)@ (comment) domain.org>\r\nTo: <user-to@domain.org>\r\n",
    "From: user-from@domain.org (RealFrom)\r\nTo: user-to@domain.org (RealTo)\r\n",
    "From: user-from1@domain.org, user-from2@domain.org\r\nCc: user-cc@domain.org\r\n",
    "From: RealFrom <user-from@domain.org>\r\nTo: groupname: groupuser1@domain.org, "
    "groupuser2@domain.org;,\r\n  groupname2: groupuser3@domain.org;\r\n",
    "From: RealFrom <user-from@domain.org>\r\nTo: groupname:;\r\n",
]


def test_search_and_envelope_on_addresses(client: RawImap) -> None:
    for i, header in enumerate(ADDRESSED, 1):
        client.append("INBOX", f"{header}Subject: m{i}\r\n\r\nbody{i}\r\n".encode())
    client.ok("SELECT INBOX")
    cases = {"FROM user-from@domain.org": b"1 2 3 4 6 7", "FROM realfrom": b"2 4 6 7",
             "FROM ser-fro": b"1 2 3 4 5 6 7", "FROM ealfro": b"2 4 6 7",
             "FROM user-from2": b"5", "TO user-to@domain.org": b"1 2 3 4",
             "TO realto": b"2 4", "TO groupname": b"6 7", "TO groupname2": b"6",
             "TO groupuser3": b"6", "TO groupuser4": b"", "CC user-cc": b"1 5",
             'HEADER TO ""': b"1 2 3 4 6 7"}
    for key, want in cases.items():
        assert client.ok(f"SEARCH {key}")[-1] == b"* SEARCH" + (b" " + want if want else b""), \
            key
    env = fetched(client, "FETCH 4 ENVELOPE")
    assert b'(("RealFrom" NIL "user-from" "domain.org"))' in env  # the comment names it
    env = fetched(client, "FETCH 6 ENVELOPE")
    assert (b'((NIL NIL "groupname" NIL)(NIL NIL "groupuser1" "domain.org")'
            b'(NIL NIL "groupuser2" "domain.org")(NIL NIL NIL NIL)'
            b'(NIL NIL "groupname2" NIL)(NIL NIL "groupuser3" "domain.org")(NIL NIL NIL NIL))'
            ) in env


def test_sort_on_addresses_and_display(client: RawImap) -> None:
    for frm, cc in (("user2@domain2.org", "user2@domain2.org (foo bar)"),
                    ("user2@domain1.org", "user2: blah@domain1.org;"),
                    ("user1@domain1.org", "user1@domain1.org")):
        client.append("INBOX", f"From: {frm}\r\nCc: {cc}\r\n\r\nx\r\n".encode())
    for to in ("foo bar <a@b.c>", "b@c.d", "=?iso-8859-1?q?foo_aar?= <e@f.g>", "empty:;"):
        client.append("INBOX", f"From: z@z.z\r\nTo: {to}\r\n\r\nx\r\n".encode())
    client.ok("SELECT INBOX")
    assert client.ok("SORT (CC) US-ASCII 1:3")[-1] == b"* SORT 3 1 2"  # RFC 5256 §3
    assert client.ok("SORT (REVERSE FROM) US-ASCII 1:3")[-1] == b"* SORT 1 2 3"
    assert client.ok("SORT (DISPLAYTO) US-ASCII 4:7")[-1] == b"* SORT 5 7 6 4"  # RFC 5957


# -- item 7: ESEARCH --------------------------------------------------------------------------
def test_esearch_beyond_exists_and_modseq(client: RawImap) -> None:
    for i in range(4):
        client.append("INBOX", message(f"m{i}"))
    client.ok("SELECT INBOX")
    tag_re = rb'\* ESEARCH \(TAG "T\d+"\)'
    assert re.fullmatch(tag_re, client.ok("SEARCH RETURN () 1000")[-1])
    assert re.fullmatch(tag_re + rb" COUNT 0", client.ok("SEARCH RETURN (COUNT) 1000")[-1])
    assert re.fullmatch(tag_re + rb" UID", client.ok("UID SEARCH RETURN (MIN) 1000")[-1])
    client.ok("NOOP")  # still connected
    modseq = {}
    for seq in (1, 3, 2, 4):  # each STORE gives its message a new, higher MODSEQ
        client.ok(f"STORE {seq} +FLAGS.SILENT (\\Seen)")
        line = next(ln for ln in client.ok(f"FETCH {seq} MODSEQ") if b"FETCH" in ln)
        modseq[seq] = int(re.search(rb"MODSEQ \((\d+)\)", line).group(1))  # type: ignore[union-attr]
    cases = {"MIN": modseq[1], "MAX": modseq[3], "ALL": max(modseq[s] for s in (1, 2, 3))}
    for ret, want in cases.items():
        line = client.ok(f'SEARCH RETURN ({ret}) 1:3 MODSEQ "/flags/\\\\seen" all 1')[-1]
        assert line.endswith(b" MODSEQ %d" % want), (ret, line)  # RFC 7162 §3.1.5


# -- item 10: names with "[", LIST-EXTENDED, THREAD ---------------------------------------------
def test_mailbox_names_with_brackets(client: RawImap) -> None:
    name = "!#$&'+,-.0123456789:;<=>?@^_`|[}"
    _, tagged = client.cmd(f"SELECT {name}")
    assert b" NO [NONEXISTENT] " in tagged  # an astring, not a section: NO, not BAD
    client.ok(f'LIST "" {name}%*')
    client.ok("CREATE a[b]c")
    assert client.ok('LIST "" a[b]c') == [b'* LIST (\\HasNoChildren) "/" "a[b]c"']
    client.ok("SELECT a[b]c")


def test_list_recursivematch_childinfo(client: RawImap) -> None:
    for name in ("m/test2/test1", "m/test7/test7", "m/test8/test8", "m/test8/test9"):
        client.ok(f"CREATE {name}")
        client.ok(f"SUBSCRIBE {name}")
    assert client.ok('LIST (SUBSCRIBED RECURSIVEMATCH) "" m/test2% RETURN (CHILDREN)') == [
        b'* LIST (\\HasChildren) "/" "m/test2" ("CHILDINFO" ("SUBSCRIBED"))']
    assert client.ok('LIST (SUBSCRIBED RECURSIVEMATCH) "" (m/test2 m/test2/test1)') == [
        b'* LIST (\\HasNoChildren \\Subscribed) "/" "m/test2/test1"']
    assert client.ok('LIST (SUBSCRIBED RECURSIVEMATCH) "" m*test7') == [
        b'* LIST (\\HasNoChildren \\Subscribed) "/" "m/test7/test7"']
    client.ok("CREATE gone/child")
    client.ok("SUBSCRIBE gone/child")
    client.ok("DELETE gone/child")
    client.ok("DELETE gone")  # now a subscribed name under a missing parent
    assert client.ok('LIST (SUBSCRIBED RECURSIVEMATCH) "" %') == [
        b'* LIST (\\NonExistent) "/" "gone" ("CHILDINFO" ("SUBSCRIBED"))',
        b'* LIST (\\HasChildren) "/" "m" ("CHILDINFO" ("SUBSCRIBED"))']
    assert b" BAD " in client.cmd('LIST (RECURSIVEMATCH REMOTE) "" %')[1]


def test_thread_references_loop(client: RawImap) -> None:
    for mid, refs, date in (("<a@b>", "", "17:06:23"), ("<b@b>", "<a@b> <c@b>", "15:06:23"),
                            ("<c@b>", "<b@b>", "16:06:25")):
        head = f"Message-ID: {mid}\r\nDate: Fri, 22 Feb 2008 {date} +0000\r\n"
        head += f"References: {refs}\r\n" if refs else ""
        client.append("INBOX", f"{head}\r\nbody\r\n".encode())
    client.ok("SELECT INBOX")
    assert client.ok("THREAD REFERENCES US-ASCII ALL")[-1] == b"* THREAD (3 2)(1)"


# -- item 11: rights -----------------------------------------------------------------------------
def test_rights_store_expunge_delete(imap_server: RunningServer) -> None:
    (a, pa), (b, pb) = imap_server.add_user("alice"), imap_server.add_user("bob")
    alice, bob = connect(imap_server, (a, pa)), connect(imap_server, (b, pb))
    alice.ok("CREATE Team")
    alice.ok("CREATE Team/Sub")
    alice.append("Team", message("t"))
    alice.ok(f"SETACL Team {b} lrs")
    bob.ok(f'SELECT "Other Users/{a}/Team"')
    # RFC 4314 §4: a STORE that may change one of its flags succeeds, and changes that one
    line = next(ln for ln in bob.ok("STORE 1 +FLAGS (\\Seen \\Flagged)") if b"FETCH" in ln)
    assert b"\\Seen" in line and b"\\Flagged" not in line
    _, tagged = bob.cmd("EXPUNGE")
    assert b"NO [NOPERM]" in tagged  # RFC 4314 §4: EXPUNGE needs e
    alice.ok(f"SETACL Team/Sub {b} lx")
    alice.append("Team/Sub", message("s"))
    bob.ok(f'DELETE "Other Users/{a}/Team/Sub"')  # x alone deletes (RFC 4314 §4)
    alice.close()
    bob.close()


# -- item 12: SEARCH nesting --------------------------------------------------------------------
def test_search_deep_nesting_is_bad_not_serverbug(client: RawImap) -> None:
    client.append("INBOX", message())
    client.ok("SELECT INBOX")
    _, tagged = client.cmd("SEARCH " + "NOT " * 1000 + "ALL")
    assert b" BAD " in tagged and b"nested deeper" in tagged
    _, tagged = client.cmd("SEARCH " + "OR ALL " * 1000 + "ALL")
    assert b" BAD " in tagged
    assert client.ok("SEARCH NOT NOT ALL")[-1] == b"* SEARCH 1"
