"""The "envelope" extension (RFC 5228 §5.4): test the SMTP envelope.

Parts: "from" (the reverse path, MAIL FROM), "to" (the recipient being delivered to — only
that one, §5.4), and "auth" (the authenticated submitter, RFC 4954 §5's AUTH parameter,
an extension Pigeonhole also offers); names are compared case-insensitively. The null
reverse path is the empty string and matches "" whatever the address part (§5.4: "the null
reverse-path is matched against the empty string, regardless of the ADDRESS-PART argument
specified"). A path without "@" is an invalid address: ``:all`` compares its text, the other
parts match nothing (§2.7.4).
"""

from __future__ import annotations

from postroom.sieve.address import Address
from postroom.sieve.bind import BindContext, Call
from postroom.sieve.ext.core import parts_of
from postroom.sieve.match import match_values
from postroom.sieve.registry import ArgKind, Extension, Signature, TestDef, register
from postroom.sieve.runtime import Runtime

PARTS = ("from", "to", "auth")


def path_address(path: str) -> Address:
    """An SMTP path as an address: <> stripped; split at the last "@"."""
    path = path.strip()
    if path.startswith("<") and path.endswith(">"):
        path = path[1:-1]
    at = path.rfind("@")
    if at <= 0 or at == len(path) - 1:
        return Address(None, None, path)
    return Address(path[:at], path[at + 1:], path)


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
        values.extend(parts_of(call, [path_address(path)]))
    return match_values(rt, call, values, call.strings(1))


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
