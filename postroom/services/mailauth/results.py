"""The Authentication-Results header field (RFC 8601): written once per message, and the
incoming ones that claim to be ours found so they can be removed.

One field, our authserv-id first, one ``method=result`` per line (folded with CRLF TAB, so the
annotation stays one header field), each with its reason as a comment and its properties:

    Authentication-Results: mx.example.org;
        spf=pass (matched ip4:192.0.2.0/24) smtp.mailfrom=alice@example.com;
        dkim=pass header.d=example.com header.s=sel header.b=AbCdEf12;
        dmarc=pass (p=reject) header.from=example.com;
        arc=none

Values that are not an RFC 2045 token are quoted (RFC 8601 §2.2: ``pvalue`` is a value or an
addr-spec); comments lose parentheses and backslashes rather than need escaping.

Forged fields (RFC 8601 §5): a border MTA "MUST remove or rename" every Authentication-Results
field carrying its own authserv-id that it did not add, or a sender could claim results we
never reached. ``forged_ranges`` finds them in a header section, by octet range, for acceptance
to leave out of the stored copy (see docs/mailauth.md for why ranges and not a rewrite here).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_TOKEN = re.compile(r"^[!#$%&'*+\-.0-9A-Z^_`a-z{|}~@]+$")  # RFC 2045 token, plus '@'
_COMMENT = re.compile(r"\([^()]*\)")


def value(text: str) -> str:
    """A property value: as is when it is a token (an addr-spec counts), else quoted."""
    if text and _TOKEN.match(text) and text.count("@") <= 1:
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def comment(text: str) -> str:
    clean = re.sub(r"[()\\\r\n]", "", text).strip()
    return f" ({clean[:200]})" if clean else ""


def method(name: str, result: str, reason: str = "",
           props: Sequence[tuple[str, str]] = ()) -> str:
    """One resinfo (RFC 8601 §2.2): ``name=result (reason) ptype.prop=value ...``."""
    out = f"{name}={result}{comment(reason)}"
    for key, val in props:
        if val:
            out += f" {key}={value(val)}"
    return out


def header(authserv_id: str, methods: Sequence[str]) -> str:
    """The whole field as one annotation line (folded inside, no final CRLF)."""
    if not methods:
        return f"Authentication-Results: {authserv_id}; none"  # RFC 8601 §2.2
    return f"Authentication-Results: {authserv_id};\r\n\t" + ";\r\n\t".join(methods)


def authserv_id_of(field_value: bytes) -> str:
    """The authserv-id at the start of a field value: comments and folding dropped, an
    optional version after it ignored (RFC 8601 §2.2)."""
    text = field_value.decode("utf-8", "replace")
    text = re.sub(r"\r\n[ \t]", " ", text)
    while True:
        stripped = _COMMENT.sub(" ", text)
        if stripped == text:
            break
        text = stripped
    first = text.split(";", 1)[0].strip()
    return first.split()[0].strip('"').lower() if first.split() else ""


def forged_ranges(head: bytes, authserv_id: str) -> list[tuple[int, int]]:
    """(start, end) octet ranges of the header section ``head`` (each field with its CRLF) of
    every Authentication-Results field whose authserv-id is ``authserv_id``."""
    ours = authserv_id.lower()
    out: list[tuple[int, int]] = []
    pos = 0
    start: int | None = None
    name = b""
    while pos < len(head):
        end = head.find(b"\r\n", pos)
        end = len(head) if end < 0 else end + 2
        line = head[pos:end]
        if line[:1] not in (b" ", b"\t"):  # a new field begins: settle the previous one
            if start is not None and name == b"authentication-results" and \
                    authserv_id_of(head[start:pos].partition(b":")[2]) == ours:
                out.append((start, pos))
            start = pos
            name = line.partition(b":")[0].strip().lower()
        pos = end
    if start is not None and name == b"authentication-results" and \
            authserv_id_of(head[start:pos].partition(b":")[2]) == ours:
        out.append((start, pos))
    return out
