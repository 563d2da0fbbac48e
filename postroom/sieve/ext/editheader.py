"""The "editheader" extension (RFC 5293): ``addheader`` and ``deleteheader``.

Edits change ``Message.fields`` at once, so every later test and action of the run (and of
the scripts it includes: RFC 6609 §3.5) sees the current header (RFC 5293 §7), and
``Message.size`` (the ``size`` test measures the message that will be stored), and set
``Message.edited`` so that the delivery service stores and forwards the edited header block.
(§7 also wants the ORIGINAL header for the implicit keep after an error and for
disposition notices; the service has it, since it built the Message from it.)

Rules: a field name must be an RFC 5322 field-name (§4, §5), checked when the script is
stored when it is constant and at run time otherwise (an error then). A value may not hold
NUL; line breaks in it become spaces (the value is one unstructured field); non-ASCII text
is written as RFC 2047 encoded-words (§4: "encode the field … to be compliant"); an encoded
field longer than ``MAX_FIELD`` (998) octets is an error (§4 allows that limit).
"Received" and "Auto-Submitted" are never deleted (§6 MUST NOT; the attempt is silently
ignored). Each executed addheader/deleteheader counts against ``max_header_edits``.
"""

from __future__ import annotations

import re
from email.header import Header

from postroom.sieve.bind import BindContext, Call
from postroom.sieve.errors import SieveLimitExceeded, SieveRuntimeError
from postroom.sieve.match import match_values
from postroom.sieve.message import decode
from postroom.sieve.registry import (
    ArgKind,
    CommandDef,
    Extension,
    Signature,
    TagSpec,
    register,
)
from postroom.sieve.runtime import Runtime

S, SL, N = ArgKind.STRING, ArgKind.STRINGS, ArgKind.NUMBER

FIELD_NAME = re.compile(r"[!-9;-~]+")  # RFC 5322 §3.6.8: printable US-ASCII but ":"
PROTECTED_DELETE = frozenset(("received", "auto-submitted"))  # RFC 5293 §6
# octets of "name: value" once encoded: §4 allows a limit of at least 998, and the delivery
# writes each field on one line (Message.header_block), which RFC 5322 §2.1.1 bounds at 998
MAX_FIELD = 998
_BREAKS = re.compile(r"[ \t]*(?:\r\n|\r|\n)[ \t]*")


def _variable(text: str, ctx: BindContext) -> bool:
    return "${" in text and ctx.has("variables")


def name_problem(name: str) -> str | None:
    if not FIELD_NAME.fullmatch(name):
        return f"header field name {name!r} is invalid"
    return None


def encode_value(name: str, value: str) -> str:
    """The field value as written in the header: one line, RFC 2047 encoded-words for
    non-ASCII text. ValueError if it cannot be a field value or is too long."""
    if "\x00" in value:
        raise ValueError(f"the value of {name} holds a NUL character")
    value = _BREAKS.sub(" ", value).strip(" \t")
    if not value.isascii():
        # encoded-words of at most 75 characters (RFC 2047 §2) on one line: separated by a
        # space they decode as one text (§6.2)
        value = Header(value, "utf-8", maxlinelen=75).encode().replace("\n", "")
    if len(name) + 2 + len(value.encode("utf-8")) > MAX_FIELD:
        raise ValueError(f"the {name} field would be longer than {MAX_FIELD} octets")
    return value


def _count_edit(rt: Runtime, call: Call) -> None:
    rt.header_edits += 1
    if rt.header_edits > rt.limits.max_header_edits:
        raise SieveLimitExceeded("max_header_edits",
                                 f"more than {rt.limits.max_header_edits} header edits",
                                 call.pos.line, call.pos.column)


def _runtime_name(rt: Runtime, call: Call) -> str:
    name = rt.expand(call.string(0))
    problem = name_problem(name)
    if problem is not None:
        raise SieveRuntimeError(f"{call.name}: {problem}", call.pos.line, call.pos.column)
    return name


async def _addheader(rt: Runtime, call: Call) -> None:
    _count_edit(rt, call)
    name = _runtime_name(rt, call)
    try:
        value = encode_value(name, rt.expand(call.string(1)))
    except ValueError as exc:
        raise SieveRuntimeError(f"addheader: {exc}", call.pos.line, call.pos.column) from None
    fields = rt.message.fields
    if call.tags.get("last"):
        fields.append((name, value))
    else:
        fields.insert(0, (name, value))
    rt.message.size += _octets(name, value)
    rt.message.edited = True


async def _deleteheader(rt: Runtime, call: Call) -> None:
    _count_edit(rt, call)
    name = _runtime_name(rt, call)
    wanted = name.lower()
    if wanted in PROTECTED_DELETE:
        return  # §6: silently ignored
    fields = rt.message.fields
    positions = [n for n, (field, _value) in enumerate(fields) if field.lower() == wanted]
    index = call.tags.get("index")
    if isinstance(index, int) and not isinstance(index, bool):
        # §5: the index counts the named fields before any value pattern applies
        if index > len(positions):
            return
        positions = [positions[-index] if call.tags.get("last") else positions[index - 1]]
    if len(call.args) > 1:
        patterns = call.strings(1)
        positions = [p for p in positions
                     if match_values(rt, call, [decode(fields[p][1])], patterns)]
    if not positions:
        return
    doomed = set(positions)
    rt.message.size -= sum(_octets(*fields[p]) for p in doomed)
    rt.message.fields[:] = [f for n, f in enumerate(fields) if n not in doomed]
    rt.message.edited = True


def _octets(name: str, value: str) -> int:
    """What a field adds to the message as the delivery writes it (Message.header_block)."""
    return len(f"{name}: {value}\r\n".encode())


def _check_name(call: Call, ctx: BindContext) -> None:
    name = call.string(0)
    if not _variable(name, ctx) and (problem := name_problem(name)) is not None:
        raise ctx.error(f"{call.name}: {problem}", call.pos)


def _check_add(call: Call, ctx: BindContext) -> None:
    _check_name(call, ctx)
    value = call.string(1)
    if not _variable(value, ctx):
        try:
            encode_value(call.string(0), value)
        except ValueError as exc:
            raise ctx.error(f"addheader: {exc}", call.pos) from None


def _check_delete(call: Call, ctx: BindContext) -> None:
    _check_name(call, ctx)
    if "last" in call.tags and "index" not in call.tags:
        raise ctx.error("deleteheader: :last needs :index (RFC 5293 §5)", call.pos)
    index = call.tags.get("index")
    if isinstance(index, int) and not isinstance(index, bool) and index < 1:
        raise ctx.error("deleteheader: :index counts from 1", call.pos)


EDITHEADER = register(Extension(
    "editheader",
    commands=(
        CommandDef("addheader", Signature(positional=(S, S), tags=(TagSpec("last"),)),
                   _addheader, _check_add),
        CommandDef("deleteheader",
                   Signature(positional=(S, SL), optional=1, match=True, comparator=True,
                             tags=(TagSpec("index", N), TagSpec("last"))),
                   _deleteheader, _check_delete),
    ),
))
