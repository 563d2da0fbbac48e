"""IMAP wire format, sans I/O: tokenising commands, sequence sets, and quoting replies.

A command arrives as one byte string: every line with its CRLF and every literal's octets in
place, exactly as the client sent them (the framer in ``server.py`` decides where a command ends
and enforces the size limits; this module never waits for input). ``tokenize`` turns the
arguments into a small tree:

- ``str``      an atom (also NIL, numbers, flags, sequence sets, ``BODY[...]<...>`` items),
- ``bytes``    a quoted string; a literal is a ``Literal`` (``Literal8`` for ``~{n}``,
               RFC 3516), a ``bytes`` subclass, so a command that gives the two different
               meanings (APPEND: a quoted date-time, a literal message) can tell them apart,
- ``list``     a parenthesised list.

Atoms are read permissively (everything up to SP, parentheses or CRLF); each command's argument
parser then validates what it expects and raises ``ParseError`` for a BAD reply (RFC 9051 §9
grammar). Brackets are special only after a FETCH section name: ``BODY[HEADER.FIELDS (A B)]``
stays one item although it holds spaces and parentheses. Anywhere else ``[`` and ``]`` are
ordinary astring characters (RFC 9051 §9: ATOM-CHAR includes ``[``, ASTRING-CHAR adds ``]``), so
a mailbox named ``a[b`` is an astring, not an unterminated section.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass

MAX_NESTING = 16  # parentheses; deeper input is hostile, not mail
# Atoms after which "[" opens a section spec read whole, up to its "]" (RFC 9051 §6.4.5
# fetch-att, RFC 3516 §4.1): BODY[...], BODY.PEEK[...], BINARY[...], BINARY.PEEK[...],
# BINARY.SIZE[...]. Upper case; compared case-insensitively.
SECTION_NAMES = frozenset({b"BODY", b"BODY.PEEK", b"BINARY", b"BINARY.PEEK", b"BINARY.SIZE"})


class ParseError(Exception):
    """Syntax error: the command gets BAD (RFC 9051 §7.1.3)."""


class Literal(bytes):
    """A ``{n}`` literal's octets: the token type says how the value was sent (RFC 9051 §4.3)."""


class Literal8(Literal):
    """A ``~{n}`` literal: may contain NUL (RFC 3516 §4.2)."""


Token = str | bytes | list["Token"]

_LITERAL_END = re.compile(rb"(~?)\{(\d{1,19})(\+?)\}\r?\n\Z")


@dataclass(frozen=True, slots=True)
class LiteralMark:
    """A literal announced at the end of a line: its size, and whether it synchronises."""

    size: int
    sync: bool
    binary: bool


def literal_at_end(line: bytes) -> LiteralMark | None:
    """``{n}`` / ``{n+}`` / ``~{n}`` closing a line (RFC 9051 §4.3, RFC 7888 §3)."""
    m = _LITERAL_END.search(line[-32:])
    if not m:
        return None
    return LiteralMark(int(m.group(2)), not m.group(3), bool(m.group(1)))


@dataclass(frozen=True, slots=True)
class Command:
    tag: str
    name: str  # upper case; "UID FETCH" etc. for UID forms
    args: list[Token]


_TAG_BAD = set(b'(){ %*"\\+') | set(range(0, 33)) | {127}


def split_tag(data: bytes) -> str | None:
    """The tag of a (possibly incomplete) command line, or None when it has none."""
    end = data.find(b" ")
    raw = data[:end] if end > 0 else data.rstrip(b"\r\n")
    if not raw or any(b in _TAG_BAD for b in raw) or len(raw) > 64:
        return None
    return raw.decode("ascii", "replace")


