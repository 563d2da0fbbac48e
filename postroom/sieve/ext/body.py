"""The "body" extension (RFC 5173): match the message body.

``body [COMPARATOR] [MATCH-TYPE] [:raw / :content <types> / :text] <key-list>``.

- ``:raw`` (§5.1): the undecoded body after the header's empty line, one string.
- ``:content`` (§5.2): the MIME parts whose type matches ("" any, "type" any subtype,
  "type/subtype" exactly; a type starting or ending with "/" or holding two matches none),
  found recursively through multiparts and message/rfc822. A matching multipart gives its
  prologue and epilogue, a matching message/rfc822 its nested header; other parts give
  their content with the transfer encoding and charset undone.
- ``:text`` (§5.3, the default): the text of every text/* part (HTML and XHTML reduced to
  their text) and of nested messages; containers give nothing.

A message with no empty line after its header has no body: every body test is false (§4).
The message is read only when a body test runs (``Message.full()``), at most
``limits.max_body_size`` octets of its body are looked at, and its MIME structure is scanned
once per message, whatever number of tests and scripts ask. §6: body tests set no match
variables.
"""

from __future__ import annotations

from dataclasses import dataclass

from postroom.mime.html import text_of
from postroom.mime.scanner import Part, delimiter, scan, split_header
from postroom.mime.text import decode_body, to_text
from postroom.sieve.bind import Call
from postroom.sieve.match import match_values
from postroom.sieve.message import Message
from postroom.sieve.registry import ArgKind, Extension, Signature, TagSpec, TestDef, register
from postroom.sieve.runtime import Runtime

SL = ArgKind.STRINGS
TRANSFORM = "body-transform"
_KNOWN_ENCODINGS = frozenset({"7BIT", "8BIT", "BINARY", "QUOTED-PRINTABLE", "BASE64"})
_TEXT_LIKE = frozenset({("application", "xhtml+xml")})
_HTML = frozenset({("text", "html"), ("application", "xhtml+xml")})
_CACHE_KEY = "body"


@dataclass(slots=True)
class _Body:
    """One message's body as the tests read it: the bytes (bounded), whether there is a
    body at all, and its MIME structure (scanned on first use)."""

    data: bytes
    body_start: int
    has_body: bool
    root: Part | None = None
    texts: dict[int, str | None] | None = None  # decoded content by part offset


async def _load(message: Message, limit: int) -> _Body:
    cached = message.cache.get(_CACHE_KEY)
    if isinstance(cached, _Body):
        return cached
    data = await message.full()
    start = split_header(data)
    has_body = start < len(data) or data[:start].endswith((b"\n\n", b"\r\n\r\n")) \
        or data.startswith((b"\r\n", b"\n"))
    if len(data) - start > limit:
        data = data[:start + limit]
    body = _Body(data, start, has_body)
    message.cache[_CACHE_KEY] = body
    return body


def _structure(body: _Body) -> Part:
    if body.root is None:
        body.root = scan(body.data).root
        body.texts = {}
    return body.root


def _valid_type(part: Part) -> bool:
    return "/" not in part.subtype and bool(part.mtype) and bool(part.subtype)


def _type_matches(part: Part, wanted: str) -> bool:
    """RFC 5173 §5.2 content-type selection."""
    if wanted == "":
        return True
    if not _valid_type(part):
        return False
    if wanted.startswith("/") or wanted.endswith("/") or wanted.count("/") > 1:
        return False
    if "/" in wanted:
        mtype, subtype = wanted.lower().split("/")
        return part.mtype == mtype and part.subtype == subtype
    return part.mtype == wanted.lower()


def _content(body: _Body, part: Part, html_to_text: bool) -> str | None:
    """A leaf's content with transfer encoding and charset undone; None when its transfer
    encoding is unknown (RFC 5173 §5.2: parts that cannot be decoded MAY be omitted)."""
    assert body.texts is not None
    key = part.body_start * 2 + int(html_to_text)
    if key in body.texts:
        return body.texts[key]
    text: str | None
    if part.encoding.upper() not in _KNOWN_ENCODINGS:
        text = None
    else:
        raw = decode_body(body.data[part.body_start:part.body_end], part.encoding)
        text = to_text(raw, part.params.get("charset", "utf-8"))
        if html_to_text and (part.mtype, part.subtype) in _HTML:
            text = text_of(text)
    body.texts[key] = text
    return text


def _multipart_edges(body: _Body, part: Part) -> list[str]:
    """The prologue and the epilogue of a multipart (RFC 2046 §5.1.1), as text."""
    boundary = part.params.get("boundary")
    if not boundary:
        return []
    _delim, pattern = delimiter(boundary)
    data = body.data
    first = pattern.search(data, part.body_start, part.body_end)
    if first is None:
        return [data[part.body_start:part.body_end].decode("utf-8", "replace")]
    out = [data[part.body_start:first.start()].decode("utf-8", "replace")]
    pos = first.end()
    while True:
        m = pattern.search(data, pos, part.body_end)
        if m is None:
            break
        if m.group(1):
            out.append(data[m.end():part.body_end].decode("utf-8", "replace"))
            break
        pos = m.end()
    return out


def _walk(body: _Body, part: Part, types: list[str], out: list[str], depth: int) -> None:
    if depth > 64:
        return
    selected = any(_type_matches(part, t) for t in types)
    if part.children:
        if selected:
            out.extend(_multipart_edges(body, part))
        for child in part.children:
            _walk(body, child, types, out, depth + 1)
    elif part.message is not None:
        if selected:  # the nested header, without the empty line that ends it
            inner = part.message
            header = body.data[inner.header_start:inner.body_start]
            if header.endswith(b"\r\n\r\n"):
                header = header[:-2]
            elif header.endswith(b"\n\n"):
                header = header[:-1]
            out.append(header.decode("utf-8", "replace"))
        _walk(body, part.message, types, out, depth + 1)
    elif selected:
        text = _content(body, part, html_to_text=False)
        if text is not None:
            out.append(text)


def _texts(body: _Body, part: Part, out: list[str], depth: int) -> None:
    if depth > 64:
        return
    if part.children:
        for child in part.children:
            _texts(body, child, out, depth + 1)
    elif part.message is not None:
        _texts(body, part.message, out, depth + 1)
    elif _valid_type(part) and (part.mtype == "text"
                                or (part.mtype, part.subtype) in _TEXT_LIKE):
        text = _content(body, part, html_to_text=True)
        if text is not None:
            out.append(text)


async def body_values(rt: Runtime, call: Call) -> list[str]:
    """The strings a body test matches against, per its transform."""
    body = await _load(rt.message, rt.limits.max_body_size)
    if not body.has_body:
        return []
    if "raw" in call.tags:
        return [body.data[body.body_start:].decode("utf-8", "replace")]
    root = _structure(body)
    out: list[str] = []
    content = call.tags.get("content")
    if isinstance(content, list):
        _walk(body, root, rt.expand_all(content), out, 0)
    else:
        _texts(body, root, out, 0)
    return out


async def _body(rt: Runtime, call: Call) -> bool:
    values = await body_values(rt, call)
    saved = rt.match_variables
    try:
        return match_values(rt, call, values, call.strings(0))
    finally:
        rt.match_variables = saved  # RFC 5173 §6: no match variables from body


register(Extension(
    "body",
    tests=(TestDef("body", Signature(
        positional=(SL,), match=True, comparator=True, names=("key list",),
        tags=(TagSpec("raw", group=TRANSFORM), TagSpec("content", SL, group=TRANSFORM),
              TagSpec("text", group=TRANSFORM))), _body),),
))
