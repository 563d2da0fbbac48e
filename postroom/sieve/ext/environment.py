"""The "environment" extension (RFC 5183): what a script may learn about where it runs.

Items (§4.1): "name" ("Postroom"), "version" (the package's), "location" ("MDA": scripts
run in the delivery service, after the message was accepted) and "phase" ("during" final
delivery) are answered here; "domain", "host", "remote-host" and "remote-ip" come from the
delivery through ``Environment.environment(item)``, None when it does not know them. An
unknown item makes the test false, never an error (§4); its ``:count`` is 0 for the empty
string, 1 otherwise.
"""

from __future__ import annotations

from postroom import __version__
from postroom.sieve.bind import Call
from postroom.sieve.match import match_values
from postroom.sieve.registry import ArgKind, Extension, Signature, TestDef, register
from postroom.sieve.runtime import Runtime

S, SL = ArgKind.STRING, ArgKind.STRINGS

CONSTANT = {
    "name": "Postroom",
    "version": __version__,
    "location": "MDA",
    "phase": "during",
}


def item(rt: Runtime, name: str) -> str | None:
    """The value of environment item ``name`` (case-insensitive), None when unknown."""
    key = name.lower()
    if key in CONSTANT:
        return CONSTANT[key]
    return rt.env.environment(key)


async def _environment(rt: Runtime, call: Call) -> bool:
    value = item(rt, rt.expand(call.string(0)))
    if value is None:
        return False
    values = [value] if value or call.match != "count" else []
    return match_values(rt, call, values, call.strings(1))


ENVIRONMENT = register(Extension(
    "environment",
    tests=(TestDef("environment", Signature(positional=(S, SL), match=True, comparator=True),
                   _environment),),
))