class _Reader:
    __slots__ = ("data", "pos", "utf8")

    def __init__(self, data: bytes, utf8: bool) -> None:
        self.data = data
        self.pos = 0
        self.utf8 = utf8

    def at_end(self) -> bool:
        return self.pos >= len(self.data)

    def peek(self) -> int:
        return self.data[self.pos] if self.pos < len(self.data) else -1

    def items(self, depth: int, closing: bool) -> list[Token]:
        out: list[Token] = []
        data = self.data
        while True:
            if self.pos >= len(data):
                if closing:
                    raise ParseError("missing ')'")
                return out
            c = data[self.pos]
            if c == 0x29:  # ')'
                if not closing:
                    raise ParseError("unexpected ')'")
                self.pos += 1
                return out
            if out:
                if c != 0x20:
                    raise ParseError("expected a space between arguments")
                self.pos += 1
                if self.pos >= len(data) or data[self.pos] in (0x20, 0x29):
                    raise ParseError("unexpected space")
            out.append(self.item(depth))

    def item(self, depth: int) -> Token:
        c = self.peek()
        if c == 0x28:  # '('
            if depth >= MAX_NESTING:
                raise ParseError(f"lists nested deeper than {MAX_NESTING}")
            self.pos += 1
            if self.peek() == 0x29:
                self.pos += 1
                return []
            return self.items(depth + 1, True)
        if c == 0x22:  # '"'
            return self.quoted()
        if c == 0x7B or (c == 0x7E and self.data[self.pos + 1:self.pos + 2] == b"{"):
            return self.literal()
        return self.atom()

    def quoted(self) -> bytes:
        data = self.data
        i = self.pos + 1
        buf = bytearray()
        while True:
            if i >= len(data):
                raise ParseError("unterminated quoted string")
            c = data[i]
            if c == 0x22:
                self.pos = i + 1
                return bytes(buf)
            if c == 0x5C:  # backslash: only \" and \\ (RFC 9051 §4.3 quoted-specials)
                if i + 1 >= len(data) or data[i + 1] not in (0x22, 0x5C):
                    raise ParseError("invalid escape in quoted string")
                buf.append(data[i + 1])
                i += 2
                continue
            if c in (0x0D, 0x0A, 0):
                raise ParseError("line break or NUL in quoted string")
            if c >= 0x80 and not self.utf8:
                # RFC 9051 §4.3: 8-bit only in UTF-8 mode (RFC 6855); accept valid UTF-8
                # anyway (clients send it for SEARCH CHARSET UTF-8), reject junk.
                pass
            buf.append(c)
            i += 1

    def literal(self) -> bytes:
        data = self.data
        binary = data[self.pos] == 0x7E
        start = self.pos + (2 if binary else 1)
        end = data.find(b"}", start)
        if end < 0:
            raise ParseError("bad literal")
        spec = data[start:end].rstrip(b"+")
        if not spec.isdigit():
            raise ParseError("bad literal size")
        n = int(spec)
        body = end + 1
        if data[body:body + 2] == b"\r\n":
            body += 2
        elif data[body:body + 1] == b"\n":
            body += 1
        else:
            raise ParseError("literal size not followed by CRLF")
        if body + n > len(data):
            raise ParseError("literal shorter than announced")
        self.pos = body + n
        raw = data[body:body + n]
        if binary:
            return Literal8(raw)
        if b"\x00" in raw:
            raise ParseError("NUL in literal (use ~{n} for binary)")  # RFC 9051 §4.3
        return Literal(raw)

    def atom(self) -> str:
        data = self.data
        i = self.pos
        while i < len(data):
            c = data[i]
            if c in (0x20, 0x28, 0x29, 0x0D, 0x0A, 0x22, 0x7B) or c < 0x20 or c == 0x7F:
                break
            if c == 0x5B and data[self.pos:i].upper() in SECTION_NAMES:
                # RFC 9051 §6.4.5: a section spec may hold SP and parentheses
                # (HEADER.FIELDS (A B)); read it whole, then the <partial> that may follow.
                end = data.find(b"]", i)
                line_end = min((x for x in (data.find(b"\r", i), data.find(b"\n", i))
                                if x >= 0), default=len(data))
                if end < 0 or end > line_end:
                    raise ParseError("missing ']'")
                i = end + 1
                continue
            i += 1
        if i == self.pos:
            raise ParseError("expected an argument")
        raw = data[self.pos:i]
        self.pos = i
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ParseError("invalid UTF-8 in atom") from None


