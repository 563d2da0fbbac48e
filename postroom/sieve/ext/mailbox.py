"""The "mailbox", "mboxmetadata" and "servermetadata" extensions (RFC 5490).

``mailboxexists`` (§3.1) is true when every named folder exists and the script's owner may
file into it; ``fileinto :create`` (§3.2) asks the delivery service to create the folder if
needed (the FileInto action's ``create``; fileinto itself reads the tag). ``metadata`` and
``metadataexists`` (§3.3, §3.4) read a folder's annotations, ``servermetadata`` and
``servermetadataexists`` (§4) the server's, always with the rights of the script's owner: the
Environment answers through the gate (postroom/services/sieve/environment.py), so a script
learns nothing about a folder its owner may not see.
"""

from __future__ import annotations

from postroom.sieve.bind import Call
from postroom.sieve.match import match_values
from postroom.sieve.registry import ArgKind, Extension, Signature, TagSpec, TestDef, register
from postroom.sieve.runtime import Runtime

S, SL = ArgKind.STRING, ArgKind.STRINGS


def annotation_problem(name: str) -> str | None:
    """Why ``name`` is not an entry name of RFC 5464 §3.2 (``/private/…`` or ``/shared/…``,
    no wildcards, no empty component, no control characters), or None."""
    lowered = name.lower()
    if not (lowered.startswith("/private/") or lowered.startswith("/shared/")):
        return "an annotation name starts with /private/ or /shared/"
    if name.endswith("/") or "//" in name:
        return "an annotation name has no empty component"
    if any(c in "*%" or ord(c) < 0x20 or ord(c) == 0x7F for c in name):
        return "an annotation name has no wildcard or control character"
    return None


async def _annotation(rt: Runtime, call: Call, mailbox: str | None, name: str) -> str | None:
    """The value, or None when it is missing or the name is not valid: such a test is
    false, not an error (RFC 5490 makes no name an error; Pigeonhole answers false too), and
    the log says why."""
    problem = annotation_problem(name)
    if problem is not None:
        rt.log(f"line {call.pos.line}: {call.name}: {problem} ({name!r})")
        return None
    return await rt.env.metadata(mailbox, name)


async def _mailboxexists(rt: Runtime, call: Call) -> bool:
    for name in rt.expand_all(call.strings(0)):
        if not await rt.env.mailbox_exists(name):
            return False
    return True


async def _metadata(rt: Runtime, call: Call) -> bool:
    mailbox = rt.expand(call.string(0))
    value = await _annotation(rt, call, mailbox, rt.expand(call.string(1)))
    return match_values(rt, call, [] if value is None else [value], call.strings(2))


async def _metadataexists(rt: Runtime, call: Call) -> bool:
    mailbox = rt.expand(call.string(0))
    for name in rt.expand_all(call.strings(1)):
        if await _annotation(rt, call, mailbox, name) is None:
            return False
    return True


async def _servermetadata(rt: Runtime, call: Call) -> bool:
    value = await _annotation(rt, call, None, rt.expand(call.string(0)))
    return match_values(rt, call, [] if value is None else [value], call.strings(1))


async def _servermetadataexists(rt: Runtime, call: Call) -> bool:
    for name in rt.expand_all(call.strings(0)):
        if await _annotation(rt, call, None, name) is None:
            return False
    return True


MAILBOX = register(Extension(
    "mailbox",
    tests=(TestDef("mailboxexists", Signature(positional=(SL,)), _mailboxexists),),
    extra_tags={"fileinto": (TagSpec("create", capability="mailbox"),)},
))

MBOXMETADATA = register(Extension(
    "mboxmetadata",
    tests=(
        TestDef("metadata", Signature(positional=(S, S, SL), match=True, comparator=True),
                _metadata),
        TestDef("metadataexists", Signature(positional=(S, SL)), _metadataexists),
    ),
))

SERVERMETADATA = register(Extension(
    "servermetadata",
    tests=(
        TestDef("servermetadata", Signature(positional=(S, SL), match=True, comparator=True),
                _servermetadata),
        TestDef("servermetadataexists", Signature(positional=(SL,)),
                _servermetadataexists),
    ),
))
