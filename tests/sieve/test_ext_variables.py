"""RFC 5229 variables: expansion, match variables, set and its modifiers, the string test,
namespaces and limits; the RFC's own examples as golden tests."""

from __future__ import annotations

import pytest

from postroom.sieve import compile_script
from postroom.sieve.errors import SieveLimitExceeded, SieveSyntaxError
from postroom.sieve.interp import run
from postroom.sieve.limits import DEFAULT, Limits
from postroom.sieve.runtime import Runtime
from tests.support.sieve import DictEnvironment, make_message, run_script, summary

MESSAGE = """\
From: coyote@desert.example.org
To: coyote@ACME.Example.COM
Subject: [acme-users] [fwd] version 1.0 is out
List-ID: Sieve mailing list <sieve.ietf.org>

body
"""


async def variables_after(source: str, message: str = MESSAGE,
                          limits: Limits = DEFAULT) -> dict[str, str]:
    """The variables a script leaves (its run must not fail)."""
    script = compile_script(source, limits=limits)
    rt = Runtime(script, make_message(message), DictEnvironment(), limits)
    result = await run(rt, script)
    assert result.error is None, result.error
    return rt.variables


async def value_of(expression: str, setup: str = "") -> str:
    found = await variables_after(
        f'require "variables";\n{setup}\nset "out" "{expression}";')
    return found["out"]


# -- §3 interpretation of strings ---------------------------------------------------------

@pytest.mark.parametrize(("written", "expanded"), [
    ("&%${}!", "&%${}!"),  # the empty string is not an identifier
    ("${doh!}", "${doh!}"),  # "!" is not allowed in identifiers
    ("${full}", ""),  # unknown variables are the empty string
    ("${company}", "ACME"),
    ("${COMPANY}", "ACME"),  # names are case-insensitive
    ("${BAD${Company}", "${BADACME"),
    ("${President, ${Company} Inc.}", "${President, ACME Inc.}"),
])
async def test_rfc_5229_section_3_examples(written: str, expanded: str) -> None:
    assert await value_of(written, 'set "company" "ACME";') == expanded


async def test_rfc_5229_section_3_1_quoting() -> None:
    setup = 'set "foo" "FOO";'
    assert await value_of("${fo\\o}", setup) == "FOO"  # "${fo\o}" => ${foo}
    assert await value_of("${fo\\\\o}", setup) == "${fo\\o}"  # illegal identifier: verbatim
    assert await value_of("\\${foo}", setup) == "FOO"
    assert await value_of("\\\\${foo}", setup) == "\\FOO"


async def test_rfc_5229_section_3_1_dollar_example() -> None:
    found = await variables_after('require "variables";\nset "dollar" "$";\n'
                                  'set "text" "regarding ${dollar}{beep}";')
    assert found["text"] == "regarding ${beep}"


async def test_expansion_is_one_pass() -> None:
    found = await variables_after('require "variables";\nset "a" "${b}";\n'
                                  'set "b" "x";\nset "c" "${dollar}{b}";\nset "dollar" "$";\n'
                                  'set "d" "${c}";')
    assert found["a"] == ""
    assert found["c"] == "{b}"  # ${dollar} was empty when c was set
    assert found["d"] == "{b}"


async def test_strings_without_a_reference_are_not_copied() -> None:
    script = compile_script('require "variables"; set "a" "b";')
    rt = Runtime(script, make_message(MESSAGE), DictEnvironment(), DEFAULT)
    await run(rt, script)
    text = "no reference here, only $ and { and }"
    assert rt.expand(text) is text


# -- §3.2 match variables -----------------------------------------------------------------

async def test_rfc_5229_section_3_2_subject_example() -> None:
    found = await variables_after(
        'require "variables";\n'
        'if header :matches "Subject" "[*] *" { set "one" "${1}"; set "two" "${2}"; }')
    assert found == {"one": "acme-users", "two": "[fwd] version 1.0 is out"}


