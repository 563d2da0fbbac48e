"""RFC 5230 vacation and RFC 6131 vacation-seconds, the language side: arguments, the
default handle (§4.2), one per run and no reject with it (§4.7), the RFCs' examples."""

from __future__ import annotations

import pytest

from postroom.sieve import compile_script
from postroom.sieve.actions import Vacation
from postroom.sieve.errors import SieveSyntaxError
from postroom.sieve.runtime import Result
from tests.support.sieve import run_script, summary

MESSAGE = """\
From: coyote@desert.example.org
To: roadrunner@acme.example.com
Subject: Cyrus bug

hello
"""


def vacation_of(result: Result) -> Vacation:
    assert result.error is None, result.error
    found = [a for a in result.actions if isinstance(a, Vacation)]
    assert len(found) == 1
    return found[0]


async def test_rfc_5230_section_4_8_first_example() -> None:
    result = await run_script(
        'require "vacation";\n'
        'vacation :days 23 :addresses ["tjs@example.edu",\n'
        '                              "ts4z@landru.example.edu"]\n'
        '"I\'m away until October 19.\n'
        'If it\'s an emergency, call 911, I guess." ;', MESSAGE)
    action = vacation_of(result)
    assert action.seconds == 23 * 86400
    assert action.addresses == ("tjs@example.edu", "ts4z@landru.example.edu")
    assert action.reason == "I'm away until October 19.\r\nIf it's an emergency, call 911, I guess."
    assert action.subject is None and action.from_ is None and not action.mime
    assert result.implicit_keep  # vacation does not cancel the implicit keep (§4.7)


@pytest.mark.parametrize(("sender", "expected"), [
    ("boss@example.edu", ["redirect pleeb@isp.example.org"]),
    ("coyote@desert.example.org", ["vacation", "implicit keep"]),
])
async def test_rfc_5230_section_4_8_second_example(sender: str, expected: list[str]) -> None:
    script = ('require "vacation";\n'
              'if header :contains "from" "boss@example.edu" {\n'
              '    redirect "pleeb@isp.example.org";\n'
              '} else {\n'
              '    vacation "Sorry, I\'m away, I\'ll read your\n'
              'message when I get around to it.";\n'
              '}')
    result = await run_script(script, MESSAGE.replace("coyote@desert.example.org", sender))
    assert summary(result) == expected
    if "vacation" in expected:
        assert vacation_of(result).seconds is None  # the site default


async def test_rfc_5230_section_4_2_different_reasons_are_different_responses() -> None:
    script = ('require "vacation";\n'
              'if header :contains "subject" "cyrus" {\n'
              '    vacation "I\'m out -- send mail to cyrus-bugs";\n'
              '} else {\n'
              '    vacation "I\'m out -- call me at +1 304 555 0123";\n'
              '}')
    first = vacation_of(await run_script(script, MESSAGE))
    second = vacation_of(await run_script(script, MESSAGE.replace("Cyrus bug", "dinner")))
    assert first.handle != second.handle


async def test_rfc_5230_section_4_2_handle_ignores_expansion() -> None:
    script = ('require ["vacation", "variables"];\n'
              'if header :matches "subject" "*" {\n'
              '    vacation :subject "Automatic response to: ${1}"\n'
              '             "I\'m away -- send mail to foo in my absence";\n'
              '}')
    first = vacation_of(await run_script(script, MESSAGE))
    second = vacation_of(await run_script(script, MESSAGE.replace("Cyrus bug", "dinner")))
    assert first.subject == "Automatic response to: Cyrus bug"
    assert second.subject == "Automatic response to: dinner"
    assert first.handle == second.handle


async def test_rfc_5230_section_4_2_explicit_handle() -> None:
    script = ('require "vacation";\n'
              'if header :contains "subject" "lunch" {\n'
              '    vacation :handle "ran-away" "I\'m out and can\'t meet for lunch";\n'
              '} else {\n'
              '    vacation :handle "ran-away" "I\'m out";\n'
              '}')
    lunch = vacation_of(await run_script(script, MESSAGE.replace("Cyrus bug", "lunch?")))
    dinner = vacation_of(await run_script(script, MESSAGE.replace("Cyrus bug", "dinner?")))
    assert lunch.handle == dinner.handle
    assert lunch.reason != dinner.reason


