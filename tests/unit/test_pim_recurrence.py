"""pim.recurrence: instances in a range and RFC 4791 §9.6.5 expansion."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import icalendar

from postroom.pim import recurrence
from postroom.pim.filters import TimeRange
from tests.unit.test_pim_ical import BERLIN_TZ, cal, ev


def ts(*a: int) -> int:
    return int(datetime(*a, tzinfo=UTC).timestamp())


def rng(a: tuple[int, ...], b: tuple[int, ...]) -> TimeRange:
    return TimeRange(ts(*a), ts(*b))


def starts(data: bytes, span: TimeRange, **kw: int) -> list[int]:
    return [i.start for i in recurrence.instances(data, span, **kw)]


def test_berlin_dst_keeps_wall_clock() -> None:
    data = cal(BERLIN_TZ, ev("DTSTART;TZID=Europe/Berlin:20260320T090000", "DURATION:PT1H",
                             "RRULE:FREQ=WEEKLY;COUNT=4"))
    got = recurrence.instances(data, rng((2026, 3, 1), (2026, 5, 1)))
    # 09:00 CET = 08:00Z before 29 March, 09:00 CEST = 07:00Z after
    assert [i.start for i in got] == [ts(2026, 3, 20, 8), ts(2026, 3, 27, 8),
                                      ts(2026, 4, 3, 7), ts(2026, 4, 10, 7)]
    assert all(i.end - i.start == 3600 for i in got)
    assert got[2].recurrence_id == "20260403T070000Z"


def test_new_york_dst_via_iana_name() -> None:
    data = cal(ev("DTSTART;TZID=America/New_York:20261030T100000",
                  "DTEND;TZID=America/New_York:20261030T110000", "RRULE:FREQ=DAILY;COUNT=5"))
    got = starts(data, rng((2026, 10, 1), (2026, 12, 1)))
    # DST ends 1 November 2026: 14:00Z -> 15:00Z
    assert got == [ts(2026, 10, 30, 14), ts(2026, 10, 31, 14), ts(2026, 11, 1, 15),
                   ts(2026, 11, 2, 15), ts(2026, 11, 3, 15)]


def test_exdate_rdate_and_until() -> None:
    data = cal(ev("DTSTART:20260301T100000Z", "DURATION:PT30M",
                  "RRULE:FREQ=DAILY;UNTIL=20260305T100000Z",
                  "EXDATE:20260302T100000Z,20260304T100000Z",
                  "RDATE:20260310T120000Z"))
    assert starts(data, rng((2026, 1, 1), (2027, 1, 1))) == [
        ts(2026, 3, 1, 10), ts(2026, 3, 3, 10), ts(2026, 3, 5, 10), ts(2026, 3, 10, 12)]


def test_overrides_moved_in_and_out() -> None:
    data = cal(ev("DTSTART:20260302T090000Z", "DURATION:PT1H", "RRULE:FREQ=WEEKLY;COUNT=4",
                  "SUMMARY:weekly"),
               # moved from inside March to April
               ev("RECURRENCE-ID:20260309T090000Z", "DTSTART:20260401T090000Z",
                  "DURATION:PT1H", "SUMMARY:moved out"),
               # moved from the 23rd into the range's day (the 20th)
               ev("RECURRENCE-ID:20260323T090000Z", "DTSTART:20260320T150000Z",
                  "DURATION:PT1H", "SUMMARY:moved in"))
    got = recurrence.instances(data, rng((2026, 3, 9), (2026, 3, 21)))
    assert [(i.start, i.summary) for i in got] == [(ts(2026, 3, 16, 9), "weekly"),
                                                    (ts(2026, 3, 20, 15), "moved in")]
    got = recurrence.instances(data, rng((2026, 3, 31), (2026, 4, 2)))
    assert [(i.summary, i.recurrence_id) for i in got] == [("moved out", "20260309T090000Z")]


def test_all_day_series() -> None:
    data = cal(ev("DTSTART;VALUE=DATE:20260101", "DTEND;VALUE=DATE:20260102",
                  "RRULE:FREQ=YEARLY", "SUMMARY:New year"))
    got = recurrence.instances(data, rng((2027, 12, 31, 12), (2028, 1, 1, 1)))
    assert len(got) == 1
    assert (got[0].start, got[0].end, got[0].all_day) == (ts(2028, 1, 1), ts(2028, 1, 2), True)
    assert got[0].recurrence_id == "20280101"


def test_floating_is_utc() -> None:
    data = cal(ev("DTSTART:20260301T100000", "RRULE:FREQ=DAILY;COUNT=2"))
    got = recurrence.instances(data, rng((2026, 3, 2), (2026, 3, 3)))
    assert [(i.start, i.recurrence_id) for i in got] == [(ts(2026, 3, 2, 10), "20260302T100000")]


def test_overlap_rules() -> None:
    # zero-length at range start counts; an event ending at range start does not
    point = cal(ev("DTSTART:20260301T100000Z"))
    assert starts(point, rng((2026, 3, 1, 10), (2026, 3, 1, 11))) == [ts(2026, 3, 1, 10)]
    assert starts(point, rng((2026, 3, 1, 9), (2026, 3, 1, 10))) == []
    hour = cal(ev("DTSTART:20260301T090000Z", "DTEND:20260301T100000Z"))
    assert starts(hour, rng((2026, 3, 1, 10), (2026, 3, 1, 11))) == []
    assert starts(hour, rng((2026, 3, 1, 9, 59), (2026, 3, 1, 11))) == [ts(2026, 3, 1, 9)]
    assert starts(hour, TimeRange(None, ts(2026, 3, 1, 9, 1))) == [ts(2026, 3, 1, 9)]


def test_endless_rules_are_bounded() -> None:
    t0 = time.perf_counter()
    data = cal(ev("DTSTART:20000101T000000Z", "RRULE:FREQ=SECONDLY"))
    got = starts(data, rng((2026, 1, 1), (2026, 1, 2)), max_instances=5000)
    # fast-forwarded to the range, then cut at max_instances (86,400 would match)
    assert got[0] == ts(2026, 1, 1) and 4990 <= len(got) <= 5000
    counted = cal(ev("DTSTART:20000101T000000Z", "RRULE:FREQ=SECONDLY;COUNT=100000000"))
    assert starts(counted, rng((2026, 1, 1), (2026, 1, 2)), max_instances=5000) == []
    impossible = cal(ev("DTSTART:20260101T000000Z",
                        "RRULE:FREQ=MINUTELY;BYYEARDAY=366;BYMONTH=1"))
    assert starts(impossible, rng((2026, 1, 1), (2030, 1, 2))) == [ts(2026, 1, 1)]
    assert time.perf_counter() - t0 < 2


def test_daily_since_long_ago_is_fast_forwarded() -> None:
    data = cal(BERLIN_TZ, ev("DTSTART;TZID=Europe/Berlin:20000103T090000", "DURATION:PT1H",
                             "RRULE:FREQ=WEEKLY;BYDAY=MO,WE"))
    got = starts(data, rng((2026, 3, 2), (2026, 3, 9)), max_instances=50)
    assert got == [ts(2026, 3, 2, 8), ts(2026, 3, 4, 8)]


def test_component_filter() -> None:
    data = cal(ev("DUE:20260301T100000Z", name="VTODO"))
    assert starts(data, rng((2026, 1, 1), (2027, 1, 1)), ) == [ts(2026, 3, 1, 10)]
    assert recurrence.instances(data, rng((2026, 1, 1), (2027, 1, 1)), component="VEVENT") == []


def test_expand_rfc4791_9_6_5() -> None:
    data = cal(BERLIN_TZ, ev("DTSTART;TZID=Europe/Berlin:20260320T090000", "DURATION:PT1H",
                             "RRULE:FREQ=WEEKLY;COUNT=4",
                             "EXDATE;TZID=Europe/Berlin:20260327T090000",
                             "SUMMARY:weekly"),
               ev("RECURRENCE-ID;TZID=Europe/Berlin:20260403T090000",
                  "DTSTART;TZID=Europe/Berlin:20260403T110000",
                  "DTEND;TZID=Europe/Berlin:20260403T120000", "SUMMARY:later"))
    out = icalendar.Calendar.from_ical(recurrence.expand(data, rng((2026, 3, 1), (2026, 4, 5))))
    assert not out.walk("VTIMEZONE")
    evs = out.walk("VEVENT")
    assert [(str(e["SUMMARY"]), e["DTSTART"].dt, e["RECURRENCE-ID"].dt) for e in evs] == [
        ("weekly", datetime(2026, 3, 20, 8, tzinfo=UTC), datetime(2026, 3, 20, 8, tzinfo=UTC)),
        ("later", datetime(2026, 4, 3, 9, tzinfo=UTC), datetime(2026, 4, 3, 7, tzinfo=UTC)),
    ]
    assert all("RRULE" not in e and "EXDATE" not in e for e in evs)
    assert evs[1]["DTEND"].dt == datetime(2026, 4, 3, 10, tzinfo=UTC)
    assert b"TZID" not in recurrence.expand(data, rng((2026, 3, 1), (2026, 4, 5)))


def test_expand_shifts_dtend_of_generated_instances() -> None:
    data = cal(ev("DTSTART:20260301T100000Z", "DTEND:20260301T113000Z",
                  "RRULE:FREQ=DAILY;COUNT=3"))
    out = icalendar.Calendar.from_ical(recurrence.expand(data, rng((2026, 3, 3), (2026, 3, 4))))
    (e,) = out.walk("VEVENT")
    assert (e["DTSTART"].dt, e["DTEND"].dt) == (datetime(2026, 3, 3, 10, tzinfo=UTC),
                                                datetime(2026, 3, 3, 11, 30, tzinfo=UTC))


def test_sub_daily_rules_are_fast_forwarded_across_dst() -> None:
    # every 90 minutes since 2020, Berlin time: the instances in a range after the spring
    # change keep the wall-clock phase of DTSTART (dateutil counts in local time)
    data = cal(BERLIN_TZ, ev("DTSTART;TZID=Europe/Berlin:20200106T000000",
                             "RRULE:FREQ=MINUTELY;INTERVAL=90"))
    got = recurrence.instances(data, rng((2026, 3, 30, 0), (2026, 3, 30, 4)), max_instances=50)
    # 30 March 2026 is CEST (UTC+2); 1,500 minutes a day-and-a-bit: phase from 2020-01-06
    assert len(got) in (2, 3) and all((i.start // 60) % 30 == 0 for i in got)
    secondly = cal(ev("DTSTART:20200101T000000Z", "RRULE:FREQ=SECONDLY;INTERVAL=7"))
    got = recurrence.instances(secondly, TimeRange(ts(2026, 6, 1), ts(2026, 6, 1) + 30),
                               max_instances=1000)
    assert [i.start - ts(2026, 6, 1) for i in got] == [
        s for s in range(30) if (ts(2026, 6, 1) + s - ts(2020, 1, 1)) % 7 == 0]


def test_this_and_future_override() -> None:
    data = cal(ev("DTSTART:20260302T090000Z", "DURATION:PT1H", "RRULE:FREQ=WEEKLY;COUNT=6",
                  "SUMMARY:old"),
               ev("RECURRENCE-ID;RANGE=THISANDFUTURE:20260316T090000Z",
                  "DTSTART:20260316T140000Z", "DURATION:PT2H", "SUMMARY:new"))
    got = recurrence.instances(data, rng((2026, 3, 1), (2026, 5, 1)))
    assert [(i.start, i.end - i.start, i.summary) for i in got] == [
        (ts(2026, 3, 2, 9), 3600, "old"), (ts(2026, 3, 9, 9), 3600, "old"),
        (ts(2026, 3, 16, 14), 7200, "new"), (ts(2026, 3, 23, 14), 7200, "new"),
        (ts(2026, 3, 30, 14), 7200, "new"), (ts(2026, 4, 6, 14), 7200, "new")]
    assert got[3].recurrence_id == "20260323T090000Z"
    # a range that only the moved instance reaches
    late = recurrence.instances(data, rng((2026, 4, 6, 14), (2026, 4, 6, 15)))
    assert [i.start for i in late] == [ts(2026, 4, 6, 14)]


def test_expand_this_and_future() -> None:
    data = cal(ev("DTSTART:20260302T090000Z", "DTEND:20260302T100000Z",
                  "RRULE:FREQ=WEEKLY;COUNT=4", "SUMMARY:old"),
               ev("RECURRENCE-ID;RANGE=THISANDFUTURE:20260309T090000Z",
                  "DTSTART:20260309T140000Z", "DTEND:20260309T160000Z", "SUMMARY:new"))
    out = icalendar.Calendar.from_ical(recurrence.expand(data, rng((2026, 3, 20),
                                                                   (2026, 3, 31))))
    (e,) = out.walk("VEVENT")
    assert str(e["SUMMARY"]) == "new"
    assert (e["DTSTART"].dt, e["DTEND"].dt, e["RECURRENCE-ID"].dt) == (
        datetime(2026, 3, 23, 14, tzinfo=UTC), datetime(2026, 3, 23, 16, tzinfo=UTC),
        datetime(2026, 3, 23, 9, tzinfo=UTC))
