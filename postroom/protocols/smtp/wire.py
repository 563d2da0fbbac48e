"""SMTP without I/O: command lines, paths and ESMTP parameters, and the DATA decoder.

The DATA decoder is where SMTP smuggling is stopped (specs.md §0; RFC 5321 §4.1.1.4, §2.3.8):
only ``CRLF . CRLF`` ends the data. A bare LF or bare CR anywhere in the data does not end it
and marks the message as unacceptable; the session reads on to the real end and then refuses
it with ``550 5.5.2``, so nothing smuggled after ``<LF>.<LF>`` or ``<LF>.<CR><LF>`` is ever
taken as commands, and nothing is delivered that another MTA might split differently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from postroom.core import smtp
from postroom.core.smtp import Code

MAX_COMMAND_LINE = 4096  # RFC 5321 §4.5.3.1.4 says 512; extensions (AUTH ir, DSN) need more
MAX_PATH = 256  # RFC 5321 §4.5.3.1.3
MAX_LOCAL = 64  # §4.5.3.1.1
# Return paths that forwarders rewrite (SRS0=/SRS1=, services/sieve/srs.py; BATV prvs=,
# services/batv.py) encode a whole address in the local part and often pass 64 octets;
# §4.5.3.1 asks servers to accept longer objects where they can, so these may use the
# path's whole length.
_REWRITTEN = re.compile(r"^(?:prvs=[0-9]{4}[0-9a-f]{6}=)?SRS[01][=+-]", re.IGNORECASE)
MAX_DOMAIN = 255  # §4.5.3.1.2


class SmtpSyntaxError(Exception):
    """A malformed command or argument: 501 (or 500 for an unreadable line)."""

    def __init__(self, text: str, reply: Code = smtp.BAD_DATA) -> None:
        super().__init__(text)
        self.reply = reply
        self.text = text

    @property
    def code(self) -> int:
        return self.reply.code


@dataclass(frozen=True, slots=True)
class Command:
    verb: str  # upper case
    arg: str  # the rest of the line, as sent (not stripped of inner spaces)


def parse_command(line: bytes) -> Command:
    """One command line without its CRLF. Non-ASCII is allowed only in arguments
    (SMTPUTF8 addresses); control characters never."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        raise SmtpSyntaxError("Command is not valid UTF-8", smtp.LINE_SYNTAX) from None
    if any(ord(c) < 32 and c != "\t" for c in text) or "\x7f" in text:
        raise SmtpSyntaxError("Control characters in command", smtp.LINE_SYNTAX)
    verb, _, arg = text.partition(" ")
    if not verb or not verb.isascii() or not verb.isalpha():
        raise SmtpSyntaxError("Syntax error, command unrecognised", smtp.UNRECOGNISED)
    return Command(verb.upper(), arg)


@dataclass(frozen=True, slots=True)
class Path:
    """A reverse- or forward-path; ``address`` is '' for the null path ``<>``."""

    address: str
    params: dict[str, str | None] = field(default_factory=dict)

    @property
    def null(self) -> bool:
        return not self.address

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2] if "@" in self.address else ""


_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_DOT_STRING = re.compile(rf"^{_ATOM}(\.{_ATOM})*$")
_QUOTED = re.compile(r'^"([\x20\x21\x23-\x5b\x5d-\x7e]|\\[\x20-\x7e]|[^\x00-\x7f])*"$')
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DOMAIN = re.compile(rf"^{_LABEL}(\.{_LABEL})*$")
_LITERAL = re.compile(r"^\[(IPv6:[0-9A-Fa-f:.]+|\d{1,3}(\.\d{1,3}){3})\]$")
_PARAM_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*$")


def _check_domain(domain: str, utf8: bool) -> None:
    if _LITERAL.match(domain):
        return
    if len(domain) > MAX_DOMAIN:
        raise SmtpSyntaxError("Domain name too long", smtp.ADDRESS_SYNTAX)
    ascii_form = domain
    if not domain.isascii():
        if not utf8:
            raise SmtpSyntaxError("UTF-8 address needs SMTPUTF8", smtp.UTF8_ADDRESS)
        try:
            ascii_form = domain.encode("idna").decode()
        except UnicodeError:
            raise SmtpSyntaxError("Invalid domain name", smtp.ADDRESS_SYNTAX) from None
    if not _DOMAIN.match(ascii_form.rstrip(".") if ascii_form.endswith(".") else ascii_form):
        raise SmtpSyntaxError("Invalid domain name", smtp.ADDRESS_SYNTAX)