async def test_rfc_5229_section_3_2_address_example() -> None:
    found = await variables_after(
        'require "variables";\n'
        'if address :matches ["To", "Cc"] ["coyote@**.com", "wile@**.com"] {\n'
        '  set "zero" "${0}"; set "one" "${1}"; set "two" "${2}";\n'
        '}')
    assert found == {"zero": "coyote@ACME.Example.COM", "one": "", "two": "ACME.Example"}


async def test_rfc_5229_section_3_2_short_circuit_sets_nothing() -> None:
    found = await variables_after(
        'require "variables";\n'
        'if anyof (true, address :domain :matches "To" "*.com") {\n'
        '  set "after" "[${0}|${1}]";\n'
        '}')
    assert found["after"] == "[|]"


async def test_failed_match_keeps_the_previous_values_and_leading_zeros() -> None:
    found = await variables_after(
        'require "variables";\n'
        'if header :matches "Subject" "[*] *" { }\n'
        'if header :matches "Subject" "nothing like it*" { }\n'
        'set "kept" "${01}/${0002}/${10}";')
    assert found["kept"] == "acme-users/[fwd] version 1.0 is out/"


async def test_rfc_5229_list_id_example_files_into_the_list_folder() -> None:
    result = await run_script(
        'require ["fileinto", "variables"];\n'
        'if header :matches "List-ID" "*<*@*" {\n'
        '    fileinto "INBOX.lists.${2}"; stop;\n'
        '}', MESSAGE.replace("<sieve.ietf.org>", "<sieve@ietf.org>"))
    assert summary(result) == ["fileinto INBOX.lists.sieve"]


# -- §4 set and its modifiers ----------------------------------------------------------------

async def test_rfc_5229_section_4_example() -> None:
    found = await variables_after(
        'require "variables";\n'
        'set "honorific"  "Mr";\n'
        'set "first_name" "Wile";\n'
        'set "last_name"  "Coyote";\n'
        'set "vacation" text:\n'
        'Dear ${HONORIFIC} ${last_name},\n'
        "I'm out, please leave a message after the meep.\n"
        '.\n'
        ';')
    assert found["vacation"] == ("Dear Mr Coyote,\r\n"
                                 "I'm out, please leave a message after the meep.\r\n")


@pytest.mark.parametrize(("modifiers", "value", "expected"), [
    ("", "${a}", "juMBlEd lETteRS"),
    (":length", "${a}", "15"),
    (":lower", "${a}", "jumbled letters"),
    (":upperfirst", "${a}", "JuMBlEd lETteRS"),
    (":upperfirst :lower", "${a}", "Jumbled letters"),
    (":lower :upperfirst", "${a}", "Jumbled letters"),  # precedence, not order
    (":quotewildcard", "Rock*", "Rock\\\\*"),
    (":upper :lowerfirst", "VaLuE", "vALUE"),
    (":length :quotewildcard", "^^***??**^^", "18"),  # quoted first, then counted
    (":upper", "grüße", "GRüßE"),  # only US-ASCII letters change (§4.1.3)
    (":length", "Das ist überhaupt nicht möglich.", "32"),  # characters, not octets
])
async def test_rfc_5229_section_4_1_modifiers(modifiers: str, value: str,
                                              expected: str) -> None:
    found = await variables_after(
        f'require "variables";\nset "a" "juMBlEd lETteRS";\n'
        f'set {modifiers} "b" "{value}";')
    assert found["b"] == expected.replace("\\\\", "\\")


@pytest.mark.parametrize("modifiers", [":lower :upper", ":upperfirst :lowerfirst"])
async def test_modifiers_of_one_precedence_are_refused(modifiers: str) -> None:
    with pytest.raises(SieveSyntaxError) as caught:
        compile_script(f'require "variables";\n\n  set {modifiers} "b" "x";')
    assert (caught.value.line, caught.value.column) == (3, 3)
    assert "same precedence" in caught.value.message


async def test_a_modifier_given_twice_is_refused() -> None:
    with pytest.raises(SieveSyntaxError) as caught:
        compile_script('require "variables";\nset :upper :upper "b" "x";')
    assert (caught.value.line, caught.value.column) == (2, 12)


