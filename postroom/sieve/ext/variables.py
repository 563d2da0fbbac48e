"""The "variables" extension (RFC 5229): ``set`` with its modifiers, ``${name}`` and
``${N}`` in strings, the ``string`` test.

Expansion (§3) is one pass over the string: a ``variable-ref`` is replaced by the variable's
value (unknown ones by the empty string), anything that only looks like one (``${}``,
``${doh!}``) stays as written. The interpreter calls the expander only for strings that
contain ``${`` (``Runtime.expand``), so a script that never uses a variable pays one
substring search per string. Match variables (§3.2) are set by ``:matches`` (match.py) and
``:regex`` (ext/regex.py) when the script required "variables".

Namespaces (§3): ``${global.name}`` belongs to include (RFC 6609 §3.4.2) and is usable only
when the script required "include"; a reference to any other namespace, or to "global"
without "include", is refused when the script is stored (the bind-time check below) and
left verbatim if it is only built at run time.

Limits: ``max_variables`` (§6: at least 128) and ``max_variable_size`` (values are
truncated to it, §6 allows that) are enforced by ``Runtime.set_variable``; one expanded
string may not grow past 16 × ``max_variable_size`` (a script of many references to a large
value would otherwise build megabytes in one string).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from postroom.sieve import bind, interp
from postroom.sieve.bind import BindContext, Call
from postroom.sieve.errors import SieveLimitExceeded
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

S, SL = ArgKind.STRING, ArgKind.STRINGS

_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_NAME = rf"(?:[0-9]+|{_IDENT})"
# variable-ref = "${" [namespace] variable-name "}"; namespace = identifier "." *(name ".")
_REF = re.compile(rf"\$\{{((?:{_IDENT}\.(?:{_NAME}\.)*)?{_NAME})\}}")
_IDENT_RE = re.compile(_IDENT)
_DIGITS = re.compile(r"[0-9]+")

# Namespaces other extensions define (RFC 5229 §3): name -> (capability, lookup of the rest
# of the reference, None if the reference is not valid in that namespace). "global" is
# include's (RFC 6609 §3.4.2) and handled here since its values live in the Runtime.
NamespaceLookup = Callable[[Runtime, str], str | None]
NAMESPACES: dict[str, tuple[str, NamespaceLookup]] = {}

EXPANSION_FACTOR = 16  # an expanded string stays under this many max_variable_size


def expand(rt: Runtime, text: str) -> str:
    """``text`` with every variable reference replaced (RFC 5229 §3), in one pass."""
    budget = rt.limits.max_variable_size * EXPANSION_FACTOR
    grown = 0

    def value(found: re.Match[str]) -> str:
        nonlocal grown
        ref = found.group(1)
        got = lookup(rt, ref)
        if got is None:
            return found.group(0)
        grown += len(got)
        if grown > budget:
            raise SieveLimitExceeded(
                "max_variable_size",
                f"a string expanded past {budget} characters")
        return got

    return _REF.sub(value, text)


def lookup(rt: Runtime, ref: str) -> str | None:
    """The value a reference stands for; None to leave it verbatim (an unknown namespace)."""
    if "." not in ref:
        if ref[0].isdigit():
            index = int(ref)
            matched = rt.match_variables
            return matched[index] if index < len(matched) else ""
        key = ref.lower()
        if key in rt.global_names:
            return rt.global_variables.get(key, "")
        return rt.variables.get(key, "")
    namespace, rest = ref.split(".", 1)
    namespace = namespace.lower()
    if namespace == "global":
        if "include" in rt.required and _IDENT_RE.fullmatch(rest):
            return rt.global_variables.get(rest.lower(), "")
        return None
    entry = NAMESPACES.get(namespace)
    if entry is None or entry[0] not in rt.required:
        return None
    return entry[1](rt, rest)


def references(text: str) -> Iterator[str]:
    """The variable references in ``text`` (without ``${`` and ``}``)."""
    if "${" in text:
        for found in _REF.finditer(text):
            yield found.group(1)


def check_reference(ref: str, ctx: BindContext) -> str | None:
    """Why ``ref`` may not appear in a script with ctx's requires, or None if it may."""
    if "." not in ref:
        return None
    namespace, rest = ref.split(".", 1)
    namespace = namespace.lower()
    if namespace == "global":
        if not ctx.has("include"):
            return f"variable namespace 'global' needs require \"include\" (${{{ref}}})"
        if not _IDENT_RE.fullmatch(rest):
            return f"invalid name in the global namespace: ${{{ref}}}"
        return None
    entry = NAMESPACES.get(namespace)
    if entry is None:
        return f"unknown variable namespace {namespace!r} (${{{ref}}})"
    if not ctx.has(entry[0]):
        return f"variable namespace {namespace!r} needs require {entry[0]!r}"
    return None