def parse_mailbox(text: str, utf8: bool) -> str:
    """``local@domain`` (RFC 5321 §4.1.2), local part as sent; raises SmtpSyntaxError."""
    local, at, domain = text.rpartition("@")
    if not at or not local or not domain:
        raise SmtpSyntaxError("Address must be local-part@domain", smtp.ADDRESS_SYNTAX)
    if len(local.encode()) > MAX_LOCAL and not _REWRITTEN.match(local):
        raise SmtpSyntaxError("Local part too long", smtp.ADDRESS_SYNTAX)
    if not local.isascii() and not utf8:
        raise SmtpSyntaxError("UTF-8 address needs SMTPUTF8", smtp.UTF8_ADDRESS)
    ok_local = _DOT_STRING.match(local) or _QUOTED.match(local) or (
        utf8 and not local.isascii() and "@" not in local and " " not in local)
    if not ok_local:
        raise SmtpSyntaxError("Invalid local part", smtp.ADDRESS_SYNTAX)
    _check_domain(domain, utf8)
    return f"{local}@{domain}"


def parse_path(arg: str, keyword: str, utf8: bool = False, allow_null: bool = False,
               ) -> Path:
    """``FROM:<path> params`` / ``TO:<path> params`` (RFC 5321 §4.1.1.2–3, §4.1.2).

    Lenient where real clients are: a space after the colon is accepted. Source routes
    (``<@a,@b:u@c>``) are accepted and ignored (§4.1.1.3, App. C); ``<Postmaster>`` without a
    domain is kept for the caller to qualify (§4.5.1)."""
    head, colon, rest = arg.partition(":")
    if not colon or head.strip().upper() != keyword:
        raise SmtpSyntaxError(f"Syntax: {'MAIL FROM' if keyword == 'FROM' else 'RCPT TO'}:"
                              "<address>", smtp.SYNTAX)
    rest = rest.lstrip(" ")
    if not rest.startswith("<"):
        raise SmtpSyntaxError("Address must be in angle brackets", smtp.SYNTAX)
    end = _closing_bracket(rest)
    inner, tail = rest[1:end], rest[end + 1:]
    if len(inner) > MAX_PATH:
        raise SmtpSyntaxError("Path too long", smtp.ADDRESS_SYNTAX)
    if tail and not tail.startswith(" "):
        raise SmtpSyntaxError("Junk after address", smtp.SYNTAX)
    params = parse_params(tail.strip())
    if not inner:
        if not allow_null:
            raise SmtpSyntaxError("Null address not allowed here", smtp.ADDRESS_SYNTAX)
        return Path("", params)
    if inner.startswith("@"):  # source route: drop everything up to the last colon
        _route, sep, inner = inner.rpartition(":")
        if not sep:
            raise SmtpSyntaxError("Invalid source route", smtp.ADDRESS_SYNTAX)
    if keyword == "TO" and inner.lower() == "postmaster":
        return Path("postmaster", params)
    return Path(parse_mailbox(inner, utf8), params)


def _closing_bracket(text: str) -> int:
    """Index of the '>' ending the path, honouring quoted local parts."""
    quoted = escaped = False
    for i, ch in enumerate(text):
        if escaped:
            escaped = False
        elif ch == "\\" and quoted:
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == ">" and not quoted:
            return i
    raise SmtpSyntaxError("Missing closing angle bracket", smtp.SYNTAX)


def parse_params(text: str) -> dict[str, str | None]:
    """ESMTP parameters ``KEY[=VALUE]`` separated by spaces (RFC 5321 §4.1.2)."""
    out: dict[str, str | None] = {}
    for word in text.split():
        key, eq, value = word.partition("=")
        if not _PARAM_KEY.match(key) or (eq and not value):
            raise SmtpSyntaxError(f"Invalid parameter {word[:40]}", smtp.SYNTAX)
        if key.upper() in out:
            raise SmtpSyntaxError(f"Parameter {key.upper()} given twice", smtp.SYNTAX)
        out[key.upper()] = value if eq else None
    return out


def xtext_decode(value: str) -> str:
    """RFC 3461 §4 xtext (core/smtp.py), with a malformed value as a syntax error."""
    try:
        return smtp.xtext_decode(value)
    except ValueError:
        raise SmtpSyntaxError("Invalid xtext", smtp.SYNTAX) from None


