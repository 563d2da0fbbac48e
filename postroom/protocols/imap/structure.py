"""ENVELOPE, BODY and BODYSTRUCTURE from the MIME scan stored at delivery, and section offsets.

Nothing here parses a message: ``meta`` is the JSON the scanner wrote once (``mime.scanner``),
with every part's header/body offsets into the blob. A FETCH of ``BODY[1.2.MIME]`` becomes a
byte range; ``BODYSTRUCTURE`` becomes string formatting (RFC 9051 §7.5.2, RFC 3501 §7.4.2).

Offsets in ``meta`` are relative to the blob. The stored message is ``prefix + blob`` (the
per-delivery prefix holds Received/Return-Path), so every range but the top-level header's
start moves by ``len(prefix)``; the top-level header starts at 0 and so includes the prefix.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass
from typing import Any

from postroom.protocols.imap.wire import ParseError, quote

Part = dict[str, Any]


def _q(value: Any) -> bytes:
    return quote(None if value is None else str(value))


def _addresses(addrs: list[list[str | None]] | None) -> bytes:
    if not addrs:
        return b"NIL"
    return b"(" + b"".join(b"(" + b" ".join(_q(x) for x in a) + b")" for a in addrs) + b")"


def envelope(env: list[Any]) -> bytes:
    """RFC 9051 §7.5.2: (date subject from sender reply-to to cc bcc in-reply-to message-id)."""
    date, subject, frm, sender, reply_to, to, cc, bcc, irt, mid = env
    return b"(" + b" ".join([_q(date), _q(subject), _addresses(frm), _addresses(sender),
                             _addresses(reply_to), _addresses(to), _addresses(cc),
                             _addresses(bcc), _q(irt), _q(mid)]) + b")"


def decode_params(params: dict[str, str]) -> dict[str, str]:
    """RFC 2231 §3-4: join ``name*0``, ``name*1*`` … and undo ``charset'lang'%XX``."""
    if not any("*" in k for k in params):
        return params
    out: dict[str, str] = {}
    pieces: dict[str, list[tuple[int, str, bool]]] = {}
    for key, value in params.items():
        m = re.match(r"^([^*]+)(?:\*(\d+))?(\*)?$", key)
        if not m or (m.group(2) is None and m.group(3) is None):
            out[key] = value
            continue
        pieces.setdefault(m.group(1), []).append(
            (int(m.group(2) or 0), value, m.group(3) is not None))
    for name, items in pieces.items():
        items.sort()
        charset = "utf-8"
        text = []
        for index, value, encoded in items:
            if encoded:
                if index == 0 and value.count("'") >= 2:
                    charset, _, rest = value.split("'", 2)
                    charset = charset or "utf-8"
                    value = rest
                try:
                    value = urllib.parse.unquote(value, encoding=charset, errors="replace")
                except LookupError:
                    value = urllib.parse.unquote(value)
            text.append(value)
        out[name] = "".join(text)
    return out


def _params(params: dict[str, str]) -> bytes:
    params = decode_params(params)
    if not params:
        return b"NIL"
    return b"(" + b" ".join(_q(k.upper() if k == "charset" else k) + b" " + _q(v)
                            for k, v in params.items()) + b")"


def _lang(value: list[str] | None) -> bytes:
    if not value:
        return b"NIL"
    if len(value) == 1:
        return _q(value[0])
    return b"(" + b" ".join(_q(v) for v in value) + b")"


def _disposition(value: list[Any] | None) -> bytes:
    if not value:
        return b"NIL"
    return b"(" + _q(value[0]) + b" " + _params(value[1]) + b")"


def body_structure(part: Part, extended: bool) -> bytes:
    """BODYSTRUCTURE (``extended``) or BODY, for one part and everything below it."""
    mtype, subtype = part["t"]
    if part.get("c"):
        out = b"".join(body_structure(c, extended) for c in part["c"]) + b" " + \
            _q(subtype.upper())
        if extended:
            out += b" " + b" ".join([_params(part["p"]), _disposition(part.get("disp")),
                                     _lang(part.get("lang")), _q(part.get("loc"))])
        return b"(" + out + b")"
    _hs, bs, be = part["o"]
    fields = [_q(mtype.upper()), _q(subtype.upper()), _params(part["p"]), _q(part.get("id")),
              _q(part.get("d")), _q(part["e"]), str(be - bs).encode()]
    if "m" in part:
        fields += [envelope(part.get("env") or [None] * 10),
                   body_structure(part["m"], extended), str(part["n"]).encode()]
    elif mtype == "text":
        fields.append(str(part["n"]).encode())
    if extended:
        fields += [_q(part.get("md5")), _disposition(part.get("disp")), _lang(part.get("lang")),
                   _q(part.get("loc"))]
    return b"(" + b" ".join(fields) + b")"


# -- sections ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Section:
    """A parsed ``[section]`` spec (RFC 9051 §6.4.5)."""

    path: tuple[int, ...]
    text: str  # "", "HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT", "MIME"
    fields: tuple[str, ...] = ()

    def spec(self) -> str:
        parts = [".".join(str(n) for n in self.path)] if self.path else []
        if self.text:
            name = self.text
            if self.fields:
                name += " (" + " ".join(self.fields) + ")"
            parts.append(name)
        return ".".join(parts)


_KINDS = r"HEADER\.FIELDS\.NOT|HEADER\.FIELDS|HEADER|TEXT"
_SECTION = re.compile(r"^(?:([1-9]\d*(?:\.[1-9]\d*)*)(?:\.(" + _KINDS + r"|MIME))?|(" + _KINDS
                      + r"))?(?:\s+\((.*)\))?$", re.I | re.S)


def parse_section(text: str, binary: bool = False) -> Section:
    m = _SECTION.match(text.strip())
    if not m:
        raise ParseError(f"invalid section [{text}]")
    path = tuple(int(n) for n in m.group(1).split(".")) if m.group(1) else ()
    kind = (m.group(2) or m.group(3) or "").upper()
    fields: tuple[str, ...] = ()
    if kind.startswith("HEADER.FIELDS"):
        if m.group(4) is None or not m.group(4).strip():
            raise ParseError("HEADER.FIELDS needs a list of field names")
        fields = tuple(f.strip('"').upper() for f in m.group(4).split())
    elif m.group(4) is not None:
        raise ParseError(f"invalid section [{text}]")
    if binary and kind:
        raise ParseError("BINARY takes a part number only")  # RFC 3516 §4.1
    return Section(path, kind, fields)


def find_part(root: Part, path: tuple[int, ...]) -> Part | None:
    """The part a section path names, or None when it does not exist."""
    cur = root
    for depth, n in enumerate(path):
        if depth and "m" in cur:  # a message/rfc822 part: numbering continues inside it
            cur = cur["m"]
        children = cur.get("c")
        if children:
            if n > len(children):
                return None
            cur = children[n - 1]
        elif n != 1:
            return None
    return cur


@dataclass(frozen=True, slots=True)
class Range:
    """Octets [start, end) of the stored message, or literal bytes computed from it."""

    start: int
    end: int
    filter_fields: tuple[str, ...] | None = None  # HEADER.FIELDS: keep these names
    exclude: bool = False  # HEADER.FIELDS.NOT


def section_range(root: Part, section: Section, prefix_len: int, total: int) -> Range | None:
    """Where a section's octets live; None when the part does not exist (empty result)."""
    p = prefix_len
    if not section.path:
        message = root
        if section.text == "":
            return Range(0, total)
        header_start = 0
    else:
        part = find_part(root, section.path)
        if part is None:
            return None
        hs, bs, be = part["o"]
        if section.text == "":
            return Range(bs + p, be + p)
        if section.text == "MIME":
            return Range(hs + p, bs + p)
        if "m" not in part:
            return None  # HEADER/TEXT of a part that is not a message
        message = part["m"]
        header_start = message["o"][0] + p
    hs, bs, be = message["o"]
    if section.text == "TEXT":
        return Range(bs + p, be + p)
    if section.text == "HEADER":
        return Range(header_start, bs + p)
    return Range(header_start, bs + p, section.fields, section.text.endswith(".NOT"))


def filter_header(raw: bytes, fields: tuple[str, ...], exclude: bool) -> bytes:
    """HEADER.FIELDS (.NOT): the matching field lines, folded lines kept, then CRLF."""
    wanted = {f.lower() for f in fields}
    out: list[bytes] = []
    keep = False
    for line in raw.splitlines(keepends=True):
        if line in (b"\r\n", b"\n"):
            break
        if line[:1] in (b" ", b"\t"):
            if keep:
                out.append(line)
            continue
        name = line.split(b":", 1)[0].strip().decode("latin-1").lower()
        keep = (name in wanted) != exclude
        if keep:
            out.append(line)
    return b"".join(out) + b"\r\n"
