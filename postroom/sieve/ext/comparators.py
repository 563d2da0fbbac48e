"""Comparators beyond the two every script has (RFC 5228 §2.7.3: others are required as
"comparator-<name>").

- i;ascii-numeric (RFC 4790 §9.1): equality and ordering of the leading decimal digits,
  strings that start with no digit are positive infinity; no substring operations, so
  binding refuses it with :contains and :matches. The comparator itself lives in
  match.COMPARATORS; this registers its capability.
- i;unicode-casemap (RFC 5051): case-insensitive for all of Unicode. Each character is
  mapped to its simple titlecase form (the one-character title/upper case of it), then the
  string is decomposed with NFKD (§2), so "ǅ", "ǆ" and "Ǆ" are equal, as are "é" and
  "e" + U+0301.
"""

from __future__ import annotations

import unicodedata

from postroom.sieve.match import COMPARATORS, Comparator
from postroom.sieve.registry import ComparatorDef, Extension, register


def _title(c: str) -> str:
    t = c.title()
    if len(t) == 1:
        return t
    u = c.upper()
    return u if len(u) == 1 else c


def unicode_casemap(text: str) -> str:
    """RFC 5051 §2: simple titlecase mapping, then NFKD."""
    if text.isascii():
        return text.upper()
    return unicodedata.normalize("NFKD", "".join(_title(c) for c in text))


COMPARATORS["i;unicode-casemap"] = Comparator(
    "i;unicode-casemap", unicode_casemap, lambda s: unicode_casemap(s).encode("utf-8",
                                                                              "surrogatepass"),
    unicode_casemap)

register(Extension("comparator-i;ascii-numeric", comparators=(
    ComparatorDef("i;ascii-numeric", capability="comparator-i;ascii-numeric",
                  substring=False),)))
register(Extension("comparator-i;unicode-casemap", comparators=(
    ComparatorDef("i;unicode-casemap", capability="comparator-i;unicode-casemap"),)))