class DataDecoder:
    """The body of DATA: dot-unstuffing, the one true terminator, size and bare-newline checks.

    ``feed(data)`` returns how many bytes of ``data`` belong to the message (through the
    terminator, once found); bytes after it are the next pipelined command and stay with the
    caller. Decoded content is collected in ``chunks`` for the caller to drain as it goes, so
    the message is never held whole."""

    FLUSH = 64 * 1024  # a line longer than this is passed on in pieces

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self.too_big = False
        self.bare_newline = False
        self.done = False
        self.chunks: list[bytes] = []
        self._partial = b""
        self._line_start = True

    def feed(self, data: bytes) -> int:
        """Works on whole runs of complete lines with bytes operations (C speed): the
        terminator is found with one ``find``, dot-unstuffing is one ``replace``, and bare
        CR/LF are detected by counting CR, LF and CRLF."""
        buf = self._partial + data
        base = len(self._partial)
        if self._line_start and buf.startswith(b".\r\n"):
            self.done = True
            self._partial = b""
            return 3 - base
        end = buf.find(b"\r\n.\r\n")
        if end >= 0:
            self._lines(buf[:end + 2])
            self.done = True
            self._partial = b""
            return end + 5 - base
        last = buf.rfind(b"\r\n")
        if last >= 0:
            self._lines(buf[:last + 2])
        rest = buf[last + 2:] if last >= 0 else buf
        if len(rest) > self.FLUSH:  # keep one byte: it may be the CR of a CRLF
            piece, rest = rest[:-1], rest[-1:]
            if self._line_start and piece.startswith(b"."):
                piece = piece[1:]
            self._piece(piece, complete=False)
        self._partial = rest
        return len(data)

    def _lines(self, run: bytes) -> None:
        """A run of complete lines (ends with CRLF), starting at a line start unless a long
        line was passed on in pieces before it."""
        if self._line_start and run.startswith(b"."):
            run = run[1:]
        self._piece(run.replace(b"\r\n.", b"\r\n"), complete=True)  # RFC 5321 §4.5.2

    def _piece(self, content: bytes, complete: bool) -> None:
        crlf = content.count(b"\r\n")
        if content.count(b"\r") != crlf or content.count(b"\n") != crlf:
            self.bare_newline = True
        self.size += len(content)
        if self.size > self.limit:
            self.too_big = True
        if not (self.too_big or self.bare_newline):
            self.chunks.append(content)
        self._line_start = complete

    def take(self) -> list[bytes]:
        out, self.chunks = self.chunks, []
        return out


_XTEXT = re.compile(r"^(?:[!-*,-<>-~]|\+[0-9A-F]{2})*$")


def check_xtext(value: str | None, what: str, limit: int = 500) -> str:
    """A valid xtext value (RFC 3461 §4) or 501."""
    if not value or len(value) > limit or not _XTEXT.match(value):
        raise SmtpSyntaxError(f"Invalid {what} value", smtp.SYNTAX)
    return value


def check_notify(value: str | None) -> str:
    """``NOTIFY=NEVER`` or a list of SUCCESS, FAILURE, DELAY (RFC 3461 §4.1)."""
    items = [v.strip().upper() for v in (value or "").split(",")]
    if items == ["NEVER"]:
        return "NEVER"
    if not items or any(v not in ("SUCCESS", "FAILURE", "DELAY") for v in items) or \
            len(set(items)) != len(items):
        raise SmtpSyntaxError("NOTIFY must be NEVER or a list of SUCCESS, FAILURE, DELAY",
                              smtp.SYNTAX)
    return ",".join(items)


def check_orcpt(value: str | None) -> str:
    """``ORCPT=addr-type;xtext`` (RFC 3461 §4.2)."""
    kind, sep, rest = (value or "").partition(";")
    if not sep or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9-]*", kind):
        raise SmtpSyntaxError("ORCPT must be addr-type;address", smtp.SYNTAX)
    return f"{kind.lower()};{check_xtext(rest, 'ORCPT')}"


class HeaderCapture:
    """Keeps the header section of streamed message data (up to the first empty line) so that
    the content checks can read all of it: Received lines counted, every From:, Sender: and
    Resent-From: checked. A section longer than ``limit`` octets is not kept but marked
    ``too_long``, and the message is refused: checking only part of it would let a sender hide
    a field past the part that was read."""

    def __init__(self, limit: int = 256 * 1024) -> None:
        self.limit = limit
        self.head = bytearray()
        self.done = False
        self.too_long = False

    def feed(self, data: bytes) -> None:
        if self.done:
            return
        start = max(0, len(self.head) - 3)
        self.head += data
        if self.head.startswith(b"\r\n"):  # no header at all
            self.head.clear()
            self.done = True
            return
        end = self.head.find(b"\r\n\r\n", start)
        if end >= 0:
            del self.head[end + 2:]  # keep the last field's CRLF
            self.done = True
        elif len(self.head) > self.limit:
            del self.head[self.limit:]
            self.done = True
            self.too_long = True

    def count(self, name: bytes) -> int:
        """How many header fields are called ``name`` (case-insensitive)."""
        prefix = name.lower() + b":"
        return sum(1 for line in bytes(self.head).split(b"\r\n")
                   if line[:len(prefix)].lower() == prefix)


class NewlineWatch:
    """Finds a bare CR or LF (RFC 5321 §2.3.8) in content that arrives in pieces, as BDAT
    chunks do: a CR that ends one piece may be half of a CRLF that the next completes."""

    def __init__(self) -> None:
        self.bare = False
        self._cr = False  # the last piece ended with CR

    def feed(self, data: bytes) -> None:
        if self.bare or not data:
            return
        if self._cr:
            data = b"\r" + data
        self._cr = data.endswith(b"\r")
        if self._cr:
            data = data[:-1]
        crlf = data.count(b"\r\n")
        if data.count(b"\r") != crlf or data.count(b"\n") != crlf:
            self.bare = True

    def finish(self) -> bool:
        """True when the content held a bare CR or LF (a CR at the very end included)."""
        return self.bare or self._cr
