"""WBXML 1.3 as ActiveSync uses it (MS-ASWBXML §2.1.1): bytes ↔ Element.

The subset ActiveSync needs, and nothing more: the header ``03 01 6A 00`` (version 1.3,
public id 1 "unknown", charset 106 UTF-8, an empty string table; a string table holding only
the public identifier, as libwbxml writes it, is skipped), SWITCH_PAGE, END, STR_I
(NUL-terminated UTF-8 text), OPAQUE (``C3`` + mb_u_int32 length + octets) and tags whose bit
0x40 says "has content". Attributes (bit 0x80), entities, string-table references, literals
and extension tokens are never used by ActiveSync and are refused.

Decoding is bounded — the nesting depth, the 5-octet limit of an mb_u_int32, an OPAQUE
length that runs past the end, an unknown page or token, truncated input, anything after
the root — and every failure is a ``WbxmlError``, never another exception (the hypothesis
test in tests/unit/test_eas_wbxml.py feeds arbitrary bytes). It runs in linear time: one
pass over the input, text and opaque data sliced once; an element's content split into many
STR_I/OPAQUE pieces is collected and joined once at its END (joining as they come would be
quadratic: a 4 MB body of 3-octet pieces is over a million of them).
"""

from __future__ import annotations

from postroom.protocols.eas.codepages import PAGE_NUMBERS, PAGES, TOKENS
from postroom.protocols.eas.element import Element

SWITCH_PAGE = 0x00
END = 0x01
ENTITY = 0x02
STR_I = 0x03
LITERAL = 0x04
OPAQUE = 0xC3
HAS_CONTENT = 0x40
HAS_ATTRIBUTES = 0x80

HEADER = b"\x03\x01\x6a\x00"  # WBXML 1.3, public id 1, UTF-8 (MIBenum 106), no string table


class WbxmlError(ValueError):
    """A body that is not well-formed WBXML for ActiveSync: unknown page or token, bad
    header, truncated, too deep. Commands answer it with their protocol error status
    (MS-ASCMD: Status 4 / 103 "invalid WBXML"), never a 500."""


def _mb_u_int32(buf: bytes, pos: int) -> tuple[int, int]:
    """A multi-byte unsigned integer (WBXML 1.3 §5.1): 7 bits per octet, high bit set on all
    but the last; at most 5 octets and 32 bits."""
    value = 0
    for _ in range(5):
        if pos >= len(buf):
            raise WbxmlError("truncated multi-byte integer")
        octet = buf[pos]
        pos += 1
        value = (value << 7) | (octet & 0x7F)
        if not octet & 0x80:
            if value > 0xFFFFFFFF:
                raise WbxmlError("multi-byte integer larger than 32 bits")
            return value, pos
    raise WbxmlError("multi-byte integer longer than 5 octets")


def _write_mb_u_int32(value: int, out: bytearray) -> None:
    chunks = [value & 0x7F]
    value >>= 7
    while value:
        chunks.append((value & 0x7F) | 0x80)
        value >>= 7
    out.extend(reversed(chunks))


def _header(buf: bytes) -> int:
    """Checks the header and returns where the body starts (WBXML 1.3 §5.3-5.4)."""
    if len(buf) < 4:
        raise WbxmlError("shorter than a WBXML header")
    if buf[0] not in (0x01, 0x02, 0x03):
        raise WbxmlError(f"unsupported WBXML version 0x{buf[0]:02x}")
    pos = 1
    public_id, pos = _mb_u_int32(buf, pos)
    if public_id == 0:  # the identifier is a string in the string table (libwbxml writes
        _, pos = _mb_u_int32(buf, pos)  # the ActiveSync FPI so): its index, not needed
    charset, pos = _mb_u_int32(buf, pos)
    if charset not in (0, 106):  # 0: unknown, taken as UTF-8; 106: UTF-8
        raise WbxmlError(f"unsupported charset (MIBenum {charset}); ActiveSync is UTF-8")
    table, pos = _mb_u_int32(buf, pos)
    if table > len(buf) - pos:
        raise WbxmlError("string table runs past the end")
    return pos + table  # a string table is skipped: nothing may reference it