def parse_command(data: bytes, utf8: bool = False) -> Command:
    """Split ``tag SP name [SP args] CRLF`` and tokenise the arguments."""
    if data.endswith(b"\r\n"):
        data = data[:-2]
    elif data.endswith(b"\n"):
        data = data[:-1]
    tag = split_tag(data)
    if tag is None:
        raise ParseError("missing or invalid tag")
    rest = data[len(tag.encode()) + 1:] if len(data) > len(tag.encode()) else b""
    if not rest:
        raise ParseError("missing command")
    sp = rest.find(b" ")
    name_raw = rest if sp < 0 else rest[:sp]
    if not name_raw.isalnum() and not name_raw.replace(b"-", b"").isalnum():
        raise ParseError("invalid command name")
    name = name_raw.decode("ascii").upper()
    args_raw = b"" if sp < 0 else rest[sp + 1:]
    if name == "UID":
        sp2 = args_raw.find(b" ")
        sub = (args_raw if sp2 < 0 else args_raw[:sp2]).decode("ascii", "replace").upper()
        if not sub.isalpha():
            raise ParseError("UID needs a command")
        name = f"UID {sub}"
        args_raw = b"" if sp2 < 0 else args_raw[sp2 + 1:]
    if sp >= 0 and not args_raw:
        raise ParseError("trailing space")
    reader = _Reader(args_raw, utf8)
    args = reader.items(0, False) if args_raw else []
    return Command(tag, name, args)


# -- argument helpers --------------------------------------------------------------------------
def text_of(token: Token, what: str = "argument") -> str:
    """An astring's value as text (atom, quoted or literal)."""
    if isinstance(token, list):
        raise ParseError(f"{what}: expected a string, got a list")
    if isinstance(token, bytes):
        try:
            return token.decode("utf-8")
        except UnicodeDecodeError:
            raise ParseError(f"{what}: invalid UTF-8") from None
    return token


def atom_of(token: Token, what: str = "argument") -> str:
    if not isinstance(token, str):
        raise ParseError(f"{what}: expected an atom")
    return token


def number_of(token: Token, what: str = "number", limit: int = 2**63 - 1) -> int:
    if not isinstance(token, str) or not token.isdigit() or len(token) > 19:
        raise ParseError(f"{what}: expected a number")
    value = int(token)
    if value > limit:
        raise ParseError(f"{what}: out of range")
    return value


def list_of(token: Token, what: str = "argument") -> list[Token]:
    if not isinstance(token, list):
        raise ParseError(f"{what}: expected a parenthesised list")
    return token


def expect_count(args: list[Token], low: int, high: int | None = None) -> None:
    high = low if high is None else high
    if not low <= len(args) <= high:
        raise ParseError("wrong number of arguments")


# -- sequence sets (RFC 9051 §9 sequence-set) ------------------------------------------------
STAR = 0  # stands for "*" inside parsed ranges; real numbers start at 1


@dataclass(frozen=True, slots=True)
class SeqSet:
    ranges: tuple[tuple[int, int], ...]  # (lo, hi) with STAR for '*'; unordered as sent
    saved: bool = False  # "$" (RFC 5182)

    def contains(self, n: int, star: int) -> bool:
        """Whether ``n`` is in the set, ``*`` standing for ``star`` (RFC 9051 §9)."""
        for lo, hi in self.ranges:
            lo, hi = (star if lo == STAR else lo), (star if hi == STAR else hi)
            if min(lo, hi) <= n <= max(lo, hi):
                return True
        return False


