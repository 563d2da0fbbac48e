"""The base language at run time (RFC 5228 §2.7, §2.10, §3-§5): control flow, the implicit
keep, duplicate actions, run-time errors and limits, and each base test."""

from __future__ import annotations

import time

import pytest

from postroom.sieve import compile_script
from postroom.sieve.errors import SieveLimitExceeded
from postroom.sieve.limits import Limits
from postroom.sieve.match import glob
from tests.support.sieve import run_script, summary

MESSAGE = """\
Return-Path: <bounce@lists.example.org>
Received: from a by b
Received: from c by d
From: "Doe, John" <John.Doe@Example.COM>
To: Alice <alice+sieve@example.org>, bob@example.net
Cc: friends: carol@example.net, "Dan D." <dan@example.net>;, undisclosed:;
Subject: =?utf-8?q?Caf=C3=A9?= =?utf-8?q?_cr=C3=A8me?= deals
X-Spaces:    padded value   \t
X-Multi: one
X-Multi: two
X-Folded: first
  second
X-Star: a*b?c
X-Empty:

Hello world.
"""


async def run(source: str, message: str | bytes = MESSAGE, **kw: object) -> list[str]:
    return summary(await run_script(source, message, **kw))  # type: ignore[arg-type]


async def holds(test: str, message: str | bytes = MESSAGE, require: str = "") -> bool:
    head = f"require [{require}];\n" if require else ""
    result = await run(f"{head}if {test} {{ discard; }}", message)
    return result == ["discard"]


# -- control flow, implicit keep (§2.10.2), stop (§3.3) --------------------------------------

async def test_empty_script_keeps() -> None:
    assert await run("") == ["implicit keep"]


async def test_if_elsif_else_takes_one_branch() -> None:
    source = ('require "fileinto";\nif false { fileinto "a"; } elsif true { fileinto "b"; }'
              ' elsif true { fileinto "c"; } else { fileinto "d"; }\n'
              'if false { fileinto "e"; } else { fileinto "f"; }')
    assert await run(source) == ["fileinto b", "fileinto f"]


async def test_stop_ends_the_run_and_the_implicit_keep_stays() -> None:
    assert await run('redirect "a@b.example";\nstop;\ndiscard;') == ["redirect a@b.example"]
    assert await run("stop;\ndiscard;") == ["implicit keep"]


async def test_keep_cancels_the_implicit_keep() -> None:
    assert await run("keep;") == ["keep"]


async def test_discard_with_fileinto_is_fileinto() -> None:
    assert await run('require "fileinto";\ndiscard;\nfileinto "x";') == \
        ["discard", "fileinto x"]


# -- duplicate actions (§2.10.3) -------------------------------------------------------------

async def test_duplicate_actions_are_done_once() -> None:
    source = ('require "fileinto";\nfileinto "x"; fileinto "x"; keep; keep;'
              'redirect "a@b.example"; redirect "A@B.example"; discard; discard;')
    assert await run(source) == ["fileinto x", "keep", "redirect a@b.example", "discard"]


# -- run-time errors (§2.10.6) and limits ----------------------------------------------------

async def test_too_many_actions_is_an_error_and_the_message_is_kept() -> None:
    source = 'require "fileinto";\n' + "".join(f'fileinto "f{i}";' for i in range(5))
    result = await run_script(source, MESSAGE, limits=Limits(max_actions=3))
    assert summary(result) == ["implicit keep", "error: more than 3 actions (total number of "
                               "actions exceeds policy limit max_actions)"]
    assert isinstance(result.error, SieveLimitExceeded)
    assert result.error.limit == "max_actions"
    assert (result.error.line, result.error.column) == (2, 43)


async def test_too_many_redirects() -> None:
    source = "".join(f'redirect "r{i}@example.net";\n' for i in range(3))
    result = await run_script(source, MESSAGE, limits=Limits(max_redirects=2))
    assert summary(result) == ["implicit keep", "error: more than 2 redirects (number of "
                               "redirect actions exceeds policy limit max_redirects)"]
    assert result.error is not None and result.error.line == 3


async def test_too_many_steps() -> None:
    source = "if true { keep; }\n" * 20
    result = await run_script(source, MESSAGE, limits=Limits(max_steps=10))
    assert result.error is not None and "more than 10 steps" in result.error.message
    assert result.implicit_keep and not result.actions


async def test_cpu_limit_stops_a_costly_script() -> None:
    # each rule folds and searches a 200 KB value: far more than 20 ms in all
    message = "From: a@example.com\nSubject: " + "a" * 200_000 + "\n\nx\n"
    source = 'if header :contains "subject" "zz" { keep; }\n' * 1000
    result = await run_script(source, message, limits=Limits(max_cpu_ms=20))
    assert result.error is not None
    assert isinstance(result.error, SieveLimitExceeded)
    assert result.error.limit == "max_cpu_ms"