def walk(calls: list[Call]) -> Iterator[Call]:
    """Every call of a bound tree, depth first: commands, their tests, their blocks."""
    for call in calls:
        yield call
        yield from walk(call.tests)
        if call.block is not None:
            yield from walk(call.block)


def strings_of(call: Call) -> Iterator[str]:
    """Every string a call was written with (positionals and tag values)."""
    for value in [*call.args, *call.tags.values()]:
        if isinstance(value, str):
            yield value
        elif isinstance(value, list):
            yield from value


def _finish(calls: list[Call], ctx: BindContext) -> None:
    """RFC 5229 §3: references to namespaces without a require MUST cause an error."""
    for call in walk(calls):
        for text in strings_of(call):
            for ref in references(text):
                problem = check_reference(ref, ctx)
                if problem is not None:
                    raise ctx.error(problem, call.pos)


# -- set (§4) -------------------------------------------------------------------------------

def _upper_ascii(text: str) -> str:
    return "".join(chr(ord(c) - 32) if "a" <= c <= "z" else c for c in text)


def _lower_ascii(text: str) -> str:
    return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in text)


def quote_wildcard(text: str) -> str:
    """§4.1.2: "*", "?" and "\\" prefixed with "\\"."""
    return re.sub(r"([*?\\])", r"\\\1", text)


Modifier = Callable[[str], str]

# §4.1: applied largest precedence first; two of one precedence in one set is an error.
# Case modifiers touch only US-ASCII letters (§4.1.3); :length counts characters (§4.1.1).
MODIFIERS: dict[str, tuple[int, Modifier]] = {
    "lower": (40, _lower_ascii),
    "upper": (40, _upper_ascii),
    "lowerfirst": (30, lambda s: _lower_ascii(s[:1]) + s[1:]),
    "upperfirst": (30, lambda s: _upper_ascii(s[:1]) + s[1:]),
    "quotewildcard": (20, quote_wildcard),
    "length": (10, lambda s: str(len(s))),
}


def _modifiers(call: Call) -> list[Modifier]:
    chosen = sorted((MODIFIERS[name] for name in call.tags if name in MODIFIERS),
                    key=lambda m: -m[0])
    return [fn for _precedence, fn in chosen]


def _check_set(call: Call, ctx: BindContext) -> None:
    seen: dict[int, str] = {}
    for name in call.tags:
        if name not in MODIFIERS:
            continue
        precedence = MODIFIERS[name][0]
        if precedence in seen:
            raise ctx.error(f"set: :{seen[precedence]} and :{name} have the same precedence "
                            f"and cannot be used together", call.pos)
        seen[precedence] = name
    call.data["modifiers"] = _modifiers(call)
    name = call.string(0)
    if _DIGITS.fullmatch(name):
        raise ctx.error(f"set: match variable {name!r} cannot be set", call.pos)
    if "." in name:
        namespace, rest = name.split(".", 1)
        if namespace.lower() != "global":
            raise ctx.error(f"set: namespace {namespace!r} cannot be set", call.pos)
        if not ctx.has("include"):
            raise ctx.error("set: namespace 'global' needs require \"include\"", call.pos)
        if not _IDENT_RE.fullmatch(rest):
            raise ctx.error(f"set: invalid variable name {name!r}", call.pos)
        return
    if not _IDENT_RE.fullmatch(name):
        raise ctx.error(f"set: invalid variable name {name!r}", call.pos)


async def _set(rt: Runtime, call: Call) -> None:
    value = rt.expand(call.string(1))
    for modifier in call.data["modifiers"]:
        value = modifier(value)
    rt.set_variable(call.string(0), value, call)  # "global.x": RFC 6609 §3.4.2


# -- string (§5) ----------------------------------------------------------------------------

async def _string(rt: Runtime, call: Call) -> bool:
    sources = rt.expand_all(call.strings(0))
    if call.match == "count":
        # §5: the count of a string is 0 if it is empty, 1 otherwise
        sources = [s for s in sources if s]
    return match_values(rt, call, sources, call.strings(1))


def _setup(rt: Runtime) -> None:
    rt.expander = expand


VARIABLES = register(Extension(
    "variables",
    commands=(
        CommandDef("set", Signature(positional=(S, S),
                                    tags=tuple(TagSpec(m) for m in MODIFIERS)),
                   _set, _check_set),
    ),
    tests=(
        TestDef("string", Signature(positional=(SL, SL), match=True, comparator=True),
                _string),
    ),
))

interp.SETUP["variables"] = _setup
bind.FINISH["variables"] = _finish
