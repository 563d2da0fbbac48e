"""The base language (RFC 5228): control commands, keep/discard/redirect, the base tests,
match types ``:is``/``:contains``/``:matches``, comparators ``i;octet``/``i;ascii-casemap``
and address parts ``:all``/``:localpart``/``:domain``. Registered as the extension "",
which every script has without a require."""

from __future__ import annotations

import functools

from postroom.sieve import interp
from postroom.sieve.actions import Discard, Keep, Redirect
from postroom.sieve.address import Address, parse_addresses, sieve_address
from postroom.sieve.bind import BindContext, Call
from postroom.sieve.errors import SieveRuntimeError
from postroom.sieve.match import match_values
from postroom.sieve.registry import (
    AddressPartDef,
    AddressPartFn,
    ArgKind,
    CommandDef,
    ComparatorDef,
    Extension,
    MatchTypeDef,
    Signature,
    TagSpec,
    TestDef,
    extensions,
    register,
)
from postroom.sieve.runtime import Runtime, Stop

S, SL, N = ArgKind.STRING, ArgKind.STRINGS, ArgKind.NUMBER


def split_address(address: str) -> tuple[str, str]:
    """(local part, domain) split at the last "@"; no "@": all local part, no domain."""
    at = address.rfind("@")
    return (address, "") if at < 0 else (address[:at], address[at + 1:])


def header_addresses(rt: Runtime, names: list[str]) -> list[str]:
    """Every valid address in the named header fields as ``local@domain`` (groups opened,
    display names and comments dropped: RFC 5228 §5.1), in field order."""
    return [a.all for a in parsed_addresses(rt, names) if a.valid]


def parsed_addresses(rt: Runtime, names: list[str], call: Call | None = None) -> list[Address]:
    """Every address in the named header fields, invalid ones included (``:all`` compares
    their text: RFC 5228 §2.7.4). With ``call``, its ``:index``/``:last`` (RFC 5260 §6)
    pick among the fields of each name first. The list may be the message's own: do not
    change it."""
    message = rt.message
    if call is None or "index" not in call.tags:
        if len(names) == 1:
            return message.addresses(names[0])
        return [a for name in names for a in message.addresses(name)]
    out: list[Address] = []
    for name in names:
        for value in pick_field(call, message.raw_header(name)):
            out.extend(parse_addresses(value))
    return out


def pick_field(call: Call, values: list[str]) -> list[str]:
    """RFC 5260 §6 ``:index N`` (``:last`` counts from the end): the one field chosen among
    those of a name, or none when there are fewer."""
    index = call.tags.get("index")
    if not isinstance(index, int):
        return values
    if index < 1 or index > len(values):
        return []
    return [values[-index] if call.tags.get("last") else values[index - 1]]


def address_part(rt: Runtime, call: Call, addresses: list[str]) -> list[str]:
    """The call's address part of each address (given as strings); addresses without that
    part are left out (RFC 5233 §4: no detail, no match)."""
    part = _address_parts()[call.address_part]
    out: list[str] = []
    for address in addresses:
        local, domain = split_address(address)
        value = part(local, domain)
        if value is not None:
            out.append(value)
    return out


def parts_of(call: Call, addresses: list[Address]) -> list[str]:
    """The call's address part of each parsed address: ``:all`` of an invalid address is
    its text; every other part of it is missing (RFC 5228 §2.7.4)."""
    name = call.address_part
    if name == "all":
        return [a.all for a in addresses]
    part = _address_parts()[name]
    out: list[str] = []
    for a in addresses:
        if a.local is not None and a.domain is not None:
            value = part(a.local, a.domain)
            if value is not None:
                out.append(value)
    return out


@functools.cache
def _address_parts() -> dict[str, AddressPartFn]:
    return {a.name: a.part for ext in extensions().values() for a in ext.address_parts}


