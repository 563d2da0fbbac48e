"""SELECT EXAMINE CLOSE UNSELECT STATUS ENABLE (RFC 9051 §6.3.1–2, §6.3.11, §6.4.1–2;
RFC 3501 §6.3.1; RFC 5161)."""

from __future__ import annotations

import re

from tests.protocol.imap.conftest import message
from tests.support.imapclient import RawImap


def test_select_rev1(client: RawImap) -> None:
    client.append("INBOX", message("one"))
    client.append("INBOX", message("two"), "\\Seen")
    untagged, tagged = client.cmd("SELECT INBOX")
    text = b"\n".join(untagged)
    assert b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft" in text
    # RFC 3501 §2.3.2: the first read-write SELECT after delivery sees both as \Recent
    assert b"* 2 EXISTS" in untagged and b"* 2 RECENT" in untagged
    assert b"* OK [UNSEEN 1] First unseen" in untagged
    assert re.search(rb"\* OK \[PERMANENTFLAGS \([^)]*\\\*\)\]", text)
    assert re.search(rb"\* OK \[UIDVALIDITY \d+\]", text)
    assert b"* OK [UIDNEXT 3] Predicted next UID" in untagged
    assert tagged == b"T4 OK [READ-WRITE] SELECT completed"


def test_select_rev2(client: RawImap) -> None:
    assert client.ok("ENABLE IMAP4rev2") == [b"* ENABLED IMAP4rev2"]
    untagged, _tagged = client.cmd("SELECT inbox")
    assert b'* LIST () "/" "INBOX"' in untagged  # RFC 9051 §6.3.2: required
    assert not any(b"RECENT" in u or b"UNSEEN" in u for u in untagged)
    untagged, _ = client.cmd("SELECT Sent")
    assert untagged[0] == b"* OK [CLOSED] Previous mailbox closed"


def test_examine_is_read_only(client: RawImap) -> None:
    client.append("INBOX", message())
    untagged, tagged = client.cmd("EXAMINE INBOX")
    assert tagged.endswith(b"OK [READ-ONLY] EXAMINE completed")
    assert b"* OK [PERMANENTFLAGS ()] Flags permitted" in untagged
    assert b" NO " in client.cmd("STORE 1 +FLAGS (\\Seen)")[1]
    assert b" NO " in client.cmd("EXPUNGE")[1]
    client.ok("FETCH 1 BODY[]")
    assert b"\\Seen" not in b"".join(client.ok("FETCH 1 FLAGS"))  # no \Seen from EXAMINE


def test_select_missing_leaves_nothing_selected(client: RawImap) -> None:
    client.ok("SELECT INBOX")
    _, tagged = client.cmd("SELECT Nope")
    assert tagged == b"T3 NO [NONEXISTENT] Mailbox doesn't exist: Nope"
    assert b" BAD " in client.cmd("FETCH 1 FLAGS")[1]


def test_close_expunges_unselect_does_not(client: RawImap) -> None:
    for i in range(3):
        client.append("INBOX", message(f"m{i}"))
    client.ok("SELECT INBOX")
    client.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
    untagged = client.ok("UNSELECT")
    assert untagged == []
    client.ok("SELECT INBOX")
    assert client.ok("CLOSE") == []  # silently
    untagged = client.ok("SELECT INBOX")
    assert b"* 2 EXISTS" in untagged


def test_status(client: RawImap) -> None:
    client.append("Archive", message("a"), "\\Seen")
    client.append("Archive", message("b"), "\\Deleted")
    untagged = client.ok("STATUS Archive (MESSAGES UNSEEN UIDNEXT SIZE DELETED RECENT "
                         "HIGHESTMODSEQ APPENDLIMIT UIDVALIDITY)")
    line = untagged[0].decode()
    assert line.startswith('* STATUS "Archive" (MESSAGES 2 UNSEEN 1 UIDNEXT 3 SIZE ')
    # RECENT: nobody has selected Archive since both arrived (RFC 3501 §6.3.10)
    assert "DELETED 1 RECENT 2 HIGHESTMODSEQ" in line and "APPENDLIMIT 52428800" in line
    assert b"NO [NONEXISTENT]" in client.cmd("STATUS Missing (MESSAGES)")[1]
    assert b" BAD " in client.cmd("STATUS Archive (BOGUS)")[1]


def test_enable_reports_only_new(client: RawImap) -> None:
    assert client.ok("ENABLE CONDSTORE X-UNKNOWN") == [b"* ENABLED CONDSTORE"]
    assert client.ok("ENABLE CONDSTORE QRESYNC") == [b"* ENABLED QRESYNC"]
    client.ok("SELECT INBOX")
    assert b" BAD " in client.cmd("ENABLE UTF8=ACCEPT")[1]  # RFC 5161: authenticated only
