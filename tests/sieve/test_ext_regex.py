"""The regex extension (draft-ietf-sieve-regex-01): POSIX ERE translation, the draft's
example, match variables, :quoteregex, bind-time refusal with line and column, and the CPU
bound on a pathological expression."""

from __future__ import annotations

import time

import pytest

from postroom.sieve import compile_script
from postroom.sieve.errors import SieveLimitExceeded, SieveSyntaxError
from postroom.sieve.ext.regex import RegexSyntaxError, compile_key, quote_regex, translate
from postroom.sieve.interp import run
from postroom.sieve.limits import DEFAULT, Limits
from postroom.sieve.runtime import Runtime
from tests.support.sieve import DictEnvironment, make_message, run_script, summary

PIGEONHOLE = """\
From: stephan+sieve@friep.example.com
To: tss@example.net, nico@nl.example.com, sirius@fi.example.com
Subject: Test

Test message.
"""

DRAFT_EXAMPLE = """\
require "regex";
# Try to catch unsolicited email.
if anyof (
  # if a message is not to me (with optional +detail),
  not address :regex ["to", "cc", "bcc"]
    "me(\\\\+.*)?@company\\\\.com",
  # or the subject is all uppercase (no lowercase)
  header :regex :comparator "i;octet" "subject"
    "^[^[:lower:]]+$" ) {
  discard;     # junk it
}
"""


def message(to: str, subject: str) -> str:
    return f"From: someone@example.net\nTo: {to}\nSubject: {subject}\n\nhello\n"


@pytest.mark.parametrize(("to", "subject", "expected"), [
    ("me@company.com", "Lunch tomorrow?", ["implicit keep"]),
    ("me+lists@company.com", "Re: the plan", ["implicit keep"]),
    ("me@company.com", "MAKE MONEY FAST!!!", ["discard"]),
    ("someone.else@company.com", "Lunch tomorrow?", ["discard"]),
    ("me@company.company.com", "Lunch", ["implicit keep"]),  # not anchored: it contains
    #   "me@company.com"
    ("me@companyXcom", "Lunch", ["discard"]),  # "\\." is a literal dot
])
async def test_draft_example(to: str, subject: str, expected: list[str]) -> None:
    result = await run_script(DRAFT_EXAMPLE, message(to, subject))
    assert summary(result) == expected


async def vars_after(source: str, text: str = PIGEONHOLE,
                     limits: Limits = DEFAULT) -> tuple[dict[str, str], list[str]]:
    script = compile_script(source, limits=limits)
    rt = Runtime(script, make_message(text), DictEnvironment(), limits)
    result = await run(rt, script)
    assert result.error is None, result.error
    return rt.variables, result.log


async def test_pigeonhole_basic_values() -> None:
    found, _ = await vars_after(
        'require ["regex", "variables"];\n'
        'if address :regex :comparator "i;ascii-casemap" "from" [\n'
        '  "stephan(\\\\+.*)?@it\\\\.example\\\\.com",\n'
        '  "stephan(\\\\+.*)?@friep\\\\.example\\\\.com"] { set "from" "${1}"; }\n'
        'if header :regex "cc" [".*\\\\.com", ".*\\\\.nl"] { set "cc" "matched"; }\n'
        'if address :regex "to" [".*\\\\.uk", ".*\\\\.nl", ".*\\\\.tk"] { set "to1" "x"; }\n'
        'if address :regex "to" [".*\\\\.uk", ".*fi\\\\..*"] { set "to2" "${0}"; }\n')
    assert found == {"from": "+sieve", "to2": "sirius@fi.example.com"}


async def test_regex_from_a_variable_sets_match_values() -> None:
    found, _ = await vars_after(
        'require ["regex", "variables"];\n'
        'set "regex" "stephan[+](sieve)@friep.example.com";\n'
        'if header :regex "from" "${regex}" { set "one" "${1}"; }')
    assert found["one"] == "sieve"


async def test_match_values_change_only_on_a_match() -> None:
    found, _ = await vars_after(
        'require ["regex", "variables"];\n'
        'set "s1" "the cat jumps off the table";\n'
        'set "s2" "the dog barks at the cat in the alley";\n'
        'if string :regex "${s1}" "the (.*) jumps off the (.*)" { }\n'
        'set "first" "${1}:${2}";\n'
        'if string :regex "${s2}" "the (.*) barks at the (.*) in the store" { }\n'
        'set "kept" "${1}:${2}";\n'
        'if string :regex "${s2}" "the (.*) barks at the (.*) in the alley" { }\n'
        'set "second" "${1}:${2}";')
    assert (found["first"], found["kept"], found["second"]) == \
        ("cat:table", "cat:table", "dog:cat")


async def test_default_comparator_ignores_case_and_octet_does_not() -> None:
    found, _ = await vars_after(
        'require ["regex", "variables"];\n'
        'if header :regex "subject" "^TEST$" { set "casemap" "1"; }\n'
        'if header :regex :comparator "i;octet" "subject" "^TEST$" { set "octet" "1"; }')
    assert found == {"casemap": "1"}


async def test_quoteregex() -> None:
    assert quote_regex("a.b*c$(d)") == "a\\.b\\*c\\$\\(d\\)"
    found, _ = await vars_after(
        'require ["regex", "variables"];\n'
        'set :quoteregex "q" "friep.example.com";\n'
        'if address :regex :domain "from" "^${q}$" { set "ok" "1"; }\n'
        'if string :regex "friepXexample.com" "^${q}$" { set "loose" "1"; }')
    assert found["ok"] == "1" and "loose" not in found


