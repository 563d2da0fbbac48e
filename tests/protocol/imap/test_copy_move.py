"""APPEND COPY MOVE EXPUNGE (RFC 9051 §6.3.12, §6.4.3, §6.4.7–8; RFC 4315; RFC 6851;
RFC 3502 MULTIAPPEND; RFC 6855 UTF8 APPEND)."""

from __future__ import annotations

import re

from tests.protocol.imap.conftest import message
from tests.support.imapclient import RawImap


def test_append_variants(client: RawImap) -> None:
    tagged = client.append("Drafts", message("d1"), "\\Draft $Todo")
    assert re.match(rb"T\d+ OK \[APPENDUID \d+ 1\] APPEND completed", tagged)
    m = message("dated")
    _untagged, tagged = client.cmd(
        b'APPEND Drafts () "14-Jul-2020 02:44:25 -0700" {%d+}\r\n' % len(m) + m)
    assert b"OK [APPENDUID" in tagged
    client.ok("EXAMINE Drafts")
    assert client.ok("FETCH 2 INTERNALDATE") == [
        b'* 2 FETCH (INTERNALDATE "14-Jul-2020 09:44:25 +0000")']
    client.ok("UNSELECT")
    # MULTIAPPEND: two messages, one command, consecutive UIDs (RFC 3502)
    a, b = message("m1"), message("m2")
    _, tagged = client.cmd(b"APPEND Drafts {%d+}\r\n%s (\\Seen) {%d+}\r\n%s" %
                           (len(a), a, len(b), b))
    assert re.search(rb"\[APPENDUID \d+ 3:4\]", tagged)
    # RFC 6855 UTF8 form with a literal8
    _, tagged = client.cmd(b"APPEND Drafts UTF8 (~{%d+}\r\n%s)" % (len(a), a))
    assert b"OK [APPENDUID" in tagged
    assert b"NO [TRYCREATE]" in client.append("Nowhere", message())
    assert b" NO " in client.append("Drafts", b"")
    assert b" BAD " in client.cmd("APPEND Drafts (\\Seen)")[1]


def test_copy_and_move(client: RawImap) -> None:
    for i in range(4):
        client.append("INBOX", message(f"c{i}"), "\\Seen" if i == 0 else "")
    client.ok("CREATE Target")
    client.ok("SELECT INBOX")
    _, tagged = client.cmd("COPY 1:2 Target")
    assert re.match(rb"T\d+ OK \[COPYUID \d+ 1:2 1:2\] COPY completed", tagged)
    assert b"NO [TRYCREATE]" in client.cmd("COPY 1 Missing")[1]
    untagged, tagged = client.cmd("UID MOVE 2:3 Target")
    assert re.match(rb"\* OK \[COPYUID \d+ 2:3 3:4\]", untagged[0])
    assert untagged[1:] == [b"* 3 EXPUNGE", b"* 2 EXPUNGE"]
    assert tagged.endswith(b"OK MOVE completed")
    assert client.ok("FETCH 1:* UID") == [b"* 1 FETCH (UID 1)", b"* 2 FETCH (UID 4)"]
    assert b"MESSAGES 4" in client.ok("STATUS Target (MESSAGES)")[0]
    client.ok("SELECT Target")
    assert b"\\Seen" in client.ok("FETCH 1 FLAGS")[0]  # flags travel with the copy


def test_expunge_and_uid_expunge(client: RawImap) -> None:
    for i in range(5):
        client.append("INBOX", message(f"e{i}"))
    client.ok("SELECT INBOX")
    client.ok("STORE 2:4 +FLAGS.SILENT (\\Deleted)")
    assert client.ok("UID EXPUNGE 4:5") == [b"* 4 EXPUNGE"]  # only \Deleted in the set
    assert client.ok("EXPUNGE") == [b"* 3 EXPUNGE", b"* 2 EXPUNGE"]
    assert client.ok("FETCH 1:* UID") == [b"* 1 FETCH (UID 1)", b"* 2 FETCH (UID 5)"]


def test_qresync_vanished_on_expunge(client: RawImap) -> None:
    for i in range(3):
        client.append("INBOX", message(f"q{i}"))
    client.ok("ENABLE QRESYNC")
    untagged = client.ok("SELECT INBOX")
    uidvalidity = int(re.search(rb"UIDVALIDITY (\d+)", b"".join(untagged)).group(1))  # type: ignore[union-attr]
    modseq = int(re.search(rb"HIGHESTMODSEQ (\d+)", b"".join(untagged)).group(1))  # type: ignore[union-attr]
    client.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
    assert client.ok("EXPUNGE") == [b"* VANISHED 1"]
    client.ok("STORE 2 +FLAGS.SILENT (\\Flagged)")
    client.ok("UNSELECT")
    untagged = client.ok(f"SELECT INBOX (QRESYNC ({uidvalidity} {modseq} 1:3))")
    assert b"* VANISHED (EARLIER) 1" in untagged
    assert any(re.match(rb"\* 2 FETCH \(UID 3 FLAGS \(\\Flagged\) MODSEQ \(\d+\)\)", ln)
               for ln in untagged)
    lines = client.ok(f"UID FETCH 1:* (FLAGS) (CHANGEDSINCE {modseq} VANISHED)")
    assert lines[0] == b"* VANISHED (EARLIER) 1"
