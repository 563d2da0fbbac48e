"""services/dav/items.py answers a plain VEVENT time-range query from the index alone for a
single non-recurring event: the indexed span with ``times.Span.overlaps`` must decide exactly
as pim.query.calendar_matches does on the object itself (RFC 4791 §9.9), for every shape of
event (timed, zero-length, all-day, multi-day, DURATION, floating) and every range."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from postroom.pim import ical, query, times
from postroom.pim.filters import CompFilter, TimeRange

BASE = 1_780_000_000  # 2026-05-28


def _stamp(epoch: int) -> str:
    import datetime as dt
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def _date(epoch: int) -> str:
    import datetime as dt
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y%m%d")


shapes = st.sampled_from(["dtend", "zero", "duration", "allday", "allday-span", "floating"])


def _event(shape: str, start: int, length: int) -> bytes:
    if shape == "dtend":
        when = f"DTSTART:{_stamp(start)}\r\nDTEND:{_stamp(start + length)}\r\n"
    elif shape == "zero":
        when = f"DTSTART:{_stamp(start)}\r\n"
    elif shape == "duration":
        when = f"DTSTART:{_stamp(start)}\r\nDURATION:PT{length}S\r\n"
    elif shape == "allday":
        when = f"DTSTART;VALUE=DATE:{_date(start)}\r\n"
    elif shape == "allday-span":
        days = 1 + length // 86400
        when = (f"DTSTART;VALUE=DATE:{_date(start)}\r\n"
                f"DTEND;VALUE=DATE:{_date(start + days * 86400)}\r\n")
    else:
        when = f"DTSTART:{_stamp(start)[:-1]}\r\nDTEND:{_stamp(start + length)[:-1]}\r\n"
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:x\r\n"
            f"DTSTAMP:20260101T000000Z\r\n{when}SUMMARY:s\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
            ).encode()


@settings(max_examples=400, deadline=None)
@given(shape=shapes, start=st.integers(0, 20 * 86400), length=st.integers(1, 5 * 86400),
       lo=st.one_of(st.none(), st.integers(-86400, 22 * 86400)),
       width=st.one_of(st.none(), st.integers(0, 6 * 86400)),
       align=st.booleans())
def test_the_index_decides_as_the_object_does(shape: str, start: int, length: int,
                                              lo: int | None, width: int | None,
                                              align: bool) -> None:
    if align:  # ranges on the event's own edges, where off-by-one errors live
        lo = start
        width = length if width is None else width
    data = _event(shape, BASE + start, length)
    lo_abs = None if lo is None else BASE + lo
    hi_abs = None if width is None else (BASE + (lo or 0) + width)
    if lo_abs is None and hi_abs is None:
        return
    index = ical.index_calendar(data)
    assert not index.recurring and index.start is not None and index.end is not None
    flt = CompFilter("VCALENDAR", comp_filters=(
        CompFilter("VEVENT", time_range=TimeRange(lo_abs, hi_abs)),))
    assert times.Span(index.start, index.end).overlaps(lo_abs, hi_abs) == \
        query.calendar_matches(data, flt)
