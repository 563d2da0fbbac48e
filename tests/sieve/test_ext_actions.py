"""fileinto (RFC 5228 §4.1), copy (RFC 3894), reject and ereject (RFC 5429), subaddress
(RFC 5233), relational (RFC 5231) and the comparator extensions at run time."""

from __future__ import annotations

import pytest

from tests.support.sieve import run_script, summary

MESSAGE = """\
From: Alice <alice+news@example.com>
To: bob@example.org, carol+x+y@example.org
X-Score: 12
X-Priority: 3
Subject: x

body
"""


async def run(source: str, message: str = MESSAGE) -> list[str]:
    return summary(await run_script(source, message))


async def test_fileinto_cancels_the_implicit_keep_and_copy_does_not() -> None:
    assert await run('require "fileinto"; fileinto "a";') == ["fileinto a"]
    assert await run('require ["fileinto", "copy"]; fileinto :copy "a";') == \
        ["fileinto a :copy", "implicit keep"]


async def test_fileinto_of_a_name_built_at_run_time_is_checked() -> None:
    source = ('require ["fileinto", "variables", "encoded-character"];\n'
              'set "m" "${hex:ff}x";\nfileinto "${m}";')
    assert (await run(source))[-1].startswith("error: fileinto: invalid folder name")


async def test_reject_and_ereject() -> None:
    assert await run('require "reject"; reject "no";') == ["reject no"]
    assert await run('require "ereject"; ereject "no";') == ["ereject no"]
    # RFC 5429 §2.4: keep, fileinto, redirect with reject, in either order: run-time error
    for other in ("keep;", 'redirect "x@example.net";'):
        for source in (f'require "reject"; reject "no"; {other}',
                       f'require "reject"; {other} reject "no";'):
            result = await run(source)
            assert result[0] == "implicit keep"
            assert "cannot be combined" in result[1]


@pytest.mark.parametrize(("test", "expected"), [
    ('address :user "from" "alice"', True),
    ('address :detail "from" "news"', True),
    ('address :detail "to" "x+y"', True),  # split at the first "+"
    ('address :user "to" "carol"', True),
    ('address :detail "to" ""', False),  # bob has no detail
    ('address :user "to" "bob"', True),
])
async def test_subaddress(test: str, expected: bool) -> None:
    result = await run(f'require "subaddress";\nif {test} {{ discard; }}')
    assert (result == ["discard"]) is expected


@pytest.mark.parametrize(("test", "expected"), [
    ('header :value "gt" :comparator "i;ascii-numeric" "x-score" "9"', True),
    ('header :value "gt" "x-score" "9"', False),  # as text "12" < "9"
    ('header :value "le" :comparator "i;ascii-numeric" "x-priority" "3"', True),
    ('header :value "ne" :comparator "i;ascii-numeric" "x-priority" "03"', False),
    ('header :value "lt" :comparator "i;ascii-numeric" "subject" "999"', False),  # ∞
    ('header :count "eq" :comparator "i;ascii-numeric" "x-none" "0"', True),
    ('header :count "eq" :comparator "i;ascii-numeric" ["to", "from"] "2"', True),
    ('address :count "eq" :comparator "i;ascii-numeric" ["to", "from"] "3"', True),
    ('address :value "ge" :domain "from" "example.com"', True),
])
async def test_relational(test: str, expected: bool) -> None:
    result = await run('require ["relational", "comparator-i;ascii-numeric"];\n'
                       f'if {test} {{ discard; }}')
    assert (result == ["discard"]) is expected
