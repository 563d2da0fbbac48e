"""Evaluate CalDAV and CardDAV filters (RFC 4791 §9.7, RFC 6352 §10.5) on one item, and cut
returned data down as calendar-data/address-data ask (RFC 4791 §9.6, RFC 6352 §10.4)."""

from __future__ import annotations

from postroom.pim.filters import (
    AddressDataRequest,
    CalendarDataRequest,
    CardFilter,
    CompFilter,
)


def calendar_matches(data: bytes, comp_filter: CompFilter, max_instances: int = 10_000) -> bool:
    raise NotImplementedError


def card_matches(data: bytes, card_filter: CardFilter) -> bool:
    raise NotImplementedError


def calendar_data(data: bytes, request: CalendarDataRequest) -> bytes:
    raise NotImplementedError


def address_data(data: bytes, request: AddressDataRequest) -> bytes:
    raise NotImplementedError


def supported_collation(name: str) -> bool:
    """RFC 4791 §7.5.1: an unsupported collation is a 403 CALDAV:supported-collation."""
    return name in ("i;ascii-casemap", "i;octet", "i;unicode-casemap")
