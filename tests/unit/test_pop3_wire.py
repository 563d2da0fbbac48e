"""POP3 wire helpers on bytes alone: command parsing, byte-stuffing across chunk boundaries,
TOP, reply clipping (RFC 1939 §3, §7; RFC 2449 §4)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from postroom.protocols.pop3.wire import Pop3SyntaxError, clip, number, parse_command, stuff, top


def test_parse_command() -> None:
    cmd = parse_command(b"pass two words \r\n")
    assert (cmd.verb, cmd.args, cmd.rest) == ("PASS", ["two", "words", ""], "two words ")
    assert parse_command(b"UTF8\r\n").verb == "UTF8"
    for bad in (b"\r\n", b"AB\r\n", b"ABCDE\r\n", b"L1S!\r\n", b"\xff\r\n", b"LIST\x01\r\n",
                b"LIST\x7f\r\n"):
        with pytest.raises(Pop3SyntaxError):
            parse_command(bad)


def test_number() -> None:
    assert number("42") == 42
    for bad in ("", "-1", "+1", "1.0", "٣", "12345678901", " 1"):
        with pytest.raises(Pop3SyntaxError):
            number(bad)


def unstuff(data: bytes) -> bytes:
    lines = data.split(b"\n")
    return b"\n".join(line[1:] if line.startswith(b".") else line for line in lines)


@given(st.lists(st.sampled_from([b".", b"\r\n", b"a", b"..", b"\n", b"\r\n.", b"x\r\n"]),
                max_size=40), st.data())
def test_stuff_round_trips_over_any_split(parts: list[bytes], data: st.DataObject) -> None:
    message = b"".join(parts)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(message)), max_size=5)))
    chunks = [message[a:b] for a, b in zip([0, *cuts], [*cuts, len(message)], strict=True)]
    out = b""
    at_start = True
    for chunk in chunks:
        piece, at_start = stuff(chunk, at_start)
        out += piece
    assert unstuff(out) == message
    assert b"\n.\r\n" not in out and not out.startswith(b".\r\n")  # never a premature end


def test_top() -> None:
    msg = b"A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\nl3\r\n"
    assert top(msg, 0) == b"A: 1\r\nB: 2\r\n\r\n"
    assert top(msg, 2) == b"A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\n"
    assert top(msg, 9) is None  # more lines asked than held: the caller sends it whole
    assert top(b"A: 1\r\nB: 2", 0) is None
    assert top(b"A: 1\n\nbody\n", 1) == b"A: 1\n\nbody\n"


def test_clip_keeps_replies_within_512_octets() -> None:
    assert clip("short") == "short"
    long = "é" * 600
    assert len(clip(long).encode()) <= 510


def test_every_command_has_a_handler() -> None:
    from postroom.protocols.pop3.session import (
        ANY_STATE,
        AUTH_COMMANDS,
        TRANSACTION_COMMANDS,
        Pop3Session,
    )
    for verb in AUTH_COMMANDS | TRANSACTION_COMMANDS | ANY_STATE:
        assert callable(getattr(Pop3Session, "cmd_" + verb.lower(), None)), verb
