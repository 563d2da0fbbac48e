"""Addresses in header fields, as the ``address`` test sees them (RFC 5228 §5.1, §2.7.4).

RFC 5322 §3.4 address lists: display names, comments and group names are never matched
(§5.1: "never acts on the phrase part … or on comments … It also never acts on group names,
although it does act on the addresses within the group"); obsolete forms (routes, a missing
comma) are tolerated. An address that does not parse is kept as written: ``:all`` still
compares its text, ``:localpart`` and ``:domain`` never match it (§2.7.4: "If an address is
not syntactically valid, then it will not be matched by tests specifying ':localpart' or
':domain'"). An empty field is one empty address (``address :is :all "resent-to" ""``).

Parsed from the raw (not RFC 2047 decoded) value: an encoded-word in a display name may
decode to text with "<" or "@" in it, and must not change where the address is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# atoms, RFC 5322 §3.2.3 atext plus anything 8-bit (RFC 6532 §3.2)
_ATOM = re.compile(r"[^\s()<>\[\]:;@\\,.\"]+")
# atext and dots, dots anywhere (the lenient dot-atom local parts take: see _local)
_DOTTED_ATEXT = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.\-\u0080-\U0010ffff]+")
_SPACE = re.compile(r"[ \t\r\n]+")


@dataclass(frozen=True, slots=True)
class Address:
    """One address of a field. ``local``/``domain`` are None when it does not parse;
    ``text`` is what was written (trimmed, comments kept) for ``:all`` on such an address."""

    local: str | None
    domain: str | None
    text: str

    @property
    def valid(self) -> bool:
        return self.local is not None and self.domain is not None

    @property
    def all(self) -> str:
        """``local@domain`` (RFC 5228 §2.7.4 ``:all``) or the text as written."""
        if self.local is not None and self.domain is not None:
            return f"{self.local}@{self.domain}"
        return self.text


# token kinds: "a" atom, "q" quoted string, "d" domain literal, or the special itself
_Token = tuple[str, str, int]  # (kind, value, offset)


def _tokens(text: str) -> list[_Token] | None:
    """RFC 5322 §3.2 tokens, comments and folding dropped; None if a quoted string, a
    comment or a domain literal is never closed."""
    out: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in " \t\r\n":
            m = _SPACE.match(text, i)
            assert m is not None
            i = m.end()
        elif c == "(":
            depth = 0
            while i < n:
                ch = text[i]
                if ch == "\\":
                    i += 2
                    continue
                if ch == "(":
                    depth += 1
                elif ch == ")":
                    depth -= 1
                    if depth == 0:
                        break
                i += 1
            if i >= n:
                return None
            i += 1
        elif c == '"':
            start = i
            i += 1
            buf: list[str] = []
            while i < n and text[i] != '"':
                if text[i] == "\\" and i + 1 < n:
                    i += 1
                if text[i] not in "\r\n":  # a folded quoted string unfolds (§3.2.4)
                    buf.append(text[i])
                i += 1
            if i >= n:
                return None
            i += 1
            out.append(("q", "".join(buf), start))
        elif c == "[":
            end = text.find("]", i)
            if end < 0:
                return None
            out.append(("d", text[i:end + 1], i))
            i = end + 1
        elif c in "<>:;@,.\\)":
            out.append((c, c, i))
            i += 1
        else:
            m = _ATOM.match(text, i)
            assert m is not None
            out.append(("a", m.group(), i))
            i = m.end()
    return out


def quote_local(local: str) -> str:
    """The local part in its SMTP form: as is when made of atom characters and dots, else
    quoted (RFC 5321 §4.1.2), so ``"Sirius"@x`` compares as ``Sirius@x``."""
    if _DOTTED_ATEXT.fullmatch(local):
        return local
    return '"' + local.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _addr_spec(toks: list[_Token]) -> tuple[str, str] | None:
    """local-part "@" domain (RFC 5322 §3.4.1), obsolete spaces around dots allowed."""
    at = [k for k, (kind, _, _) in enumerate(toks) if kind == "@"]
    if len(at) != 1:
        return None
    local_toks, domain_toks = toks[:at[0]], toks[at[0] + 1:]
    local = _local(local_toks)
    if local is None:
        return None
    if len(domain_toks) == 1 and domain_toks[0][0] == "d":
        return quote_local(local), domain_toks[0][1]
    domain = _dotted(domain_toks, words=("a",))
    if domain is None:
        return None
    return quote_local(local), domain


def _local(toks: list[_Token]) -> str | None:
    """A local part: words (atoms, quoted strings) and dots, leniently — dots may start,
    end or repeat (".japanese..x"), as some mobile carriers' addresses have them and other
    servers accept; two words without a dot between them are refused."""
    if not toks:
        return None
    parts: list[str] = []
    previous = "."
    for kind, value, _ in toks:
        if kind == ".":
            parts.append(".")
        elif kind in ("a", "q") and previous == ".":
            parts.append(value)
        else:
            return None
        previous = "." if kind == "." else "w"
    return "".join(parts)


def _dotted(toks: list[_Token], words: tuple[str, ...]) -> str | None:
    """word *("." word): the words joined with dots, or None."""
    if not toks or len(toks) % 2 == 0:
        return None
    parts: list[str] = []
    for k, (kind, value, _) in enumerate(toks):
        if k % 2 == 0:
            if kind not in words or (kind == "a" and not value):
                return None
            parts.append(value)
        elif kind != ".":
            return None
    return ".".join(parts)


def _mailbox(toks: list[_Token], text: str) -> Address | None:
    """name-addr or addr-spec (RFC 5322 §3.4); None for nothing at all."""
    if not toks:
        return None
    written = text[toks[0][2]:_end(toks[-1], text)].strip()
    kinds = [t[0] for t in toks]
    if "<" in kinds:
        lt = kinds.index("<")
        gt = len(kinds) - 1 - kinds[::-1].index(">") if ">" in kinds else -1
        if gt < lt or gt != len(kinds) - 1 or \
                any(k not in ("a", "q", ".") for k in kinds[:lt]):
            return Address(None, None, written)
        inner = toks[lt + 1:gt]
        if inner and inner[0][0] == "@":  # obsolete route "@a,@b:" (RFC 5322 §4.4)
            colon = next((k for k, t in enumerate(inner) if t[0] == ":"), None)
            if colon is None:
                return Address(None, None, written)
            inner = inner[colon + 1:]
        if not inner:  # "<>": the null address
            return Address(None, None, "")
        spec = _addr_spec(inner)
    else:
        spec = _addr_spec(toks)
    if spec is None:
        return Address(None, None, written)
    return Address(spec[0], spec[1], written)


def _end(tok: _Token, text: str) -> int:
    kind, value, start = tok
    if kind == "q":
        # the closing quote: skip escapes from the opening one
        i = start + 1
        while i < len(text) and text[i] != '"':
            i += 2 if text[i] == "\\" else 1
        return i + 1
    return start + len(value)


_ATOMS = r"[^\s()<>\[\]:;@\\,.\"]+(?:\.[^\s()<>\[\]:;@\\,.\"]+)*"
# the usual forms, "Name <local@domain>" and "local@domain", read without tokenising
_SIMPLE = re.compile(rf"\s*(?:[^<>@]*?\s*<\s*({_ATOMS})\s*@\s*({_ATOMS})\s*>|"
                     rf"({_ATOMS})@({_ATOMS}))\s*")
_NEEDS_PARSER = re.compile(r'["(:;\\\[]')


def _simple(value: str) -> list[Address] | None:
    """The addresses of a value without quotes, comments, groups or literals, or None
    (then the full parser reads it)."""
    out: list[Address] = []
    for piece in value.split(","):
        found = _SIMPLE.fullmatch(piece)
        if found is None:
            return None
        if found.group(1) is not None:
            out.append(Address(found.group(1), found.group(2), piece.strip()))
        else:
            out.append(Address(found.group(3), found.group(4), piece.strip()))
    return out


def parse_addresses(value: str) -> list[Address]:
    """The addresses of one header field value (raw, unfolded), groups opened, in order."""
    if value and _NEEDS_PARSER.search(value) is None:
        simple = _simple(value)
        if simple is not None:
            return simple
    toks = _tokens(value)
    if toks is None:
        return [Address(None, None, value.strip())]
    if not toks:
        return [Address(None, None, "")]
    out: list[Address] = []
    current: list[_Token] = []
    depth = 0  # inside <...>
    in_group = False
    for tok in toks:
        kind = tok[0]
        if kind == "<":
            depth += 1
        elif kind == ">":
            depth = max(0, depth - 1)
        if depth == 0 and kind == ":" and not in_group and \
                all(t[0] in ("a", "q", ".") for t in current):
            current = []  # the group's name is never matched
            in_group = True
            continue
        if depth == 0 and kind == ";" and in_group:
            mailbox = _mailbox(current, value)
            if mailbox is not None:
                out.append(mailbox)
            current = []
            in_group = False
            continue
        if depth == 0 and kind == ",":
            mailbox = _mailbox(current, value)
            if mailbox is not None:
                out.append(mailbox)
            current = []
            continue
        current.append(tok)
    mailbox = _mailbox(current, value)
    if mailbox is not None:
        out.append(mailbox)
    return out


def sieve_address(text: str) -> str | None:
    """An outbound address (redirect, vacation :from…) as RFC 5228 §2.4.2.3 allows it,
    ``addr-spec`` or ``phrase "<" addr-spec ">"`` (no group, no route, one address,
    blanks tolerated as RFC 5322's obsolete syntax does), as ``local@domain``; None when
    ``text`` is not one."""
    toks = _tokens(text)
    if toks is None or any(t[0] in (",", ";", ":") for t in toks):
        return None
    mailbox = _mailbox(toks, text)
    if mailbox is None or mailbox.local is None or mailbox.domain is None:
        return None
    return mailbox.all
