"""The header block written after header edits (RFC 5293): fields the script did not touch
go out octet for octet as received (folds, tabs, 8-bit text), so DKIM signatures over them
survive and long lines stay folded; fields a script added are folded at blanks."""

from __future__ import annotations

from postroom.sieve.message import Envelope, Message, fold

RECEIVED = (b"Received: from a.example by b.example;\r\n\tFri, 4 Dec 2026 10:00:00 +0000\r\n"
            b"DKIM-Signature: v=1; a=rsa-sha256; c=simple/simple;\r\n h=from:subject;\r\n"
            b"  b=abcdef\r\n"
            b"Subject: caf\xe9 and more\r\n"
            b"References: <" + b"x" * 70 + b"@a>\r\n <" + b"y" * 70 + b"@a>\r\n"
            b"\r\n")


def _message(block: bytes) -> Message:
    return Message(block, size=len(block), envelope=Envelope("a@example.org", "b@x.test"))


def test_an_untouched_header_is_written_back_octet_for_octet() -> None:
    message = _message(RECEIVED)
    assert message.header_block() == RECEIVED


def test_after_an_edit_the_other_fields_keep_their_folds() -> None:
    message = _message(RECEIVED)
    message.fields.insert(0, ("X-Spam-Folder", "yes"))
    message.fields[:] = [f for f in message.fields if f[0] != "Subject"]
    message.edited = True
    block = message.header_block()
    assert block.startswith(b"X-Spam-Folder: yes\r\nReceived: from a.example by b.example;\r\n"
                            b"\tFri, 4 Dec 2026")
    assert b"DKIM-Signature: v=1; a=rsa-sha256; c=simple/simple;\r\n h=from:subject;\r\n" \
           b"  b=abcdef\r\n" in block
    assert b"Subject" not in block
    assert all(len(line) <= 998 for line in block.split(b"\r\n"))


def test_bare_line_feeds_are_written_as_crlf() -> None:
    message = _message(b"Subject: one\n two\nFrom: a@b\n\n")
    message.fields.append(("X-New", "1"))
    message.edited = True
    assert message.header_block() == b"Subject: one\r\n two\r\nFrom: a@b\r\nX-New: 1\r\n\r\n"


def test_added_fields_are_folded_at_blanks() -> None:
    folded = fold("X-Note", " ".join(["word"] * 40))
    lines = folded.split("\r\n")
    assert len(lines) > 1
    assert all(len(line) <= 78 for line in lines)
    assert all(line.startswith(" ") for line in lines[1:])
    assert "".join(lines) == "X-Note: " + " ".join(["word"] * 40)
    assert fold("X-Short", "value") == "X-Short: value"
