"""Comparators and match types (RFC 5228 §2.7; RFC 4790 §9; RFC 5231; RFC 5229 §3.2).

A test hands ``match_values`` the values it found (header values, address parts, …) and the
keys the script gave; the call's match type and comparator decide. Extensions add match types
(``regex``, ``value``, ``count``) to ``MATCHERS`` and comparators to ``COMPARATORS``.
``:matches`` (and ``:regex``) set the match variables ``${0}``…``${9}`` when the script uses
variables (RFC 5229 §3.2).

Comparators work on characters (Python strings), not octets: "?" in ``:matches`` is one
character under every comparator (RFC 5228 §2.7.1 would have it match one octet under
i;octet and i;ascii-casemap; for UTF-8 text a character is what users mean).

Keys that hold no variable reference are folded once per bound call and kept in
``Call.data`` (bound scripts are compiled once and run for every message).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from postroom.sieve.bind import Call
from postroom.sieve.runtime import Runtime

_UPPER = {c: c - 32 for c in range(ord("a"), ord("z") + 1)}


def ascii_casemap(text: str) -> str:
    """i;ascii-casemap (RFC 4790 §9.2): a-z become A-Z; other characters stay."""
    return text.upper() if text.isascii() else text.translate(_UPPER)


def _octet_order(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def numeric_key(text: str) -> tuple[int, int]:
    """i;ascii-numeric (RFC 4790 §9.1.1): the number the leading digits spell; a string that
    does not start with a digit is positive infinity (all such strings are equal)."""
    end = 0
    n = len(text)
    while end < n and "0" <= text[end] <= "9":
        end += 1
    return (0, int(text[:end])) if end else (1, 0)


@dataclass(frozen=True, slots=True)
class Comparator:
    """A collation (RFC 4790 §4.2). Two strings are equal when their ``key`` values are
    equal; ``fold`` prepares text for the substring operations (``:contains``,
    ``:matches``), None when the comparator has none (i;ascii-numeric); ``order`` gives a
    value to compare for :value/:count (RFC 5231 §4)."""

    name: str
    fold: Callable[[str], str] | None
    order: Callable[[str], Any]
    key: Callable[[str], Any]


def _same(text: str) -> str:
    return text


COMPARATORS: dict[str, Comparator] = {
    "i;octet": Comparator("i;octet", _same, _octet_order, _same),
    "i;ascii-casemap": Comparator("i;ascii-casemap", ascii_casemap,
                                  lambda s: _octet_order(ascii_casemap(s)), ascii_casemap),
    # RFC 4790 §9.1; usable once a script requires "comparator-i;ascii-numeric"
    "i;ascii-numeric": Comparator("i;ascii-numeric", None, numeric_key, numeric_key),
}

Matcher = Callable[[Runtime, Call, Comparator, list[str], list[str]], bool]


def _folded_keys(call: Call, comp: Comparator, keys: list[str],
                 fn: Callable[[str], Any], slot: str) -> Any:
    """``fn`` applied to each key, reused while ``keys`` is the bound call's own list (no
    variables expanded into it)."""
    cached = call.data.get(slot)
    if cached is not None and cached[0] is keys and cached[1] == comp.name:
        return cached[2]
    value: Any = [fn(k) for k in keys]
    if slot == "_is":
        value = frozenset(value)
    call.data[slot] = (keys, comp.name, value)
    return value


def _is(rt: Runtime, call: Call, comp: Comparator, values: list[str],
        keys: list[str]) -> bool:
    wanted = _folded_keys(call, comp, keys, comp.key, "_is")
    key = comp.key
    for v in values:  # noqa: SIM110  (a plain loop: this is the hottest path)
        if key(v) in wanted:
            return True
    return False


def _contains(rt: Runtime, call: Call, comp: Comparator, values: list[str],
              keys: list[str]) -> bool:
    fold = comp.fold
    assert fold is not None  # binding refuses :contains with such a comparator
    folded = _folded_keys(call, comp, keys, fold, "_contains")
    for v in values:
        fv = fold(v)
        for k in folded:
            if k in fv:
                return True
    return False


@functools.lru_cache(maxsize=1024)
def glob_regex(pattern: str) -> re.Pattern[str]:
    """RFC 5228 §2.7.1: ``*`` any sequence, ``?`` one character, ``\\`` escapes the next.
    Each wildcard is a group matching as little as possible (RFC 5229 §3.2)."""
    out: list[str] = []
    i = 0
    n = len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\":
            if i + 1 < n:
                out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        if c == "*":
            out.append("(.*?)")
        elif c == "?":
            out.append("(.)")
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out), re.DOTALL)


def _matches(rt: Runtime, call: Call, comp: Comparator, values: list[str],
             keys: list[str]) -> bool:
    fold = comp.fold
    assert fold is not None
    patterns = _folded_keys(call, comp, keys, lambda k: glob_regex(fold(k)), "_matches")
    for regex in patterns:
        for value in values:
            folded = fold(value)
            found = regex.fullmatch(folded)
            if found is not None:
                if rt.expander is not None:
                    # the captured text as written: folding kept every position unless
                    # it changed the length (then the folded text is all we have)
                    source = value if len(folded) == len(value) else folded
                    rt.match_variables = [source] + [
                        source[found.start(g):found.end(g)]
                        for g in range(1, regex.groups + 1)]
                return True
    return False


MATCHERS: dict[str, Matcher] = {"is": _is, "contains": _contains, "matches": _matches}


def match_values(rt: Runtime, call: Call, values: list[str], keys: list[str]) -> bool:
    """Whether any of ``values`` matches any of ``keys`` under the call's match type and
    comparator. ``keys`` are expanded (variables) here; values are data, never expanded."""
    if len(values) > rt.limits.max_match_values and call.match != "count":
        values = values[:rt.limits.max_match_values]
    if rt.expander is not None:
        keys = rt.expand_all(keys)
    return MATCHERS[call.match](rt, call, COMPARATORS[call.comparator], values, keys)
