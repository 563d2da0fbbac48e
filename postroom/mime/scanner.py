"""A byte-offset MIME scanner: one pass at delivery, never again on FETCH.

``scan(message)`` returns a ``MessageInfo`` whose parts carry header/body offsets into the
message bytes, so IMAP can serve ``BODY[1.2]``, ``BODY[1.MIME]``, ``BINARY[]`` and
``BODYSTRUCTURE`` by seeking in the blob. Line ends may be CRLF or bare LF (lenient on input);
part bodies end before the CRLF that precedes a boundary (RFC 2046 §5.1.1).

Limits keep hostile input cheap: at most ``MAX_DEPTH`` nesting levels and ``MAX_PARTS`` parts;
past them the remainder is treated as an opaque leaf.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

import msgspec

from postroom.mime.addresses import parse_address_list

MAX_DEPTH = 32
MAX_PARTS = 2000
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_EMBEDDED = (("message", "rfc822"), ("message", "global"))


@dataclass(slots=True)
class Part:
    header_start: int
    body_start: int
    body_end: int
    mtype: str = "text"
    subtype: str = "plain"
    params: dict[str, str] = field(default_factory=dict)
    content_id: str | None = None
    description: str | None = None
    encoding: str = "7BIT"
    md5: str | None = None
    disposition: tuple[str, dict[str, str]] | None = None
    language: list[str] | None = None
    location: str | None = None
    lines: int = 0
    children: list[Part] = field(default_factory=list)
    message: Part | None = None  # for message/rfc822: the embedded message's root
    envelope: list[Any] | None = None  # for message/rfc822: the embedded envelope

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "o": [self.header_start, self.body_start, self.body_end],
            "t": [self.mtype, self.subtype], "p": self.params, "e": self.encoding,
            "n": self.lines}
        for key, value in (("id", self.content_id), ("d", self.description),
                           ("md5", self.md5), ("disp", self.disposition),
                           ("lang", self.language), ("loc", self.location),
                           ("env", self.envelope)):
            if value is not None:
                out[key] = value
        if self.children:
            out["c"] = [c.to_json() for c in self.children]
        if self.message is not None:
            out["m"] = self.message.to_json()
        return out


@dataclass(slots=True)
class MessageInfo:
    envelope: list[Any]
    root: Part
    date: str | None
    references: str | None = None  # for THREAD=REFERENCES (RFC 5256 §4), not in ENVELOPE

    def to_json(self) -> str:
        out: dict[str, Any] = {"env": self.envelope, "body": self.root.to_json()}
        if self.references:
            out["refs"] = self.references
        return msgspec.json.encode(out).decode()


def split_header(data: bytes, start: int = 0, end: int | None = None) -> int:
    """Offset where the body starts (after the blank line), or ``end`` if there is none."""
    end = len(data) if end is None else end
    if data.startswith(b"\r\n", start) or data.startswith(b"\n", start):  # no header at all
        return min(end, start + (2 if data.startswith(b"\r\n", start) else 1))
    m = _HEADER_END.search(data, start, end)
    return m.end() if m else end


def parse_headers(raw: bytes) -> list[tuple[str, str]]:
    """Unfolded (lower-case name, raw value) pairs, in order."""
    text = raw.decode("utf-8", "replace")
    out: list[tuple[str, str]] = []
    name: str | None = None
    value: list[str] = []
    for line in re.split(r"\r?\n", text):
        if line[:1] in (" ", "\t") and name is not None:
            value.append(line)
            continue
        if name is not None:
            out.append((name, " ".join(v.strip() for v in value).strip()))
            name = None
        if ":" in line:
            field_name, _, rest = line.partition(":")
            if field_name and not any(c in field_name for c in " \t"):
                name, value = field_name.lower(), [rest]
    if name is not None:
        out.append((name, " ".join(v.strip() for v in value).strip()))
    return out


def _params(text: str) -> tuple[str, dict[str, str]]:
    """Split ``value; a=b; c="d"`` (RFC 2045 §5.1); parameter names lower-cased."""
    parts: list[str] = []
    buf, quoted = [], False
    for ch in text:
        if ch == '"':
            quoted = not quoted
            buf.append(ch)
        elif ch == ";" and not quoted:
            parts.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
    parts.append("".join(buf))
    main = parts[0].strip()
    params: dict[str, str] = {}
    for item in parts[1:]:
        key, sep, val = item.partition("=")
        if not sep:
            continue
        val = val.strip()
        if len(val) >= 2 and val[0] == '"' and val[-1] == '"':
            val = val[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        params[key.strip().lower()] = val
    return main, params


def _first(headers: list[tuple[str, str]], name: str) -> str | None:
    for key, value in headers:
        if key == name:
            return value
    return None


def envelope(headers: list[tuple[str, str]]) -> list[Any]:
    """RFC 9051 §7.5.2 ENVELOPE; sender and reply-to default to from."""
    frm = parse_address_list(_first(headers, "from"))
    sender = parse_address_list(_first(headers, "sender")) or frm
    reply_to = parse_address_list(_first(headers, "reply-to")) or frm
    return [_first(headers, "date"), _first(headers, "subject"), frm, sender, reply_to,
            parse_address_list(_first(headers, "to")), parse_address_list(_first(headers, "cc")),
            parse_address_list(_first(headers, "bcc")), _first(headers, "in-reply-to"),
            _first(headers, "message-id")]


def _count_lines(data: bytes, start: int, end: int) -> int:
    return data.count(b"\n", start, end) + (1 if end > start and data[end - 1:end] != b"\n"
                                            else 0)


def delimiter(boundary: str) -> tuple[bytes, re.Pattern[bytes]]:
    """The dash-boundary of a multipart and the pattern of its delimiter lines (RFC 2046 §5.1.1):
    a line break or the start of a line, ``--boundary``, ``--`` on the close delimiter, transport
    padding, then a line break or the end of the searched range (``$`` at ``endpos``).
    Groups: 1 the close marker, 2 the padding, 3 the line break (empty when ``$`` matched)."""
    delim = b"--" + boundary.encode("utf-8", "replace")
    # MULTILINE: a delimiter right after the header's blank line starts a line too.
    return delim, re.compile(rb"(?:^|\r?\n)" + re.escape(delim) + rb"(--)?([ \t]*)(\r?\n|$)",
                             re.MULTILINE)


def part_from_headers(start: int, body_start: int, end: int, headers: list[tuple[str, str]],
                      default_type: tuple[str, str]) -> Part:
    """A part's own description from its header fields (RFC 2045 §5, §6; RFC 2183; RFC 3282)."""
    p = Part(start, body_start, end, mtype=default_type[0], subtype=default_type[1])
    ctype = _first(headers, "content-type")
    if ctype:
        main, params = _params(ctype)
        if "/" in main:
            t, _, s = main.partition("/")
            p.mtype, p.subtype = t.strip().lower() or "text", s.strip().lower() or "plain"
            p.params = params
    if p.mtype == "text" and "charset" not in p.params:
        p.params = {"charset": "us-ascii", **p.params}
    p.content_id = _first(headers, "content-id")
    p.description = _first(headers, "content-description")
    enc = _first(headers, "content-transfer-encoding")
    p.encoding = enc.strip().upper() if enc else "7BIT"
    p.md5 = _first(headers, "content-md5")
    disp = _first(headers, "content-disposition")
    if disp:
        dmain, dparams = _params(disp)
        p.disposition = (dmain.lower(), dparams)
    lang = _first(headers, "content-language")
    if lang:
        p.language = [x.strip() for x in lang.split(",") if x.strip()]
    p.location = _first(headers, "content-location")
    return p


