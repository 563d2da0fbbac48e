"""The "include" extension (RFC 6609): ``include``, ``return`` and ``global``.

``include [:personal / :global] [:once] [:optional] "name"`` (§3.2) runs another stored
script at that point, fetched from ``Environment.include(name, location)`` already bound (it
was checked with its own requires when it was stored). The name is taken as written, never
expanded (§3.2: a constant string), and must be a valid ManageSieve script name (RFC 5804
§1.6). A missing script is a run-time error unless ``:optional``; a script that is being
run already (A includes B includes A) is a run-time error, not an upload error (§3.1),
except under ``:once``, which skips it as already included. Each include counts against
``max_includes`` per run, and nesting against ``max_include_depth`` (§3.1: at least three
levels including the top script); both stop the run (implicit keep).

An included script runs with its own requires (§3.2: they are neither inherited nor passed
on), its own variables and match variables (§3.4: private by default) and its own ``global``
declarations; the global variables, the actions, the implicit keep, the header edits and
the imap4flags internal flags are the run's, shared by all (§3.1, §3.5). ``stop`` in an
included script ends everything; ``return`` (§3.3) ends only that script, and in the top
script acts as ``stop``.

``global`` (§3.4.1) needs both "include" and "variables"; its names are plain identifiers;
declaring one the script already ``set`` is an error (§3.4.1): refused when stored if the
``set`` comes first in the text, and at run time.
"""

from __future__ import annotations

from postroom.sieve import bind, interp
from postroom.sieve.bind import BindContext, BoundScript, Call
from postroom.sieve.errors import SieveLimitExceeded, SieveRuntimeError, SieveSyntaxError
from postroom.sieve.ext.variables import _IDENT_RE, expand, references, walk
from postroom.sieve.registry import ArgKind, CommandDef, Extension, Signature, TagSpec, register
from postroom.sieve.runtime import Return, Runtime

S, SL = ArgKind.STRING, ArgKind.STRINGS
MAX_NAME = 1024  # characters of a script name we look up


def name_problem(name: str) -> str | None:
    """Why ``name`` is not a script name of RFC 5804 §1.6 (no control characters, no line
    or paragraph separators, not empty), or None."""
    if not name:
        return "an empty script name"
    if len(name) > MAX_NAME:
        return f"a script name longer than {MAX_NAME} characters"
    for c in name:
        code = ord(c)
        if code < 0x20 or 0x7F <= code <= 0x9F or code in (0x2028, 0x2029):
            return f"a script name with the control character U+{code:04X}"
    return None


def _check_include(call: Call, ctx: BindContext) -> None:
    name = call.string(0)
    if ctx.has("variables") and any(True for _ in references(name)):
        raise ctx.error(f"include: the script name must be a constant string, not {name!r} "
                        "(RFC 6609 §3.2)", call.pos)
    problem = name_problem(name)
    if problem is not None:
        raise ctx.error(f"include: {problem}", call.pos)


def _check_global(call: Call, ctx: BindContext) -> None:
    if not ctx.has("variables"):
        raise ctx.error("global needs require \"variables\" as well as \"include\" "
                        "(RFC 6609 §3.4.1)", call.pos)
    for name in call.strings(0):
        if not _IDENT_RE.fullmatch(name):
            raise ctx.error(f"global: {name!r} is not a variable name (no match variables, "
                            "no namespaces: RFC 6609 §3.4.1)", call.pos)


def _finish(calls: list[Call], ctx: BindContext) -> None:
    """RFC 6609 §3.4.1: a ``global`` naming a variable the script ``set`` before it (in the
    order it is written) is an error, refused when the script is stored (the check at run
    time stays for what only happens then)."""
    set_before: set[str] = set()
    for call in walk(calls):
        if call.name == "set" and call.args and isinstance(call.args[0], str):
            set_before.add(call.args[0].lower())
        elif call.name == "global":
            for name in call.strings(0):
                if name.lower() in set_before:
                    raise ctx.error(f"global: {name!r} was already set in this script "
                                    "(RFC 6609 §3.4.1)", call.pos)


def _setup_for(rt: Runtime, script: BoundScript) -> None:
    """Run the setup hooks of capabilities the run has not set up yet (imap4flags turns its
    internal variable on); "variables" is per script and handled by the caller."""
    done = rt.state.get("include.setup")
    if not isinstance(done, set):
        done = set(rt.script.required)
        rt.state["include.setup"] = done
    for cap in script.required:
        if cap not in done and cap != "variables":
            hook = interp.SETUP.get(cap)
            if hook is not None:
                hook(rt)
            done.add(cap)


async def _include(rt: Runtime, call: Call) -> None:
    name = call.string(0)
    location = "global" if call.tags.get("global") else "personal"
    key = (location, name)
    stack = rt.state.setdefault("include.stack", [])
    included = rt.state.setdefault("include.done", set())
    assert isinstance(stack, list) and isinstance(included, set)
    if call.tags.get("once") and (key in included or key in stack):
        return
    if key in stack:
        raise SieveRuntimeError(f"include: {location} script {name!r} includes itself "
                                "(RFC 6609 §3.1)", call.pos.line, call.pos.column)
    rt.includes += 1
    if rt.includes > rt.limits.max_includes:
        raise SieveLimitExceeded("max_includes",
                                 f"more than {rt.limits.max_includes} includes",
                                 call.pos.line, call.pos.column)
    if rt.include_depth + 1 > rt.limits.max_include_depth:
        raise SieveLimitExceeded("max_include_depth",
                                 f"includes nested deeper than {rt.limits.max_include_depth}",
                                 call.pos.line, call.pos.column)
    try:
        script = await rt.env.include(name, location)
    except SieveSyntaxError as exc:
        raise SieveRuntimeError(f"include: {location} script {name!r} is not valid: {exc}",
                                call.pos.line, call.pos.column) from None
    if script is None:
        if call.tags.get("optional"):
            return
        raise SieveRuntimeError(f"include: no {location} script {name!r}",
                                call.pos.line, call.pos.column)
    _setup_for(rt, script)
    saved = (rt.variables, rt.global_names, rt.required, rt.match_variables, rt.expander)
    rt.variables = {}
    rt.global_names = set()
    rt.required = set(script.required)
    rt.match_variables = []
    rt.expander = expand if "variables" in script.required else None
    stack.append(key)
    rt.include_depth += 1
    rt.log(f"include {location} {name}")
    try:
        await interp.block(rt, script.commands)
    except Return:
        pass
    finally:
        rt.include_depth -= 1
        stack.pop()
        included.add(key)
        (rt.variables, rt.global_names, rt.required, rt.match_variables,
         rt.expander) = saved


async def _return(rt: Runtime, call: Call) -> None:
    raise Return


async def _global(rt: Runtime, call: Call) -> None:
    for name in call.strings(0):
        key = name.lower()
        if key in rt.global_names:
            continue
        if key in rt.variables:
            raise SieveRuntimeError(f"global: {name!r} was already set in this script "
                                    "(RFC 6609 §3.4.1)", call.pos.line, call.pos.column)
        rt.global_names.add(key)


INCLUDE = register(Extension(
    "include",
    commands=(
        CommandDef("include", Signature(positional=(S,), tags=(
            TagSpec("personal", group="location"), TagSpec("global", group="location"),
            TagSpec("once"), TagSpec("optional"))), _include, _check_include),
        CommandDef("return", Signature(), _return),
        CommandDef("global", Signature(positional=(SL,)), _global, _check_global),
    ),
))

bind.FINISH["include"] = _finish
