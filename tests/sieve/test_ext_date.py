"""RFC 5260 date, currentdate and index: date parts, zones, the RFC's examples, :index and
:last, errors at bind time with line and column."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from postroom.sieve import compile_script
from postroom.sieve.errors import SieveSyntaxError
from postroom.sieve.ext.date import parse_date
from postroom.sieve.interp import run
from postroom.sieve.limits import DEFAULT
from postroom.sieve.runtime import Runtime
from tests.support.sieve import DictEnvironment, make_message, run_script, summary

MESSAGE = """\
From: boss@example.com
To: me@example.org
Received: from mx.example.com by mx.example.org; Wed, 12 Nov 2014 18:18:31 +0100
Received: from a.example.net by mx.example.com; Wed, 12 Nov 2014 18:18:30 +0100
Received: from b.example.net by a.example.net; Mon, 26 Feb 2007 08:59:00 -0500
Date: Sat, 10 Feb 2007 16:05:07 +0100
Subject: Status

body
"""

# a Wednesday, a quarter past noon in UTC, observed from a server at +01:00
NOW = datetime(2026, 12, 2, 13, 15, 42, tzinfo=timezone(timedelta(hours=1)))


async def parts(source: str, text: str = MESSAGE, now: datetime = NOW) -> dict[str, str]:
    script = compile_script('require ["date", "index", "variables", "relational"];\n' + source)
    env = DictEnvironment(clock=now)
    rt = Runtime(script, make_message(text), env, DEFAULT)
    result = await run(rt, script)
    assert result.error is None, result.error
    return rt.variables


@pytest.mark.parametrize(("part", "original", "utc"), [
    ("year", "2007", "2007"),
    ("month", "02", "02"),
    ("day", "10", "10"),
    ("date", "2007-02-10", "2007-02-10"),
    ("julian", "54141", "54141"),
    ("hour", "16", "15"),
    ("minute", "05", "05"),
    ("second", "07", "07"),
    ("time", "16:05:07", "15:05:07"),
    ("iso8601", "2007-02-10T16:05:07+01:00", "2007-02-10T15:05:07Z"),
    ("std11", "Sat, 10 Feb 2007 16:05:07 +0100", "Sat, 10 Feb 2007 15:05:07 +0000"),
    ("zone", "+0100", "+0000"),
    ("weekday", "6", "6"),
])
async def test_date_parts(part: str, original: str, utc: str) -> None:
    found = await parts(
        f'if date :originalzone :matches "date" "{part}" "*" {{ set "o" "${{0}}"; }}\n'
        f'if date :zone "+0000" :matches "date" "{part}" "*" {{ set "u" "${{0}}"; }}')
    assert (found["o"], found["u"]) == (original, utc)


async def test_without_a_zone_the_local_zone_is_used() -> None:
    found = await parts('if date :matches "date" "std11" "*" { set "d" "${0}"; }\n'
                        'if date :matches "date" "zone" "*" { set "z" "${0}"; }')
    assert found == {"d": "Sat, 10 Feb 2007 16:05:07 +0100", "z": "+0100"}


async def test_zone_shifts_across_a_day() -> None:
    found = await parts('if date :zone "-1100" :matches "date" "date" "*" { set "d" "${0}"; }\n'
                        'if date :zone "-1100" :matches "date" "weekday" "*" { set "w" "${0}"; }')
    assert found == {"d": "2007-02-10", "w": "6"}
    found = await parts('if date :zone "+1400" :matches "date" "iso8601" "*" { set "d" "${0}"; }')
    assert found["d"] == "2007-02-11T05:05:07+14:00"


async def test_received_date_follows_the_last_semicolon_and_the_first_field_counts() -> None:
    found = await parts('if date :originalzone :matches "received" "iso8601" "*" '
                        '{ set "d" "${0}"; }')
    assert found["d"] == "2014-11-12T18:18:31+01:00"


async def test_rfc_5260_section_4_4_business_hours_example() -> None:
    script = ('require ["date", "relational", "fileinto"];\n'
              'if allof(header :is "from" "boss@example.com",\n'
              '         date :value "ge" :originalzone "date" "hour" "09",\n'
              '         date :value "lt" :originalzone "date" "hour" "17")\n'
              '{ fileinto "urgent"; }')
    assert summary(await run_script(script, MESSAGE)) == ["fileinto urgent"]
    late = MESSAGE.replace("16:05:07 +0100", "17:05:07 +0100")
    assert summary(await run_script(script, late)) == ["implicit keep"]


async def test_rfc_5260_section_4_4_weekend_example() -> None:
    script = ('require ["date", "relational", "fileinto"];\n'
              'if anyof(date :is "received" "weekday" "0",\n'
              '         date :is "received" "weekday" "6")\n'
              '{ fileinto "weekend"; }')
    assert summary(await run_script(script, MESSAGE)) == ["implicit keep"]  # a Wednesday
    sunday = MESSAGE.replace("Wed, 12 Nov 2014 18:18:31", "Sun, 16 Nov 2014 18:18:31")
    assert summary(await run_script(script, sunday)) == ["fileinto weekend"]


@pytest.mark.parametrize(("now", "redirected"), [
    (datetime(2026, 12, 2, 13, 0, tzinfo=UTC), False),  # Wednesday 13:00
    (datetime(2026, 12, 2, 18, 0, tzinfo=UTC), True),  # after 17:00
    (datetime(2026, 12, 2, 8, 59, tzinfo=UTC), True),  # before 09:00
    (datetime(2026, 12, 6, 13, 0, tzinfo=UTC), True),  # a Sunday
])
async def test_rfc_5260_section_5_1_pager_example(now: datetime, redirected: bool) -> None:
    script = ('require ["date", "relational"];\n'
              'if anyof(currentdate :is "weekday" "0",\n'
              '         currentdate :is "weekday" "6",\n'
              '         currentdate :value "lt" "hour" "09",\n'
              '         currentdate :value "ge" "hour" "17")\n'
              '{ redirect "pager@example.com"; }')
    result = await run_script(script, MESSAGE, env=DictEnvironment(clock=now))
    assert summary(result) == (["redirect pager@example.com"] if redirected
                               else ["implicit keep"])


@pytest.mark.parametrize(("now", "replies"), [
    (datetime(2007, 6, 29, 12, 0, tzinfo=UTC), False),
    (datetime(2007, 6, 30, 0, 0, tzinfo=UTC), True),
    (datetime(2007, 7, 7, 23, 59, tzinfo=UTC), True),
    (datetime(2007, 7, 8, 0, 0, tzinfo=UTC), False),
])
async def test_rfc_5260_section_5_1_vacation_example(now: datetime, replies: bool) -> None:
    script = ('require ["date", "relational", "vacation"];\n'
              'if allof(currentdate :value "ge" "date" "2007-06-30",\n'
              '         currentdate :value "le" "date" "2007-07-07")\n'
              '{ vacation :days 7  "I\'m away during the first week in July."; }')
    result = await run_script(script, MESSAGE, env=DictEnvironment(clock=now))
    assert ("vacation" in summary(result)) is replies


async def test_rfc_5260_section_5_1_folder_by_month_example() -> None:
    script = ('require ["date", "variables", "fileinto"];\n'
              'if currentdate :matches "month" "*" { set "month" "${1}"; }\n'
              'if currentdate :matches "year"  "*" { set "year"  "${1}"; }\n'
              'fileinto "${month}-${year}";')
    result = await run_script(script, MESSAGE, env=DictEnvironment(clock=NOW))
    assert summary(result) == ["fileinto 12-2026"]


async def test_rfc_5260_section_5_1_editheader_example() -> None:
    script = compile_script('require ["variables", "date", "editheader"];\n'
                            'if currentdate :matches "std11" "*"\n'
                            '  {addheader "Processing-date" "${0}";}')
    msg = make_message(MESSAGE)
    rt = Runtime(script, msg, DictEnvironment(clock=NOW), DEFAULT)
    await run(rt, script)
    assert msg.header("Processing-date") == ["Wed, 02 Dec 2026 13:15:42 +0100"]


async def test_rfc_5260_section_6_1_index_example() -> None:
    script = ('require ["date", "relational", "index"];\n'
              'if date :value "gt" :index 2 :zone "-0500" "received"\n'
              '        "iso8601" "2007-02-26T09:00:00-05:00"\n'
              '{ redirect "aftercutoff@example.org"; }')
    # the second Received is 2014: after the cutoff
    assert summary(await run_script(script, MESSAGE)) == ["redirect aftercutoff@example.org",
                                                         "implicit keep"][:1]
    # :index 3 is 2007-02-26 08:59 -0500: before it
    before = script.replace(":index 2", ":index 3")
    assert summary(await run_script(before, MESSAGE)) == ["implicit keep"]


async def test_index_and_last_on_date() -> None:
    found = await parts(
        'if date :index 1 :last :originalzone :matches "received" "date" "*" '
        '{ set "last" "${0}"; }\n'
        'if date :index 2 :originalzone :matches "received" "second" "*" '
        '{ set "second" "${0}"; }\n'
        'if date :index 9 :matches "received" "date" "*" { set "none" "x"; }')
    assert found == {"last": "2007-02-26", "second": "30"}


async def test_missing_or_invalid_dates_are_false_and_count_zero() -> None:
    text = MESSAGE.replace("Sat, 10 Feb 2007", "Thu, 29 Feb 2007")  # not a leap year
    found = await parts(
        'if date :matches "date" "year" "*" { set "invalid" "x"; }\n'
        'if date :matches "x-none" "year" "*" { set "missing" "x"; }\n'
        'if date :count "eq" "date" "year" "0" { set "count" "0"; }\n'
        'if date :count "eq" "received" "year" "1" { set "valid" "1"; }', text)
    assert found == {"count": "0", "valid": "1"}


async def test_currentdate_is_one_instant_per_run() -> None:
    class Ticking(DictEnvironment):
        def now(self) -> datetime:
            self.clock += timedelta(seconds=1)
            return self.clock

    script = compile_script(
        'require ["date", "variables"];\n'
        'if currentdate :matches "second" "*" { set "a" "${0}"; }\n'
        'if currentdate :matches "second" "*" { set "b" "${0}"; }')
    rt = Runtime(script, make_message(MESSAGE), Ticking(clock=NOW), DEFAULT)
    await run(rt, script)
    assert rt.variables["a"] == rt.variables["b"]


async def test_currentdate_zone() -> None:
    found = await parts(
        'if currentdate :zone "-0800" :matches "iso8601" "*" { set "pst" "${0}"; }\n'
        'if currentdate :matches "zone" "*" { set "local" "${0}"; }\n'
        'if currentdate :matches "julian" "*" { set "mjd" "${0}"; }')
    assert found == {"pst": "2026-12-02T04:15:42-08:00", "local": "+0100", "mjd": "61376"}


def test_parse_date_forms() -> None:
    parsed = parse_date("Mon, 26 Feb 2007 08:59:00 -0500")
    assert parsed is not None and parsed[0].utcoffset() == timedelta(hours=-5)
    assert parse_date("from x by y; 26 Feb 2007 08:59 -0500") is not None
    assert parse_date("no date here") is None
    assert parse_date("Fri, 32 Jan 2007 10:00:00 +0000") is None
    unknown = parse_date("Mon, 26 Feb 2007 08:59:00 -0000")
    assert unknown is not None and unknown[1] is False


@pytest.mark.parametrize(("test", "why"), [
    ('date :zone "+0100" :originalzone "date" "year" "2007"', "exclude each other"),
    ('date :zone "0100" "date" "year" "2007"', "invalid :zone"),
    ('date :zone "+2500" "date" "year" "2007"', "invalid :zone"),
    ('date "date" "fortnight" "2007"', "unknown date part"),
    ('currentdate "weekyear" "2007"', "unknown date part"),
    ('date :last "date" "year" "2007"', ":last needs :index"),
    ('date :index 0 "date" "year" "2007"', "counts from 1"),
    ('currentdate :originalzone "year" "2007"', "originalzone"),
])
async def test_errors_at_bind_time(test: str, why: str) -> None:
    with pytest.raises(SieveSyntaxError) as caught:
        compile_script(f'require ["date", "index"];\nif {test} {{ keep; }}')
    assert why in caught.value.message
    assert caught.value.line == 2


async def test_last_without_index_on_header_is_refused() -> None:
    with pytest.raises(SieveSyntaxError) as caught:
        compile_script('require "index";\n\nif header :last "to" "x" { keep; }')
    assert ":last needs :index" in caught.value.message
    assert (caught.value.line, caught.value.column) == (3, 4)


async def test_index_needs_require() -> None:
    with pytest.raises(SieveSyntaxError) as caught:
        compile_script('if header :index 1 "to" "x" { keep; }')
    assert "index" in caught.value.message
