"""RFC 5322 §3.4 address lists, as IMAP ENVELOPE wants them (RFC 9051 §7.5.2).

Each address becomes ``[name, adl, mailbox, host]`` (None for NIL); a group becomes a start
marker ``[None, None, group-name, None]`` and an end marker ``[None, None, None, None]``
(RFC 9051 §7.5.2, RFC 3501 §7.4.2). Lenient by design: mail in the wild is malformed and a
scanner must never fail on it.

The name is the display-name phrase (``Real Name <user@host>``); an address written the old
way, ``user@host (Real Name)``, has its name in a comment (RFC 5322 §3.4 and §4.4: the comment
was the name before angle brackets existed), and that comment is taken as the name, as
Dovecot and other servers do, so clients show and sort it. Comments anywhere else (before the
address, inside the brackets, next to a phrase) are only comments and are dropped (RFC 5322
§3.2.2).
"""

from __future__ import annotations

Addr = list[str | None]


def _tokens(text: str) -> list[tuple[str, str]]:
    """('q', quoted) ('a', atom-ish) ('c', comment text) or single specials '<' '>' ',' ':'
    ';' '@'."""
    out: list[tuple[str, str]] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in " \t\r\n":
            i += 1
        elif c == "(":
            depth = 0
            buf: list[str] = []
            while i < n:
                if text[i] == "\\":  # RFC 5322 §3.2.1 quoted-pair
                    if i + 1 < n:
                        buf.append(text[i + 1])
                    i += 2
                    continue
                if text[i] == "(":
                    depth += 1
                    if depth > 1:
                        buf.append("(")
                elif text[i] == ")":
                    depth -= 1
                    if depth == 0:
                        i += 1
                        break
                    buf.append(")")
                else:
                    buf.append(text[i])
                i += 1
            out.append(("c", " ".join("".join(buf).split())))
        elif c == '"':
            i += 1
            buf = []
            while i < n and text[i] != '"':
                if text[i] == "\\" and i + 1 < n:
                    i += 1
                buf.append(text[i])
                i += 1
            i += 1
            out.append(("q", "".join(buf)))
        elif c in "<>,:;@":
            out.append((c, c))
            i += 1
        else:
            j = i
            while j < n and text[j] not in ' \t\r\n()"<>,:;@':
                j += 1
            out.append(("a", text[i:j]))
            i = j
    return out


def _words(toks: list[tuple[str, str]]) -> str:
    return " ".join(v for k, v in toks if k != "c")


def _mailbox(toks: list[tuple[str, str]]) -> Addr | None:
    # Only a comment after the address starts can name it: ``(note) user@host`` has no name.
    first = next((i for i, (k, _) in enumerate(toks) if k != "c"), len(toks))
    comments = [v for k, v in toks[first:] if k == "c" and v]
    toks = [t for t in toks if t[0] != "c"]
    if not toks:
        return None
    if not any(k == "<" for k, _ in toks) and comments:
        # RFC 5322 §4.4 obsolete form ``user@host (Real Name)``: the comment names the mailbox
        addr = _mailbox(toks)
        if addr is not None and addr[0] is None:
            addr[0] = comments[-1]
        return addr
    if any(k == "<" for k, _ in toks):
        lt = next(i for i, (k, _) in enumerate(toks) if k == "<")
        name = _words(toks[:lt]) or None
        inner = [t for t in toks[lt + 1:] if t[0] != ">"]
        adl = None
        if inner and inner[0][0] == "@":  # obsolete source route
            colon = next((i for i, (k, _) in enumerate(inner) if k == ":"), None)
            if colon is not None:
                adl = "".join(v for _, v in inner[:colon])
                inner = inner[colon + 1:]
        spec = inner
    else:
        name, adl, spec = None, None, toks
    at = max((i for i, (k, _) in enumerate(spec) if k == "@"), default=None)
    if at is None:
        local = "".join(v for _, v in spec)
        return [name, adl, local or None, None] if local or name else None
    local = "".join(v for _, v in spec[:at])
    host = "".join(v for _, v in spec[at + 1:])
    return [name, adl, local or None, host or None]


def parse_address_list(text: str | None) -> list[Addr] | None:
    if text is None:
        return None
    toks = _tokens(text)
    out: list[Addr] = []
    current: list[tuple[str, str]] = []
    in_group = False
    depth = 0
    for tok in toks:
        kind = tok[0]
        if kind == "<":
            depth += 1
        elif kind == ">":
            depth = max(0, depth - 1)
        if kind == ":" and depth == 0 and not in_group:
            out.append([None, None, _words(current) or "", None])
            current = []
            in_group = True
        elif kind == ";" and depth == 0 and in_group:
            mb = _mailbox(current)
            if mb:
                out.append(mb)
            out.append([None, None, None, None])
            current = []
            in_group = False
        elif kind == "," and depth == 0:
            mb = _mailbox(current)
            if mb:
                out.append(mb)
            current = []
        else:
            current.append(tok)
    mb = _mailbox(current)
    if mb:
        out.append(mb)
    if in_group:
        out.append([None, None, None, None])
    return out or None