async def test_matches_does_not_backtrack() -> None:
    # a pattern that makes a backtracking matcher take forever over this value
    message = "Subject: " + "a" * 5000 + "\n\nx\n"
    start = time.process_time()
    assert not await holds('header :matches "subject" "*a*a*a*a*a*a*a*a*b"', message)
    assert await holds('header :matches "subject" "*a*a*a*a*a*a*a*a*"', message)
    assert time.process_time() - start < 0.5


async def test_bound_script_runs_many_times_alike() -> None:
    script = compile_script('require "fileinto";\n'
                            'if header :contains "subject" "café" { fileinto "x"; }')
    for _ in range(3):
        assert summary(await run_script(script, MESSAGE)) == ["fileinto x"]
        assert summary(await run_script(script, "Subject: no\n\nx\n")) == ["implicit keep"]


# -- header (§5.7) ---------------------------------------------------------------------------

@pytest.mark.parametrize(("test", "expected"), [
    ('header :is "subject" "Café crème deals"', True),  # RFC 2047 decoded, words joined
    ('header :contains "subject" "CRÈME"', False),  # ascii-casemap folds only A-Z
    ('header :contains "subject" "DEALS"', True),
    ('header :is "x-spaces" "padded value"', True),  # leading/trailing blanks ignored
    ('header :is "x-folded" "first  second"', True),  # unfolded
    ('header :is "x-multi" "two"', True),
    ('header :is ["x-none", "x-multi"] ["zero", "one"]', True),
    ('header :is "x-empty" ""', True),
    ('header :contains "x-empty" ""', True),
    ('header :is "x-none" ""', False),  # absent: matches nothing, not even ""
    ('header :contains "x-none" ""', False),
    ('header :is "Subject:" "Café crème deals"', False),  # no header has a colon in its name
    ('header :is "bad name" "x"', False),  # invalid names are no error
    ('header :is :comparator "i;octet" "x-multi" "ONE"', False),
    ('header :is "x-multi" "ONE"', True),
    ('header :matches "x-star" "a\\\\*b\\\\?c"', True),  # escaped wildcards are literal
    ('header :matches "x-star" "a\\\\*x\\\\?c"', False),
    ('header :matches "x-star" "a?b?c"', True),
    ('header :matches "x-star" "a???c"', True),
    ('header :matches "x-star" "a??c"', False),
    ('header :matches "x-star" "*"', True),
    ('header :matches "subject" "caf? *"', True),
    ('header :matches "x-empty" "*"', True),
    ('header :matches "x-empty" "?"', False),
    ('header :contains "received" "c by"', True),
])
async def test_header(test: str, expected: bool) -> None:
    assert await holds(test) is expected


async def test_header_matches_spans_line_ends() -> None:
    message = "Subject: x\nX-Two: a\n b\n\nbody\n"
    assert await holds('header :matches "x-two" "a*b"', message)


# -- address (§5.1, §2.7.4) ------------------------------------------------------------------

@pytest.mark.parametrize(("test", "expected"), [
    ('address :is "from" "john.doe@example.com"', True),  # default :all, ascii-casemap
    ('address :is :comparator "i;octet" "from" "john.doe@example.com"', False),
    ('address :is :localpart "from" "john.doe"', True),
    ('address :is :domain "from" "EXAMPLE.com"', True),
    ('address :contains "from" "Doe, John"', False),  # never the display name
    ('address :is "to" "bob@example.net"', True),
    ('address :is "cc" "carol@example.net"', True),  # in a group
    ('address :is "cc" "dan@example.net"', True),
    ('address :contains "cc" "friends"', False),  # never the group name
    ('address :contains "cc" "undisclosed"', False),
    ('address :is "return-path" "bounce@lists.example.org"', True),
    ('address :matches "to" "*@example.org"', True),
    ('address :is :domain ["from", "to"] "example.net"', True),
])
async def test_address(test: str, expected: bool) -> None:
    assert await holds(test) is expected


async def test_address_of_invalid_and_empty_values() -> None:
    # RFC 5228 §2.7.4: invalid addresses match only with :all (their text)
    message = ("From: stephan@\nTo: @example.org\nCc: nonsense\nResent-To:\n"
               "Bcc: nico@frop.example.com, @example.org\n\nx\n")
    assert not await holds('address :localpart "from" "stephan"', message)
    assert not await holds('address :domain "to" "example.org"', message)
    assert await holds('address :is :all "resent-to" ""', message)
    assert await holds('address :is :all "cc" "nonsense"', message)
    assert not await holds('address :is :localpart "bcc" ""', message)
    assert await holds('address :is :localpart "bcc" "nico"', message)


async def test_address_ignores_encoded_words_in_display_names() -> None:
    # the display name decodes to "Friep@frop" and a line end: the address stays the one
    # in angle brackets
    message = "To: =?UTF-8?B?RnJpZXBAZnJvcA0K?=\n\t<friep@example.com>\n\nx\n"
    assert await holds('address :is "to" "friep@example.com"', message)


