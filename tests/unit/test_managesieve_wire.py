"""ManageSieve's wire format on bytes alone (postroom/protocols/managesieve/wire.py):
commands with quoted strings and literals in, strings and responses out (RFC 5804 §4)."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from postroom.protocols.managesieve.wire import (
    Atom,
    WireError,
    command_name,
    literal_at_end,
    number,
    parse_args,
    parse_command,
    response,
    string_out,
    text_of,
)


def test_names_are_case_insensitive_and_strings_keep_their_octets() -> None:
    cmd = parse_command(b'putScript "my script" {12+}\r\nkeep;\r\nstop;\r\n')
    assert cmd.name == "PUTSCRIPT"
    assert cmd.args == [b"my script", b"keep;\r\nstop;"]
    assert not isinstance(cmd.args[0], Atom)


def test_synchronising_literal_is_taken_like_the_non_synchronising_one() -> None:
    # RFC 5804 §4 defines only {n+} from the client; {n} has no continuation to wait for
    assert parse_command(b"CHECKSCRIPT {5}\r\nkeep;\r\n").args == [b"keep;"]


def test_atoms_and_numbers() -> None:
    cmd = parse_command(b'HAVESPACE "s" 1024\r\n')
    assert cmd.args[1] == Atom("1024") and isinstance(cmd.args[1], Atom)
    assert number(cmd.args[1], "size") == 1024
    assert number(b"17", "size") == 17  # a quoted number is understood too
    for bad in (Atom("-1"), Atom("1e3"), Atom("4294967296"), Atom("99999999999")):
        with pytest.raises(WireError):
            number(bad, "size")


def test_quoted_escapes() -> None:
    assert parse_args(b'"a\\"b\\\\c"\r\n') == [b'a"b\\c']
    with pytest.raises(WireError, match="escaped"):
        parse_args(b'"a\\nb"\r\n')
    with pytest.raises(WireError, match="Unterminated"):
        parse_args(b'"abc\r\n')


@pytest.mark.parametrize("raw, why", [
    (b"\r\n", "command name"),
    (b'"PUTSCRIPT" "x"\r\n', "command name"),
    (b"NOOP", "not terminated"),
    (b'NOOP "a""b"\r\n', "separated"),
    (b"NOOP {5+}\r\nab\r\n", "shorter"),
    (b"NOOP {x+}\r\n", "Invalid literal"),
    (b"NOOP \x01\r\n", "control"),
    (b"NOOP caf\xc3\xa9\r\n", "Non-ASCII"),
    (b"NOOP (a)\r\n", "Unexpected"),
    (b"NOOP\r\nNOOP\r\n", "Garbage"),
    (b"NOOP" + b" a" * 20 + b"\r\n", "Too many"),
])
def test_garbage_is_refused_with_a_reason(raw: bytes, why: str) -> None:
    with pytest.raises(WireError, match=why):
        parse_command(raw)


def test_utf8_names() -> None:
    arg = parse_args('"Filtre été"\r\n'.encode())[0]
    assert text_of(arg, "name") == "Filtre été"
    with pytest.raises(WireError, match="UTF-8"):
        text_of(b"\xff", "script name")
    with pytest.raises(WireError, match="string"):
        text_of(Atom("bare"), "script name")


def test_literal_marks() -> None:
    assert literal_at_end(b"PUTSCRIPT \"a\" {10+}\r\n") is not None
    mark = literal_at_end(b"X {10}\r\n")
    assert mark is not None and mark.size == 10 and mark.sync
    assert literal_at_end(b"X {10+} y\r\n") is None
    huge = literal_at_end(b"X {" + b"9" * 40 + b"+}\r\n")
    assert huge is not None and huge.size >= 1 << 63  # never a 40-digit int downstream


def test_command_name_of_a_refused_line() -> None:
    assert command_name(b"putscript \"x\" {99999+}\r\n") == "PUTSCRIPT"
    assert command_name(b"\"x\"\r\n") == ""


def test_strings_out() -> None:
    assert string_out("plain") == b'"plain"'
    assert string_out('say "hi" \\ bye') == b'"say \\"hi\\" \\\\ bye"'
    assert string_out("two\r\nlines") == b"{10}\r\ntwo\r\nlines"
    assert string_out("x" * 1025).startswith(b"{1025}\r\n")
    assert string_out('"' * 600).startswith(b"{600}\r\n")  # escaped it would pass 1024 octets


def test_responses() -> None:
    assert response("OK") == b"OK\r\n"
    assert response("NO", 'line 3, column 5: unknown command "fileinot"', b"") == \
        b'NO "line 3, column 5: unknown command \\"fileinot\\""\r\n'
    assert response("NO", "gone", b"NONEXISTENT") == b'NO (NONEXISTENT) "gone"\r\n'
    long = response("OK", "warn\n" * 500, b"WARNINGS")
    assert long.count(b"\r\n") == 1 and len(long) < 1100  # one quoted line, clipped


@given(st.binary(max_size=200))
def test_any_octets_round_trip_as_a_string(value: bytes) -> None:
    wire = string_out(value) + b"\r\n"
    assert parse_args(wire) == [value]


@given(st.binary(max_size=300))
def test_parse_never_crashes(raw: bytes) -> None:
    with contextlib.suppress(WireError):
        parse_command(raw)
