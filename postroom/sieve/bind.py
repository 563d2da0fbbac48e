"""Binding: a parsed script checked against the registry and turned into calls to run.

RFC 5228 §3.2: capabilities must be required before use, ``require`` comes before any other
command; §2.6.2: tagged arguments come before positional ones, in any order; §2.7: at most one
match type, one comparator, one address part. Everything knowable before run time is checked
here, so that a script stored through ManageSieve, the API, the CLI or webmail is refused with
its line and column rather than failing at delivery (RFC 5804 §2.6: PUTSCRIPT validates).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from postroom.sieve import ast
from postroom.sieve.errors import SieveSyntaxError
from postroom.sieve.limits import Limits
from postroom.sieve.registry import (
    ADDRESS_PART,
    COMPARATOR,
    MATCH,
    AddressPartDef,
    ArgKind,
    CommandDef,
    ComparatorDef,
    Extension,
    MatchTypeDef,
    TagSpec,
    TestDef,
    extensions,
)

TagValue = bool | int | str | list[str]
ArgValue = int | str | list[str]
RELATIONS = ("gt", "ge", "lt", "le", "eq", "ne")  # RFC 5231 §5
MAX_ERRORS = 50  # errors one binding reports before it gives up
CONTROL = ("require", "if", "elsif", "else")


@dataclass(slots=True)
class Call:
    """One bound command or test. String values are as written: variables (RFC 5229) are
    expanded at run time by ``Runtime.expand``. ``tags`` holds the tags that are neither
    match type, comparator nor address part: True for a flag-like tag, else its value."""

    name: str
    pos: ast.Pos
    definition: CommandDef | TestDef
    tags: dict[str, TagValue] = field(default_factory=dict)
    args: list[ArgValue] = field(default_factory=list)
    tests: list[Call] = field(default_factory=list)
    block: list[Call] | None = None
    match: str = "is"
    relation: str | None = None  # the operator of :value/:count
    comparator: str = "i;ascii-casemap"
    address_part: str = "all"
    # what validate hooks computed once (a compiled regex, a parsed date format, …)
    data: dict[str, Any] = field(default_factory=dict)

    def string(self, index: int) -> str:
        value = self.args[index]
        assert isinstance(value, str)
        return value

    def strings(self, index: int) -> list[str]:
        """A string-list argument: the bound list itself (do not change it; keeping the
        same object lets match.py reuse what it folded from it)."""
        value = self.args[index]
        if isinstance(value, list):
            return value
        return [value] if isinstance(value, str) else [str(value)]

    def number(self, index: int) -> int:
        value = self.args[index]
        assert isinstance(value, int)
        return value


@dataclass(slots=True)
class BoundScript:
    """A script ready to run: its calls, the capabilities it required, its size."""

    commands: list[Call]
    required: frozenset[str]
    size: int
    name: str = ""


@dataclass(slots=True)
class BindContext:
    """What validate hooks see while a script is being bound."""

    required: set[str]
    limits: Limits
    registry: dict[str, Extension]
    name: str = ""
    errors: list[SieveSyntaxError] = field(default_factory=list)

    def error(self, message: str, pos: ast.Pos) -> SieveSyntaxError:
        return SieveSyntaxError(message, pos.line, pos.column)

    def failed(self, exc: SieveSyntaxError) -> None:
        """Record a command's error and go on with the next command (at most MAX_ERRORS)."""
        self.errors.append(exc)
        if len(self.errors) >= MAX_ERRORS:
            first = self.errors[0]
            first.errors = self.errors
            raise first

    def has(self, capability: str) -> bool:
        return capability in self.required


def bind(script: ast.Script, *, limits: Limits, enabled: Collection[str] | None = None,
         name: str = "") -> BoundScript:
    """Check ``script`` and return it bound. ``enabled`` restricts the capabilities a script
    may require (configuration can turn extensions off); None allows every registered one.
    Raises SieveSyntaxError naming the line and column of the first problem."""
    registry = extensions()
    ctx = BindContext(required={""}, limits=limits, registry=registry, name=name)
    commands = script.commands
    index = 0
    while index < len(commands) and commands[index].name == "require":
        try:
            _require(commands[index], ctx, enabled)
        except SieveSyntaxError as exc:
            ctx.failed(exc)
        index += 1
    bound = _block(commands[index:], ctx, depth=1)
    if not ctx.errors:
        for cap in sorted(ctx.required):
            hook = FINISH.get(cap)
            if hook is not None:
                hook(bound, ctx)
    if ctx.errors:
        ctx.errors.sort(key=lambda e: (e.line, e.column))
        first = ctx.errors[0]
        first.errors = ctx.errors
        raise first
    return BoundScript(bound, frozenset(ctx.required - {""}), script.size, name)


