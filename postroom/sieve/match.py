"""Comparators and match types (RFC 5228 §2.7; RFC 4790 §9; RFC 5231; RFC 5229 §3.2).

A test hands ``match_values`` the values it found (header values, address parts, …) and the
keys the script gave; the call's match type and comparator decide. Extensions add match types
(``regex``, ``value``, ``count``) to ``MATCHERS`` and comparators to ``COMPARATORS``.
``:matches`` (and ``:regex``) set the match variables ``${0}``…``${9}`` when the script uses
variables (RFC 5229 §3.2).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass

from postroom.sieve.bind import Call
from postroom.sieve.runtime import Runtime


def ascii_casemap(text: str) -> str:
    """i;ascii-casemap (RFC 4790 §9.2): only A-Z fold; other characters stay."""
    return text.translate(_ASCII_LOWER) if not text.isascii() else text.lower()


_ASCII_LOWER = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}


def _numeric(text: str) -> float:
    """i;ascii-numeric (RFC 4790 §9.1.1): the leading digits' value; a string that does
    not start with a digit is positive infinity."""
    digits = len(text) - len(text.lstrip("0123456789"))
    return float(int(text[:digits])) if digits else float("inf")


@dataclass(frozen=True, slots=True)
class Comparator:
    name: str
    fold: Callable[[str], str]  # equality and substring operate on folded text
    # ordering for :value/:count (RFC 5231 §4): a key to sort by
    order: Callable[[str], object]


COMPARATORS: dict[str, Comparator] = {
    "i;octet": Comparator("i;octet", lambda s: s, lambda s: s.encode("utf-8")),
    "i;ascii-casemap": Comparator("i;ascii-casemap", ascii_casemap,
                                  lambda s: ascii_casemap(s).encode("utf-8")),
}

Matcher = Callable[[Runtime, Call, Comparator, list[str], list[str]], bool]


def _is(rt: Runtime, call: Call, comp: Comparator, values: list[str],
        keys: list[str]) -> bool:
    if comp.name == "i;ascii-numeric":
        return any(_numeric(v) == _numeric(k) for v in values for k in keys)
    folded = {comp.fold(k) for k in keys}
    return any(comp.fold(v) in folded for v in values)


def _contains(rt: Runtime, call: Call, comp: Comparator, values: list[str],
              keys: list[str]) -> bool:
    folded = [comp.fold(k) for k in keys]
    return any(k in comp.fold(v) for v in values for k in folded)


@functools.lru_cache(maxsize=512)
def glob_regex(pattern: str) -> re.Pattern[str]:
    """RFC 5228 §2.7.1: ``*`` any sequence, ``?`` one character, ``\\`` escapes the next.
    Each wildcard is a group, shortest first (RFC 5229 §3.2 match variables)."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
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
    for key in keys:
        regex = glob_regex(comp.fold(key))
        for value in values:
            found = regex.fullmatch(comp.fold(value))
            if found is not None:
                if rt.expander is not None:
                    # the captured text as written, not folded: positions are the same
                    # because folding never changes a string's length here
                    original = value if len(comp.fold(value)) == len(value) else \
                        comp.fold(value)
                    rt.match_variables = [original] + [
                        original[found.start(g):found.end(g)]
                        for g in range(1, (regex.groups or 0) + 1)]
                return True
    return False


MATCHERS: dict[str, Matcher] = {"is": _is, "contains": _contains, "matches": _matches}


def match_values(rt: Runtime, call: Call, values: list[str], keys: list[str]) -> bool:
    """Whether any of ``values`` matches any of ``keys`` under the call's match type and
    comparator. ``keys`` are expanded (variables) here; values are data, never expanded."""
    if len(values) > rt.limits.max_match_values:
        values = values[:rt.limits.max_match_values]
    comp = COMPARATORS[call.comparator]
    return MATCHERS[call.match](rt, call, comp, values, rt.expand_all(keys))
