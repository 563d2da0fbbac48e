"""Whole calendars and address books as one file (.ics, .vcf): split for import, join for
export, streaming so that a large file is never held twice."""

from __future__ import annotations

from collections.abc import Iterable, Iterator


def split_calendar(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """One calendar object resource per UID (with the VTIMEZONEs it uses) from a VCALENDAR
    stream; ``InvalidItem`` for a stream that is not iCalendar."""
    raise NotImplementedError


def join_calendar(objects: Iterable[bytes]) -> Iterator[bytes]:
    """One VCALENDAR from many objects, each VTIMEZONE once."""
    raise NotImplementedError


def split_cards(chunks: Iterable[bytes]) -> Iterator[bytes]:
    raise NotImplementedError


def join_cards(cards: Iterable[bytes]) -> Iterator[bytes]:
    raise NotImplementedError
