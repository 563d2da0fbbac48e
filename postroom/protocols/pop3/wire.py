"""POP3 wire helpers, sans I/O: command parsing, byte-stuffing, TOP (RFC 1939, RFC 2449).

Kept apart from the session so that each piece can be tested (and fuzzed) on bytes alone.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_REPLY = 512  # RFC 2449 §4: a response line is at most 512 octets, CRLF included
MAX_NUMBER_DIGITS = 10


class Pop3SyntaxError(Exception):
    """The command line cannot be understood; the text goes back after ``-ERR``."""


@dataclass(frozen=True, slots=True)
class Command:
    verb: str
    args: list[str]
    rest: str  # everything after the verb and one space (PASS takes it whole)


def parse_command(line: bytes) -> Command:
    """``keyword [SP arg]*`` (RFC 1939 §3). Keywords are case-insensitive, 3–4 letters; a
    line that is not UTF-8 or holds control characters is refused rather than guessed at."""
    text = line.rstrip(b"\r\n")
    try:
        s = text.decode("utf-8")
    except UnicodeDecodeError:
        raise Pop3SyntaxError("Command is not valid UTF-8") from None
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in s):
        raise Pop3SyntaxError("Control characters in command")
    if not s:
        raise Pop3SyntaxError("Empty command")
    verb, _, rest = s.partition(" ")
    if not verb.isascii() or not verb.isalnum() or not 3 <= len(verb) <= 4:
        raise Pop3SyntaxError("Unknown command")
    args = rest.split(" ") if rest else []
    return Command(verb.upper(), args, rest)


def number(text: str, what: str = "message number") -> int:
    """A decimal argument: digits only, no sign, at most 10 digits."""
    if not text.isascii() or not text.isdigit() or len(text) > MAX_NUMBER_DIGITS:
        raise Pop3SyntaxError(f"Invalid {what}")
    return int(text)


def stuff(chunk: bytes, at_line_start: bool) -> tuple[bytes, bool]:
    """Byte-stuff one piece of a multi-line response (RFC 1939 §3): a line that starts with
    ``.`` gets another ``.``. ``at_line_start`` says whether the previous piece ended a line;
    returns the stuffed piece and whether this one ends a line."""
    if not chunk:
        return chunk, at_line_start
    out = chunk.replace(b"\n.", b"\n..")
    if at_line_start and out[:1] == b".":
        out = b"." + out
    return out, out.endswith(b"\n")


def top(data: bytes, lines: int) -> bytes | None:
    """The header, the blank line and the first ``lines`` body lines (RFC 1939 §7 TOP), or
    None when ``data`` does not yet hold all of that (the caller reads more, or it is the
    whole message)."""
    end = data.find(b"\r\n\r\n")
    sep = 4
    if end < 0:
        lf = data.find(b"\n\n")
        if lf < 0:
            return None
        end, sep = lf, 2
    pos = end + sep
    for _ in range(lines):
        nl = data.find(b"\n", pos)
        if nl < 0:
            return None
        pos = nl + 1
    return data[:pos]


def clip(text: str, room: int = MAX_REPLY - 2) -> str:
    """Shorten a reply line so that, with CRLF, it fits in 512 octets (RFC 2449 §4)."""
    raw = text.encode("utf-8")
    if len(raw) <= room:
        return text
    return raw[: room - 3].decode("utf-8", "ignore") + "..."