async def test_address_comments_and_quoted_local_parts() -> None:
    message = ('From: Timo <tss(no spam)@fi.iki>\n'
               'To: "Stephan Bosch" <"S.Bosch"@example.net>, "a b"@example.org\n\nx\n')
    assert await holds('address :is "from" "tss@fi.iki"', message)
    assert await holds('address :is "to" "S.Bosch@example.net"', message)
    assert await holds('address :is :localpart "to" "\\"a b\\""', message)


# -- exists (§5.5), size (§5.9), true/false/not/allof/anyof ----------------------------------

@pytest.mark.parametrize(("test", "expected"), [
    ('exists "from"', True),
    ('exists ["From", "to", "X-Empty"]', True),
    ('exists ["from", "x-none"]', False),
    ('not exists "x-none"', True),
    ("allof (true, not false)", True),
    ("allof (true, false)", False),
    ("anyof (false, false)", False),
    ("anyof (false, not false)", True),
    ("not not true", True),
])
async def test_logic_and_exists(test: str, expected: bool) -> None:
    assert await holds(test) is expected


async def test_size_is_strictly_over_or_under() -> None:
    message = "Subject: x\n\n" + "y" * 100 + "\n"
    size = len(message.replace("\n", "\r\n"))
    assert await holds(f"size :over {size - 1}", message)
    assert not await holds(f"size :over {size}", message)
    assert await holds(f"size :under {size + 1}", message)
    assert not await holds(f"size :under {size}", message)
    assert await holds("size :under 1K", message)


# -- comparators (§2.7.3; RFC 4790) ----------------------------------------------------------

async def test_unicode_casemap_folds_all_of_unicode() -> None:
    req = '"comparator-i;unicode-casemap"'
    assert await holds('header :contains :comparator "i;unicode-casemap" "subject" "CRÈME"',
                       require=req)
    assert await holds('header :is :comparator "i;unicode-casemap" "subject" '
                       '"CAFE\u0301 CRE\u0300ME DEALS"', require=req)  # NFKD


async def test_ascii_numeric_equality() -> None:
    req = '"comparator-i;ascii-numeric"'
    message = "X-Num: 042 apples\nX-Word: none\n\nx\n"
    assert await holds('header :is :comparator "i;ascii-numeric" "x-num" "42"', message,
                       require=req)
    # strings without leading digits are all equal (positive infinity: RFC 4790 §9.1.1)
    assert await holds('header :is :comparator "i;ascii-numeric" "x-word" "other"', message,
                       require=req)
    assert not await holds('header :is :comparator "i;ascii-numeric" "x-word" "1"',
                           message, require=req)


async def test_matching_looks_at_a_bounded_number_of_values() -> None:
    message = "".join(f"X-Many: v{i}\n" for i in range(50)) + "\nx\n"
    result = await run_script('if header :is "x-many" "v49" { discard; }', message,
                              limits=Limits(max_match_values=10))
    assert summary(result) == ["implicit keep"]
    result = await run_script('if header :is "x-many" "v9" { discard; }', message,
                              limits=Limits(max_match_values=10))
    assert summary(result) == ["discard"]


@pytest.mark.parametrize(("pattern", "value", "captures"), [
    ("*", "abc", ["abc"]),
    ("a*", "abc", ["bc"]),
    ("*c", "abc", ["ab"]),
    ("*a*", "bab", ["b", "b"]),  # as little as possible, left to right (RFC 5229 §3.2)
    ("*.*", "a.b.c", ["a", "b.c"]),
    ("?*?", "abcd", ["a", "bc", "d"]),
    ("a?c", "abc", ["b"]),
    ("a\\*c", "a*c", []),
    ("a\\*c", "abc", None),
    ("*@*.example", "x@y.z.example", ["x", "y.z"]),
    ("**", "ab", ["", "ab"]),
    ("a*b*c", "ac", None),
    ("", "", []),
    ("", "x", None),
    ("?", "", None),
])
def test_glob_spans(pattern: str, value: str, captures: list[str] | None) -> None:
    spans = glob(pattern).match(value)
    assert (None if spans is None else [value[a:b] for a, b in spans]) == captures


async def test_raw_latin1_header_text_is_read_as_latin1() -> None:
    # RFC 5228 §2.7.2: ISO-8859-1 must be convertible; 8-bit header text that is not UTF-8
    message = "From: a@example.com\nSubject: caf\xe9\n\nx\n".encode("latin-1")
    assert await holds('header :is "subject" "café"', message)


async def test_the_builtin_comparators_may_be_required() -> None:
    assert await holds('header :is :comparator "i;octet" "x-multi" "one"',
                       require='"comparator-i;octet", "comparator-i;ascii-casemap"')


async def test_address_of_a_field_that_holds_no_address() -> None:
    # RFC 5228 §5.1: the address test is restricted to fields that contain addresses
    message = "Subject: hello\nX-Contact: Some One <one@example.com>\nTo: nonsense\n\nx\n"
    assert not await holds('address :all :is "subject" "hello"', message)
    assert await holds('address :all :is "x-contact" "one@example.com"', message)
    assert await holds('address :all :is "to" "nonsense"', message)  # an address field
