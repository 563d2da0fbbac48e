"""The Sieve lexer and parser (RFC 5228 §2, §8): tokens, strings, numbers, comments, and
errors that name their line, column and what was expected. Hypothesis: any input either
parses or raises SieveSyntaxError, quickly."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from postroom.sieve import ast
from postroom.sieve.errors import SieveSyntaxError
from postroom.sieve.limits import DEFAULT, Limits
from postroom.sieve.parser import parse


def _one_string(source: str) -> str:
    script = parse(f"x {source};", DEFAULT)
    arg = script.commands[0].args[0]
    assert isinstance(arg, ast.Strings)
    return arg.values[0]


def _error(source: str | bytes, limits: Limits = DEFAULT) -> str:
    with pytest.raises(SieveSyntaxError) as caught:
        parse(source, limits)
    return str(caught.value)


# -- strings (§2.4.2) ------------------------------------------------------------------------

@pytest.mark.parametrize(("written", "value"), [
    ('"plain"', "plain"),
    ('"a \\" quote"', 'a " quote'),
    ('"a \\\\ backslash"', "a \\ backslash"),
    ('"\\a\\a\\a\\a\\a"', "aaaaa"),  # an undefined escape is the character itself
    ('"two\nlines"', "two\r\nlines"),  # line ends inside strings are CRLF
    ('"two\r\nlines"', "two\r\nlines"),
    ('"ünïcode"', "ünïcode"),
    ('""', ""),
])
def test_quoted_strings(written: str, value: str) -> None:
    assert _one_string(written) == value


def test_multiline_dot_stuffing_removes_only_a_doubled_dot() -> None:
    # RFC 5228 §8.1 multiline-dotstart: "Remove a leading '.' if followed by another '.'"
    text = "text: # comment\nLine 1\n.Line 2\n..Line 3\n.Line 4\nLine 5\n.\n"
    assert _one_string(text) == "Line 1\r\n.Line 2\r\n.Line 3\r\n.Line 4\r\nLine 5\r\n"


def test_multiline_equals_the_quoted_string_with_the_same_lines() -> None:
    multi = _one_string("text:\nLine 1\n.Line 2\nLine 3\n.\n")
    quoted = _one_string('"Line 1\n.Line 2\nLine 3\n"')
    assert multi == quoted


def test_multiline_with_crlf_and_blanks_after_text_colon() -> None:
    assert _one_string("text: \t\r\nhello\r\n.\r\n") == "hello\r\n"


def test_empty_multiline() -> None:
    assert _one_string("text:\n.\n") == ""


def test_multiline_ending_line_then_the_semicolon_on_the_next_line() -> None:
    script = parse("x text:\nhi\n.\n;", DEFAULT)
    arg = script.commands[0].args[0]
    assert isinstance(arg, ast.Strings) and arg.values == ("hi\r\n",)


def test_text_with_a_space_before_the_colon_is_an_identifier_and_a_tag() -> None:
    script = parse("x text :is;", DEFAULT)
    assert [type(a).__name__ for a in script.commands[0].args] == []  # text is a test here
    assert script.commands[0].tests[0].name == "text"


# -- numbers (§2.4.1) ------------------------------------------------------------------------

@pytest.mark.parametrize(("written", "value"), [
    ("0", 0), ("100", 100), ("1K", 1024), ("1k", 1024), ("2M", 2 * 1024**2),
    ("3g", 3 * 1024**3), ("2147483647", 2**31 - 1), ("9223372036854775807", 2**63 - 1),
])
def test_numbers(written: str, value: int) -> None:
    script = parse(f"x {written};", DEFAULT)
    arg = script.commands[0].args[0]
    assert isinstance(arg, ast.Number) and arg.value == value


@pytest.mark.parametrize("written", ["9223372036854775808", "8589934592G",
                                     "49834598293485814273947921734981723971293741923"])
def test_numbers_too_large(written: str) -> None:
    assert _error(f"if size :over {written} {{ stop; }}").startswith(
        "line 1, column 15: number too large")


def test_number_running_into_letters() -> None:
    assert _error("if size :over 10KB { stop; }") == \
        "line 1, column 15: a number must be followed by a space or a separator, not 'B'"


# -- comments and white space (§2.3) ---------------------------------------------------------

def test_comments_and_case_insensitive_identifiers_and_tags() -> None:
    script = parse("# hash\nIF /* bracket\n over lines */ Header :IS \"a\" \"b\" { KEEP; }"
                   "# at the end without a line end", DEFAULT)
    command = script.commands[0]
    assert command.name == "if"
    assert command.tests[0].name == "header"
    assert isinstance(command.tests[0].args[0], ast.Tag)
    assert command.tests[0].args[0].name == "is"
    assert command.block is not None and command.block[0].name == "keep"


def test_a_byte_order_mark_is_ignored() -> None:
    assert parse("\ufeffkeep;", DEFAULT).commands[0].name == "keep"


def test_lists_and_test_lists() -> None:
    script = parse('if anyof (header :is ["a", "b"] "c", not true) { }', DEFAULT)
    test = script.commands[0].tests[0]
    assert test.name == "anyof" and test.test_list and len(test.tests) == 2
    strings = test.tests[0].args[1]
    assert isinstance(strings, ast.Strings) and strings.is_list
    assert strings.values == ("a", "b")
    assert test.tests[1].tests[0].name == "true"


def test_positions_count_characters_from_one() -> None:
    script = parse("require \"x\";\n  if  true {\n\tkeep;\n}", DEFAULT)
    assert script.commands[1].pos == ast.Pos(2, 3)
    assert script.commands[1].tests[0].pos == ast.Pos(2, 7)
    assert script.commands[1].block is not None
    assert script.commands[1].block[0].pos == ast.Pos(3, 2)


def test_size_is_counted_in_octets() -> None:
    assert parse("# é\nkeep;", DEFAULT).size == len("# é\nkeep;".encode())


# -- errors: line, column and what was expected ----------------------------------------------

@pytest.mark.parametrize(("source", "message"), [
    ("keep", "line 1, column 5: expected ';' or a block after the arguments of keep, "
             "found the end of the script"),
    ("if true { keep; ", "line 1, column 17: expected a command or '}' to close the block "
                         "of if (line 1), found the end of the script"),
    ("if true { \"x\"; }", "line 1, column 11: expected a command or '}' to close the block "
                           "of if (line 1), found a string"),
    ("keep; }", "line 1, column 7: expected a command, found an unmatched '}'"),
    ("\"x\";", "line 1, column 1: expected a command, found a string"),
    ('x ["a" "b"];', "line 1, column 8: expected ',' or ']' in the string list (opened at "
                     "line 1), found a string"),
    ("x [];", "line 1, column 4: expected a string in the string list, found ']'"),
    ("x [1];", "line 1, column 4: expected a string in the string list, found number 1"),
    ("if anyof (true false, ) {}", "line 1, column 23: expected a test, found ')'"),
    ("if anyof (true; ) {}", "line 1, column 15: expected ',' or ')' in the test list "
                             "(opened at line 1), found ';'"),
    ("if anyof() {}", "line 1, column 10: expected a test, found ')'"),
    ("x \"never closed;", "line 1, column 3: string is never closed by '\"'"),
    ("x text:\nno end\n", "line 1, column 3: multi-line string is never ended by a line "
                          "holding only '.'"),
    ("x text: foo\n.\n", "line 1, column 9: text: must be followed by the end of the line "
                         "(or a # comment)"),
    ("x /* never closed", "line 1, column 3: comment /* is never closed with */"),
    ("x : foo;", "line 1, column 3: ':' must be followed by a tag name"),
    ("x $$$;", "line 1, column 3: unexpected character '$'"),
    ("x\n\n   @;", "line 3, column 4: unexpected character '@'"),
    ("x \"a\x00b\";", "line 1, column 5: a NUL character is not allowed in a string"),
    ("x; \x00", "line 1, column 4: a NUL character is not allowed in a script"),
    ("x \"a\rb\";", "line 1, column 5: a carriage return must be followed by a line feed"),
    ("x " + "y" * 200 + ";", "line 1, column 3: identifier longer than 128 characters"),
])
def test_errors_name_line_column_and_what_was_expected(source: str, message: str) -> None:
    assert _error(source) == message


def test_invalid_utf8_names_its_line() -> None:
    assert _error(b"keep;\nx \"\xff\";") == "line 2, column 4: script is not valid UTF-8"


def test_script_size_limit() -> None:
    limits = Limits(max_script_size=256)
    assert _error("#" * 300, limits) == "line 1, column 1: script larger than 256 octets"
    assert _error(("#" * 300).encode(), limits).endswith("script larger than 256 octets")


def test_nesting_limit_on_blocks_and_tests() -> None:
    limits = Limits(max_nesting=4)
    parse("if true { if true { if true { keep; } } }", limits)
    deep = "x { " * 5 + "}" * 5
    assert _error(deep, limits) == "line 1, column 19: blocks nested deeper than 4"
    # a test counts one level below the block it is in
    assert _error("if true { " * 5 + "}" * 5, limits) == \
        "line 1, column 44: tests nested deeper than 4"
    nots = "if " + "not " * 5 + "true { }"
    assert _error(nots, limits) == "line 1, column 20: tests nested deeper than 4"


# -- robustness: nothing but SieveSyntaxError, in bounded time --------------------------------

_ALPHABET = st.sampled_from([*'ifelsekeptrux:;,()[]{}"\\#/*.\n\r\t 0123456789KMG$@\x00é',
                             "text:", "text:\n", "\n.\n", "/*", "*/", "if ", "anyof(",
                             "header :is ", '"', "[", '"a",'])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_ALPHABET, max_size=80).map("".join))
def test_random_input_parses_or_raises_a_syntax_error(source: str) -> None:
    start = time.perf_counter()
    try:
        parse(source, DEFAULT)
    except SieveSyntaxError as exc:
        assert exc.line >= 1 and exc.column >= 1
    assert time.perf_counter() - start < 0.5


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_random_octets_parse_or_raise_a_syntax_error(source: bytes) -> None:
    try:
        parse(source, DEFAULT)
    except SieveSyntaxError as exc:
        assert exc.line >= 1 and exc.column >= 1


def test_a_large_script_parses_quickly() -> None:
    rule = 'if header :contains "subject" "word" { fileinto "folder"; }\n'
    source = rule * (DEFAULT.max_script_size // len(rule))
    start = time.perf_counter()
    script = parse(source, DEFAULT)
    assert len(script.commands) == DEFAULT.max_script_size // len(rule)
    assert time.perf_counter() - start < 1.0
