"""Fuzz: whatever bytes a client sends, index_calendar/index_card raise nothing but
InvalidItem, never hang; the query, expansion and bundle functions do not crash on what the
indexers accepted."""

from __future__ import annotations

import contextlib
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from postroom.pim import bundle, freebusy, ical, query, recurrence, vcard
from postroom.pim.filters import CardFilter, CompFilter, PropFilter, TextMatch, TimeRange
from postroom.pim.model import InvalidItem
from tests.unit.test_pim_ical import BERLIN_TZ, cal, ev
from tests.unit.test_pim_vcard import APPLE, PHONE_21, THUNDERBIRD

SEEDS_ICS = [
    cal(BERLIN_TZ, ev("DTSTART;TZID=Europe/Berlin:20260302T090000", "DURATION:PT1H",
                      "RRULE:FREQ=WEEKLY;BYDAY=MO,WE;UNTIL=20261231T000000Z",
                      "EXDATE;TZID=Europe/Berlin:20260304T090000", "SUMMARY:x",
                      "BEGIN:VALARM", "TRIGGER:-PT5M", "ACTION:DISPLAY", "END:VALARM")),
    cal(ev("DTSTART;VALUE=DATE:20260101", "RRULE:FREQ=YEARLY;COUNT=3",
           "RDATE;VALUE=DATE:20260704"),
        ev("RECURRENCE-ID;VALUE=DATE:20270101", "DTSTART;VALUE=DATE:20270102")),
    cal(ev("DUE:20260310T120000Z", "DTSTART:20260301T000000Z", name="VTODO")),
]
SEEDS_VCF = [APPLE, THUNDERBIRD, PHONE_21]
# Fragments a mutation inserts: the lines and values that break parsers
FRAGMENTS = [b"\r\n", b"\r\n ", b":", b";", b"=", b'"', b"\\", b"BEGIN:VEVENT\r\n",
             b"END:VEVENT\r\n", b"BEGIN:VCARD\r\n", b"END:VCARD\r\n", b"RRULE:FREQ=SECONDLY\r\n",
             b"RRULE:FREQ=MINUTELY;BYMONTH=2;BYMONTHDAY=31\r\n", b"DTSTART:99991231T235959Z\r\n",
             b"DTSTART:00010101T000000\r\n", b"DURATION:-P99999W\r\n", b"TZID=Nowhere/X",
             b"RECURRENCE-ID:20260302T090000Z\r\n", b"UID:\r\n", b"\xff", b"\x00",
             b"EXDATE:garbage\r\n", b"RRULE:FREQ=DAILY;UNTIL=1\r\n", b"COUNT=-1",
             b"BYSETPOS=0", b"INTERVAL=0", b"RRULE:FREQ=DAILY;INTERVAL=0\r\n",
             b"VERSION:4.0\r\n", b"BEGIN:X\r\n" * 20]

WIDE = TimeRange(None, None)
MONTH = TimeRange(1_772_323_200, 1_775_001_600)  # March 2026


def _mutated(seeds: list[bytes]) -> st.SearchStrategy[bytes]:
    @st.composite
    def build(draw: st.DrawFn) -> bytes:
        data = draw(st.sampled_from(seeds))
        for _ in range(draw(st.integers(1, 4))):
            at = draw(st.integers(0, len(data)))
            op = draw(st.integers(0, 2))
            if op == 0:
                data = data[:at] + draw(st.sampled_from(FRAGMENTS)) + data[at:]
            elif op == 1:
                data = data[:at] + data[at + draw(st.integers(1, 40)):]
            else:
                data = data[:at] + draw(st.binary(max_size=8)) + data[at:]
        return data
    return build()


def _exercise_calendar(data: bytes) -> None:
    t0 = time.perf_counter()
    try:
        idx = ical.index_calendar(data, max_instances=2000)
    except InvalidItem:
        return
    assert idx.start is None or idx.end is None or idx.start <= idx.end
    recurrence.instances(data, MONTH, max_instances=2000)
    recurrence.expand(data, MONTH, max_instances=2000)
    query.calendar_matches(data, CompFilter("VCALENDAR", comp_filters=(
        CompFilter(idx.component, time_range=MONTH, prop_filters=(
            PropFilter("SUMMARY", text_matches=(TextMatch("x"),)),)),)), 2000)
    freebusy.busy_periods([data], MONTH, 2000)
    assert time.perf_counter() - t0 < 5


FUZZ = settings(max_examples=int(__import__("os").environ.get("PIM_FUZZ", "300")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@FUZZ
@given(st.binary(max_size=400))
def test_random_bytes_calendar(data: bytes) -> None:
    _exercise_calendar(data)
    _exercise_calendar(b"BEGIN:VCALENDAR\r\n" + data + b"\r\nEND:VCALENDAR\r\n")


@FUZZ
@given(_mutated(SEEDS_ICS))
def test_mutated_calendars(data: bytes) -> None:
    _exercise_calendar(data)
    with contextlib.suppress(InvalidItem):
        list(bundle.split_calendar([data]))


def _exercise_card(data: bytes) -> None:
    try:
        vcard.index_card(data)
    except InvalidItem:
        return
    query.card_matches(data, CardFilter((PropFilter("EMAIL", text_matches=(
        TextMatch("a", match_type="starts-with"),)),)))
    for version in ("3.0", "4.0"):
        converted = vcard.convert(data, version)
        vcard.index_card(converted)  # a converted card is still a card


@FUZZ
@given(st.binary(max_size=400))
def test_random_bytes_card(data: bytes) -> None:
    _exercise_card(data)
    _exercise_card(b"BEGIN:VCARD\r\nUID:x\r\n" + data + b"\r\nEND:VCARD\r\n")


@FUZZ
@given(_mutated(SEEDS_VCF))
def test_mutated_cards(data: bytes) -> None:
    _exercise_card(data)
    with contextlib.suppress(InvalidItem):
        list(bundle.split_cards([data]))
