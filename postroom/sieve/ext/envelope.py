"""The "envelope" extension (RFC 5228 §5.4): test the SMTP envelope.

Parts: "from" (the reverse path, MAIL FROM), "to" (the recipient being delivered to — only
that one, §5.4), and "auth" (the authenticated submitter, RFC 4954 §5's AUTH parameter,
an extension Pigeonhole also offers); names are compared case-insensitively. The null
reverse path is the empty string and matches "" whatever the address part (§5.4: "the null
reverse-path is matched against the empty string, regardless of the ADDRESS-PART argument
specified"). A path is parsed as RFC 5321 §4.1.2 has it (a source route is ignored, a local
part alone such as <MAILER-DAEMON> has no domain); a path that does not parse matches
nothing, not even with ``:all`` (unlike a header's invalid address, it is no text the sender
wrote for people, only a broken protocol element).
"""

from __future__ import annotations

import re

from postroom.sieve.address import Address, quote_local
from postroom.sieve.bind import BindContext, Call
from postroom.sieve.ext.core import parts_of
from postroom.sieve.match import match_values
from postroom.sieve.registry import ArgKind, Extension, Signature, TestDef, register
from postroom.sieve.runtime import Runtime

PARTS = ("from", "to", "auth")


_ATEXT = r"A-Za-z0-9!#$%&'*+/=?^_`{|}~\-\u0080-\U0010ffff"
# lenient as deployed mail is: dots anywhere in a local part (".japanese@…"), "_" and "-"
# anywhere in a label; an empty label is still refused
_LOCAL = rf'(?:[{_ATEXT}.]+|"(?:[^"\\\r\n]|\\.)*")'
_LABEL = r"[A-Za-z0-9_\-\u0080-\U0010ffff]+"
_DOMAIN = rf"(?:{_LABEL}(?:\.{_LABEL})*|\[[^\[\]\\\s]*\])"
_ROUTE = rf"@{_DOMAIN}(?:,@{_DOMAIN})*:"
# RFC 5321 §4.1.2 Path (a source route is ignored: RFC 5321 §C), or a bare mailbox; a
# local part alone is accepted (<MAILER-DAEMON>)
_PATH = re.compile(rf"<(?:{_ROUTE})?({_LOCAL})(?:@({_DOMAIN}))?>|({_LOCAL})(?:@({_DOMAIN}))?")


def path_address(path: str) -> Address | None:
    """An SMTP path (RFC 5321 §4.1.2) as an address, or None when it is not one (then
    nothing matches it, not even ``:all``). A path without a domain has only a local part:
    ``:all`` and ``:localpart`` give it, ``:domain`` nothing."""
    path = path.strip()
    found = _PATH.fullmatch(path)
    if found is None:
        return None
    local = found.group(1) if found.group(1) is not None else found.group(3)
    domain = found.group(2) if found.group(1) is not None else found.group(4)
    if local.startswith('"'):
        local = quote_local(re.sub(r"\\(.)", r"\1", local[1:-1]))
    if domain is None:
        return Address(local, "", local)
    return Address(local, domain, path)


async def _envelope(rt: Runtime, call: Call) -> bool:
    env = rt.message.envelope
    values: list[str] = []
    for part in rt.expand_all(call.strings(0)):
        name = part.lower()
        if name == "from":
            path = env.sender
        elif name == "to":
            path = env.recipient
        elif name == "auth":
            path = env.auth
            if not path:
                continue  # no authenticated submitter: nothing to match
        else:
            continue  # an unknown part built at run time matches nothing
        if path in ("", "<>"):
            if call.match != "count":  # RFC 5231 §4.2: a null sender counts 0
                values.append("")
            continue
        address = path_address(path)
        if address is not None:
            values.extend(_parts(call, address))
    return match_values(rt, call, values, call.strings(1))


def _parts(call: Call, address: Address) -> list[str]:
    if address.domain == "":  # a local part alone: it has no domain, no user or detail
        if call.address_part in ("all", "localpart"):
            return [address.local or ""]
        return []
    return parts_of(call, [address])


def _check(call: Call, ctx: BindContext) -> None:
    for part in call.strings(0):
        if "${" in part and ctx.has("variables"):
            continue
        if part.lower() not in PARTS:
            raise ctx.error(f"unknown envelope part {part!r} (known: "
                            f"{', '.join(PARTS)})", call.pos)


register(Extension(
    "envelope",
    tests=(TestDef("envelope", Signature(positional=(ArgKind.STRINGS, ArgKind.STRINGS),
                                         match=True, comparator=True, address_part=True,
                                         names=("envelope parts", "key list")),
                   _envelope, _check),),
))
