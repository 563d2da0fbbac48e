"""Binding (RFC 5228 §2.6, §2.7, §3.2): a parsed script checked against the extensions,
refused with line, column and a message that says what is wrong and what would be right."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from postroom.sieve import compile_script
from postroom.sieve.errors import SieveSyntaxError
from tests.support.sieve import run_script


def _error(source: str, enabled: list[str] | None = None) -> str:
    with pytest.raises(SieveSyntaxError) as caught:
        compile_script(source, enabled=enabled)
    return str(caught.value)


@pytest.mark.parametrize(("source", "message"), [
    # commands and tests in the wrong place
    ('header "a" "b";', "line 1, column 1: 'header' is a test, not a command (put it after "
                        "if/elsif/not/allof/anyof)"),
    ("if keep { }", "line 1, column 4: 'keep' is a command, not a test (it cannot be used as "
                    "a test)"),
    ("keep\nstop;", "line 2, column 1: missing semicolon after the keep command, before "
                    "stop (which reads as its test)"),
    ('filenito "x";', "line 1, column 1: unknown command 'filenito' (did you mean "
                      "'fileinto'?)"),
    ('require "fileinto";\nfilenito "x";', "line 2, column 1: unknown command 'filenito' "
                                           "(did you mean 'fileinto'?)"),
    ("if frobnicate { }", "line 1, column 4: unknown test 'frobnicate'"),
    ('fileinto "x";', "line 1, column 1: command 'fileinto' needs require 'fileinto'"),
    ('if envelope "to" "x" { }', "line 1, column 4: test 'envelope' needs require "
                                 "'envelope'"),
    # require
    ('keep;\nrequire "fileinto";', "line 2, column 1: require must come before any other "
                                   "command"),
    ('require "frobnicate";', "line 1, column 9: unsupported capability 'frobnicate'"),
    ('require 1;', "line 1, column 1: require takes one string list of capabilities"),
    ('require "";', "line 1, column 9: unsupported capability ''"),
    # control structure
    ("elsif true { }", "line 1, column 1: elsif without a preceding if"),
    ("keep;\nelse { }", "line 2, column 1: else without a preceding if"),
    ("if true;", "line 1, column 1: if needs a block { … }"),
    ("if { }", "line 1, column 1: if needs exactly one test"),
    ("if (true, false) { }", "line 1, column 1: if needs exactly one test"),
    ("keep { }", "line 1, column 1: keep takes no block; end it with ';'"),
    ("if allof true { }", "line 1, column 4: allof needs a test list ( … )"),
    ("if not (true) { }", "line 1, column 4: not needs exactly one test"),
    ("if true true { }", "line 1, column 9: true takes no test"),
    # arguments
    ('if header :is "a" { }', "line 1, column 4: the header test requires 2 positional "
                              "argument(s) (header names, key list), but 1 was given"),
    ('if header { }', "line 1, column 4: the header test requires 2 positional argument(s) "
                      "(header names, key list), but 0 were given"),
    ('if header "a" "b" "c" { }', "line 1, column 4: the header test requires 2 positional "
                                  "argument(s) (header names, key list), but 3 were given"),
    ('if header 1 "b" { }', "line 1, column 11: the header test expects a string list as "
                            "argument 1 (header names), but a number (1) was found"),
    ('redirect ["a@b.c", "d@e.f"];', "line 1, column 10: the redirect command expects a "
                                     "string as argument 1 (address), but a string list was "
                                     "found"),
    ('if size "10" { }', "line 1, column 9: the size test expects a number as argument 1 "
                         "(limit), but a string was found"),
    ('if size :over :under 20 { }', "line 1, column 4: size needs exactly one of :over "
                                    "and :under"),
    ('if size 10 { }', "line 1, column 4: size needs exactly one of :over and :under"),
    ('if header "a" :is "b" { }', "line 1, column 15: :is must come before the other "
                                  "arguments of header"),
    # tags
    ('if header :all "a" "b" { }', "line 1, column 11: unknown tagged argument ':all' for "
                                   "the header test (it takes :comparator, :contains, :is, "
                                   ":matches)"),
    ('if header :is :contains "a" "b" { }', "line 1, column 15: only one match-type allowed "
                                            "(:is and :contains)"),
    ('if address :all :domain "a" "b" { }', "line 1, column 17: only one address-part "
                                            "allowed (:all and :domain)"),
    ('if header :comparator "i;octet" :comparator "i;octet" "a" "b" { }',
     "line 1, column 33: only one comparator allowed (:comparator and :comparator)"),
    ('if header :comparator "i;frob" "a" "b" { }', "line 1, column 11: unknown comparator "
                                                   "'i;frob'"),
    ('if header :comparator "i;ascii-numeric" "a" "b" { }',
     "line 1, column 11: comparator 'i;ascii-numeric' needs require "
     "'comparator-i;ascii-numeric'"),
    ('if header :comparator { }', "line 1, column 11: the :comparator tag of header needs a "
                                  "string after it"),
    ('if header :regex "a" "b" { }', "line 1, column 11: :regex on header needs require "
                                     "'regex'"),
    ('if address :user "a" "b" { }', "line 1, column 12: :user on address needs require "
                                     "'subaddress'"),
    ('if header :value "gt" "a" "b" { }', "line 1, column 11: :value on header needs require "
                                          "'relational'"),
    ('require "relational";\nif header :value "frob" "a" "b" { }',
     "line 2, column 11: unknown relational operator 'frob'"),
    ('require ["relational", "comparator-i;ascii-numeric"];\n'
     'if header :matches :comparator "i;ascii-numeric" "a" "b" { }',
     "line 2, column 4: comparator 'i;ascii-numeric' cannot do :matches"),
    # values known when the script is stored
    ('redirect "not an address";', "line 1, column 1: redirect to an invalid address "
                                   "'not an address'"),
    ('require "fileinto";\nfileinto "";',
     "line 2, column 1: fileinto: invalid folder name (empty)"),
    ('require "envelope";\nif envelope "frob" "x" { }', "line 2, column 4: unknown envelope "
                                                        "part 'frob' (known: from, to, auth)"),
    ('require ["encoded-character", "fileinto"];\nfileinto "${unicode:D800}";',
     "line 2, column 10: ${unicode:D800} is not a Unicode character (RFC 5228 §2.4.2.4)"),
    ('require "imap4flags";\nsetflag "var" "\\\\Seen";',
     'line 2, column 1: setflag with a variable name needs require "variables" '
     "(RFC 5232 §3)"),
])
def test_binding_errors(source: str, message: str) -> None:
    assert _error(source) == message


def test_enabled_restricts_capabilities() -> None:
    assert _error('require "body";', enabled=["fileinto"]) == \
        "line 1, column 9: unsupported capability 'body'"
    compile_script('require "fileinto";', enabled=["fileinto"])


def test_identifiers_and_tags_are_case_insensitive() -> None:
    compile_script('REQUIRE "fileinto"; IF HEADER :CONTAINS "Subject" "x" '
                   '{ FILEINTO "y"; } ELSIF TRUE { KEEP; } ELSE { STOP; }')


def test_capability_names_are_case_sensitive() -> None:
    assert _error('require "FileInto";') == \
        "line 1, column 9: unsupported capability 'FileInto'"


def test_bound_script_records_what_it_required() -> None:
    script = compile_script('require ["fileinto", "copy"]; fileinto :copy "x";', name="s")
    assert script.required == frozenset({"fileinto", "copy"})
    assert script.name == "s"
    assert script.size == len('require ["fileinto", "copy"]; fileinto :copy "x";')


def test_encoded_character_decodes_string_literals() -> None:
    # RFC 5228 §2.4.2.4's examples
    cases = {
        "$${hex:40}": "$@", "${hex: 40 }": "@", "${HEX: 40}": "@", "${hex:40": "${hex:40",
        "${hex:400}": "${hex:400}", "${hex:4${hex:30}}": "${hex:40}", "${unicode:40}": "@",
        "${ unicode:40}": "${ unicode:40}", "${UNICODE:40}": "@",
        "${UnICoDE:0000040}": "@", "${Unicode:40}": "@",
        "${Unicode:Cool}": "${Unicode:Cool}",
    }
    for written, value in cases.items():
        script = compile_script(f'require ["encoded-character", "fileinto"]; '
                                f'fileinto "{written}";')
        assert script.commands[0].args[0] == value, written


def test_without_encoded_character_strings_stay() -> None:
    script = compile_script('require "fileinto"; fileinto "${hex:40}";')
    assert script.commands[0].args[0] == "${hex:40}"


# -- robustness: compiling anything raises nothing but SieveSyntaxError ----------------------

_WORDS = st.sampled_from([
    "require", '"fileinto"', '["body", "variables", "imap4flags", "relational"]',
    '"comparator-i;ascii-numeric"', '"envelope"', "if", "elsif", "else", "keep", "stop",
    "discard", "fileinto", "redirect", "reject", "setflag", "hasflag", "header", "address",
    "envelope", "body", "exists", "size", "not", "anyof", "allof", "true", "false", "set",
    "string", ":is", ":contains", ":matches", ":value", ":count", '"gt"', ":comparator",
    '"i;octet"', '"i;ascii-numeric"', ":all", ":domain", ":localpart", ":user", ":over",
    ":under", ":copy", ":flags", ":content", ":raw", ":text", '"text/plain"', '"a@b.c"',
    '"x"', '"${1}"', '""', '["a", "b"]', "10", "1K", "(", ")", ",", ";", "{", "}"])


@settings(max_examples=500, deadline=None)
@given(st.lists(_WORDS, max_size=40).map(" ".join))
def test_compiling_random_scripts_raises_only_syntax_errors(source: str) -> None:
    try:
        script = compile_script(source)
    except SieveSyntaxError as exc:
        assert exc.line >= 1 and exc.column >= 1 and exc.message
        return
    # what compiles runs without raising: errors end in Result.error
    result = asyncio.run(run_script(script, _MESSAGE))
    assert result.implicit_keep or result.actions


_MESSAGE = ("From: a@b.c\nTo: x+y@b.c\nSubject: x\nContent-Type: multipart/mixed; "
            "boundary=b\n\n--b\nContent-Type: text/plain\n\nhi\n--b--\n")


def test_binding_reports_every_command_in_error() -> None:
    source = ('require ["fileinto", "frobnicate"];\n'
              'keep :frob;\n'
              'if header 1 "x" { stop; }\n'
              'if true { fileinto ""; discard; keep 3; }\n'
              'keep;\n')
    with pytest.raises(SieveSyntaxError) as caught:
        compile_script(source)
    assert [str(e) for e in caught.value.errors] == [
        "line 1, column 9: unsupported capability 'frobnicate'",
        "line 2, column 6: unknown tagged argument ':frob' for the keep command (it takes "
        "none)",
        "line 3, column 11: the header test expects a string list as argument 1 (header "
        "names), but a number (1) was found",
        "line 4, column 11: fileinto: invalid folder name (empty)",
        "line 4, column 33: the keep command requires 0 positional argument(s), but 1 was "
        "given",
    ]
    assert caught.value is caught.value.errors[0]


def test_binding_gives_up_after_fifty_errors() -> None:
    with pytest.raises(SieveSyntaxError) as caught:
        compile_script("frob;\n" * 80)
    assert len(caught.value.errors) == 50
