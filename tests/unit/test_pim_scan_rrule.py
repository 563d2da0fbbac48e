"""pim.scan decides a time-range on a VEVENT recurring by one plain DAILY or WEEKLY rule by
arithmetic; its answer must be the full path's (icalendar + dateutil, pim.recurrence) for
every shape: DTSTART in UTC, floating or a DATE; DTEND, DURATION or neither; COUNT, UNTIL
as a DATE or DATE-TIME, before DTSTART, past max_instances; open ranges; and the shapes it
must leave alone (TZID, EXDATE, other frequencies, BYDAY, endless rules)."""

from __future__ import annotations

import time

from hypothesis import given, settings
from hypothesis import strategies as st

from postroom.pim import query, scan
from postroom.pim.filters import CompFilter, PropFilter, TextMatch, TimeRange
from tests.unit.test_pim_ical import cal, ev
from tests.unit.test_pim_query import ts, vcal

STARTS = ["DTSTART:20260302T090000Z", "DTSTART:20260302T090000",
          "DTSTART;VALUE=DATE:20260302", "DTSTART;TZID=Europe/Berlin:20260302T090000"]
ENDS = ["", "DTEND:20260302T100000Z", "DTEND:20260302T090000Z", "DURATION:PT1H",
        "DURATION:P1D", "DURATION:PT0S", "DTEND;VALUE=DATE:20260304", "DURATION:P9D"]
RULES = ["FREQ=WEEKLY;COUNT=8", "FREQ=DAILY;COUNT=1", "FREQ=DAILY;INTERVAL=3;COUNT=20",
         "FREQ=WEEKLY;INTERVAL=2;COUNT=5", "FREQ=WEEKLY;UNTIL=20260420T090000Z",
         "FREQ=DAILY;UNTIL=20260310", "FREQ=DAILY;UNTIL=20260310T085959Z",
         "FREQ=DAILY;UNTIL=20260310T090000", "FREQ=WEEKLY;UNTIL=20260101T000000Z",
         "FREQ=DAILY;INTERVAL=2;UNTIL=20260401T235959Z", "FREQ=DAILY;COUNT=500",
         # left to the full path:
         "FREQ=WEEKLY", "FREQ=MONTHLY;COUNT=4", "FREQ=WEEKLY;BYDAY=MO,WE;COUNT=6",
         "freq=weekly;count=3",
         "FREQ=DAILY;INTERVAL=0;COUNT=3", "FREQ=DAILY;COUNT=0"]
EXTRAS = ["", "EXDATE:20260309T090000Z", "RDATE:20260305T090000Z"]


def _flt(lo: int | None, hi: int | None, text: str = "") -> CompFilter:
    pfs = (PropFilter("SUMMARY", text_matches=(TextMatch(text),)),) if text else ()
    return vcal(CompFilter("VEVENT", time_range=TimeRange(lo, hi), prop_filters=pfs))


@settings(max_examples=1500, deadline=None)
@given(start=st.sampled_from(STARTS), end=st.sampled_from(ENDS), rule=st.sampled_from(RULES),
       extra=st.sampled_from(EXTRAS),
       lo=st.one_of(st.none(), st.integers(ts(2025, 12, 20), ts(2026, 6, 1))),
       width=st.one_of(st.none(), st.integers(0, 20 * 86_400)),
       most=st.sampled_from([1, 3, 7, 10_000]), text=st.sampled_from(["", "weekly", "xyz"]))
def test_simple_rules_agree_with_the_full_path(start: str, end: str, rule: str, extra: str,
                                               lo: int | None, width: int | None,
                                               most: int, text: str) -> None:
    data = cal(ev(*[x for x in (start, end, f"RRULE:{rule}", extra,
                                "SUMMARY:Team meeting weekly") if x]))
    if lo is None and width is None:
        width = 0
    hi = None if width is None else (lo if lo is not None else ts(2026, 3, 1)) + width
    flt = _flt(lo, hi, text)
    assert query.calendar_matches(data, flt, most) == query.full_match(data, flt, most)


def test_the_fast_path_decides_plain_rules() -> None:
    """The shapes a calendar client writes for "every week, 8 times" or "daily until" are
    answered without icalendar (not None), and right."""
    weekly = cal(ev("DTSTART:20260302T090000Z", "DTEND:20260302T100000Z",
                    "RRULE:FREQ=WEEKLY;COUNT=8", "SUMMARY:Standup"))
    daily = cal(ev("DTSTART;VALUE=DATE:20260302", "RRULE:FREQ=DAILY;UNTIL=20260305",
                   "SUMMARY:Trip"))
    march, may = _flt(ts(2026, 3, 10), ts(2026, 3, 11)), _flt(ts(2026, 5, 1), ts(2026, 6, 1))
    assert scan.matches(weekly, march, query.text_matches) is False  # a Tuesday
    assert scan.matches(weekly, _flt(ts(2026, 3, 9), ts(2026, 3, 10)),
                        query.text_matches) is True
    assert scan.matches(weekly, _flt(ts(2026, 4, 20, 9, 30), None), query.text_matches)
    assert scan.matches(weekly, _flt(ts(2026, 4, 20, 10), None), query.text_matches) is False
    assert scan.matches(weekly, may, query.text_matches) is False
    assert scan.matches(daily, _flt(ts(2026, 3, 5, 23), ts(2026, 3, 6)),
                        query.text_matches) is True
    assert scan.matches(daily, _flt(ts(2026, 3, 6), ts(2026, 3, 7)),
                        query.text_matches) is False
    berlin = cal(ev("DTSTART;TZID=Europe/Berlin:20260302T090000",
                    "RRULE:FREQ=WEEKLY;COUNT=8", "SUMMARY:Standup"))
    assert scan.matches(berlin, march, query.text_matches) is None  # DST: the full path
    both = cal(ev("DTSTART:20260302T090000Z", "RRULE:FREQ=WEEKLY;COUNT=3;UNTIL=20260401",
                  "SUMMARY:Odd"))
    assert scan.matches(both, march, query.text_matches) is None  # RFC 5545: MUST NOT


def test_recurring_month_query_is_fast() -> None:
    # a month view over a calendar with weekly series: ~110 of them are candidates of a
    # month in the bench (bench/dav.py); measured ~15 µs each here, ~120 µs on the full path
    data = cal(ev("DTSTART:20260525T090000Z", "DURATION:PT1H",
                  "RRULE:FREQ=WEEKLY;COUNT=8", "SUMMARY:Weekly"))
    flt = _flt(ts(2026, 6, 1), ts(2026, 7, 1))
    t0 = time.perf_counter()
    assert all(query.calendar_matches(data, flt) for _ in range(1000))
    assert time.perf_counter() - t0 < 0.25
