"""The message as a Sieve script sees it: header fields, the envelope, and (lazily) the body.

Built from the header block only; the body is read when a ``body`` test asks for it
(RFC 5173), through the loader the delivery service passes, so that a 50 MB message filtered
by ``header`` tests is never read whole. Header values are unfolded and RFC 2047 decoded for
comparison (RFC 5228 §5.7: "implementations MUST … decode encoded-words"); a raw 8-bit value
is read as UTF-8 (RFC 6532). Editing (``addheader``/``deleteheader``: RFC 5293) changes
``fields``; ``edited`` tells the delivery service to write the new header block.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from postroom.mime.reading import decode_words
from postroom.sieve.address import Address, parse_addresses


@dataclass(frozen=True, slots=True)
class Envelope:
    """The SMTP envelope of this delivery (RFC 5228 §5.4): the reverse path ("" for the null
    sender), the recipient being delivered to, the original recipient (ORCPT or the alias
    address, RFC 3461 §4.2) and the authenticated submitter if any (the ``auth`` part)."""

    sender: str
    recipient: str
    original_recipient: str = ""
    auth: str = ""


def decode(value: str) -> str:
    """Unfolded ``value`` with encoded-words decoded (RFC 2047); a malformed word stays as
    written and spoils nothing else (postroom.mime.reading.decode_words)."""
    return decode_words(value) if "=?" in value else value


def unfold(value: str) -> str:
    """RFC 5322 §2.2.3: remove CRLF before WSP; leading and trailing blanks go too."""
    return value.replace("\r\n", "").replace("\n", "").strip(" \t")


_LOGICAL_LINE = re.compile(r"\r?\n(?![ \t])")  # a line break not followed by a fold
_BREAK = re.compile(r"\r?\n")
_END = re.compile(r"\r?\n\r?\n")


def _latin1(error: UnicodeError) -> tuple[str, int]:
    """Octets that are not UTF-8 read as ISO-8859-1 (RFC 5228 §2.7.2: implementations MUST
    be able to convert ISO-8859-1; raw 8-bit header text is UTF-8 (RFC 6532) or, in old
    mail, mostly Latin-1)."""
    assert isinstance(error, UnicodeDecodeError)
    return error.object[error.start:error.end].decode("latin-1"), error.end


codecs.register_error("postroom-sieve-latin1", _latin1)


def _parse(block: bytes) -> list[tuple[tuple[str, str], bytes]]:
    """Each field of a header block as ((name, unfolded value), its octets as received,
    folds and all), in order. A line that is neither a field nor a continuation is skipped
    (RFC 5322 is what senders should write, not what they do)."""
    text = block.decode("utf-8", "postroom-sieve-latin1")
    end = _END.search(text)
    if end is not None:
        text = text[:end.start()]
        raw_end = _RAW_END.search(block)
        block = block[:raw_end.start()] if raw_end is not None else block
    elif text.startswith(("\r\n", "\n")):
        return []
    # the line breaks are ASCII, so the text and the octets split into the same pieces
    raw_lines = _RAW_LOGICAL_LINE.split(block)
    fields: list[tuple[tuple[str, str], bytes]] = []
    for n, line in enumerate(_LOGICAL_LINE.split(text)):
        colon = line.find(":")
        if colon <= 0 or line[0] in " \t" or "\n" in line[:colon]:
            continue
        value = line[colon + 1:]
        if "\n" in value:
            value = _BREAK.sub("", value)
        raw = raw_lines[n] if n < len(raw_lines) else b""
        fields.append(((line[:colon].rstrip(" \t"), value.strip(" \t\r")),
                       _RAW_BREAK.sub(b"\r\n", raw.rstrip(b"\r"))))
    return fields


def parse_fields(block: bytes) -> list[tuple[str, str]]:
    """(name, unfolded raw value) of each field of a header block, in order."""
    return [field for field, _raw in _parse(block)]


_RAW_LOGICAL_LINE = re.compile(rb"\r?\n(?![ \t])")
_RAW_BREAK = re.compile(rb"\r?\n")
_RAW_END = re.compile(rb"\r?\n\r?\n")


def fold(name: str, value: str, width: int = 78) -> str:
    """``name: value`` folded at blanks so that lines stay within ``width`` characters
    where the value allows it (RFC 5322 §2.2.3; §2.1.1's 78), CRLF between lines."""
    line = f"{name}: {value}"
    if len(line) <= width:
        return line
    out: list[str] = []
    current = f"{name}:"
    for word in value.split(" "):
        if current and len(current) + 1 + len(word) > width and current.strip() != f"{name}:":
            out.append(current)
            current = " " + word
        else:
            current = f"{current} {word}"
    out.append(current)
    return "\r\n".join(out)


BodyLoader = Callable[[], Awaitable[bytes]]


class Message:
    """One message under filtering. ``size`` is the whole message's size in octets
    (RFC 5228 §5.9); ``body`` loads the complete message (header and body) when asked.

    Header lookups go through an index by lower-case name, built on first use. Code that
    changes ``fields`` (editheader) sets ``edited = True`` afterwards, which also drops the
    index."""

    def __init__(self, header_block: bytes, *, size: int, envelope: Envelope,
                 body: BodyLoader | None = None) -> None:
        parsed = _parse(header_block)
        self.fields = [field for field, _raw in parsed]
        # each field as received, by the identity of its (name, value) tuple: written back
        # unchanged (folds, spacing, encodings) when the header is rewritten after edits, so
        # that DKIM signatures and long lines survive what a script did not touch
        self._received: dict[int, tuple[tuple[str, str], bytes]] = {
            id(field): (field, raw) for field, raw in parsed}
        self.size = size
        self.envelope = envelope
        self._body = body
        self._loaded: bytes | None = None
        self._edited = False
        self._raw: dict[str, list[str]] | None = None
        self._decoded: dict[str, list[str]] = {}
        self._addresses: dict[str, list[Address]] = {}
        # what extensions derive from the message once for every script run over it (the
        # body extension's MIME structure)
        self.cache: dict[str, object] = {}

    @property
    def edited(self) -> bool:
        """Whether ``fields`` changed since the message was received."""
        return self._edited

    @edited.setter
    def edited(self, value: bool) -> None:
        self._edited = value
        self._raw = None
        self._decoded = {}
        self._addresses = {}

    def _index(self) -> dict[str, list[str]]:
        index = self._raw
        if index is None:
            index = {}
            for name, value in self.fields:
                index.setdefault(name.lower(), []).append(value)
            self._raw = index
        return index

    def header(self, name: str) -> list[str]:
        """Decoded values of every field called ``name`` (case-insensitive), in order. The
        list is shared: do not change it."""
        wanted = name.lower()
        got = self._decoded.get(wanted)
        if got is None:
            raw = self._index().get(wanted, _NONE)
            got = [decode(v) for v in raw] if raw else _NONE
            self._decoded[wanted] = got
        return got

    def raw_header(self, name: str) -> list[str]:
        """Values as written (unfolded), for tests that must see encoded-words and for
        address parsing. The list is shared: do not change it."""
        return self._index().get(name.lower(), _NONE)

    def addresses(self, name: str) -> list[Address]:
        """The addresses of every field called ``name`` (RFC 5228 §5.1: groups opened,
        invalid ones kept as text), parsed once. The list is shared: do not change it."""
        wanted = name.lower()
        got = self._addresses.get(wanted)
        if got is None:
            got = [a for value in self.raw_header(wanted) for a in parse_addresses(value)]
            self._addresses[wanted] = got
        return got

    async def full(self) -> bytes:
        """The whole message as delivered so far (header block as received, then the body),
        read once; empty if no loader was given."""
        if self._loaded is None:
            self._loaded = await self._body() if self._body is not None else b""
        return self._loaded

    def header_block(self) -> bytes:
        """The current header fields written out (after edits), CRLF line ends, ending in
        the empty line: a field as received is written as it came (octet for octet), one
        added by a script folded at blanks (RFC 5322 §2.2.3)."""
        out: list[bytes] = []
        for field in self.fields:
            kept = self._received.get(id(field))
            if kept is not None and kept[0] is field and kept[1]:
                out.append(kept[1] + b"\r\n")
            else:
                out.append(fold(*field).encode("utf-8") + b"\r\n")
        return b"".join(out) + b"\r\n"


_NONE: list[str] = []
