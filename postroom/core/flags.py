"""Message flags: the five system flags as a bitmask, keywords as a sorted tuple.

A bitmask keeps ``UID SEARCH UNSEEN`` and friends an indexed integer test in SQL; keywords are
rarer and stored as text. ``\\Recent`` is not stored: RFC 9051 drops it and RFC 3501 lets a
server compute it per session.
"""

from __future__ import annotations

import re

from postroom.core.errors import invalid

SEEN = 1
ANSWERED = 2
FLAGGED = 4
DELETED = 8
DRAFT = 16

SYSTEM_FLAGS: dict[str, int] = {
    "\\seen": SEEN,
    "\\answered": ANSWERED,
    "\\flagged": FLAGGED,
    "\\deleted": DELETED,
    "\\draft": DRAFT,
}
CANONICAL = {SEEN: "\\Seen", ANSWERED: "\\Answered", FLAGGED: "\\Flagged", DELETED: "\\Deleted",
             DRAFT: "\\Draft"}
# RFC 9051 §9 atom-specials excluded from flag keywords.
_KEYWORD = re.compile(r"^[^\x00-\x20\x7f(){%*\"\\\]]+$")
MAX_KEYWORD = 100


def parse_flags(names: list[str] | tuple[str, ...]) -> tuple[int, tuple[str, ...]]:
    """Split flag names into (system bitmask, sorted keywords); invalid names raise INVALID."""
    mask = 0
    keywords: set[str] = set()
    for name in names:
        bit = SYSTEM_FLAGS.get(name.lower())
        if bit is not None:
            mask |= bit
        elif name.lower() == "\\recent":
            continue
        elif name.startswith("\\"):
            raise invalid(f"unknown system flag {name}")
        elif _KEYWORD.match(name) and len(name) <= MAX_KEYWORD:
            keywords.add(name)
        else:
            raise invalid(f"invalid flag keyword {name!r}")
    return mask, tuple(sorted(keywords))


def format_flags(mask: int, keywords: tuple[str, ...] | list[str]) -> list[str]:
    out = [name for bit, name in CANONICAL.items() if mask & bit]
    out.extend(keywords)
    return out


def keywords_from_text(text: str) -> tuple[str, ...]:
    return tuple(text.split()) if text else ()


def keywords_to_text(keywords: tuple[str, ...] | list[str] | set[str]) -> str:
    return " ".join(sorted(keywords))