@pytest.mark.parametrize(("name", "why"), [
    ("1", "match variable"),
    ("a-b", "invalid variable name"),
    ("", "invalid variable name"),
    ("foo.bar", "namespace 'foo' cannot be set"),
    ("global.x", "needs require \"include\""),
])
async def test_set_refuses_bad_names(name: str, why: str) -> None:
    with pytest.raises(SieveSyntaxError) as caught:
        compile_script(f'require "variables";\nset "{name}" "x";')
    assert why in caught.value.message
    assert caught.value.line == 2


async def test_unknown_modifier_is_a_syntax_error() -> None:
    with pytest.raises(SieveSyntaxError):
        compile_script('require "variables"; set :title "b" "x";')


async def test_set_needs_require() -> None:
    with pytest.raises(SieveSyntaxError) as caught:
        compile_script('set "a" "b";')
    assert "variables" in caught.value.message


# -- §5 string ---------------------------------------------------------------------------------

async def test_rfc_5229_section_5_example() -> None:
    found = await variables_after(
        'require "variables";\n'
        'set "state" "${state} pending";\n'
        'if string :matches " ${state} " "* pending *" { set "ok" "yes"; }')
    assert found["ok"] == "yes"


async def test_string_takes_lists_and_comparators() -> None:
    found = await variables_after(
        'require "variables";\n'
        'set "a" "Hello";\n'
        'if string :is ["x", "${a}"] ["HELLO"] { set "casemap" "1"; }\n'
        'if string :comparator "i;octet" :is "${a}" "HELLO" { set "octet" "1"; }\n'
        'if string :contains "${a}" "ell" { set "contains" "1"; }')
    assert found == {"a": "Hello", "casemap": "1", "contains": "1"}


async def test_string_count_ignores_empty_strings() -> None:
    found = await variables_after(
        'require ["variables", "relational", "comparator-i;ascii-numeric"];\n'
        'if string :count "eq" :comparator "i;ascii-numeric" ["a", "", "${none}", "b"] "2"\n'
        '{ set "two" "1"; }\n'
        'if string :count "eq" :comparator "i;ascii-numeric" "" "0" { set "zero" "1"; }')
    assert found == {"two": "1", "zero": "1"}


# -- namespaces ------------------------------------------------------------------------------

async def test_a_reference_to_an_unknown_namespace_is_refused() -> None:
    with pytest.raises(SieveSyntaxError) as caught:
        compile_script('require ["variables", "fileinto"];\n\nfileinto "${frop.x}";')
    assert "unknown variable namespace 'frop'" in caught.value.message
    assert caught.value.line == 3


async def test_global_namespace_needs_include() -> None:
    with pytest.raises(SieveSyntaxError) as caught:
        compile_script('require ["variables"];\nset "a" "${global.x}";')
    assert "include" in caught.value.message


# -- limits ------------------------------------------------------------------------------------

async def test_too_many_variables_stop_the_run() -> None:
    limits = Limits(max_variables=128)
    source = 'require "variables";\n' + "".join(f'set "v{n}" "x";\n' for n in range(129))
    script = compile_script(source, limits=limits)
    rt = Runtime(script, make_message(MESSAGE), DictEnvironment(), limits)
    result = await run(rt, script)
    assert isinstance(result.error, SieveLimitExceeded)
    assert result.error.limit == "max_variables"
    assert (result.error.line, result.error.column) == (130, 1)
    assert result.implicit_keep


async def test_long_values_are_truncated() -> None:
    limits = Limits(max_variable_size=4000)
    found = await variables_after(
        'require "variables";\nset "a" "' + "é" * 3000 + '";', limits=limits)
    assert found["a"] == "é" * 2000  # 4000 octets, characters kept whole


async def test_an_expansion_cannot_grow_without_bound() -> None:
    limits = Limits(max_variable_size=4000)
    source = ('require "variables";\nset "a" "' + "x" * 4000 + '";\n'
              'set "b" "' + "${a}" * 20 + '";')
    script = compile_script(source, limits=limits)
    rt = Runtime(script, make_message(MESSAGE), DictEnvironment(), limits)
    result = await run(rt, script)
    assert isinstance(result.error, SieveLimitExceeded)
    assert result.error.limit == "max_variable_size"
