"""Searchable text of a message, extracted once at delivery for the search index.

IMAP SEARCH matches case-insensitive substrings of *decoded* text (RFC 9051 §6.4.4: "the
server SHOULD decode ... MIME encodings"), so the index holds header values with RFC 2047
encoded words decoded, and the bodies of text parts with their transfer encoding and charset
undone (HTML reduced to its text). Attachments that are not text are not indexed. The body text
is capped so one huge message cannot bloat the index.
"""

from __future__ import annotations

import base64
import binascii
import html
import re
from email.errors import MessageError
from email.header import decode_header, make_header

from postroom.mime.scanner import MessageInfo, Part, parse_headers

MAX_BODY_TEXT = 1024 * 1024
_HEX = frozenset(b"0123456789ABCDEFabcdef")
_LINE = re.compile(rb"\r?\n")
_TAGS = re.compile(r"<(script|style)\b.*?</\1\s*>|<[^>]*>", re.S | re.I)


def decode_words(value: str) -> str:
    """RFC 2047 encoded words → text; malformed input comes back as it was."""
    if "=?" not in value:
        return value
    try:
        return str(make_header(decode_header(value)))
    except (ValueError, LookupError, UnicodeError, binascii.Error, MessageError):
        return value  # e.g. a charset name that is not ASCII (email.errors.CharsetError)


def decode_qp(raw: bytes) -> bytes:
    """Quoted-printable to octets, RFC 2045 §6.7.

    Rule 3: white space at the end of an encoded line is transport padding and is deleted.
    Rule 5: "=" ending a line (after that deletion, so "= " counts too) is a soft line break:
    the "=" and the line break go. Rule 1: "=XY" is the octet 0xXY (lower-case hex accepted);
    an "=" not followed by two hex digits is kept as it is, as §6.7 advises robust decoders to.
    Hard line breaks come out as CRLF whatever the input used; a last line without a break
    gets none."""
    lines = _LINE.split(raw)
    out = bytearray()
    for i, line in enumerate(lines):
        last = i == len(lines) - 1
        line = line.rstrip(b" \t")  # RFC 2045 §6.7 (3)
        soft = line.endswith(b"=")  # RFC 2045 §6.7 (5)
        if soft:
            line = line[:-1]
        j, n = 0, len(line)
        while j < n:
            c = line[j]
            if c == 0x3D and j + 2 < n and line[j + 1] in _HEX and line[j + 2] in _HEX:
                out.append(int(line[j + 1:j + 3], 16))  # RFC 2045 §6.7 (1)
                j += 3
                continue
            out.append(c)
            j += 1
        if not soft and not last:
            out += b"\r\n"
    return bytes(out)


def decode_body(raw: bytes, encoding: str) -> bytes:
    enc = encoding.upper()
    try:
        if enc == "BASE64":  # RFC 2045 §6.8: characters outside the alphabet are ignored
            return base64.b64decode(re.sub(rb"[^A-Za-z0-9+/=]", b"", raw) + b"===")
        if enc == "QUOTED-PRINTABLE":  # RFC 2045 §6.7
            return decode_qp(raw)
    except (ValueError, binascii.Error):
        return raw
    return raw


def to_text(raw: bytes, charset: str) -> str:
    """Decode with the declared charset; undeclared 8-bit text is taken as UTF-8 when it is
    valid UTF-8 (what senders mean far more often than the RFC 2045 US-ASCII default)."""
    charset = (charset or "us-ascii").lower()
    if charset in ("us-ascii", "ascii"):
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            charset = "latin-1"
    try:
        return raw.decode(charset, "replace")
    except (LookupError, UnicodeError):
        # An unknown charset, or a codec that is no text encoding at all (``idna`` and
        # ``punycode`` raise even with "replace"): read it as UTF-8 rather than fail delivery.
        return raw.decode("utf-8", "replace")


def leaves(part: Part) -> list[Part]:
    """The parts that hold content, in order, inside multiparts and attached messages."""
    if part.children:
        return [leaf for child in part.children for leaf in leaves(child)]
    if part.message is not None:
        return leaves(part.message)
    return [part]


def header_text(headers: list[tuple[str, str]]) -> str:
    """The message header as indexed: "name: value" lines, encoded words decoded."""
    return "\n".join(f"{name}: {decode_words(value)}" for name, value in headers)


def leaf_text(raw: bytes, leaf: Part) -> str:
    """Indexed text of one text/* leaf from its raw body (transfer encoding and charset undone,
    HTML reduced to its text); not yet cut to ``MAX_BODY_TEXT``."""
    text = to_text(decode_body(raw, leaf.encoding), leaf.params.get("charset", "us-ascii"))
    if leaf.subtype == "html":
        text = html.unescape(_TAGS.sub(" ", text))
    return text


def searchable(data: bytes, info: MessageInfo) -> tuple[str, str]:
    """(header text as "name: value" lines, body text) for the index."""
    header = header_text(parse_headers(data[:info.root.body_start]))
    chunks: list[str] = []
    size = 0
    for leaf in leaves(info.root):
        if leaf.mtype != "text" or size >= MAX_BODY_TEXT:
            continue
        text = leaf_text(data[leaf.body_start:leaf.body_end], leaf)
        chunks.append(text[:MAX_BODY_TEXT - size])
        size += len(chunks[-1])
    return header, "\n".join(chunks)
