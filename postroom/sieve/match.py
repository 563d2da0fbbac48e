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


class Glob:
    """A ``:matches`` pattern (RFC 5228 §2.7.1: ``*`` any sequence, ``?`` one character,
    ``\\`` escapes the next), matched without backtracking.

    The pattern is cut at its stars into segments without stars; the first must match at the
    start, the last at the end, and each one between at its leftmost place after the one
    before (for star-separated segments of fixed length the leftmost placement finds a match
    whenever there is one). That is at most one search per segment, linear in the value, so
    a pattern such as ``*a*a*a*a*b`` over a megabyte body costs what a few searches cost —
    a backtracking regular expression would never finish. The leftmost placement is also
    what RFC 5229 §3.2 asks of the match variables: "the wildcards match as little as
    possible"."""

    __slots__ = ("segments", "stars")

    def __init__(self, pattern: str) -> None:
        # segments: (text with "?" as a placeholder, offsets of its "?"s, its regex or None)
        pieces: list[list[str | None]] = [[]]  # None = "?"
        i = 0
        n = len(pattern)
        while i < n:
            c = pattern[i]
            if c == "\\":
                # escapes the next character; a backslash that ends the pattern is itself
                pieces[-1].append(pattern[i + 1] if i + 1 < n else "\\")
                i += 2
                continue
            if c == "*":
                pieces.append([])
            elif c == "?":
                pieces[-1].append(None)
            else:
                pieces[-1].append(c)
            i += 1
        self.stars = len(pieces) - 1
        self.segments: list[tuple[str, tuple[int, ...], re.Pattern[str] | None]] = []
        for piece in pieces:
            holes = tuple(k for k, c in enumerate(piece) if c is None)
            text = "".join("?" if c is None else c for c in piece)
            regex = re.compile("".join("." if c is None else re.escape(c) for c in piece),
                               re.DOTALL) if holes else None
            self.segments.append((text, holes, regex))

    def match(self, value: str) -> list[tuple[int, int]] | None:
        """The spans of the wildcards, in order, if ``value`` matches; else None."""
        segments = self.segments
        if not self.stars:
            text, holes, regex = segments[0]
            if len(value) != len(text):
                return None
            if regex is None:
                return [] if value == text else None
            if regex.fullmatch(value) is None:
                return None
            return [(k, k + 1) for k in holes]
        spans: list[tuple[int, int]] = []
        # first segment: at the start
        text, holes, regex = segments[0]
        if not _at(value, 0, text, regex):
            return None
        spans.extend((k, k + 1) for k in holes)
        pos = len(text)
        # last segment: at the end, after the first
        last_text, last_holes, last_regex = segments[-1]
        end = len(value) - len(last_text)
        if end < pos or not _at(value, end, last_text, last_regex):
            return None
        # the ones between: leftmost, in order
        for text, holes, regex in segments[1:-1]:
            if regex is None:
                found = value.find(text, pos, end)
            else:
                m = regex.search(value, pos, end)
                found = -1 if m is None else m.start()
            if found < 0:
                return None
            spans.append((pos, found))  # the star before this segment
            spans.extend((found + k, found + k + 1) for k in holes)
            pos = found + len(text)
        spans.append((pos, end))  # the last star
        spans.extend((end + k, end + k + 1) for k in last_holes)
        return spans


def _at(value: str, pos: int, text: str, regex: re.Pattern[str] | None) -> bool:
    if regex is None:
        return value.startswith(text, pos)
    return regex.match(value, pos, pos + len(text)) is not None


@functools.lru_cache(maxsize=1024)
def glob(pattern: str) -> Glob:
    """The compiled ``:matches`` pattern (cached: scripts repeat their patterns)."""
    return Glob(pattern)


def _matches(rt: Runtime, call: Call, comp: Comparator, values: list[str],
             keys: list[str]) -> bool:
    fold = comp.fold
    assert fold is not None
    patterns = _folded_keys(call, comp, keys, lambda k: glob(fold(k)), "_matches")
    for pattern in patterns:
        for value in values:
            folded = fold(value)
            spans = pattern.match(folded)
            if spans is not None:
                if rt.expander is not None:
                    # the captured text as written: folding kept every position unless
                    # it changed the length (then the folded text is all we have)
                    source = value if len(folded) == len(value) else folded
                    rt.match_variables = [source] + [source[a:b] for a, b in spans]
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
