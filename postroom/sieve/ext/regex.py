"""The "regex" extension (draft-ietf-sieve-regex-01; draft-murchison-sieve-regex-07 §3):
the ``:regex`` match type with POSIX extended regular expressions, and ``set :quoteregex``.

POSIX EREs are translated to the syntax of the ``regex`` package (PyPI), whose searches take
a ``timeout``: every search is given what is left of the run's CPU budget
(``Runtime.cpu_left``), so a pathological expression such as ``(x+x+)+y`` ends the run with
``max_cpu_ms`` (the message is kept) instead of holding the delivery. Python's own ``re`` has
no such bound.

The translation refuses what POSIX leaves undefined and what the draft excludes ("basic
regular expressions, word boundaries and backreferences are not supported … SHOULD reject"):
a backslash before a letter or digit (``\\b``, ``\\1``, ``\\w``), ``(?`` (Python's
extensions), adjacent quantifiers (``a*?`` is lazy in Python, ``a*+`` possessive) and a
quantifier with nothing to repeat. Bracket expressions keep POSIX meaning: a backslash in
them is a literal, ``]`` first is a literal, ``[:alpha:]`` classes (which the package knows),
``[=a=]`` and ``[.a.]`` of one character. ``^``/``$`` anchor at lines or the string and
``.`` does not match a newline (the draft's table). Searches are unanchored; POSIX's
leftmost-longest rule for subexpressions is not reproduced (Python's is leftmost-first), which
changes only what ``${1}``… hold for ambiguous expressions, not whether a value matches.

Constant keys are compiled when the script is bound, and a bad one is refused with its line
and column; keys built from variables are compiled at run time (cached), and a bad one is
logged and matches nothing, as Pigeonhole does.
"""

from __future__ import annotations

import functools

import regex

from postroom.sieve import bind
from postroom.sieve.bind import BindContext, Call
from postroom.sieve.errors import SieveLimitExceeded, SieveRuntimeError
from postroom.sieve.ext.variables import MODIFIERS, walk
from postroom.sieve.match import MATCHERS, Comparator
from postroom.sieve.registry import Extension, MatchTypeDef, TagSpec, register
from postroom.sieve.runtime import Runtime

# comparators the draft allows with :regex (§3)
COMPARATORS = ("i;octet", "i;ascii-casemap")
CLASSES = frozenset(("alnum", "alpha", "blank", "cntrl", "digit", "graph", "lower", "print",
                     "punct", "space", "upper", "xdigit"))
MAX_REPEAT = 255  # RE_DUP_MAX's POSIX minimum: larger intervals are refused
SPECIAL = "$()*+.?[\\]^{|}"  # what :quoteregex escapes


class RegexSyntaxError(ValueError):
    """A key that is not a supported POSIX ERE; ``offset`` counts characters from 0 (-1
    when the package refused the translated expression without a usable position)."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


def translate(pattern: str) -> str:
    """The ``regex`` package's spelling of the POSIX ERE ``pattern``."""
    out: list[str] = []
    i = 0
    n = len(pattern)
    # whether the last thing written can take a quantifier ("atom"), or was one ("quant")
    last = "start"
    while i < n:
        c = pattern[i]
        if c == "\\":
            if i + 1 >= n:
                raise RegexSyntaxError("a backslash at the end", i)
            nxt = pattern[i + 1]
            if nxt.isascii() and nxt.isalnum():
                raise RegexSyntaxError(f"\\{nxt} is not a POSIX extended regular expression "
                                       "(no word boundaries, classes or back-references)", i)
            out.append(regex.escape(nxt))
            i += 2
            last = "atom"
            continue
        if c == "[":
            text, i = _bracket(pattern, i)
            out.append(text)
            last = "atom"
            continue
        if c == "(":
            if i + 1 < n and pattern[i + 1] == "?":  # Python's extensions: (?i) (?=…)
                raise RegexSyntaxError("(? is not a POSIX extended regular expression", i)
            out.append("(")
            last = "start"
        elif c == ")":
            out.append(")")
            last = "atom"
        elif c == "|":
            out.append("|")
            last = "start"
        elif c in "*+?":
            _quantifiable(last, c, i)
            out.append(c)
            last = "quant"
        elif c == "{":
            end = _interval(pattern, i)
            if end < 0:
                out.append("\\{")  # not an interval: a literal brace
                last = "atom"
                i += 1
                continue
            _quantifiable(last, pattern[i:end], i)
            out.append(pattern[i:end])
            last = "quant"
            i = end
            continue
        elif c == "^":
            out.append("^")
            last = "start"
        elif c == "$":
            out.append("$")
            last = "atom"
        elif c == ".":
            out.append(".")
            last = "atom"
        else:
            out.append(regex.escape(c))
            last = "atom"
        i += 1
    return "".join(out)


def _quantifiable(last: str, what: str, offset: int) -> None:
    if last == "quant":
        raise RegexSyntaxError(f"{what} right after another repetition is undefined in "
                               "POSIX", offset)
    if last == "start":
        raise RegexSyntaxError(f"{what} has nothing to repeat", offset)


def _interval(pattern: str, start: int) -> int:
    """The index after ``{n}``, ``{n,}`` or ``{n,m}`` at ``start``, or -1 if it is none."""
    end = pattern.find("}", start)
    if end < 0:
        return -1
    body = pattern[start + 1:end]
    low, comma, high = body.partition(",")
    if not low.isdigit() or not low.isascii() or (high and not (high.isdigit()
                                                                and high.isascii())):
        return -1
    if int(low) > MAX_REPEAT or (high and int(high) > MAX_REPEAT):
        raise RegexSyntaxError(f"repetition {{{body}}} larger than {MAX_REPEAT}", start)
    if comma and high and int(high) < int(low):
        raise RegexSyntaxError(f"repetition {{{body}}} has its bounds reversed", start)
    return end + 1