def decode(body: bytes, *, max_depth: int = 32, max_elements: int = 100_000) -> Element:
    """The document in ``body``; WbxmlError for anything malformed, nested deeper than
    ``max_depth`` or holding more than ``max_elements`` elements and content pieces (one
    octet per tag would otherwise cost ~130 octets of objects each: a 4 MB body of empty
    tags was half a gigabyte)."""
    buf = bytes(body)
    pos = _header(buf)
    page = 0
    stack: list[Element] = []
    # the text and opaque pieces of each open element, parallel to ``stack``
    texts: list[list[str]] = []
    datas: list[list[bytes]] = []
    root: Element | None = None
    size = len(buf)
    made = 0  # elements and content pieces so far (``max_elements``)
    while pos < size:
        token = buf[pos]
        pos += 1
        if token == SWITCH_PAGE:
            if pos >= size:
                raise WbxmlError("truncated SWITCH_PAGE")
            page = buf[pos]
            pos += 1
            if page not in PAGES:
                raise WbxmlError(f"unknown code page 0x{page:02x}")
            continue
        if token == END:
            if not stack:
                raise WbxmlError("END without an open element")
            done = stack.pop()
            pieces, blobs = texts.pop(), datas.pop()
            if pieces:
                done.text = "".join(pieces)
            elif blobs:
                done.data = b"".join(blobs)
            if not stack:
                root = done
                break
            continue
        if token == STR_I:
            end = buf.find(b"\x00", pos)
            if end < 0:
                raise WbxmlError("unterminated inline string")
            if not stack:
                raise WbxmlError("text outside the root element")
            try:
                text = buf[pos:end].decode("utf-8")
            except UnicodeDecodeError as exc:
                raise WbxmlError(f"inline string is not UTF-8 ({exc.reason})") from None
            _content(stack[-1], datas[-1], "text")
            made += 1
            if made > max_elements:
                raise WbxmlError(f"more than {max_elements} elements")
            texts[-1].append(text)
            pos = end + 1
            continue
        if token == OPAQUE:
            length, pos = _mb_u_int32(buf, pos)
            if length > size - pos:
                raise WbxmlError("opaque data runs past the end")
            if not stack:
                raise WbxmlError("opaque data outside the root element")
            _content(stack[-1], texts[-1], "opaque data")
            made += 1
            if made > max_elements:
                raise WbxmlError(f"more than {max_elements} elements")
            datas[-1].append(buf[pos:pos + length])
            pos += length
            continue
        if token in (ENTITY, LITERAL) or token & 0x3F < 0x05:
            raise WbxmlError(f"unsupported WBXML token 0x{token:02x}")
        if token & HAS_ATTRIBUTES:
            raise WbxmlError("attributes are not used by ActiveSync")
        name = PAGES[page][1].get(token & 0x3F)
        if name is None:
            raise WbxmlError(f"unknown token 0x{token & 0x3F:02x} in code page "
                             f"{PAGES[page][0]}")
        made += 1
        if made > max_elements:
            raise WbxmlError(f"more than {max_elements} elements")
        element = Element(PAGES[page][0], name)
        if stack:
            parent = stack[-1]
            if texts[-1] or datas[-1]:
                raise WbxmlError(f"{parent.name} mixes text and elements")
            parent.children.append(element)
        elif root is not None:
            raise WbxmlError("more than one root element")
        if token & HAS_CONTENT:
            if len(stack) >= max_depth:
                raise WbxmlError(f"nested deeper than {max_depth} elements")
            stack.append(element)
            texts.append([])
            datas.append([])
        elif not stack:
            root = element
            break
    if stack:
        raise WbxmlError("truncated: elements left open")
    if root is None:
        raise WbxmlError("no root element")
    if pos != size:
        raise WbxmlError("data after the root element")
    return root


def _content(element: Element, other: list[str] | list[bytes], kind: str) -> None:
    """Checks that a piece of ``kind`` content may go into ``element``: several pieces of
    one kind are joined (a writer may split a string); mixing text with opaque data, or
    either with child elements, is refused."""
    if element.children:
        raise WbxmlError(f"{element.name} mixes elements and {kind}")
    if other:
        raise WbxmlError(f"{element.name} mixes text and opaque data")


def encode(root: Element) -> bytes:
    """The WBXML of ``root``. A name not in its page is a programming error (ValueError:
    the commands build only known elements); a NUL or a lone surrogate in text is sent as
    U+FFFD (STR_I cannot carry it, and the text usually comes from stored mail)."""
    out = bytearray(HEADER)
    page = 0
    # an explicit stack instead of recursion: (element, next child index)
    todo: list[tuple[Element, int]] = [(root, -1)]
    while todo:
        element, index = todo.pop()
        if index == -1:
            number = PAGE_NUMBERS.get(element.ns)
            if number is None:
                raise ValueError(f"unknown code page {element.ns!r}")
            token = TOKENS[element.ns].get(element.name)
            if token is None:
                raise ValueError(f"unknown element {element.ns}:{element.name}")
            if number != page:
                out += bytes((SWITCH_PAGE, number))
                page = number
            has_content = bool(element.children) or element.text not in (None, "") \
                or element.data is not None
            if not has_content:
                out.append(token)
                continue
            out.append(token | HAS_CONTENT)
            if element.data is not None:
                out.append(OPAQUE)
                _write_mb_u_int32(len(element.data), out)
                out += element.data
            elif element.text is not None:
                # text from stored mail may hold what STR_I cannot carry: a NUL (it ends
                # the string) or a lone surrogate (not UTF-8); both become U+FFFD rather
                # than an error, which would fail every Sync of that folder for good
                try:
                    raw = element.text.encode("utf-8")
                except UnicodeEncodeError:
                    raw = _printable_utf8(element.text)
                if b"\x00" in raw:
                    raw = _printable_utf8(element.text)
                out.append(STR_I)
                out += raw
                out.append(0)
            index = 0
        if index < len(element.children):
            todo.append((element, index + 1))
            todo.append((element.children[index], -1))
        else:
            out.append(END)
    return bytes(out)


def _printable_utf8(text: str) -> bytes:
    """``text`` as UTF-8 with each NUL and lone surrogate replaced by U+FFFD."""
    return "".join("\ufffd" if ch == "\x00" or "\ud800" <= ch <= "\udfff" else ch
                   for ch in text).encode("utf-8")
