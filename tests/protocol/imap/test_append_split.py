"""APPEND framing, whatever way the bytes arrive (issue 19: "BAD invalid date-time 'From: …'").

Every APPEND form (with and without flags and date-time, MULTIAPPEND, synchronising and
non-synchronising literals, a literal8) is cut at every octet position and sent in two writes
with a pause between them, so that the server reads the command line, the literal and what
follows the literal in separate reads. A synchronising literal's data is only sent after the
server's "+". Each command must be answered OK and each message stored octet for octet. The
messages hold CRLFs and lines that look like IMAP (tags, "OK", literal markers, parentheses).

The root cause this guards: the tokeniser returned quoted strings and literals as the same
type, and APPEND took any string followed by another string for a date-time, so the first
message of a MULTIAPPEND without flags or date was parsed as a date. Framing was never at
fault: these splits pass for single APPENDs before and after the fix.
"""

from __future__ import annotations

import itertools
import re
import socket
import time

from tests.support.imapclient import RawImap
from tests.support.server import RunningServer

MSG_A = (b"From: a@b.example\r\nSubject: looks like IMAP\r\n\r\nA1 OK {3}\r\n"
         b"* 1 FETCH (FLAGS (\\Seen))\r\n)\r\n{5+}\r\n\r\n")
MSG_B = b"From: c@d.example\r\n\r\nB2 APPEND INBOX {10}\r\n\"07-Feb-1994 21:52:25 -0800\""
MSG_C = b"Subject: c\r\n\r\n\r\n.\r\n"


def _lit(data: bytes, sync: bool, binary: bool = False) -> tuple[bytes, bytes, bool]:
    head = b"%s{%d%s}\r\n" % (b"~" if binary else b"", len(data), b"" if sync else b"+")
    return head, data, sync


# Each form: the command after "tag APPEND ", as (text before a literal, the literal, whether
# it synchronises) pieces, then the text closing the command; and the messages it stores.
FORMS: dict[str, tuple[list[tuple[bytes, tuple[bytes, bytes, bool]]], list[bytes]]] = {
    "plain non-sync": ([(b'"INBOX" ', _lit(MSG_A, False))], [MSG_A]),
    "flags non-sync": ([(b'"INBOX" (\\Seen) ', _lit(MSG_A, False))], [MSG_A]),
    "flags date sync": ([(b'INBOX (\\Seen $Label) "07-Feb-1994 21:52:25 -0800" ',
                          _lit(MSG_B, True))], [MSG_B]),
    "multiappend bare": ([(b"INBOX ", _lit(MSG_A, False)), (b" ", _lit(MSG_B, False))],
                         [MSG_A, MSG_B]),
    "multiappend mixed": ([(b"INBOX ", _lit(MSG_B, True)),
                           (b' (\\Flagged) "01-Jan-2020 00:00:00 +0000" ', _lit(MSG_A, False)),
                           (b" ", _lit(MSG_C, True))], [MSG_B, MSG_A, MSG_C]),
    "literal8": ([(b'INBOX "07-Feb-1994 21:52:25 -0800" ', _lit(MSG_C, False, True))],
                 [MSG_C]),
}


def _build(tag: bytes, form: str) -> tuple[bytes, set[int]]:
    """The whole command, and the offsets where a client must wait for "+" to go on."""
    pieces, _ = FORMS[form]
    out = tag + b" APPEND "
    waits: set[int] = set()
    for text, (head, data, sync) in pieces:
        out += text + head
        if sync:
            waits.add(len(out))
        out += data
    return out + b"\r\n", waits


def _send_split(c: RawImap, cmd: bytes, waits: set[int], cut: int) -> None:
    """Send ``cmd`` in pieces: at ``cut`` with a pause, and at each wait point after "+"."""
    bounds = sorted({0, cut, len(cmd), *waits})
    for lo, hi in itertools.pairwise(bounds):
        if lo in waits:
            assert c.line().startswith(b"+ "), "expected a continuation request"
        elif lo:
            time.sleep(0.002)  # a separate read on the server
        c.send(cmd[lo:hi])


def test_append_split_at_every_octet(imap_server: RunningServer, user: tuple[str, str],
                                     ) -> None:
    c = RawImap(imap_server.port("imap"))
    c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    c.login(*user)
    stored: list[tuple[int, bytes]] = []
    n = 0
    for form, (_, messages) in FORMS.items():
        size = len(_build(b"S00000", form)[0])
        for cut in range(1, size):
            n += 1
            tag = b"S%05d" % n  # one width: every command has the length ``size``
            cmd, waits = _build(tag, form)
            _send_split(c, cmd, waits, cut)
            _, tagged = c.response(tag.decode())
            assert tagged.startswith(tag + b" OK [APPENDUID "), (form, cut, tagged)
            m = re.search(rb"APPENDUID \d+ ([\d:,]+)\]", tagged)
            assert m is not None
            uids = _expand(m.group(1).decode())
            assert len(uids) == len(messages), (form, cut, tagged)
            stored.extend(zip(uids, messages, strict=True))
    assert n > 900  # every cut of every form
    c.ok("SELECT INBOX")
    for uid, want in stored:  # stored octet for octet
        lines = c.ok(f"UID FETCH {uid} BODY.PEEK[]")
        assert len(lines) == 1 and lines[0].endswith(
            b"(UID %d BODY[] {%d}\r\n%s)" % (uid, len(want), want)), uid
    c.close()


def _expand(text: str) -> list[int]:
    out: list[int] = []
    for piece in text.split(","):
        lo, _, hi = piece.partition(":")
        out.extend(range(int(lo), int(hi or lo) + 1))
    return out
