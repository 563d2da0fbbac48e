"""VFREEBUSY (RFC 4791 §7.10 free-busy-query; RFC 6638 §3.2.8 schedule outbox POST)."""

from __future__ import annotations

from collections.abc import Iterable

from postroom.pim.filters import TimeRange
from postroom.pim.model import BusyPeriod


def busy_periods(objects: Iterable[bytes], span: TimeRange) -> list[BusyPeriod]:
    """Busy time of the objects in ``span``: opaque, non-cancelled instances; merged."""
    raise NotImplementedError


def vfreebusy(periods: list[BusyPeriod], span: TimeRange, *, organizer: str = "",
              attendee: str = "", uid: str = "") -> bytes:
    """A VCALENDAR with one VFREEBUSY (RFC 5545 §3.6.4)."""
    raise NotImplementedError
