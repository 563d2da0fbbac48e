"""SPF macros (RFC 7208 §7) and the syntax of domain-specs, checked when a record is parsed.

A macro-string is parsed once into parts: literal text, or a ``Macro`` (letter, digits,
reverse flag, delimiters, URL-escape flag). Any syntax error is a ``SpfSyntax``, which the
evaluator turns into ``permerror`` before it evaluates anything (RFC 7208 §4.6: "If there are
any syntax errors anywhere in the record, check_host() returns immediately with the result
'permerror'"). Expansion needs values from the evaluation (the client address, the sender, the
current domain, the validated PTR name for ``%{p}``), which the caller passes as ``MacroValues``.
"""

from __future__ import annotations

import ipaddress
import re
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

MACRO_LETTERS = frozenset("slodiphcrtv")
EXP_ONLY = frozenset("crt")  # RFC 7208 §7.1: allowed only in "exp" text
DELIMITERS = frozenset(".-+,/_=")
_MACRO = re.compile(r"%\{([A-Za-z])(\d*)(r?)([.\-+,/_=]*)\}", re.IGNORECASE)
# RFC 7208 §7.1 toplabel: alphanumeric with at least one letter, or with an inner hyphen.
_TOPLABEL = re.compile(r"^(?:[a-z0-9]*[a-z][a-z0-9]*|[a-z0-9]+-[a-z0-9-]*[a-z0-9])$",
                       re.IGNORECASE)


class SpfSyntax(Exception):
    """A record, macro-string or domain-spec that does not follow RFC 7208 §12."""


@dataclass(frozen=True, slots=True)
class Macro:
    letter: str  # lower case
    digits: int  # 0 = all parts
    reverse: bool
    delimiters: str  # "" = "."
    escape: bool  # an upper-case letter: URL-escape the result (RFC 7208 §7.3)


Part = str | Macro


def parse_macro_string(text: str, exp: bool = False) -> tuple[Part, ...]:
    """RFC 7208 §7.1 macro-string; ``exp``: the letters c, r and t are allowed."""
    parts: list[Part] = []
    literal: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch != "%":
            if not exp and not (0x21 <= ord(ch) <= 0x7E):  # macro-literal %x21-24 / %x26-7E
                raise SpfSyntax(f"character {ch!r} not allowed in a domain-spec")
            literal.append(ch)
            i += 1
            continue
        nxt = text[i + 1:i + 2]
        if nxt == "%":
            literal.append("%")
            i += 2
        elif nxt == "_":
            literal.append(" ")
            i += 2
        elif nxt == "-":
            literal.append("%20")
            i += 2
        elif nxt == "{":
            m = _MACRO.match(text, i)
            if m is None:
                raise SpfSyntax(f"bad macro at {text[i:i + 12]!r}")
            letter = m.group(1)
            if letter.lower() not in MACRO_LETTERS:
                raise SpfSyntax(f"unknown macro letter {letter!r}")
            if letter.lower() in EXP_ONLY and not exp:
                raise SpfSyntax(f"macro letter {letter!r} is allowed only in exp text")
            digits = int(m.group(2)) if m.group(2) else 0
            if m.group(2) and digits == 0:  # RFC 7208 §7.1: "the value MUST be nonzero"
                raise SpfSyntax("macro transformer digits must not be zero")
            if literal:
                parts.append("".join(literal))
                literal = []
            parts.append(Macro(letter.lower(), min(digits, 128), bool(m.group(3)),
                               m.group(4), letter.isupper()))
            i = m.end()
        else:  # RFC 7208 §7.1: '%' not followed by '{', '%', '-' or '_'
            raise SpfSyntax("a '%' not followed by '{', '%', '-' or '_'")
    if literal:
        parts.append("".join(literal))
    return tuple(parts)


def parse_domain_spec(text: str) -> tuple[Part, ...]:
    """RFC 7208 §7.1 domain-spec: a macro-string ending in ``.toplabel`` (an optional final
    dot allowed) or in a macro."""
    parts = parse_macro_string(text)
    if not parts:
        raise SpfSyntax("empty domain-spec")
    last = parts[-1]
    if isinstance(last, Macro):
        return parts
    end = last[:-1] if last.endswith(".") else last
    head, dot, top = end.rpartition(".")
    if not dot:
        # a single label: fine only when it follows a macro ("%{d}.com" style is ".toplabel")
        raise SpfSyntax(f"domain-spec {text!r} must end in .toplabel")
    if not _TOPLABEL.match(top):
        raise SpfSyntax(f"domain-spec {text!r} does not end in a valid top label")
    if not head and len(parts) == 1:
        raise SpfSyntax(f"domain-spec {text!r} is empty before its top label")
    return parts


@dataclass
class MacroValues:
    """What the macros stand for in one evaluation (RFC 7208 §7.2)."""

    sender: str  # <sender>, local-part@domain (postmaster@... when it had none)
    domain: str  # <domain>, the current one
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address
    helo: str
    receiver: str = "unknown"
    # %{p}: the validated domain name of ip, looked up only when a record uses it
    validated: Callable[[], Awaitable[str]] | None = None


def _ip_text(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """%{i}: dotted quad, or 32 dot-separated nibbles for IPv6 (RFC 7208 §7.3)."""
    if ip.version == 4:
        return str(ip)
    return ".".join(ip.exploded.replace(":", ""))


async def _value(letter: str, v: MacroValues) -> str:
    local, _, domain = v.sender.rpartition("@")
    if letter == "s":
        return v.sender
    if letter == "l":
        return local or "postmaster"
    if letter == "o":
        return domain
    if letter == "d":
        return v.domain
    if letter == "i":
        return _ip_text(v.ip)
    if letter == "p":
        return await v.validated() if v.validated is not None else "unknown"
    if letter == "v":
        return "in-addr" if v.ip.version == 4 else "ip6"
    if letter == "h":
        return v.helo
    if letter == "c":
        return str(v.ip)
    if letter == "r":
        return v.receiver
    if letter == "t":
        return str(int(time.time()))
    raise SpfSyntax(f"unknown macro letter {letter!r}")  # parse_macro_string prevents it


async def expand(parts: tuple[Part, ...], values: MacroValues) -> str:
    """Expand a parsed macro-string (RFC 7208 §7.3): split on the delimiters, reverse if
    asked, keep the rightmost ``digits`` parts, join with dots, URL-escape upper-case
    macros."""
    out: list[str] = []
    for part in parts:
        if isinstance(part, str):
            out.append(part)
            continue
        value = await _value(part.letter, values)
        if part.digits or part.reverse or part.delimiters:
            pieces = re.split("[" + re.escape(part.delimiters or ".") + "]", value)
            if part.reverse:
                pieces.reverse()
            if part.digits:
                pieces = pieces[-part.digits:]
            value = ".".join(pieces)
        if part.escape:
            value = urllib.parse.quote(value, safe="-._~")
        out.append(value)
    return "".join(out)


def trim_domain(name: str) -> str:
    """RFC 7208 §7.3: an expanded domain longer than 253 octets loses labels on the left
    until it fits; a final dot is dropped (§7.1, "trailing dot is ignored")."""
    name = name[:-1] if name.endswith(".") else name
    while len(name) > 253 and "." in name:
        name = name.partition(".")[2]
    return name
