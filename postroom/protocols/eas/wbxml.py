"""WBXML 1.3 as ActiveSync uses it (MS-ASWBXML §2.1.1): bytes ↔ Element.

(Part 1 of issue 25 writes this module: header 03 01 6A 00, SWITCH_PAGE, END, STR_I,
OPAQUE with mb_u_int32 lengths, tag|0x40 for content; bounded by size and depth.)
"""

from __future__ import annotations

from postroom.protocols.eas.element import Element


class WbxmlError(ValueError):
    """A body that is not well-formed WBXML for ActiveSync: unknown page or token, bad
    header, truncated, too deep. Commands answer it with their protocol error status
    (MS-ASCMD: Status 4 / 103 "invalid WBXML"), never a 500."""


def decode(body: bytes, *, max_depth: int = 32) -> Element:
    raise NotImplementedError("wbxml.decode: part 1 of issue 25")


def encode(root: Element) -> bytes:
    raise NotImplementedError("wbxml.encode: part 1 of issue 25")
