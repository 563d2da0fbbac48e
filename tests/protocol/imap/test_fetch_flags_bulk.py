"""``FETCH 1:* (FLAGS)`` and friends through the column path (cmd_fetch ``_light_lines``): every
line equals what the per-message path sends for the same message, keywords announced first
(RFC 3501 §7.2.6), ``\\Recent`` for a rev1 session (RFC 3501 §2.3.2), MODSEQ where asked
(RFC 7162 §3.1.4), and a run with a message another session expunged answered as before
(RFC 9051 §7.5.1: no EXPUNGE during FETCH; NO [EXPUNGEISSUED])."""

from __future__ import annotations

import re

from tests.protocol.imap.conftest import message
from tests.support.imapclient import RawImap
from tests.support.server import RunningServer

_SEQ = re.compile(rb"^\* (\d+) FETCH ")


def _fetches(lines: list[bytes]) -> dict[int, bytes]:
    out = {}
    for line in lines:
        m = _SEQ.match(line)
        if m:
            out[int(m.group(1))] = line
    return out


def _fill(c: RawImap, count: int = 12) -> None:
    for i in range(count):
        flags = ["\\Seen"] if i % 3 else []
        if i % 4 == 0:
            flags.append("\\Flagged")
        if i % 5 == 0:
            flags.append(f"$Tag{i % 2}")
        assert b" OK " in c.append("INBOX", message(f"m{i}"), " ".join(flags))


def _per_message(c: RawImap, count: int, items: str, uid: bool) -> dict[int, bytes]:
    """The same FETCH as sparse sets (odd, then even messages), which the column path
    leaves to the per-message path."""
    verb = "UID FETCH" if uid else "FETCH"
    odd = ",".join(str(n) for n in range(1, count + 1, 2))
    even = ",".join(str(n) for n in range(2, count + 1, 2))
    return _fetches(c.cmd(f"{verb} {odd} {items}")[0]) | \
        _fetches(c.cmd(f"{verb} {even} {items}")[0])


def test_column_path_lines_equal_per_message_lines(client: RawImap) -> None:
    _fill(client)
    client.ok("SELECT INBOX")
    client.ok("STORE 2 +FLAGS (\\Answered $New)")
    for items, uid in (("(FLAGS)", True), ("(FLAGS)", False), ("(FLAGS UID MODSEQ)", False),
                       ("(MODSEQ FLAGS)", True), ("(UID)", False), ("(FLAGS FLAGS)", True)):
        verb = "UID FETCH" if uid else "FETCH"
        bulk = _fetches(client.ok(f"{verb} 1:* {items}"))
        assert len(bulk) == 12
        assert bulk == _per_message(client, 12, items, uid), items
    line = _fetches(client.ok("FETCH 2 (FLAGS UID MODSEQ)"))[2]
    assert re.match(rb"^\* 2 FETCH \(FLAGS \(\\Seen \\Answered \$New \\Recent\) UID 2 "
                    rb"MODSEQ \(\d+\)\)$", line)


def test_new_keyword_is_announced_before_the_line_carrying_it(
        imap_server: RunningServer, client: RawImap, user: tuple[str, str]) -> None:
    _fill(client, 6)
    client.ok("SELECT INBOX")
    other = RawImap(imap_server.port("imap"))
    other.login(*user)
    other.ok("SELECT INBOX")
    other.ok("STORE 4 +FLAGS (Brandnew)")
    other.close()
    lines = client.ok("FETCH 1:* (FLAGS)")
    announce = next(i for i, ln in enumerate(lines)
                    if ln.startswith(b"* FLAGS (") and b"Brandnew" in ln)
    carrier = next(i for i, ln in enumerate(lines) if b"Brandnew" in ln and b" FETCH " in ln)
    assert announce < carrier


def test_recent_shows_in_a_rev1_session(imap_server: RunningServer, client: RawImap,
                                        user: tuple[str, str]) -> None:
    _fill(client, 4)
    other = RawImap(imap_server.port("imap"))
    other.login(*user)
    other.ok("SELECT INBOX")  # 1-4 are recent for that session, not this one
    other.ok("UNSELECT")
    client.ok("SELECT INBOX")
    assert b" OK " in other.append("INBOX", message("late"), "\\Seen")
    other.close()
    client.ok("NOOP")  # 5 arrives, \Recent for this session
    bulk = _fetches(client.ok("FETCH 1:* (FLAGS)"))
    assert b"\\Recent" in bulk[5] and all(b"\\Recent" not in bulk[n] for n in range(1, 5))
    assert bulk == _per_message(client, 5, "(FLAGS)", False)


def test_expunged_by_another_session_mid_run(imap_server: RunningServer, client: RawImap,
                                             user: tuple[str, str]) -> None:
    _fill(client, 6)
    client.ok("SELECT INBOX")
    other = RawImap(imap_server.port("imap"))
    other.login(*user)
    other.ok("SELECT INBOX")
    other.ok("STORE 3 +FLAGS.SILENT (\\Deleted)")
    other.ok("EXPUNGE")
    other.close()
    untagged, tagged = client.cmd("FETCH 1:* (FLAGS)")
    assert b"NO [EXPUNGEISSUED]" in tagged
    got = _fetches(untagged)
    assert sorted(got) == [1, 2, 4, 5, 6] and all(b"EXPUNGE" not in ln for ln in untagged)
    assert got == {k: v for k, v in _per_message(client, 6, "(FLAGS)", False).items()
                   if k != 3}