def _bracket(pattern: str, start: int) -> tuple[str, int]:
    """A POSIX bracket expression at ``start`` as the package writes it, and the index
    after it."""
    i = start + 1
    n = len(pattern)
    out = ["["]
    if i < n and pattern[i] == "^":
        out.append("^")
        i += 1
    first = True
    while True:
        if i >= n:
            raise RegexSyntaxError("[ is never closed", start)
        c = pattern[i]
        if c == "]" and not first:
            out.append("]")
            return "".join(out), i + 1
        first = False
        if c == "[" and i + 1 < n and pattern[i + 1] in ":=.":
            kind = pattern[i + 1]
            end = pattern.find(kind + "]", i + 2)
            if end < 0:
                raise RegexSyntaxError(f"[{kind} is never closed", i)
            name = pattern[i + 2:end]
            if kind == ":":
                if name not in CLASSES:
                    raise RegexSyntaxError(f"unknown character class [:{name}:]", i)
                out.append(f"[:{name}:]")
            else:
                if len(name) != 1:
                    raise RegexSyntaxError(f"[{kind}{name}{kind}] names no single character "
                                           "(only those are supported)", i)
                out.append(regex.escape(name))
            i = end + 2
            continue
        if c in "\\[]^&~|":  # literal in POSIX; special (or set operations) in the package
            out.append("\\" + c)
        else:
            out.append(c)
        i += 1


@functools.lru_cache(maxsize=256)
def compile_key(pattern: str, fold: bool) -> regex.Pattern[str]:
    """``pattern`` compiled (case-insensitive for i;ascii-casemap); RegexSyntaxError if it
    is not a supported ERE."""
    translated = translate(pattern)
    flags = regex.MULTILINE | regex.V0 | (regex.IGNORECASE if fold else 0)
    try:
        return regex.compile(translated, flags)
    except regex.error as exc:
        # the package's error names a position in the translated text: report the message
        raise RegexSyntaxError(str(getattr(exc, "msg", exc)), -1) from None


def _keys(call: Call) -> list[str]:
    """The key list of a match test: its last positional argument."""
    if not call.args:
        return []
    last = call.args[-1]
    if isinstance(last, str):
        return [last]
    return list(last) if isinstance(last, list) else []


def _finish(calls: list[Call], ctx: BindContext) -> None:
    """Bind time: refuse :regex with another comparator; compile constant keys."""
    variables = ctx.has("variables")
    for call in walk(calls):
        if call.match != "regex":
            continue
        if call.comparator not in COMPARATORS:
            raise ctx.error(f"comparator {call.comparator!r} cannot do :regex", call.pos)
        fold = call.comparator == "i;ascii-casemap"
        compiled: dict[str, regex.Pattern[str]] = {}
        for key in _keys(call):
            if variables and "${" in key:
                continue
            try:
                compiled[key] = compile_key(key, fold)
            except RegexSyntaxError as exc:
                where = f" (at character {exc.offset + 1})" if exc.offset >= 0 else ""
                raise ctx.error(f":regex {key!r}: {exc.message}{where}", call.pos) from None
        call.data["regex"] = compiled


def _regex(rt: Runtime, call: Call, comp: Comparator, values: list[str],
           keys: list[str]) -> bool:
    if comp.name not in COMPARATORS:
        raise SieveRuntimeError(f"comparator {comp.name!r} cannot do :regex",
                                call.pos.line, call.pos.column)
    fold = comp.name == "i;ascii-casemap"
    known: dict[str, regex.Pattern[str]] = call.data.get("regex", {})
    for key in keys:
        pattern = known.get(key)
        if pattern is None:
            try:
                pattern = compile_key(key, fold)
            except RegexSyntaxError as exc:
                rt.log(f"line {call.pos.line}: :regex {key!r} ignored: {exc.message}")
                continue
        for value in values:
            left = rt.cpu_left()
            try:
                if left <= 0:
                    raise TimeoutError
                found = pattern.search(value, timeout=left)
            except TimeoutError:
                raise SieveLimitExceeded(
                    "max_cpu_ms", f"more than {rt.limits.max_cpu_ms} ms of CPU time "
                    f"(in :regex {key!r})", call.pos.line, call.pos.column) from None
            if found is not None:
                if rt.expander is not None:
                    # draft-ietf-sieve-regex-01: ${0} the match, ${1}… the subexpressions
                    # (all of them, as :matches keeps every wildcard: RFC 5229 §3.2 asks
                    # for at least ${9})
                    rt.match_variables = [found.group(0)] + [
                        g or "" for g in found.groups()]
                return True
    return False


def quote_regex(text: str) -> str:
    """``set :quoteregex``: every character special in an ERE prefixed with a backslash."""
    return "".join("\\" + c if c in SPECIAL else c for c in text)


MATCHERS["regex"] = _regex
MODIFIERS["quoteregex"] = (20, quote_regex)  # the precedence of :quotewildcard

REGEX = register(Extension(
    "regex",
    match_types=(MatchTypeDef("regex"),),
    extra_tags={"set": (TagSpec("quoteregex", capability="regex"),)},
))

bind.FINISH["regex"] = _finish
