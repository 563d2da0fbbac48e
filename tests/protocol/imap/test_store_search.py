"""STORE and SEARCH (RFC 9051 §6.4.4, §6.4.6; RFC 4731 ESEARCH; RFC 5182 SEARCHRES;
RFC 7162 CONDSTORE; specs.md §1.7–1.8)."""

from __future__ import annotations

import re

import pytest

from tests.protocol.imap.conftest import message
from tests.support.imapclient import RawImap


@pytest.fixture
def box(client: RawImap) -> RawImap:
    client.append("INBOX", message("Meeting agenda", body="Lunch at noon, café\r\n",
                                   sender="Carol <carol@example.org>"))
    client.append("INBOX", message("Invoice", body="Please pay 100 EUR\r\n",
                                   extra="X-Priority: 1\r\n"), "\\Seen")
    client.append("INBOX", message("Re: Meeting", body="ok\r\n" + "z" * 5000 + "\r\n"),
                  "\\Flagged $Work")
    client.ok("SELECT INBOX")
    return client


def search(c: RawImap, text: str) -> bytes:
    return c.ok(text)[-1]


def test_store_forms(box: RawImap) -> None:
    # A new keyword is announced (FLAGS, PERMANENTFLAGS) before the FETCH that shows it
    # (RFC 3501 §7.2.6); the three messages are \Recent in this, the first, SELECT.
    flags, perm, fetched = box.ok("STORE 1 +FLAGS (\\Answered $Later)")
    assert flags.startswith(b"* FLAGS (\\Answered ") and flags.endswith(b" $Later)")
    assert perm.startswith(b"* OK [PERMANENTFLAGS (") and b" $Later \\*)]" in perm
    assert fetched == b"* 1 FETCH (UID 1 FLAGS (\\Answered $Later \\Recent))"
    assert box.ok("STORE 1 -FLAGS ($Later)") == [
        b"* 1 FETCH (UID 1 FLAGS (\\Answered \\Recent))"]
    assert box.ok("STORE 1 FLAGS (\\Draft)") == [b"* 1 FETCH (UID 1 FLAGS (\\Draft \\Recent))"]
    assert box.ok("STORE 1:2 +FLAGS.SILENT \\Flagged") == []
    assert box.ok("UID STORE 2 FLAGS.SILENT ()") == []
    assert box.ok("FETCH 1:2 FLAGS") == [b"* 1 FETCH (FLAGS (\\Flagged \\Draft \\Recent))",
                                         b"* 2 FETCH (FLAGS (\\Recent))"]
    assert b" BAD " in box.cmd("STORE 1 +FLAGS (\\Bogus)")[1] or \
        b" NO " in box.cmd("STORE 1 +FLAGS (\\Bogus)")[1]
    assert b" BAD " in box.cmd("STORE 1 XFLAGS (\\Seen)")[1]


def test_condstore_unchangedsince(box: RawImap) -> None:
    lines = [ln for ln in box.ok("FETCH 1:3 (MODSEQ)") if b" FETCH " in ln]
    modseqs = [int(re.search(rb"MODSEQ \((\d+)\)", ln).group(1)) for ln in lines]  # type: ignore[union-attr]
    box.ok("STORE 3 +FLAGS.SILENT (\\Seen)")
    _, tagged = box.cmd(f"STORE 1:3 (UNCHANGEDSINCE {max(modseqs)}) +FLAGS.SILENT (\\Deleted)")
    assert b"OK [MODIFIED 3]" in tagged
    lines = [ln for ln in box.ok(f"FETCH 1:3 (FLAGS) (CHANGEDSINCE {max(modseqs)})")
             if b" FETCH " in ln]
    assert len(lines) == 3 and all(b"MODSEQ (" in ln for ln in lines)