def nesting(p: Part, depth: int, parts: int) -> Literal["multipart", "message", "leaf"]:
    """How a part's body is read: as body parts between delimiters, as one embedded message, or
    as an opaque leaf (also what a part past ``MAX_DEPTH``/``MAX_PARTS`` falls back to);
    ``parts`` counts the parts begun so far, this one included."""
    if depth >= MAX_DEPTH or parts >= MAX_PARTS:
        return "leaf"
    if p.mtype == "multipart" and p.params.get("boundary"):
        return "multipart"
    if (p.mtype, p.subtype) in _EMBEDDED:
        return "message"
    return "leaf"


def child_type(p: Part) -> tuple[str, str]:
    """Default type of a multipart's body parts (RFC 2046 §5.1.5 for digest)."""
    return ("message", "rfc822") if p.subtype == "digest" else ("text", "plain")


def empty_part(at: int) -> Part:
    """Stands in for the body parts of a multipart that has none."""
    return Part(at, at, at, params={"charset": "us-ascii"})


class _Scanner:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.parts = 0

    def part(self, start: int, end: int, depth: int, default_type: tuple[str, str]) -> Part:
        self.parts += 1
        data = self.data
        body_start = split_header(data, start, end)
        headers = parse_headers(data[start:body_start])
        p = part_from_headers(start, body_start, end, headers, default_type)
        kind = nesting(p, depth, self.parts)
        if kind == "multipart":
            self.multipart(p, depth)
        elif kind == "message":
            inner = self.part(body_start, end, depth + 1, ("text", "plain"))
            p.message = inner
            p.envelope = envelope(parse_headers(data[body_start:inner.body_start]))
            p.lines = _count_lines(data, body_start, end)
        elif p.mtype == "text":
            p.lines = _count_lines(data, body_start, end)
        return p

    def multipart(self, p: Part, depth: int) -> None:
        data = self.data
        _delim, pattern = delimiter(p.params["boundary"])
        child_default = child_type(p)
        pos = p.body_start
        starts: list[tuple[int, int, bool]] = []  # (match start, match end, is close)
        while pos <= p.body_end:
            m = pattern.search(data, pos, p.body_end)
            if not m:
                break
            starts.append((m.start(), m.end(), bool(m.group(1))))
            if m.group(1):
                break
            pos = m.end()
        for i, (_s, e, closing) in enumerate(starts):
            if closing:
                break
            part_end = starts[i + 1][0] if i + 1 < len(starts) else p.body_end
            if self.parts >= MAX_PARTS:
                break
            p.children.append(self.part(e, part_end, depth + 1, child_default))
        if not p.children:  # RFC 9051: a multipart has at least one part; treat as empty text
            p.children.append(empty_part(p.body_start))


def scan(data: bytes) -> MessageInfo:
    scanner = _Scanner(data)
    root = scanner.part(0, len(data), 0, ("text", "plain"))
    headers = parse_headers(data[:root.body_start])
    env = envelope(headers)
    return MessageInfo(env, root, env[0], _first(headers, "references"))
