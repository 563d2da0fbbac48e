"""The "duplicate" extension (RFC 7352): has this message been seen by an earlier run?

The unique ID (§3.1) is the first Message-ID field (or the first ``:header`` field), unfolded,
decoded and trimmed, or the ``:uniqueid`` string as given; a missing field makes the test
false and tracks nothing. ``:handle`` (§3.2) keeps separate lists: the tracking value handed
to ``Environment.duplicate`` is the handle, a NUL, then the unique ID (a NUL cannot be in a
script's strings), so "no handle" is the empty handle. ``:seconds 0`` is false without
tracking (§3.3); when ``:seconds`` is omitted the environment is passed -1 and uses the
site default (``[sieve] duplicate_default_seconds``); it clamps larger values to the site
maximum silently, as §3.3 requires (services/sieve/memory.py).

The environment answers from what earlier deliveries committed, never from this run (§3: a
run's own IDs MUST NOT count), and records only when the delivery completes. Within a run,
the same tracking value gets the same answer (asked once).
"""

from __future__ import annotations

import re

from postroom.sieve.bind import BindContext, Call
from postroom.sieve.registry import ArgKind, Extension, Signature, TagSpec, TestDef, register
from postroom.sieve.runtime import Runtime

S, N = ArgKind.STRING, ArgKind.NUMBER
NO_SECONDS = -1  # what the environment is given when the script names no :seconds
_FIELD_NAME = re.compile(r"[!-9;-~]+")  # RFC 5322 §3.6.8 ftext


def tracking_value(handle: str, unique_id: str) -> str:
    return f"{handle}\x00{unique_id}"


async def _duplicate(rt: Runtime, call: Call) -> bool:
    seconds_tag = call.tags.get("seconds")
    seconds = seconds_tag if isinstance(seconds_tag, int) and \
        not isinstance(seconds_tag, bool) else NO_SECONDS
    if seconds == 0:
        return False  # §3.3: ":seconds 0" is false unconditionally
    unique = call.tags.get("uniqueid")
    if isinstance(unique, str):
        unique_id = rt.expand(unique)
    else:
        header = call.tags.get("header")
        name = rt.expand(header) if isinstance(header, str) else "Message-ID"
        if not _FIELD_NAME.fullmatch(name):
            return False  # §3.1: an invalid header name is false, not an error
        values = rt.message.header(name)
        if not values:
            return False  # §3.1: nothing to track
        unique_id = values[0].strip(" \t")
    handle = call.tags.get("handle")
    tracking = tracking_value(rt.expand(handle) if isinstance(handle, str) else "",
                              unique_id)
    answers = rt.state.setdefault("duplicate", {})
    assert isinstance(answers, dict)
    if tracking not in answers:
        answers[tracking] = await rt.env.duplicate(tracking, seconds,
                                                   bool(call.tags.get("last")))
    return bool(answers[tracking])


def _check(call: Call, ctx: BindContext) -> None:
    if "header" in call.tags and "uniqueid" in call.tags:
        raise ctx.error("duplicate: :header and :uniqueid exclude each other (RFC 7352 §3.1)",
                        call.pos)


DUPLICATE = register(Extension(
    "duplicate",
    tests=(
        TestDef("duplicate", Signature(tags=(
            TagSpec("handle", S), TagSpec("header", S), TagSpec("uniqueid", S),
            TagSpec("seconds", N), TagSpec("last"))), _duplicate, _check),
    ),
))
