"""Recurrence expansion (RFC 5545 §3.3.10, §3.8.5; RFC 4791 §9.9): the instances of a
calendar object that fall in a range, overrides (RECURRENCE-ID) and EXDATEs applied."""

from __future__ import annotations

from postroom.pim.filters import TimeRange
from postroom.pim.model import Instance


def instances(data: bytes, span: TimeRange, *, component: str | None = None,
              max_instances: int = 10_000) -> list[Instance]:
    """Instances overlapping ``span`` (RFC 4791 §9.9 overlap rules), in start order."""
    raise NotImplementedError


def expand(data: bytes, span: TimeRange, max_instances: int = 10_000) -> bytes:
    """RFC 4791 §9.6.5: the object with every instance in ``span`` as its own component with a
    RECURRENCE-ID, in UTC, no RRULE/RDATE/EXDATE, no VTIMEZONE."""
    raise NotImplementedError
