"""RFC 4314 rights, identifiers and their canonical text forms.

Rights are kept as a frozenset of the eleven RFC 4314 letters. The obsolete RFC 2086 ``c`` and
``d`` follow RFC 4314 §2.1.1's first grouping (Product decision 1): ``c`` = ``k`` + ``x``,
``d`` = ``e`` + ``t``. Input expands them; output adds them back when any member is present.
"""

from __future__ import annotations

from dataclasses import dataclass

from postroom.core.errors import invalid

ALL_LETTERS = "lrswipkxtea"  # RFC 4314 §2.1 order
CREATE_GROUP = frozenset("kx")  # RFC 4314 §2.1.1, grouping (A)
DELETE_GROUP = frozenset("et")
VISIBLE_RIGHTS = frozenset("lrikxa")  # Product decision 8 / RFC 4314 §4 (MYRIGHTS)
GROUPWARE_UNUSED = frozenset("swp")  # Product decision 3

ANYONE = "anyone"
AUTHENTICATED = "authenticated"


@dataclass(frozen=True, slots=True)
class Rights:
    """An immutable set of RFC 4314 rights."""

    letters: frozenset[str]

    @classmethod
    def parse(cls, text: str) -> Rights:
        """Parse rights text; uppercase or unknown letters are an error, never ignored (§2)."""
        out: set[str] = set()
        for ch in text:
            if ch in ALL_LETTERS:
                out.add(ch)
            elif ch == "c":
                out |= CREATE_GROUP
            elif ch == "d":
                out |= DELETE_GROUP
            elif ch.isdigit():
                raise invalid(f"site-defined right '{ch}' is not supported")
            else:
                raise invalid(f"invalid ACL right '{ch}'")
        return cls(frozenset(out))

    @classmethod
    def all(cls) -> Rights:
        return _ALL

    @classmethod
    def none(cls) -> Rights:
        return cls(frozenset())

    def __contains__(self, letter: object) -> bool:
        return letter in self.letters

    def __or__(self, other: Rights) -> Rights:
        return Rights(self.letters | other.letters)

    def __sub__(self, other: Rights) -> Rights:
        return Rights(self.letters - other.letters)

    def __bool__(self) -> bool:
        return bool(self.letters)

    def has_any(self, letters: str | frozenset[str]) -> bool:
        return not self.letters.isdisjoint(letters)

    def has_all(self, letters: str | frozenset[str]) -> bool:
        return set(letters) <= self.letters

    def storage(self) -> str:
        """Canonical stored form: the RFC 4314 letters in RFC order, no c/d."""
        return "".join(ch for ch in ALL_LETTERS if ch in self.letters)

    def display(self) -> str:
        """Wire form for GETACL/MYRIGHTS: adds ``c``/``d`` when a member is present."""
        text = self.storage()
        if not self.letters.isdisjoint(CREATE_GROUP):
            text += "c"
        if not self.letters.isdisjoint(DELETE_GROUP):
            text += "d"
        return text

    def __str__(self) -> str:
        return self.storage()


@dataclass(frozen=True, slots=True)
class Identifier:
    """An ACL identifier in canonical form (Product decision 5).

    ``name`` is ``anyone``, ``authenticated``, ``user@domain`` or ``$group@domain``;
    ``negative`` marks a ``-`` entry that subtracts rights.
    """

    name: str
    negative: bool = False

    def __str__(self) -> str:
        return ("-" if self.negative else "") + self.name

    @property
    def is_group(self) -> bool:
        return self.name.startswith("$")

    @property
    def is_special(self) -> bool:
        return self.name in (ANYONE, AUTHENTICATED)


# One shared value: every owner's session asks for it (an idle IMAP connection kept three).
_ALL = Rights(frozenset(ALL_LETTERS))