def _require(cmd: ast.Command, ctx: BindContext, enabled: Collection[str] | None) -> None:
    if cmd.tests or cmd.block is not None or len(cmd.args) != 1 \
            or not isinstance(cmd.args[0], ast.Strings):
        raise ctx.error("require takes one string list of capabilities", cmd.pos)
    for capability in cmd.args[0].values:
        ext = ctx.registry.get(capability)
        # enabled=None: every advertised capability; a test-only one (not advertised) only
        # when the caller names it
        usable = ext is not None and capability != "" and (
            (ext.advertised and (enabled is None or capability in enabled))
            or (not ext.advertised and enabled is not None and capability in enabled))
        if ext is None or not usable:
            raise ctx.error(f"unsupported capability {capability!r}", cmd.args[0].pos)
        ctx.required.add(capability)
        ctx.required.update(ext.implies)


def _block(commands: list[ast.Command], ctx: BindContext, depth: int) -> list[Call]:
    if depth > ctx.limits.max_nesting:
        pos = commands[0].pos if commands else ast.Pos(0, 0)
        raise ctx.error(f"blocks nested deeper than {ctx.limits.max_nesting}", pos)
    out: list[Call] = []
    previous = ""
    for cmd in commands:
        try:
            if cmd.name == "require":
                raise ctx.error("require must come before any other command", cmd.pos)
            if cmd.name in ("elsif", "else") and previous not in ("if", "elsif"):
                raise ctx.error(f"{cmd.name} without a preceding if", cmd.pos)
            out.append(_command(cmd, ctx, depth))
        except SieveSyntaxError as exc:
            if exc.errors[0] is not exc or len(exc.errors) > 1:
                raise  # MAX_ERRORS reached below
            ctx.failed(exc)
        previous = cmd.name
    return out


def _find(name: str, kind: str, pos: ast.Pos, ctx: BindContext) -> CommandDef | TestDef:
    owner: str | None = None
    for cap, ext in ctx.registry.items():
        defs: Collection[CommandDef | TestDef] = ext.commands if kind == "command" else ext.tests
        for d in defs:
            if d.name == name:
                if cap in ctx.required:
                    return d
                if owner is None or ext.advertised:
                    owner = cap
    if owner is not None and ctx.registry[owner].advertised:
        raise ctx.error(f"{kind} {name!r} needs require {owner!r}", pos)
    other = "test" if kind == "command" else "command"
    for ext in ctx.registry.values():
        defs = ext.tests if kind == "command" else ext.commands
        if ext.advertised and any(d.name == name for d in defs):
            hint = "put it after if/elsif/not/allof/anyof" if kind == "command" else \
                "it cannot be used as a test"
            raise ctx.error(f"{name!r} is a {other}, not a {kind} ({hint})", pos)
    known = sorted({d.name for ext in ctx.registry.values() if ext.advertised
                    for d in (ext.commands if kind == "command" else ext.tests)})
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.75)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise ctx.error(f"unknown {kind} {name!r}{hint}", pos)


def _command(cmd: ast.Command, ctx: BindContext, depth: int) -> Call:
    try:
        definition = _find(cmd.name, "command", cmd.pos, ctx)
        assert isinstance(definition, CommandDef)
        call = _arguments(cmd.name, cmd.args, definition, cmd.pos, ctx)
        call.tests = _tests(cmd.name, cmd.tests, cmd.test_list, definition, cmd.pos, ctx,
                            depth)
    except SieveSyntaxError:
        if cmd.block is not None:  # what is in the block gets its own errors reported
            _block(cmd.block, ctx, depth + 1)
        raise
    sig = definition.signature
    if sig.block and cmd.block is None:
        raise ctx.error(f"{cmd.name} needs a block {{ … }}", cmd.pos)
    if not sig.block and cmd.block is not None:
        raise ctx.error(f"{cmd.name} takes no block; end it with ';'", cmd.pos)
    if cmd.block is not None:
        call.block = _block(cmd.block, ctx, depth + 1)
    if definition.validate is not None:
        definition.validate(call, ctx)
    return call


def _test(test: ast.Test, ctx: BindContext, depth: int) -> Call:
    if depth > ctx.limits.max_nesting:
        raise ctx.error(f"tests nested deeper than {ctx.limits.max_nesting}", test.pos)
    definition = _find(test.name, "test", test.pos, ctx)
    assert isinstance(definition, TestDef)
    call = _arguments(test.name, test.args, definition, test.pos, ctx)
    call.tests = _tests(test.name, test.tests, test.test_list, definition, test.pos, ctx,
                        depth)
    if definition.validate is not None:
        definition.validate(call, ctx)
    return call