def test_search_keys(box: RawImap) -> None:
    assert search(box, "SEARCH ALL") == b"* SEARCH 1 2 3"
    assert search(box, "SEARCH SEEN") == b"* SEARCH 2"
    assert search(box, "SEARCH UNSEEN") == b"* SEARCH 1 3"
    assert search(box, "SEARCH FLAGGED KEYWORD $Work") == b"* SEARCH 3"
    assert search(box, "SEARCH UNKEYWORD $Work") == b"* SEARCH 1 2"
    assert search(box, "SEARCH SUBJECT meeting") == b"* SEARCH 1 3"
    assert search(box, "SEARCH FROM carol") == b"* SEARCH 1"
    assert search(box, "SEARCH TO bob") == b"* SEARCH 1 2 3"
    assert search(box, "SEARCH HEADER X-Priority 1") == b"* SEARCH 2"
    assert search(box, "SEARCH BODY eur") == b"* SEARCH 2"
    assert search(box, "SEARCH TEXT meeting") == b"* SEARCH 1 3"
    assert search(box, 'SEARCH CHARSET UTF-8 BODY "café"') == b"* SEARCH 1"
    assert search(box, b"SEARCH CHARSET UTF-8 BODY {5+}\r\nCAF\xc3\xa9".decode()) == \
        b"* SEARCH 1"
    # Unicode case folding on the scan path too (SQLite's LIKE folds ASCII only).
    assert search(box, b"SEARCH CHARSET UTF-8 BODY {5+}\r\nCAF\xc3\x89".decode()) == \
        b"* SEARCH 1"
    assert search(box, b"SEARCH CHARSET UTF-8 BODY {2+}\r\n\xc3\x89".decode()) == \
        b"* SEARCH 1"
    assert search(box, "SEARCH LARGER 4000") == b"* SEARCH 3"
    assert search(box, "SEARCH SMALLER 4000") == b"* SEARCH 1 2"
    assert search(box, "SEARCH OR SEEN FLAGGED") == b"* SEARCH 2 3"
    assert search(box, "SEARCH NOT (SEEN)") == b"* SEARCH 1 3"
    assert search(box, "SEARCH 2:*") == b"* SEARCH 2 3"
    assert search(box, "UID SEARCH UID 2:3 UNSEEN") == b"* SEARCH 3"
    assert search(box, "SEARCH SENTON 7-Feb-1994") == b"* SEARCH 1 2 3"
    assert search(box, "SEARCH SENTBEFORE 1-Jan-1990") == b"* SEARCH"
    assert search(box, "SEARCH SINCE 1-Jan-2000") == b"* SEARCH 1 2 3"
    assert search(box, "SEARCH BEFORE 1-Jan-2000") == b"* SEARCH"
    assert search(box, "SEARCH YOUNGER 3600") == b"* SEARCH 1 2 3"
    # \Recent: this session's SELECT was the first since delivery (RFC 3501 §2.3.2)
    assert search(box, "SEARCH NEW") == b"* SEARCH 1 3"
    assert search(box, "SEARCH RECENT") == b"* SEARCH 1 2 3"
    assert search(box, "SEARCH OLD") == b"* SEARCH"


def test_search_errors(box: RawImap) -> None:
    _, tagged = box.cmd("SEARCH CHARSET KOI8-R ALL")
    assert b"NO [BADCHARSET (US-ASCII UTF-8)]" in tagged
    assert b" BAD " in box.cmd("SEARCH BOGUS")[1]
    assert b" BAD " in box.cmd("SEARCH")[1]
    # a seqnum beyond EXISTS matches nothing (RFC 4731 §3.1, as Dovecot answers)
    assert box.ok("SEARCH 9") == [b"* SEARCH"]
    assert b" BAD " in box.cmd("SEARCH SINCE 31-Foo-2000")[1]


def test_esearch_and_searchres(box: RawImap) -> None:
    tag_line = box.ok("SEARCH RETURN (MIN MAX COUNT ALL) UNSEEN")
    assert re.match(rb'\* ESEARCH \(TAG "T\d+"\) MIN 1 MAX 3 COUNT 2 ALL 1,3$', tag_line[0])
    assert re.match(rb'\* ESEARCH \(TAG "T\d+"\) UID COUNT 0$',
                    box.ok("UID SEARCH RETURN (COUNT) SUBJECT nothing-like-this")[0])
    assert box.ok("SEARCH RETURN (SAVE) FLAGGED") == []
    assert box.ok("FETCH $ (FLAGS)")[-1] == b"* 3 FETCH (FLAGS (\\Flagged $Work \\Recent))"
    assert search(box, "SEARCH $") == b"* SEARCH 3"


def test_rev2_searches_answer_esearch(box: RawImap) -> None:
    box.ok("UNSELECT")
    box.ok("ENABLE IMAP4rev2")
    box.ok("SELECT INBOX")
    assert re.match(rb'\* ESEARCH \(TAG "T\d+"\) ALL 1:3$', box.ok("SEARCH ALL")[0])
    assert re.match(rb'\* ESEARCH \(TAG "T\d+"\)$', box.ok("SEARCH DELETED")[0])


def test_search_modseq(box: RawImap) -> None:
    box.ok("STORE 2 +FLAGS.SILENT (\\Answered)")
    line = search(box, "SEARCH MODSEQ 1")
    assert re.match(rb"\* SEARCH 1 2 3 \(MODSEQ \d+\)$", line)