_SEQ = re.compile(r"^(\d+|\*)(?::(\d+|\*))?$")


def parse_seqset(token: Token) -> SeqSet:
    if not isinstance(token, str):
        raise ParseError("expected a sequence set")
    if token == "$":
        return SeqSet((), saved=True)
    out = []
    for piece in token.split(","):
        m = _SEQ.match(piece)
        if not m:
            raise ParseError(f"invalid sequence set {token!r}")
        lo = STAR if m.group(1) == "*" else int(m.group(1))
        hi = lo if m.group(2) is None else (STAR if m.group(2) == "*" else int(m.group(2)))
        if any(g is not None and g != "*" and int(g) == 0 for g in m.groups()) \
                or max(lo, hi) > 2**32 - 1:
            raise ParseError("sequence numbers and UIDs start at 1")
        out.append((lo, hi))
    return SeqSet(tuple(out))


def format_seqset(numbers: list[int] | tuple[int, ...]) -> str:
    """Compress sorted-or-not numbers into ``1:3,7`` form (order kept for COPYUID pairs)."""
    if not numbers:
        return ""
    out: list[str] = []
    start = prev = numbers[0]
    for n in numbers[1:]:
        if n == prev + 1:
            prev = n
            continue
        out.append(str(start) if start == prev else f"{start}:{prev}")
        start = prev = n
    out.append(str(start) if start == prev else f"{start}:{prev}")
    return ",".join(out)


# -- output ------------------------------------------------------------------------------------
_SAFE_QUOTED = re.compile(rb'^[\x20\x21\x23-\x5b\x5d-\x7e]*$')


def quote(value: str | bytes | None) -> bytes:
    """A string as a quoted string when it can be one, else as a literal; None as NIL."""
    if value is None:
        return b"NIL"
    raw = value.encode("utf-8") if isinstance(value, str) else value
    if len(raw) < 1024 and _SAFE_QUOTED.match(raw):
        return b'"' + raw + b'"'
    if len(raw) < 1024 and b"\r" not in raw and b"\n" not in raw and b"\x00" not in raw:
        try:
            raw.decode("utf-8")
            return b'"' + raw.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'
        except UnicodeDecodeError:
            pass
    return b"{%d}\r\n" % len(raw) + raw


def astring(value: str) -> bytes:
    """Atom when safe (readable replies: ``INBOX``), quoted otherwise."""
    if value and re.match(r"^[A-Za-z0-9_.\-/+&!#$'@]+$", value) and value.upper() != "NIL":
        return value.encode()
    return quote(value)


# -- modified UTF-7 mailbox names (RFC 3501 §5.1.3) --------------------------------------------
def mutf7_encode(name: str) -> str:
    out: list[str] = []
    buf: list[str] = []

    def flush() -> None:
        if buf:
            raw = "".join(buf).encode("utf-16-be")
            out.append("&" + base64.b64encode(raw).decode().rstrip("=").replace("/", ",") + "-")
            buf.clear()

    for ch in name:
        if 0x20 <= ord(ch) <= 0x7E:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            buf.append(ch)
    flush()
    return "".join(out)


def mutf7_decode(name: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(name):
        ch = name[i]
        if ch != "&":
            if not 0x20 <= ord(ch) <= 0x7E:
                raise ParseError("mailbox name is not modified UTF-7")
            out.append(ch)
            i += 1
            continue
        end = name.find("-", i)
        if end < 0:
            raise ParseError("unterminated modified UTF-7 sequence")
        if end == i + 1:
            out.append("&")
        else:
            chunk = name[i + 1:end].replace(",", "/")
            chunk += "=" * (-len(chunk) % 4)
            try:
                out.append(base64.b64decode(chunk, validate=True).decode("utf-16-be"))
            except (ValueError, UnicodeDecodeError):
                raise ParseError("invalid modified UTF-7 sequence") from None
        i = end + 1
    return "".join(out)
