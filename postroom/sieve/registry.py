"""What the language knows: commands, tests, tags, match types, comparators, address parts.

Every Sieve capability (RFC 5228 §6: ``require "fileinto";``) is one ``Extension``: the
commands and tests it adds, the tags it adds to other extensions' commands (``:copy`` on
``fileinto`` and ``redirect``, ``:flags`` on ``keep``), and the match types, comparators and
address parts it defines. The base language is the extension named ``""`` (always on; its
comparators ``i;octet`` and ``i;ascii-casemap`` need no require: RFC 5228 §2.7.3).

Binding (bind.py) checks a parsed script against this registry: a command or test is known
only if the capability that defines it was required (RFC 5228 §3.2), arguments are checked
against the ``Signature``, and each definition's ``validate`` hook may check values known at
compile time (a regex that does not compile, a bad date part) and keep compiled data in
``Call.data``. The interpreter (interp.py) then calls the definition's handler.

Extensions register themselves in ``postroom.sieve.ext`` (one module per concern); nothing
here knows any of them by name except the base.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field


class ArgKind(enum.Enum):
    STRING = "string"  # one string; a one-element list is refused (RFC 5228 §2.4.2.1 allows it
    #                    only where the grammar says string-list)
    STRINGS = "string-list"  # a string or a string list
    NUMBER = "number"


@dataclass(frozen=True, slots=True)
class TagSpec:
    """A tagged argument. ``value`` is the kind of the argument that must follow it
    (``:comparator "i;octet"``, ``:days 7``), None for a flag-like tag (``:copy``).
    Tags that share a ``group`` exclude each other (at most one match type, one address
    part). ``capability`` is the one the script must require to use this tag on this
    command; empty when the tag comes with the command itself."""

    name: str
    value: ArgKind | None = None
    group: str | None = None
    capability: str = ""


# Groups whose members are defined by several extensions: binding offers the tags of every
# registered definition whose capability was required.
MATCH = "match-type"
COMPARATOR = "comparator"
ADDRESS_PART = "address-part"


@dataclass(frozen=True, slots=True)
class Signature:
    """What a command or test takes, in the grammar's order: tags (any order, before the
    positionals: RFC 5228 §2.6.2), then positionals, then tests, then a block.

    ``optional`` is how many trailing positionals may be left out. ``tests`` is "none",
    "one" (if, not), or "list" (allof/anyof: a parenthesised test-list). ``block`` is True
    for a command that must have one (if/elsif/else). ``match``/``comparator``/
    ``address_part`` say whether the shared groups apply (offering ``:is``…, ``:comparator``,
    ``:all``… and whatever extensions add)."""

    positional: tuple[ArgKind, ...] = ()
    optional: int = 0
    # what each positional is, for error messages ("header names", "key list")
    names: tuple[str, ...] = ()
    tags: tuple[TagSpec, ...] = ()
    tests: str = "none"
    block: bool = False
    match: bool = False
    comparator: bool = False
    address_part: bool = False


# Handlers are called as handler(rt: Runtime, call: Call) and validators as
# validate(call: Call, ctx: BindContext). They are typed loosely here on purpose: naming
# Runtime and Call would make this module import runtime.py and bind.py, which import it
# (an import cycle, which tests/unit/test_import_rules.py forbids even under TYPE_CHECKING).
CommandHandler = Callable[..., Awaitable[None]]
TestHandler = Callable[..., Awaitable[bool]]
Validator = Callable[..., None]


@dataclass(frozen=True, slots=True)
class CommandDef:
    name: str
    signature: Signature
    handler: CommandHandler | None  # None for the control commands interp.py runs itself
    validate: Validator | None = None
    # an action command (counted against max_actions; keep/fileinto/redirect/discard/
    # reject/vacation/…), as opposed to a control command (if, stop, set, …)
    action: bool = False


@dataclass(frozen=True, slots=True)
class TestDef:
    name: str
    signature: Signature
    handler: TestHandler
    validate: Validator | None = None


@dataclass(frozen=True, slots=True)
class MatchTypeDef:
    """A match type tag (``is``, ``contains``, ``matches``; ``regex``; ``value``/``count``
    which take a relational operator string: RFC 5231 §4)."""

    name: str
    takes_value: bool = False


@dataclass(frozen=True, slots=True)
class ComparatorDef:
    """A comparator (RFC 4790 §9.3; RFC 5228 §2.7.3). ``capability`` is what must be
    required to name it (``comparator-i;ascii-numeric``), empty for the two built in.
    ``equal``/``contains``/``prefix``-style operations are implemented by match.py from
    ``key`` (a normalising function) and ``order`` (for :value and :count)."""

    name: str
    capability: str = ""
    # True if the comparator supports :contains and :matches (substring operations);
    # i;ascii-numeric does not (RFC 4790 §9.1.1)
    substring: bool = True


AddressPartFn = Callable[[str, str], str | None]  # (local part, domain) -> part or None


@dataclass(frozen=True, slots=True)
class AddressPartDef:
    """An address part tag (RFC 5228 §2.7.4; ``:user``/``:detail``: RFC 5233 §4).
    ``part`` returns None when the part does not exist (no detail): such an address
    matches nothing."""

    name: str
    part: AddressPartFn


@dataclass(slots=True)
class Extension:
    """One capability string and everything it brings."""

    name: str
    commands: Sequence[CommandDef] = ()
    tests: Sequence[TestDef] = ()
    # tags this extension adds to other commands and tests, by their name
    extra_tags: dict[str, tuple[TagSpec, ...]] = field(default_factory=dict)
    match_types: Sequence[MatchTypeDef] = ()
    comparators: Sequence[ComparatorDef] = ()
    address_parts: Sequence[AddressPartDef] = ()
    # capabilities that requiring this one implies (RFC 5231: none; "ereject" alone is
    # enough for ereject; "vacation-seconds" implies "vacation": RFC 6131 §2)
    implies: tuple[str, ...] = ()
    # listed in ManageSieve's SIEVE capability and accepted in require; False for
    # test-only extensions (vnd.dovecot.testsuite) that only the test harness turns on
    advertised: bool = True


_REGISTRY: dict[str, Extension] = {}


def register(ext: Extension) -> Extension:
    """Add an extension (called by the modules in postroom/sieve/ext at import)."""
    if ext.name in _REGISTRY:
        raise ValueError(f"Sieve extension {ext.name!r} registered twice")
    _REGISTRY[ext.name] = ext
    return ext


def extensions() -> dict[str, Extension]:
    """Every registered extension by capability name. Importing the ``postroom.sieve``
    package registers them all (its __init__ imports postroom.sieve.ext), so no module here
    imports the extensions (they import this one: no import cycle)."""
    return _REGISTRY


def capabilities() -> list[str]:
    """The capability names a script may require, sorted, as ManageSieve advertises them
    (RFC 5804 §1.7: the SIEVE capability), without the base language."""
    return sorted(name for name, ext in extensions().items() if name and ext.advertised)
