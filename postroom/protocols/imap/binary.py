"""Binary content over IMAP (RFC 3516, RFC 9051 §6.4.5): decoding for BINARY[], the NUL rule
for BODY[], and the conversion of binary APPEND data. Pure functions, no I/O.

Three rules, one per direction:

- ``BINARY[...]`` answers with the section's content after undoing its Content-Transfer-
  Encoding (``decode_transfer``); an encoding we cannot undo is ``NO [UNKNOWN-CTE]`` (RFC 3516
  §4.2). The data goes out as a ``~{n}`` literal8 only when it holds a NUL; otherwise as an
  ordinary literal (RFC 3516 §4.3: "the server SHOULD return the data in a <string> instead of
  a <literal8>" when there is no NUL).
- ``BODY[...]``, ``RFC822*``: a literal must not hold NUL (RFC 9051 §4.3, RFC 3501 §4.3) and
  literal8 is for BINARY responses only, so NUL octets a stored message may hold (mail from
  outside can) are sent as 0x80, one octet for one, as Dovecot does (``imap-msgpart.c``:
  "IMAP literals must not contain NULs"). Sizes, offsets and partial fetches stay exact; the
  true octets are what BINARY returns. Refusing the FETCH instead would leave the message
  unreadable in every client that does not speak BINARY, which is nearly all of them.
- ``APPEND`` with a literal8 (binary input, RFC 3516 §4.4): a leaf part declared
  ``Content-Transfer-Encoding: binary``, or holding NUL, is stored re-encoded as base64
  (``to_storable``), so that ``BODY[]`` of what a client uploaded never needs the NUL rule
  (RFC 9051 §7.5.2: "Non-textual data such as binary data MUST be transfer encoded into a
  textual form, such as BASE64, prior to being sent to the client"). Dovecot does the same
  (``istream-binary-converter``). ``BINARY[n]`` of the part gives the client its octets back.
"""

from __future__ import annotations

import base64
import re

from postroom.mime.scanner import Part, scan
from postroom.mime.text import decode_body, decode_qp, leaves

TRANSPARENT = frozenset({"7BIT", "8BIT", "BINARY"})
DECODABLE = TRANSPARENT | {"BASE64", "QUOTED-PRINTABLE"}
_CTE_FIELD = re.compile(rb"^content-transfer-encoding[ \t]*:", re.I)


class UnknownCte(Exception):
    """BINARY of a part whose transfer encoding we cannot undo (RFC 3516 §4.2)."""


def decode_transfer(raw: bytes, encoding: str) -> bytes:
    """A part's body with its Content-Transfer-Encoding undone (RFC 2045 §6)."""
    enc = encoding.strip().upper()
    if enc in TRANSPARENT:
        return raw
    if enc == "QUOTED-PRINTABLE":
        return decode_qp(raw)
    if enc == "BASE64":
        return decode_body(raw, enc)  # RFC 2045 §6.8: stray characters are ignored
    raise UnknownCte(encoding)


def literal(data: bytes, binary: bool) -> bytes:
    """``{n}`` for BODY (NUL sent as 0x80, see the module docstring), and for BINARY data
    without NUL; ``~{n}`` for BINARY data with NUL (RFC 3516 §4.3)."""
    if b"\x00" in data:
        if binary:
            return b"~{%d}\r\n" % len(data) + data  # RFC 3516 §4.3 literal8
        data = no_nuls(data)
    return b"{%d}\r\n" % len(data) + data


def no_nuls(data: bytes) -> bytes:
    """NUL → 0x80: a literal must not hold NUL (RFC 9051 §4.3)."""
    return data.replace(b"\x00", b"\x80") if b"\x00" in data else data


# -- APPEND of binary data (RFC 3516 §4.4) ------------------------------------------------------
def _needs_base64(data: bytes, leaf: Part) -> bool:
    body = data[leaf.body_start:leaf.body_end]
    return leaf.encoding.strip().upper() == "BINARY" or b"\x00" in body


def _base64_lines(body: bytes) -> bytes:
    text = base64.b64encode(body)
    return b"\r\n".join(text[i:i + 76] for i in range(0, len(text), 76))  # RFC 2045 §6.8


def _header_with_base64(header: bytes) -> bytes | None:
    """The part's header with its Content-Transfer-Encoding field(s) replaced by ``base64``;
    None when the header has no blank line to end it (nothing safe to rewrite)."""
    if header in (b"\r\n", b"\n"):
        fields: list[bytes] = []
    elif header.endswith(b"\r\n\r\n") or header.endswith(b"\n\n"):
        fields = header[:-2 if header.endswith(b"\r\n\r\n") else -1].splitlines(keepends=True)
    else:
        return None
    kept: list[bytes] = []
    dropping = False
    for line in fields:
        if line[:1] in (b" ", b"\t"):  # a folded continuation of the field before
            if not dropping:
                kept.append(line)
            continue
        dropping = bool(_CTE_FIELD.match(line))
        if not dropping:
            kept.append(line if line.endswith(b"\n") else line + b"\r\n")
    return b"".join(kept) + b"Content-Transfer-Encoding: base64\r\n\r\n"


def to_storable(data: bytes) -> bytes:
    """APPEND data sent as a literal8, made storable: every leaf part that is binary (declared
    so, or holding NUL) re-encoded as base64 with its header saying so; everything else,
    multipart delimiters included, kept octet for octet. Data that needs nothing comes back
    unchanged (the same object)."""
    if b"\x00" not in data and b"binary" not in data.lower():
        return data
    info = scan(data)
    todo = [leaf for leaf in leaves(info.root) if _needs_base64(data, leaf)]
    out = data
    for leaf in sorted(todo, key=lambda p: p.header_start, reverse=True):  # back to front
        header = _header_with_base64(out[leaf.header_start:leaf.body_start])
        if header is None:
            continue
        body = _base64_lines(out[leaf.body_start:leaf.body_end])
        if leaf.body_end == len(out):
            body += b"\r\n"  # the message's last line keeps its line break
        out = out[:leaf.header_start] + header + body + out[leaf.body_end:]
    return out