async def test_default_handle_does_not_confuse_arguments() -> None:
    one = vacation_of(await run_script('require "vacation"; vacation :subject "x" "y";',
                                       MESSAGE))
    two = vacation_of(await run_script('require "vacation"; vacation :subject "y" "x";',
                                       MESSAGE))
    three = vacation_of(await run_script('require "vacation"; vacation :from "x@a.example" '
                                         '"y";', MESSAGE))
    user = vacation_of(await run_script('require "vacation"; vacation :handle "x" "y";',
                                        MESSAGE))
    assert len({one.handle, two.handle, three.handle, user.handle}) == 4


async def test_rfc_5230_section_4_4_mime_example() -> None:
    script = ('require "vacation";\n'
              'vacation :mime text:\n'
              'Content-Type: multipart/alternative; boundary=foo\n'
              '\n'
              '--foo\n'
              '\n'
              "I'm at the beach relaxing.  Mmmm, surf...\n"
              '\n'
              '--foo\n'
              'Content-Type: text/html; charset=us-ascii\n'
              '\n'
              '<P>I\'m at the <A HREF="beach.gif">beach</A> relaxing.\n'
              '--foo--\n'
              '.\n'
              ';')
    action = vacation_of(await run_script(script, MESSAGE))
    assert action.mime
    assert action.reason.startswith("Content-Type: multipart/alternative; boundary=foo\r\n")


async def test_subject_from_and_expansion() -> None:
    action = vacation_of(await run_script(
        'require ["vacation", "variables"];\n'
        'set "me" "roadrunner@acme.example.com";\n'
        'vacation :subject "Gone fishing" :from "Road Runner <${me}>"\n'
        '         :addresses ["${me}", "rr@acme.example.com"] "Back soon";', MESSAGE))
    assert action.subject == "Gone fishing"
    assert action.from_ == "Road Runner <roadrunner@acme.example.com>"
    assert action.addresses == ("roadrunner@acme.example.com", "rr@acme.example.com")


async def test_invalid_from_built_at_run_time_is_ignored() -> None:
    result = await run_script('require ["vacation", "variables"];\nset "f" "not an address";\n'
                              'vacation :from "${f}" "Back soon";', MESSAGE)
    assert vacation_of(result).from_ is None
    assert any(":from" in note for note in result.log)


async def test_rfc_6131_example() -> None:
    action = vacation_of(await run_script(
        'require ["vacation-seconds"];\n'
        'vacation :addresses ["tjs@example.edu", "ts4z@landru.example.edu"]\n'
        '         :seconds 1800\n'
        '         "I am in a meeting, and do not have access to email.";', MESSAGE))
    assert action.seconds == 1800


async def test_rfc_6131_seconds_zero_is_accepted() -> None:
    action = vacation_of(await run_script(
        'require ["vacation-seconds"];\n'
        'vacation :handle "auto-resp" :seconds 0 "Thank you for your message.";', MESSAGE))
    assert action.seconds == 0


@pytest.mark.parametrize(("source", "why"), [
    ('require "vacation-seconds";\nvacation :days 1 :seconds 60 "x";', "exclude each other"),
    ('require "vacation";\nvacation :seconds 60 "x";', "vacation-seconds"),
    ('require "vacation-seconds";\nvacation :seconds 2147483648 "x";', "below 2^31"),
    ('require "vacation";\nvacation :from "not an address" "x";', "not a valid address"),
    ('require "vacation";\nvacation :days "7" "x";', "number"),
    ('require "vacation";\nvacation :mime;', "argument"),
])
async def test_errors_at_bind_time(source: str, why: str) -> None:
    with pytest.raises(SieveSyntaxError) as caught:
        compile_script(source)
    assert why in caught.value.message
    assert caught.value.line == 2


async def test_one_vacation_per_run() -> None:
    result = await run_script('require "vacation";\nvacation "a";\n\nvacation "b";', MESSAGE)
    assert result.error is not None and "once" in result.error.message
    assert result.error.line == 4
    assert summary(result)[:1] == ["implicit keep"] and not result.actions


@pytest.mark.parametrize("order", ['vacation "away"; reject "no";',
                                   'reject "no"; vacation "away";'])
async def test_vacation_and_reject_conflict(order: str) -> None:
    result = await run_script(f'require ["vacation", "reject"];\n{order}', MESSAGE)
    assert result.error is not None
    assert result.implicit_keep and not result.actions
