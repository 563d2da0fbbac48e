"""The "imap4flags" extension (RFC 5232): setflag/addflag/removeflag, the hasflag test,
``:flags`` on keep and fileinto, and the internal variable.

The internal variable (§3) is ``Runtime.flags``, empty when a run starts; keep and fileinto
without ``:flags`` file with its value at that moment, the implicit keep with its value at
the end (interp.run). With "variables" required, the commands may name a variable instead
(§3: "setflag [<variablename: string>] <list-of-flags>"); a variable holds its flags as one
space-separated string. Flags are normalised by ``core.flag_list`` (§2: space-separated,
empty and invalid flags ignored, duplicates removed case-insensitively).
"""

from __future__ import annotations

import re

from postroom.sieve import interp
from postroom.sieve.bind import BindContext, Call
from postroom.sieve.ext.core import flag_list
from postroom.sieve.match import match_values
from postroom.sieve.registry import (
    ArgKind,
    CommandDef,
    Extension,
    Signature,
    TagSpec,
    TestDef,
    register,
)
from postroom.sieve.runtime import Runtime

SL = ArgKind.STRINGS
# RFC 5229 §3 variable-name, optionally in a namespace ("global.name", RFC 6609 §3.4.2)
_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")


def _current(rt: Runtime, name: str | None) -> list[str]:
    if name is None:
        return rt.flags
    return flag_list([rt.get_variable(name)])


def _store(rt: Runtime, call: Call, name: str | None, flags: list[str]) -> None:
    if name is None:
        rt.flags = flags
    else:
        rt.set_variable(name, " ".join(flags), call)


def _target(rt: Runtime, call: Call) -> tuple[str | None, list[str]]:
    """(variable name or None for the internal variable, the flags argument expanded)."""
    if len(call.args) == 2:
        return rt.expand(call.strings(0)[0]), rt.expand_all(call.strings(1))
    return None, rt.expand_all(call.strings(0))


async def _setflag(rt: Runtime, call: Call) -> None:
    name, values = _target(rt, call)
    _store(rt, call, name, flag_list(values))


async def _addflag(rt: Runtime, call: Call) -> None:
    name, values = _target(rt, call)
    _store(rt, call, name, flag_list([*_current(rt, name), *values]))


async def _removeflag(rt: Runtime, call: Call) -> None:
    name, values = _target(rt, call)
    gone = {f.lower() for f in flag_list(values)}
    _store(rt, call, name, [f for f in _current(rt, name) if f.lower() not in gone])


async def _hasflag(rt: Runtime, call: Call) -> bool:
    # §4: true if any flag of the variables matches any key; :count is the number of
    # distinct flags, summed over the variables
    if len(call.args) == 2:
        flags = [f for name in rt.expand_all(call.strings(0))
                 for f in flag_list([rt.get_variable(name)])]
        keys = call.strings(1)
    else:
        flags = list(rt.flags)
        keys = call.strings(0)
    if call.match == "count":
        return match_values(rt, call, flags, keys)
    return match_values(rt, call, flags, [k for key in rt.expand_all(keys)
                                          for k in key.split()])


def _check_action(call: Call, ctx: BindContext) -> None:
    if len(call.args) == 2:
        _check_names(call, ctx, call.strings(0), single=True)


def _check_test(call: Call, ctx: BindContext) -> None:
    if len(call.args) == 2:
        _check_names(call, ctx, call.strings(0), single=False)


def _check_names(call: Call, ctx: BindContext, names: list[str], *, single: bool) -> None:
    if not ctx.has("variables"):
        raise ctx.error(f"{call.name} with a variable name needs require \"variables\" "
                        "(RFC 5232 §3)", call.pos)
    if single and len(names) != 1:
        raise ctx.error(f"{call.name} takes one variable name, not a list", call.pos)
    for name in names:
        if "${" not in name and not _VARIABLE.fullmatch(name):
            raise ctx.error(f"{call.name}: {name!r} is not a variable name", call.pos)


def _setup(rt: Runtime) -> None:
    rt.uses_flags = True


_ACTION = Signature(positional=(SL, SL), optional=1, names=("variable name", "flags"))
_FLAGS = (TagSpec("flags", SL, capability="imap4flags"),)

interp.SETUP["imap4flags"] = _setup

register(Extension(
    "imap4flags",
    commands=(CommandDef("setflag", _ACTION, _setflag, _check_action),
              CommandDef("addflag", _ACTION, _addflag, _check_action),
              CommandDef("removeflag", _ACTION, _removeflag, _check_action)),
    tests=(TestDef("hasflag", Signature(positional=(SL, SL), optional=1, match=True,
                                        comparator=True, names=("variables", "flags")),
                   _hasflag, _check_test),),
    extra_tags={"keep": _FLAGS, "fileinto": _FLAGS},
))
