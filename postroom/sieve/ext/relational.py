"""The "relational" extension (RFC 5231): the ``:value`` and ``:count`` match types.

``:value "op"`` compares each value from the message (left) with each key (right) under the
comparator's ordering; true if any pair holds (§4.1). ``:count "op"`` compares the number
of values with each key (§4.2): header fields for header, addresses for address (groups
opened, their names not counted), 0 or 1 for envelope "from". Counting with
i;ascii-casemap is allowed but compares the count as text; scripts should use
i;ascii-numeric (§4.2 SHOULD).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from postroom.sieve.bind import Call
from postroom.sieve.match import MATCHERS, Comparator
from postroom.sieve.registry import Extension, MatchTypeDef, register
from postroom.sieve.runtime import Runtime

RELATIONS: dict[str, Callable[[Any, Any], bool]] = {
    "gt": operator.gt, "ge": operator.ge, "lt": operator.lt, "le": operator.le,
    "eq": operator.eq, "ne": operator.ne}


def _relation(call: Call) -> Callable[[Any, Any], bool]:
    assert call.relation is not None  # binding refuses :value/:count without one
    return RELATIONS[call.relation]


def _value(rt: Runtime, call: Call, comp: Comparator, values: list[str],
           keys: list[str]) -> bool:
    relation = _relation(call)
    order = comp.order
    right = [order(k) for k in keys]
    for v in values:
        left = order(v)
        for r in right:
            if relation(left, r):
                return True
    return False


def _count(rt: Runtime, call: Call, comp: Comparator, values: list[str],
           keys: list[str]) -> bool:
    relation = _relation(call)
    left = comp.order(str(len(values)))
    return any(relation(left, comp.order(k)) for k in keys)


MATCHERS["value"] = _value
MATCHERS["count"] = _count

register(Extension(
    "relational",
    match_types=(MatchTypeDef("value", takes_value=True),
                 MatchTypeDef("count", takes_value=True)),
))
