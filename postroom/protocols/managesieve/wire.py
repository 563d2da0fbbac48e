"""ManageSieve wire format, sans I/O: commands in, responses out (RFC 5804 §4).

A command arrives as one byte string: its lines with their CRLF and every literal's octets in
place, exactly as the client sent them (the session's framer decides where a command ends and
enforces the size limits before anything is buffered; this module never waits for input).
``parse_command`` turns it into the command name and its arguments:

- ``Atom``    a bare word: the command name, a number (HAVESPACE's size), ``ACTIVE``,
- ``bytes``   a string, quoted or literal (RFC 5804 §4 ``string``), its octets as sent.

RFC 5804 §4 gives the client only the non-synchronising literal ``{n+}``; ``{n}`` is taken the
same way, as Dovecot's Pigeonhole does, because ManageSieve has no continuation response for a
client to wait for: the octets follow the line at once either way.

Going out, ``string_out`` picks the form: a quoted string when the value is short and holds no
CR, LF or NUL (§4 ``quoted``: at most 1024 octets between the quotes), else a literal ``{n}``.
Human-readable texts (``text_out``) are always quoted, folded to one line and clipped, because
clients read the text of an OK or NO from the same line (sievelib reads no literal after OK).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_QUOTED = 1024  # octets between the quotes of a quoted string (RFC 5804 §4)
MAX_NUMBER = (1 << 32) - 1  # RFC 5804 §4: number = 1*DIGIT, "0 <= number < 4,294,967,296"
MAX_ARGS = 16  # no command takes more than three; more is garbage, not a command


class WireError(Exception):
    """The command cannot be understood; the text goes back after ``NO``."""


class Atom(str):
    """A bare word on the wire (not a string): command names, numbers, ``ACTIVE``."""


Arg = Atom | bytes


@dataclass(frozen=True, slots=True)
class Command:
    name: str  # upper case
    args: list[Arg]


@dataclass(frozen=True, slots=True)
class LiteralMark:
    """A literal announced at the end of a line: ``{n+}`` or ``{n}``, and its size."""

    size: int
    sync: bool


# {n} or {n+} closing a line; more than 19 digits is no size anyone sends, so the framer is
# handed an impossible size and refuses it (never a huge int from a hostile digit string)
_LITERAL_END = re.compile(rb"\{(\d+)(\+?)\}\r?\n\Z")
_MAX_DIGITS = 19


def literal_at_end(line: bytes) -> LiteralMark | None:
    """The literal a line announces at its end, if any (RFC 5804 §4 ``literal-c2s``)."""
    m = _LITERAL_END.search(line[-64:])
    if not m:
        return None
    digits = m.group(1)
    size = int(digits) if len(digits) <= _MAX_DIGITS else 1 << 63
    return LiteralMark(size, not m.group(2))


def command_name(data: bytes) -> str:
    """The command word of a (possibly incomplete or refused) command, upper case; "" when
    the line does not start with one. Used to word a refusal (PUTSCRIPT's QUOTA/MAXSIZE)."""
    m = re.match(rb"[A-Za-z]{1,20}(?=[ \r\n]|\Z)", data)
    return m.group(0).decode().upper() if m else ""


_ATOM_STOP = frozenset(b' (){"\\\r\n') | frozenset(range(0, 32)) | {127}


def parse_command(raw: bytes) -> Command:
    """Tokenise one whole command (RFC 5804 §4 ``command``); WireError when it is not one."""
    args = parse_args(raw)
    if not args or not isinstance(args[0], Atom):
        raise WireError("Expected a command name")
    return Command(args[0].upper(), args[1:])


def parse_args(raw: bytes) -> list[Arg]:
    """Every token of one CRLF-terminated line with its literals in place (a command, or a
    client's SASL response, RFC 5804 §2.1)."""
    args: list[Arg] = []
    pos, end = 0, len(raw)
    while True:
        while pos < end and raw[pos] == 0x20:
            pos += 1
        if pos >= end:
            raise WireError("Command not terminated by CRLF")
        c = raw[pos]
        if c in (0x0D, 0x0A):
            rest = raw[pos:]
            if rest not in (b"\r\n", b"\n"):
                raise WireError("Garbage after the end of the command")
            break
        if len(args) >= MAX_ARGS:
            raise WireError("Too many arguments")
        if c == 0x22:  # "
            value, pos = _quoted(raw, pos + 1)
            args.append(value)
        elif c == 0x7B:  # {
            value, pos = _literal(raw, pos)
            args.append(value)
        else:
            start = pos
            while pos < end and raw[pos] not in _ATOM_STOP:
                pos += 1
            if pos == start:
                raise WireError(f"Unexpected character {chr(c)!r}" if 32 < c < 127
                                else "Unexpected control character")
            word = raw[start:pos]
            if not word.isascii():
                raise WireError("Non-ASCII outside a string: quote it")
            args.append(Atom(word.decode("ascii")))
        if pos < end and raw[pos] not in (0x20, 0x0D, 0x0A):
            raise WireError("Arguments must be separated by a space")
    return args


def _quoted(raw: bytes, pos: int) -> tuple[bytes, int]:
    """A quoted string from just after its opening quote: ``\\`` escapes only ``"`` and ``\\``
    (RFC 5804 §4 QUOTED-SPECIALS); CR, LF and NUL may not appear (SAFE-CHAR). The 1024-octet
    bound of §4 is not enforced on what clients send: the line limit bounds it, and a client
    that quotes a long value means no harm."""
    out = bytearray()
    end = len(raw)
    while pos < end:
        c = raw[pos]
        if c == 0x22:
            return bytes(out), pos + 1
        if c == 0x5C:
            if pos + 1 >= end or raw[pos + 1] not in (0x22, 0x5C):
                raise WireError("Only \\\" and \\\\ may be escaped in a quoted string")
            out.append(raw[pos + 1])
            pos += 2
            continue
        if c in (0x00, 0x0D, 0x0A):
            raise WireError("Unterminated quoted string")
        out.append(c)
        pos += 1
    raise WireError("Unterminated quoted string")


_LITERAL_START = re.compile(rb"\{(\d{1,19})\+?\}\r?\n")


def _literal(raw: bytes, pos: int) -> tuple[bytes, int]:
    """``{n+}CRLF`` or ``{n}CRLF`` followed by n octets (the framer put them in place)."""
    m = _LITERAL_START.match(raw, pos)
    if not m:
        raise WireError("Invalid literal: expected {size+} at the end of a line")
    size = int(m.group(1))
    start = m.end()
    if start + size > len(raw):
        raise WireError("Literal shorter than announced")
    return raw[start:start + size], start + size


def number(arg: Arg, what: str) -> int:
    """RFC 5804 §4 ``number``: digits, below 2^32. A quoted number is taken too: clients
    differ, and the meaning is not in doubt."""
    text = arg if isinstance(arg, str) else arg.decode("ascii", "replace")
    if not text.isascii() or not text.isdigit() or len(text) > 10 or int(text) > MAX_NUMBER:
        raise WireError(f"Expected a number for {what}")
    return int(text)


def text_of(arg: Arg, what: str) -> str:
    """A string argument as text: UTF-8 (RFC 5804 §1.6 script names, §4 string)."""
    if isinstance(arg, Atom):
        raise WireError(f"Expected a string for {what} (quoted or literal)")
    try:
        return arg.decode("utf-8")
    except UnicodeDecodeError:
        raise WireError(f"The {what} is not valid UTF-8") from None


def string_of(arg: Arg, what: str) -> bytes:
    """A string argument's octets, as sent (a script: compiled later, UTF-8 checked there)."""
    if isinstance(arg, Atom):
        raise WireError(f"Expected a string for {what} (quoted or literal)")
    return arg


# -- responses --------------------------------------------------------------------------------

_UNSAFE = re.compile(rb"[\x00\r\n]")


def string_out(value: str | bytes) -> bytes:
    """A string as the server sends it: quoted when it can be, else a literal ``{n}``
    (RFC 5804 §4 ``string``, ``literal-s2c``)."""
    raw = value.encode("utf-8") if isinstance(value, str) else value
    if not _UNSAFE.search(raw):
        escaped = raw.replace(b"\\", b"\\\\").replace(b'"', b'\\"')
        if len(escaped) <= MAX_QUOTED:
            return b'"' + escaped + b'"'
    return b"{%d}\r\n" % len(raw) + raw


def clip(text: str, room: int = MAX_QUOTED) -> str:
    """One line of at most ``room`` octets (UTF-8 never cut inside a character)."""
    flat = " ".join(text.split("\n")).replace("\r", " ").replace("\x00", " ")
    raw = flat.encode("utf-8")
    if len(raw) <= room:
        return flat
    return raw[: room - 3].decode("utf-8", "ignore") + "..."


def text_out(text: str) -> bytes:
    """A human-readable text: always quoted, on one line (see the module docstring)."""
    return string_out(clip(text, MAX_QUOTED - text.count('"') - text.count("\\")))


def response(status: str, text: str = "", code: bytes = b"") -> bytes:
    """``OK`` / ``NO`` / ``BYE`` with an optional ``(code)`` and text (RFC 5804 §4
    ``response-oknobye``)."""
    out = status.encode()
    if code:
        out += b" (" + code + b")"
    if text:
        out += b" " + text_out(text)
    return out + b"\r\n"
