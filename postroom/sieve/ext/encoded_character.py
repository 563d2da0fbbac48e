"""The "encoded-character" extension (RFC 5228 §2.4.2.4): ``${hex:…}`` and ``${unicode:…}``
in string literals, decoded when the script is bound (after escapes and dot-unstuffing, before
any variable expansion).

A sequence that is not well-formed stays as written ("${hex:40" and "${hex:400}" are kept);
a well-formed ``${unicode:…}`` naming a value outside 0-D7FF and E000-10FFFF is an error
(§2.4.2.4). Octets from ``${hex:…}`` that are not UTF-8 are kept as surrogate escapes, so a
later check (a mailbox name, a flag) can refuse them where the script uses them.
"""

from __future__ import annotations

import re

from postroom.sieve import ast, bind
from postroom.sieve.bind import BindContext
from postroom.sieve.registry import Extension, register

# blank = WSP / CRLF; hex-pair-seq = *blank hex-pair *(1*blank hex-pair) *blank
_BLANK = r"[ \t\r\n]"
_HEX = re.compile(rf"\$\{{hex:({_BLANK}*[0-9A-Fa-f]{{1,2}}(?:{_BLANK}+[0-9A-Fa-f]{{1,2}})*"
                  rf"{_BLANK}*)\}}", re.IGNORECASE)
_UNICODE = re.compile(rf"\$\{{unicode:({_BLANK}*[0-9A-Fa-f]+(?:{_BLANK}+[0-9A-Fa-f]+)*"
                      rf"{_BLANK}*)\}}", re.IGNORECASE)
_ENCODED = re.compile(f"{_HEX.pattern}|{_UNICODE.pattern}", re.IGNORECASE)


def decode(text: str, pos: ast.Pos, ctx: BindContext) -> str:
    """``text`` with each encoded character sequence replaced (one pass, left to right, so
    "${hex:4${hex:30}}" gives "${hex:40}")."""
    if "${" not in text:
        return text

    def one(found: re.Match[str]) -> str:
        if found.group(1) is not None:
            octets = bytes(int(h, 16) for h in found.group(1).split())
            return octets.decode("utf-8", "surrogateescape")
        chars: list[str] = []
        for h in found.group(2).split():
            value = int(h, 16) if len(h) <= 8 else 0x110000
            if 0xD800 <= value <= 0xDFFF or value > 0x10FFFF:
                raise ctx.error(f"${{unicode:{h}}} is not a Unicode character "
                                "(RFC 5228 §2.4.2.4)", pos)
            chars.append(chr(value))
        return "".join(chars)

    return _ENCODED.sub(one, text)


bind.LITERAL_FILTERS["encoded-character"] = decode

register(Extension("encoded-character"))
