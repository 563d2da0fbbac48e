"""pim.freebusy: busy time (RFC 4791 §7.10) and the VFREEBUSY it is reported as."""

from __future__ import annotations

from datetime import UTC, datetime

import icalendar

from postroom.pim import freebusy
from postroom.pim.filters import TimeRange
from postroom.pim.model import BusyPeriod
from tests.unit.test_pim_ical import cal, ev


def ts(*a: int) -> int:
    return int(datetime(*a, tzinfo=UTC).timestamp())


DAY = TimeRange(ts(2026, 3, 2), ts(2026, 3, 3))


def test_busy_merged_clipped_and_filtered() -> None:
    objs = [
        cal(ev("DTSTART:20260302T090000Z", "DTEND:20260302T100000Z", uid="a")),
        cal(ev("DTSTART:20260302T093000Z", "DTEND:20260302T110000Z", uid="b")),
        cal(ev("DTSTART:20260302T120000Z", "DTEND:20260302T130000Z", "TRANSP:TRANSPARENT",
               uid="c")),
        cal(ev("DTSTART:20260302T140000Z", "DTEND:20260302T150000Z", "STATUS:CANCELLED",
               uid="d")),
        cal(ev("DTSTART:20260302T160000Z", "DTEND:20260302T170000Z", "STATUS:TENTATIVE",
               uid="e")),
        cal(ev("DTSTART:20260301T230000Z", "DTEND:20260302T010000Z", uid="f")),
        cal(ev("DTSTART:20260225T080000Z", "DURATION:PT1H", "RRULE:FREQ=DAILY", uid="g")),
        b"not a calendar",
    ]
    got = freebusy.busy_periods(objs, DAY)
    assert got == [
        BusyPeriod(ts(2026, 3, 2), ts(2026, 3, 2, 1)),
        BusyPeriod(ts(2026, 3, 2, 8), ts(2026, 3, 2, 11)),  # 8-9 daily touches 9-11
        BusyPeriod(ts(2026, 3, 2, 16), ts(2026, 3, 2, 17), "BUSY-TENTATIVE"),
    ]


def test_merge_touching() -> None:
    got = freebusy.merge([BusyPeriod(10, 20), BusyPeriod(20, 30), BusyPeriod(5, 8)])
    assert got == [BusyPeriod(5, 8), BusyPeriod(10, 30)]


def test_vfreebusy_output() -> None:
    periods = [BusyPeriod(ts(2026, 3, 2, 9), ts(2026, 3, 2, 11)),
               BusyPeriod(ts(2026, 3, 2, 16), ts(2026, 3, 2, 17), "BUSY-TENTATIVE")]
    out = freebusy.vfreebusy(periods, DAY, organizer="alice@example.test",
                             attendee="bob@example.test", uid="fb1")
    parsed = icalendar.Calendar.from_ical(out)
    assert str(parsed["METHOD"]) == "REPLY"
    (fb,) = parsed.walk("VFREEBUSY")
    assert fb["DTSTART"].dt == datetime(2026, 3, 2, tzinfo=UTC)
    assert str(fb["ATTENDEE"]) == "mailto:bob@example.test"
    lines = [line for line in out.decode().split("\r\n") if line.startswith("FREEBUSY")]
    assert lines == ["FREEBUSY;FBTYPE=BUSY:20260302T090000Z/20260302T110000Z",
                     "FREEBUSY;FBTYPE=BUSY-TENTATIVE:20260302T160000Z/20260302T170000Z"]
    plain = icalendar.Calendar.from_ical(freebusy.vfreebusy([], DAY))
    assert "METHOD" not in plain


def test_stored_vfreebusy_counts() -> None:
    obj = cal("BEGIN:VFREEBUSY\r\nUID:x\r\nDTSTAMP:20260101T000000Z\r\n"
              "FREEBUSY;FBTYPE=BUSY-UNAVAILABLE:20260302T080000Z/PT2H\r\n"
              "FREEBUSY;FBTYPE=FREE:20260302T120000Z/PT2H\r\nEND:VFREEBUSY\r\n")
    assert freebusy.busy_periods([obj], DAY) == [
        BusyPeriod(ts(2026, 3, 2, 8), ts(2026, 3, 2, 10), "BUSY-UNAVAILABLE")]
