"""The parse tree of a Sieve script (RFC 5228 §8.2 grammar), before validation.

The parser (parser.py) produces these; binding (bind.py) checks them against the registry of
extensions and produces the bound tree the interpreter runs. Positions count from 1 and are
kept on every node so that every error can name its line and column.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Pos:
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class Tag:
    """A tagged argument such as ``:contains``; ``name`` is lower-case, without the colon
    (identifiers are case-insensitive: RFC 5228 §2.4.2)."""

    name: str
    pos: Pos


@dataclass(frozen=True, slots=True)
class Number:
    """A number with its quantifier already applied (K, M, G: RFC 5228 §2.4.1)."""

    value: int
    pos: Pos


@dataclass(frozen=True, slots=True)
class Strings:
    """A string or a string list. ``is_list`` tells ``"a"`` from ``["a"]``: most places accept
    either (RFC 5228 §2.4.2.1), a few want a single string. Multi-line strings are already
    dot-unstuffed and quoted strings unescaped (§2.4.2)."""

    values: tuple[str, ...]
    is_list: bool
    pos: Pos


Argument = Tag | Number | Strings


@dataclass(slots=True)
class Test:
    """A test: ``name args [test | "(" test-list ")"]``. ``name`` is lower-case."""

    name: str
    args: list[Argument]
    tests: list[Test]
    pos: Pos
    # True when the tests were written as a parenthesised test-list (allof/anyof), False
    # for a single nested test (not) or none
    test_list: bool = False


@dataclass(slots=True)
class Command:
    """A command: ``name args [test | test-list] (";" | block)``. ``block`` is None for a
    command ended by ";" and a list (maybe empty) for one with ``{ … }``."""

    name: str
    args: list[Argument]
    tests: list[Test]
    block: list[Command] | None
    pos: Pos
    test_list: bool = False


@dataclass(slots=True)
class Script:
    """A parsed script: its commands in order, and its source size in octets."""

    commands: list[Command] = field(default_factory=list)
    size: int = 0