# IMAP (RFC 9051 §9) flags a message may be given: the settable system flags, and keywords
# (atoms: no atom-specials, ASCII only). RFC 5232 §2: anything else is ignored.
SYSTEM_FLAGS = {f.lower(): f for f in ("\\Answered", "\\Flagged", "\\Deleted", "\\Seen",
                                       "\\Draft")}
_ATOM_SPECIALS = frozenset('(){ %*"\\]')


def flag_list(values: list[str]) -> list[str]:
    """RFC 5232 §2: each string is a space-separated list of flags; empty strings and
    invalid flags are ignored, system flags get their canonical case, duplicates (compared
    case-insensitively, as IMAP does) go."""
    out: list[str] = []
    seen: set[str] = set()
    for value in values:
        for flag in value.split():
            low = flag.lower()
            if low in seen:
                continue
            if flag.startswith("\\"):
                canonical = SYSTEM_FLAGS.get(low)
                if canonical is None:
                    continue  # \Recent and unknown system flags (RFC 5232 §2)
                flag = canonical
            elif not flag.isascii() or any(c in _ATOM_SPECIALS or ord(c) < 0x20
                                           or ord(c) == 0x7F for c in flag):
                continue
            seen.add(low)
            out.append(flag)
    return out


def action_flags(rt: Runtime, call: Call) -> tuple[str, ...] | None:
    """The flags a keep or fileinto files with (RFC 5232 §5): its ``:flags``, else the
    internal variable's value at this point when the script uses imap4flags, else None."""
    flags = call.tags.get("flags")
    if isinstance(flags, list):
        return tuple(flag_list(rt.expand_all(flags)))
    if rt.uses_flags:
        return tuple(rt.flags)
    return None


async def _keep(rt: Runtime, call: Call) -> None:
    rt.add_action(Keep(action_flags(rt, call)), call)
    rt.cancel_implicit_keep()


async def _discard(rt: Runtime, call: Call) -> None:
    rt.add_action(Discard(), call)
    rt.cancel_implicit_keep()


async def _redirect(rt: Runtime, call: Call) -> None:
    written = rt.expand(call.string(0))
    address = sieve_address(written)
    if address is None:
        raise SieveRuntimeError(f"redirect to an invalid address {written!r}",
                                call.pos.line, call.pos.column)
    copy = bool(call.tags.get("copy"))
    rt.add_action(Redirect(address, copy), call)
    if not copy:
        rt.cancel_implicit_keep()


def _check_redirect(call: Call, ctx: BindContext) -> None:
    # RFC 5228 §2.4.2.3: it is an error to use an address that is not a sieve-address
    address = call.string(0)
    if "${" in address and ctx.has("variables"):
        return
    if sieve_address(address) is None:
        raise ctx.error(f"redirect to an invalid address {address!r}", call.pos)


async def _stop(rt: Runtime, call: Call) -> None:
    raise Stop


async def _true(rt: Runtime, call: Call) -> bool:
    return True


async def _false(rt: Runtime, call: Call) -> bool:
    return False


async def _not(rt: Runtime, call: Call) -> bool:
    return not await interp.test(rt, call.tests[0])


async def _allof(rt: Runtime, call: Call) -> bool:
    for t in call.tests:
        if not await interp.test(rt, t):
            return False
    return True


async def _anyof(rt: Runtime, call: Call) -> bool:
    for t in call.tests:
        if await interp.test(rt, t):
            return True
    return False


async def _header(rt: Runtime, call: Call) -> bool:
    names = rt.expand_all(call.strings(0))
    message = rt.message
    if len(names) == 1 and "index" not in call.tags:
        values = message.header(names[0])
    else:
        values = []
        for name in names:
            found = message.header(name)
            values.extend(pick_field(call, found) if "index" in call.tags else found)
    if not values:
        # RFC 5228 §5.7: a header that is not there matches no key, not even ""; :count
        # (RFC 5231 §4.2) still counts zero
        return call.match == "count" and match_values(rt, call, values, call.strings(1))
    return match_values(rt, call, values, call.strings(1))


