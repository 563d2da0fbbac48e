"""The "imap4flags" extension (RFC 5232)."""

from __future__ import annotations

import pytest

from postroom.sieve.ext.core import flag_list
from tests.support.sieve import run_script, summary

MESSAGE = "From: a@example.com\nSubject: x\n\nbody\n"


async def run(source: str) -> list[str]:
    return summary(await run_script(source, MESSAGE))


@pytest.mark.parametrize(("values", "flags"), [
    (["\\seen \\FLAGGED"], ["\\Seen", "\\Flagged"]),
    (["  a   b  ", "", "B"], ["a", "b"]),  # spaces, empty strings, duplicates (any case)
    (["\\Recent", "\\Frob", "bad(", "bad*", 'bad"', "bad]", "nön", "$Ok"], ["$Ok"]),
])
def test_flag_lists_are_normalised(values: list[str], flags: list[str]) -> None:
    assert flag_list(values) == flags


async def test_internal_variable_and_implicit_keep() -> None:
    assert await run('require "imap4flags";\naddflag "\\\\Seen";\naddflag ["A", "B"];\n'
                     'removeflag "a";') == ["implicit keep :flags \\Seen B"]


async def test_keep_and_fileinto_take_the_variable_at_their_time() -> None:
    source = ('require ["imap4flags", "fileinto"];\nsetflag "one";\nfileinto "x";\n'
              'setflag "two";\nkeep;\nfileinto :flags "own" "y";')
    assert await run(source) == ["fileinto x :flags one", "keep :flags two",
                                 "fileinto y :flags own"]


async def test_without_imap4flags_actions_carry_no_flags() -> None:
    result = await run_script('require "fileinto"; fileinto "x"; keep;', MESSAGE)
    assert result.actions[0].flags is None  # type: ignore[union-attr]
    assert result.keep_flags is None


async def test_named_variables_need_variables() -> None:
    source = ('require ["imap4flags", "variables", "fileinto"];\n'
              'setflag "v" "\\\\Answered";\naddflag "v" "$A";\nremoveflag "v" "\\\\answered";\n'
              'fileinto :flags "${v}" "f";\n'
              'if hasflag :contains "v" "$" { fileinto "has"; }\n'
              'if hasflag "v" "\\\\Answered" { fileinto "never"; }')
    assert await run(source) == ["fileinto f :flags $A", "fileinto has"]


async def test_hasflag_count_sums_distinct_flags_of_the_variables() -> None:
    source = ('require ["imap4flags", "variables", "relational", '
              '"comparator-i;ascii-numeric", "fileinto"];\n'
              'set "a" "X Y x"; set "b" "Z";\n'
              'if hasflag :count "eq" :comparator "i;ascii-numeric" ["a", "b"] "3" '
              '{ fileinto "three"; }\n'
              'if hasflag :count "eq" :comparator "i;ascii-numeric" "0" { fileinto "none"; }')
    assert await run(source) == ["fileinto three", "fileinto none"]