async def test_quoteregex_needs_require_regex() -> None:
    with pytest.raises(SieveSyntaxError) as caught:
        compile_script('require "variables";\nset :quoteregex "q" "x";')
    assert "regex" in caught.value.message


async def test_quoteregex_and_quotewildcard_share_a_precedence() -> None:
    with pytest.raises(SieveSyntaxError):
        compile_script('require ["variables", "regex"];\n'
                       'set :quoteregex :quotewildcard "q" "x";')


# -- translation ------------------------------------------------------------------------------

@pytest.mark.parametrize(("pattern", "value", "matches"), [
    ("^[[:alpha:]]+$", "abcé", True),
    ("^[[:digit:]]{2,3}$", "123", True),
    ("^[[:digit:]]{2,3}$", "1234", False),
    ("^[]a]+$", "]a]", True),  # "]" first in a bracket is a literal
    ("^[a\\]+$", "a\\a", True),  # a backslash in a bracket is a literal (POSIX)
    ("^[^]a]$", "b", True),
    ("a{", "xa{", True),  # not an interval: a literal brace
    ("^[[.-.]a]+$", "-a-", True),
    ("^[[=e=]]$", "e", True),
    ("x|y", "y", True),
    ("^(ab)+$", "ababab", True),
    ("a\\.b", "axb", False),
    ("^a$", "b\na", True),  # ^ and $ anchor at lines too (the draft's table)
    ("a.b", "a\nb", False),  # "." does not match a newline
    ("[&&]", "&", True),  # no set operations: & is a literal
])
def test_translate(pattern: str, value: str, matches: bool) -> None:
    assert (compile_key(pattern, False).search(value) is not None) is matches


@pytest.mark.parametrize(("pattern", "why"), [
    ("\\bword", "not a POSIX"),
    ("(a)\\1", "not a POSIX"),
    ("\\w+", "not a POSIX"),
    ("(?i)a", "not a POSIX"),
    ("a**", "another repetition"),
    ("a*?", "another repetition"),
    ("a+{2}", "another repetition"),
    ("*a", "nothing to repeat"),
    ("(+a)", "nothing to repeat"),
    ("a|*b", "nothing to repeat"),
    ("[abc", "never closed"),
    ("[[:frop:]]", "unknown character class"),
    ("[[=ab=]]", "single character"),
    ("a{3,2}", "reversed"),
    ("a{1000}", "larger than"),
    ("a\\", "backslash at the end"),
])
def test_translate_refuses(pattern: str, why: str) -> None:
    with pytest.raises(RegexSyntaxError) as caught:
        translate(pattern)
    assert why in caught.value.message


def test_the_package_refusal_is_reported() -> None:
    with pytest.raises(RegexSyntaxError) as caught:
        compile_key("[b-a]", False)
    assert caught.value.offset == -1


# -- bind time and run time errors --------------------------------------------------------------

@pytest.mark.parametrize(("test", "why"), [
    ('address :regex :comparator "i;ascii-numeric" "from" "x"', "cannot do :regex"),
    ('address :regex "from" "sirius(+\\\\+.*)?@friep\\\\.example\\\\.com"', "nothing to repeat"),
    ('header :regex "from" "sirius(\\\\+.*)?@friep\\\\.ex[]ample.com"', "never closed"),
    ('envelope :regex "from" "a**"', "another repetition"),
])
async def test_bad_constant_regexes_are_refused_with_their_position(test: str,
                                                                    why: str) -> None:
    source = ('require ["regex", "envelope", "comparator-i;ascii-numeric"];\n'
              f'\nif {test} {{ keep; }}')
    with pytest.raises(SieveSyntaxError) as caught:
        compile_script(source)
    assert why in caught.value.message
    assert (caught.value.line, caught.value.column) == (3, 4)


async def test_a_bad_regex_built_at_run_time_matches_nothing_and_is_logged() -> None:
    found, log = await vars_after(
        'require ["regex", "variables"];\n'
        'set "regex" "[";\n'
        'if header :regex "to" ["${regex}", "tss"] { set "second" "${0}"; }')
    assert found["second"] == "tss"
    assert any(":regex '['" in note for note in log)


async def test_a_pathological_regex_is_bounded_by_the_cpu_budget() -> None:
    limits = Limits(max_cpu_ms=50)
    text = "From: a@b.example\nSubject: " + "x" * 3000 + "\n\nbody\n"
    script = compile_script('require "regex";\n'
                            'if header :regex "subject" "(x+x+)+y" { discard; }', limits=limits)
    rt = Runtime(script, make_message(text), DictEnvironment(), limits)
    started = time.process_time()
    result = await run(rt, script)
    assert time.process_time() - started < 1.0
    assert isinstance(result.error, SieveLimitExceeded)
    assert result.error.limit == "max_cpu_ms"
    assert result.error.line == 2
    assert result.implicit_keep and not result.actions


async def test_more_than_nine_subexpressions_are_kept() -> None:
    found, _ = await vars_after(
        'require ["regex", "variables"];\n'
        'if string :regex "abcdefghijkl" "(.)(.)(.)(.)(.)(.)(.)(.)(.)(.)(.)" '
        '{ set "v" "${9}${10}${11}${12}"; }')
    assert found["v"] == "ijk"