def _tests(name: str, tests: list[ast.Test], as_list: bool, definition: CommandDef | TestDef,
           pos: ast.Pos, ctx: BindContext, depth: int) -> list[Call]:
    want = definition.signature.tests
    if want == "none" and tests:
        hint = ""
        if any(d.name == tests[0].name for ext in ctx.registry.values()
               for d in ext.commands):
            raise ctx.error(f"missing semicolon after the {name} command, before "
                            f"{tests[0].name} (which reads as its test)", tests[0].pos)
        raise ctx.error(f"{name} takes no test{hint}", tests[0].pos)
    if want == "one" and (len(tests) != 1 or as_list):
        raise ctx.error(f"{name} needs exactly one test", pos)
    if want == "list" and (not as_list or not tests):
        raise ctx.error(f"{name} needs a test list ( … )", pos)
    return [_test(t, ctx, depth + 1) for t in tests]


def _offered(name: str, definition: CommandDef | TestDef,
             ctx: BindContext) -> dict[str, tuple[TagSpec, object | None]]:
    """Every tag ``name`` accepts with what the script required: its own, those other
    extensions add, and the shared groups' members."""
    sig = definition.signature
    offered: dict[str, tuple[TagSpec, object | None]] = {t.name: (t, None) for t in sig.tags}
    for cap in ctx.required:
        ext = ctx.registry[cap]
        for spec in ext.extra_tags.get(name, ()):
            offered[spec.name] = (spec, None)
        if sig.match:
            for m in ext.match_types:
                kind = ArgKind.STRING if m.takes_value else None
                offered[m.name] = (TagSpec(m.name, kind, MATCH), m)
        if sig.address_part:
            for a in ext.address_parts:
                offered[a.name] = (TagSpec(a.name, None, ADDRESS_PART), a)
    if sig.comparator:
        offered["comparator"] = (TagSpec("comparator", ArgKind.STRING, COMPARATOR), None)
    return offered


# Checks that need the whole bound script, run after binding for each required capability
# that registered one (regex compiles every constant :regex key, variables checks namespaces,
# index refuses :last without :index); they raise ``ctx.error``.
FinishHook = Callable[[list[Call], "BindContext"], None]
FINISH: dict[str, FinishHook] = {}

# Capabilities that rewrite string literals when a script requires them (RFC 5228 §2.4.2.4
# "encoded-character"): each string argument passes through the filters of the required ones.
LiteralFilter = Callable[[str, ast.Pos, "BindContext"], str]
LITERAL_FILTERS: dict[str, LiteralFilter] = {}


def _strings(arg: ast.Strings, ctx: BindContext) -> tuple[str, ...]:
    values = arg.values
    for cap, fn in LITERAL_FILTERS.items():
        if cap in ctx.required:
            values = tuple(fn(v, arg.pos, ctx) for v in values)
    return values


def _describe(arg: ast.Argument) -> str:
    if isinstance(arg, ast.Number):
        return f"a number ({arg.value})"
    if isinstance(arg, ast.Tag):
        return f"the tag :{arg.name}"
    return "a string list" if arg.is_list else "a string"


_EXPECTED = {ArgKind.STRING: "a string", ArgKind.STRINGS: "a string list",
             ArgKind.NUMBER: "a number"}


def _value(arg: ast.Argument, kind: ArgKind, what: str, ctx: BindContext) -> ArgValue:
    """The value of ``arg`` if it is of ``kind``; else the error "<what> expects a string
    list, but a number (45) was found" (``what`` names the argument: "the header test …
    as argument 1 (header names)")."""
    def wrong() -> SieveSyntaxError:
        subject, _, where = what.partition("|")
        place = f" {where}" if where else ""
        return ctx.error(f"{subject} expects {_EXPECTED[kind]}{place}, but {_describe(arg)} "
                         "was found", arg.pos)
    if kind is ArgKind.NUMBER:
        if not isinstance(arg, ast.Number):
            raise wrong()
        return arg.value
    if not isinstance(arg, ast.Strings) or (kind is ArgKind.STRING and arg.is_list):
        raise wrong()
    if kind is ArgKind.STRING:
        return _strings(arg, ctx)[0]
    return list(_strings(arg, ctx))


