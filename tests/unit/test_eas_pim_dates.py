"""ActiveSync dates and the Timezone blob (web/eas/pim/dates.py, MS-ASCAL §2.2.2.42)."""

from __future__ import annotations

import base64
import struct
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from postroom.web.eas.pim import dates


def test_both_date_forms_parse_to_utc() -> None:
    want = datetime(2026, 12, 4, 12, 30, 5, tzinfo=UTC)
    assert dates.parse("20261204T123005Z") == want
    assert dates.parse("2026-12-04T12:30:05.000Z") == want
    assert dates.compact(want) == "20261204T123005Z"
    assert dates.long_form(want) == "2026-12-04T12:30:05.000Z"
    assert dates.parse("garbage") is None and dates.parse("20261340T000000Z") is None
    assert dates.parse(None) is None and dates.parse("") is None


@given(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1)))
def test_compact_round_trips(moment: datetime) -> None:
    moment = moment.replace(microsecond=0, tzinfo=UTC)
    assert dates.parse(dates.compact(moment)) == moment
    assert dates.parse(dates.long_form(moment)) == moment


def test_berlin_blob_has_bias_and_the_last_sunday_rules() -> None:
    raw = base64.b64decode(dates.timezone_blob("Europe/Berlin", 2026))
    assert len(raw) == 172
    bias, = struct.unpack_from("<i", raw, 0)
    assert bias == -60
    # StandardDate: October, Sunday, last week, 03:00; DaylightDate: March, Sunday, last, 02:00
    assert struct.unpack_from("<8H", raw, 68)[:6] == (0, 10, 0, 5, 3, 0)
    assert struct.unpack_from("<8H", raw, 152)[:6] == (0, 3, 0, 5, 2, 0)
    assert struct.unpack_from("<i", raw, 168)[0] == -60


def test_new_york_blob_uses_the_nth_sunday() -> None:
    raw = base64.b64decode(dates.timezone_blob("America/New_York", 2026))
    assert struct.unpack_from("<i", raw, 0)[0] == 300
    assert struct.unpack_from("<8H", raw, 68)[:5] == (0, 11, 0, 1, 2)  # first Sunday of Nov
    assert struct.unpack_from("<8H", raw, 152)[:5] == (0, 3, 0, 2, 2)  # second Sunday of Mar


def test_a_blob_matches_back_to_a_zone_with_the_same_rules() -> None:
    for key in ("Europe/Berlin", "America/Los_Angeles", "Asia/Tokyo", "UTC"):
        blob = dates.decode_blob(dates.timezone_blob(key, 2026))
        assert blob is not None
        name, zone = dates.zone_of_blob(blob, 2026)
        assert name is not None
        probe = datetime(2026, 7, 1, 12, tzinfo=UTC)
        assert probe.astimezone(zone).utcoffset() == probe.astimezone(
            dates.zone_for(key)).utcoffset()


def test_an_unknown_rule_is_a_fixed_offset_and_a_short_blob_is_none() -> None:
    blob = dates.blob_for_offset(-(7 * 60 + 13))
    name, zone = dates.zone_of_blob(blob, 2026)
    assert name is None and zone == timezone(timedelta(minutes=-(7 * 60 + 13)))
    assert dates.decode_blob(base64.b64encode(b"x" * 10).decode()) is None
    assert dates.decode_blob("!!!") is None
