"""The "vacation" (RFC 5230) and "vacation-seconds" (RFC 6131) extensions: the language
side of the autoresponder.

The ``vacation`` command checks its arguments and records a Vacation action; whether a
reply is sent (not to lists, bulk or auto-submitted mail nor a null sender, only when one of
the user's addresses is a recipient, once per sender and handle per period: RFC 3834 §2,
RFC 5230 §4.5-4.6) is decided by the delivery service after the run
(postroom/services/sieve/vacation.py).

Arguments: ``:days`` (RFC 5230 §4.1) or ``:seconds`` (RFC 6131 §2, 0 to 2^31-1; both at
once is an error) become ``Vacation.seconds``, None when neither is given (the site
default); the site's minimum and maximum are applied by the service, silently, as both RFCs
ask. ``:from`` must be an RFC 5322 mailbox-list (§4.3 SHOULD check): refused when the
script is stored, ignored with a log note when it is built at run time and invalid (§4.3
suggests ignoring). ``:handle`` defaults to a digest of ``:subject``, ``:from``, ``:mime``
and the reason AS WRITTEN, before variable expansion (§4.2), each counted so that one string
given to two different arguments gives two handles. One vacation per run (§4.7); vacation
with reject is refused by ``Runtime.add_action`` (RFC 5429 §2.4).
"""

from __future__ import annotations

import hashlib

from postroom.sieve.actions import Vacation
from postroom.sieve.address import parse_addresses
from postroom.sieve.bind import BindContext, Call
from postroom.sieve.errors import SieveRuntimeError
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
MAX_SECONDS = 2**31 - 1  # RFC 6131 §2: values from 0 to 2^31 MUST be accepted
DAY = 86400


def from_problem(text: str) -> str | None:
    """Why ``text`` is not an RFC 5322 mailbox-list, or None."""
    addresses = parse_addresses(text)
    if not addresses or not all(a.valid for a in addresses):
        return f":from {text!r} is not a valid address list"
    return None


def default_handle(call: Call) -> str:
    """RFC 5230 §4.2: the same for every vacation with the same :subject, :from, :mime and
    reason as written (unexpanded)."""
    parts: list[str] = []
    for tag in ("subject", "from"):
        value = call.tags.get(tag)
        parts.append("-" if not isinstance(value, str) else f"{len(value)}:{value}")
    parts.append("mime" if call.tags.get("mime") else "text")
    reason = call.string(0)
    parts.append(f"{len(reason)}:{reason}")
    digest = hashlib.sha256("\x00".join(parts).encode("utf-8", "surrogatepass"))
    return "auto:" + digest.hexdigest()


def _seconds(call: Call) -> int | None:
    days = call.tags.get("days")
    seconds = call.tags.get("seconds")
    if isinstance(seconds, int) and not isinstance(seconds, bool):
        return seconds
    if isinstance(days, int) and not isinstance(days, bool):
        return min(days * DAY, MAX_SECONDS)
    return None


async def _vacation(rt: Runtime, call: Call) -> None:
    if any(isinstance(a, Vacation) for a in rt.result.actions):
        raise SieveRuntimeError("vacation can be used only once per run (RFC 5230 §4.7)",
                                call.pos.line, call.pos.column)
    subject = call.tags.get("subject")
    from_ = call.tags.get("from")
    addresses = call.tags.get("addresses")
    handle = call.tags.get("handle")
    sender: str | None = None
    if isinstance(from_, str):
        sender = rt.expand(from_)
        problem = from_problem(sender)
        if problem is not None:
            rt.log(f"line {call.pos.line}: vacation: {problem}; ignored")
            sender = None
    action = Vacation(
        reason=rt.expand(call.string(0)),
        subject=rt.expand(subject) if isinstance(subject, str) else None,
        from_=sender,
        addresses=tuple(rt.expand_all(addresses)) if isinstance(addresses, list) else (),
        mime=bool(call.tags.get("mime")),
        handle="user:" + rt.expand(handle) if isinstance(handle, str) else call.data["handle"],
        seconds=call.data["seconds"],
    )
    rt.add_action(action, call)


def _check(call: Call, ctx: BindContext) -> None:
    if "days" in call.tags and "seconds" in call.tags:
        raise ctx.error("vacation: :days and :seconds exclude each other (RFC 6131 §2)",
                        call.pos)
    seconds = call.tags.get("seconds")
    if isinstance(seconds, int) and seconds > MAX_SECONDS:
        raise ctx.error("vacation: :seconds must be below 2^31 (RFC 6131 §2)", call.pos)
    from_ = call.tags.get("from")
    if isinstance(from_, str) and not ("${" in from_ and ctx.has("variables")):
        problem = from_problem(from_)
        if problem is not None:
            raise ctx.error(f"vacation: {problem} (RFC 5230 §4.3)", call.pos)
    call.data["seconds"] = _seconds(call)
    call.data["handle"] = default_handle(call)


VACATION = register(Extension(
    "vacation",
    commands=(
        CommandDef("vacation", Signature(
            positional=(S,),
            tags=(TagSpec("days", N), TagSpec("subject", S), TagSpec("from", S),
                  TagSpec("addresses", SL), TagSpec("mime"), TagSpec("handle", S))),
            _vacation, _check, action=True),
    ),
))

VACATION_SECONDS = register(Extension(
    "vacation-seconds",
    implies=("vacation",),
    extra_tags={"vacation": (TagSpec("seconds", N, capability="vacation-seconds"),)},
))