# RFC 5228 §5.1: "Implementations MUST restrict the address test to headers that contain
# addresses, but MUST include at least From, To, Cc, Bcc, Sender, Resent-From, and
# Resent-To, and it SHOULD include any other header that utilizes an address-list". These,
# and names ending like them (X-Original-To, Resent-Cc, …), are address headers; in any
# other field only what parses as an address counts (a Subject's text is never one).
ADDRESS_HEADERS = frozenset({
    "from", "to", "cc", "bcc", "sender", "reply-to", "return-path", "for-approval",
    "for-handling", "for-comment", "x-admin", "return-receipt-requested",
    "registered-mail-reply-requested-by", "x-beenthere", "disposition-notification-to"})
_ADDRESS_SUFFIXES = ("-to", "-from", "-cc", "-bcc", "-sender")


def is_address_header(name: str) -> bool:
    low = name.lower()
    return low in ADDRESS_HEADERS or low.endswith(_ADDRESS_SUFFIXES)


async def _address(rt: Runtime, call: Call) -> bool:
    names = rt.expand_all(call.strings(0))
    addresses = parsed_addresses(rt, names, call)
    if not all(is_address_header(n) for n in names):
        addresses = [a for name in names
                     for a in parsed_addresses(rt, [name], call)
                     if a.valid or is_address_header(name)]
    values = parts_of(call, addresses)
    if call.match == "count":  # RFC 5231 §4.2: mailboxes, not an empty field
        values = [v for v in values if v]
    return match_values(rt, call, values, call.strings(1))


async def _exists(rt: Runtime, call: Call) -> bool:
    # RFC 5228 §5.5: true only if every named header exists
    message = rt.message
    return all(message.raw_header(name) for name in rt.expand_all(call.strings(0)))


async def _size(rt: Runtime, call: Call) -> bool:
    limit = call.number(0)
    return rt.message.size > limit if "over" in call.tags else rt.message.size < limit


def _check_size(call: Call, ctx: BindContext) -> None:
    if ("over" in call.tags) == ("under" in call.tags):
        raise ctx.error("size needs exactly one of :over and :under", call.pos)


_MATCH = Signature(positional=(SL, SL), match=True, comparator=True,
                   names=("header names", "key list"))
_ADDRESS = Signature(positional=(SL, SL), match=True, comparator=True, address_part=True,
                     names=("header list", "key list"))

BASE = register(Extension(
    "",
    commands=(
        CommandDef("if", Signature(tests="one", block=True), None),
        CommandDef("elsif", Signature(tests="one", block=True), None),
        CommandDef("else", Signature(block=True), None),
        CommandDef("stop", Signature(), _stop),
        CommandDef("keep", Signature(), _keep, action=True),
        CommandDef("discard", Signature(), _discard, action=True),
        CommandDef("redirect", Signature(positional=(S,), names=("address",)), _redirect,
                   _check_redirect,
                   action=True),
    ),
    tests=(
        TestDef("true", Signature(), _true),
        TestDef("false", Signature(), _false),
        TestDef("not", Signature(tests="one"), _not),
        TestDef("allof", Signature(tests="list"), _allof),
        TestDef("anyof", Signature(tests="list"), _anyof),
        TestDef("header", _MATCH, _header),
        TestDef("address", _ADDRESS, _address),
        TestDef("exists", Signature(positional=(SL,), names=("header names",)), _exists),
        TestDef("size", Signature(positional=(N,), tags=(TagSpec("over"), TagSpec("under")),
                                  names=("limit",)),
                _size, _check_size),
    ),
    match_types=(MatchTypeDef("is"), MatchTypeDef("contains"), MatchTypeDef("matches")),
    comparators=(ComparatorDef("i;octet"), ComparatorDef("i;ascii-casemap")),
    address_parts=(
        AddressPartDef("all", lambda local, domain: f"{local}@{domain}" if domain else local),
        AddressPartDef("localpart", lambda local, domain: local),
        AddressPartDef("domain", lambda local, domain: domain),
    ),
))
