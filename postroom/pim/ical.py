"""iCalendar calendar object resources (RFC 5545; RFC 4791 §4.1): parse, validate, index."""

from __future__ import annotations

from postroom.pim.model import ItemIndex, SchedulingInfo


def index_calendar(data: bytes, allowed: tuple[str, ...] = ("VEVENT", "VTODO", "VJOURNAL"),
                   max_instances: int = 10_000) -> ItemIndex:
    """Check that ``data`` is one calendar object resource a CalDAV collection may hold
    (RFC 4791 §4.1: one UID, one component type, overrides by RECURRENCE-ID, VTIMEZONEs it
    needs) and index it; raise ``InvalidItem`` (valid-calendar-data, supported-calendar-
    component, valid-calendar-object-resource) otherwise."""
    raise NotImplementedError


def scheduling_info(data: bytes) -> SchedulingInfo | None:
    """ORGANIZER/ATTENDEEs of the object's master component, None when not a group event."""
    raise NotImplementedError