def _arguments(name: str, args: list[ast.Argument], definition: CommandDef | TestDef,
               pos: ast.Pos, ctx: BindContext) -> Call:
    call = Call(name, pos, definition)
    offered = _offered(name, definition, ctx)
    groups: dict[str, str] = {}
    i = 0
    while i < len(args) and isinstance(args[i], ast.Tag):
        tag = args[i]
        assert isinstance(tag, ast.Tag)
        entry = offered.get(tag.name)
        if entry is None:
            raise _unknown_tag(name, tag, definition, offered, ctx)
        spec, member = entry
        if spec.capability and spec.capability not in ctx.required:
            raise ctx.error(f":{tag.name} needs require {spec.capability!r}", tag.pos)
        if spec.group is not None:
            if spec.group in groups:
                raise ctx.error(f"only one {spec.group} allowed (:{groups[spec.group]} and "
                                f":{tag.name})", tag.pos)
            groups[spec.group] = tag.name
        elif tag.name in call.tags:
            raise ctx.error(f":{tag.name} given twice", tag.pos)
        value: TagValue = True
        if spec.value is not None:
            if i + 1 >= len(args):
                raise ctx.error(f"the :{tag.name} tag of {name} needs "
                                f"{_EXPECTED[spec.value]} after it", tag.pos)
            value = _value(args[i + 1], spec.value, f"the :{tag.name} tag of {name}", ctx)
            i += 1
        i += 1
        if spec.group == MATCH:
            assert isinstance(member, MatchTypeDef)
            call.match = member.name
            if member.takes_value:
                assert isinstance(value, str)
                if value.lower() not in RELATIONS:
                    raise ctx.error(f"unknown relational operator {value!r}", tag.pos)
                call.relation = value.lower()
        elif spec.group == ADDRESS_PART:
            assert isinstance(member, AddressPartDef)
            call.address_part = member.name
        elif spec.group == COMPARATOR:
            assert isinstance(value, str)
            call.comparator = _comparator(value, tag.pos, ctx).name
        else:
            call.tags[tag.name] = value
    positional = args[i:]
    sig = definition.signature
    for arg in positional:
        if isinstance(arg, ast.Tag):
            if arg.name not in offered:
                raise _unknown_tag(name, arg, definition, offered, ctx)
            raise ctx.error(f":{arg.name} must come before the other arguments of {name}",
                            arg.pos)
    least = len(sig.positional) - sig.optional
    if not least <= len(positional) <= len(sig.positional):
        count = str(len(sig.positional)) if not sig.optional else \
            f"{least} to {len(sig.positional)}"
        names = f" ({', '.join(sig.names)})" if sig.names else ""
        given = len(positional)
        raise ctx.error(f"the {name} {_kind(definition)} requires {count} positional "
                        f"argument(s){names}, but {given} {'was' if given == 1 else 'were'} "
                        "given", pos)
    for n, (arg, kind) in enumerate(zip(positional, sig.positional, strict=False)):
        label = f" ({sig.names[n]})" if n < len(sig.names) else ""
        call.args.append(_value(arg, kind, f"the {name} {_kind(definition)}|as argument "
                                           f"{n + 1}{label}", ctx))
    # every match type but :is, :value and :count works on substrings (RFC 4790 §4.2)
    if call.match not in ("is", "value", "count") and \
            not _comparator(call.comparator, pos, ctx).substring:
        raise ctx.error(f"comparator {call.comparator!r} cannot do :{call.match}", pos)
    return call


def _kind(definition: CommandDef | TestDef) -> str:
    return "command" if isinstance(definition, CommandDef) else "test"


def _unknown_tag(name: str, tag: ast.Tag, definition: CommandDef | TestDef,
                 offered: dict[str, tuple[TagSpec, object | None]],
                 ctx: BindContext) -> SieveSyntaxError:
    """The error for a tag ``name`` does not take: which capability would bring it, or what
    it does take."""
    sig = definition.signature
    for cap, ext in ctx.registry.items():
        if not ext.advertised:
            continue
        brings = any(spec.name == tag.name for spec in ext.extra_tags.get(name, ()))
        brings = brings or (sig.match and any(m.name == tag.name for m in ext.match_types))
        brings = brings or (sig.address_part
                            and any(a.name == tag.name for a in ext.address_parts))
        if brings:
            return ctx.error(f":{tag.name} on {name} needs require {cap!r}", tag.pos)
    takes = ", ".join(f":{t}" for t in sorted(offered))
    return ctx.error(f"unknown tagged argument ':{tag.name}' for the {name} "
                     f"{_kind(definition)}"
                     + (f" (it takes {takes})" if takes else " (it takes none)"), tag.pos)


def _comparator(name: str, pos: ast.Pos, ctx: BindContext) -> ComparatorDef:
    wanted = name.lower()
    for cap, ext in ctx.registry.items():
        for comp in ext.comparators:
            if comp.name == wanted:
                needed = comp.capability
                if needed and needed not in ctx.required:
                    raise ctx.error(f"comparator {name!r} needs require {needed!r}", pos)
                if cap not in ctx.required:
                    raise ctx.error(f"comparator {name!r} needs require {cap!r}", pos)
                return comp
    raise ctx.error(f"unknown comparator {name!r}", pos)
