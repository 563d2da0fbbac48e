"""RFC 6609 include: the RFC's examples, :once, :optional, return, stop, scoping of
variables and the global namespace, cycles and the include limits."""

from __future__ import annotations

import pytest

from postroom.sieve import compile_script
from postroom.sieve.errors import SieveLimitExceeded, SieveSyntaxError
from postroom.sieve.interp import run
from postroom.sieve.limits import DEFAULT, Limits
from postroom.sieve.runtime import Result, Runtime
from tests.support.sieve import DictEnvironment, make_message, run_script, summary

MESSAGE = """\
From: someone@example.net
To: me@example.org
Subject: hello
List-ID: sieve.ietf.org

body
"""

RFC_SCRIPTS = {
    ("personal", "always_allow"): (
        'if address :is "from" "boss@example.com"\n'
        '{\n    keep;\n}\n'
        'elsif address :is "from" "ceo@example.com"\n'
        '{\n    keep;\n}\n'),
    ("personal", "spam_tests"): (
        'require ["reject"];\n'
        'if header :contains "Subject" "XXXX"\n'
        '{\n    reject "Subject XXXX is unacceptable.";\n}\n'
        'elsif address :is "from" "money@example.com"\n'
        '{\n    reject "Mail from this sender is unwelcome.";\n}\n'),
    ("personal", "mailing_lists"): (
        'require ["fileinto"];\n'
        'if header :is "List-ID" "sieve.ietf.org"\n'
        '{\n    fileinto "lists.sieve";\n}\n'
        'elsif header :is "List-ID" "ietf-imapext.imc.org"\n'
        '{\n    fileinto "lists.imapext";\n}\n'),
    ("global", "spam_tests"): (
        'require ["reject"];\n'
        'if anyof (header :contains "Subject" "$$",\n'
        '          header :contains "Subject" "Make money")\n'
        '{\n    reject "No thank you.";\n}\n'),
}

RFC_DEFAULT = ('require ["include"];\n'
               'include :personal "always_allow";\n'
               'include :global "spam_tests";\n'
               'include :personal "spam_tests";\n'
               'include :personal "mailing_lists";\n')


@pytest.mark.parametrize(("headers", "expected"), [
    ("From: boss@example.com\nSubject: hi\nList-ID: sieve.ietf.org",
     None),  # keep, then the list rule files a copy too: boss mail on the list
    ("From: a@example.net\nSubject: Make money fast", ["reject No thank you."]),
    ("From: a@example.net\nSubject: XXXX", ["reject Subject XXXX is unacceptable."]),
    ("From: money@example.com\nSubject: hi", ["reject Mail from this sender is unwelcome."]),
    ("From: a@example.net\nSubject: hi\nList-ID: sieve.ietf.org", ["fileinto lists.sieve"]),
    ("From: a@example.net\nSubject: hi", ["implicit keep"]),
])
async def test_rfc_6609_section_3_2_example(headers: str, expected: list[str] | None) -> None:
    env = DictEnvironment(scripts=dict(RFC_SCRIPTS))
    result = await run_script(RFC_DEFAULT, headers + "\nTo: me@example.org\n\nbody\n",
                              env=env)
    if expected is None:
        assert summary(result) == ["keep", "fileinto lists.sieve"]
    else:
        assert summary(result) == expected
    assert result.error is None


async def test_rfc_6609_section_3_4_1_global_example() -> None:
    env = DictEnvironment(scripts={("personal", "subject_tests"): (
        'require ["include", "variables"];\n'
        'global ["test", "test_mailbox"];\n'
        'if header :contains "Subject" "${test}"\n'
        '{\n    set "test_mailbox" "spam-${test}";\n}\n')})
    active = ('require ["fileinto", "include", "variables", "relational"];\n'
              'global "test";\n'
              'global "test_mailbox";\n'
              'set "test" "$$";\n'
              'include "subject_tests";\n'
              'set "test" "Make money";\n'
              'include "subject_tests";\n'
              'if string :count "eq" "${test_mailbox}" "1"\n'
              '{\n    fileinto "${test_mailbox}";\n    stop;\n}\n')
    result = await run_script(active, MESSAGE.replace("hello", "Make money now"), env=env)
    assert summary(result) == ["fileinto spam-Make money"]
    result = await run_script(active, MESSAGE.replace("hello", "$$$ for you"), env=env)
    assert summary(result) == ["fileinto spam-$$"]
    result = await run_script(active, MESSAGE, env=env)
    assert summary(result) == ["implicit keep"]


async def test_rfc_6609_section_3_4_2_global_namespace_examples() -> None:
    result = await run_script(
        'require ["variables", "include", "vacation"];\n'
        'global "i_am_on_vacation";\n'
        'set "global.i_am_on_vacation" "1";\n'
        'if string :is "${i_am_on_vacation}" "1"\n'
        '{\n    vacation "It\'s true, I am on vacation.";\n}\n', MESSAGE)
    assert summary(result) == ["vacation", "implicit keep"]


async def test_global_namespace_reaches_included_scripts() -> None:
    env = DictEnvironment(scripts={("personal", "lib"): (
        'require ["include", "variables", "fileinto"];\n'
        'fileinto "${global.box}";\n'
        'set "global.back" "from lib";\n')})
    result = await run_script('require ["include", "variables", "fileinto"];\n'
                              'set "global.box" "Folder";\n'
                              'include "lib";\n'
                              'global "back";\n'
                              'fileinto "${back}";', MESSAGE, env=env)
    assert summary(result) == ["fileinto Folder", "fileinto from lib"]


async def test_variables_are_private_to_each_script() -> None:
    env = DictEnvironment(scripts={("personal", "lib"): (
        'require ["variables", "fileinto"];\n'
        'fileinto "lib-sees-[${x}]";\n'
        'set "x" "lib";\n'
        'if header :matches "Subject" "*" { set "m" "${1}"; }\n')})
    result = await run_script('require ["include", "variables", "fileinto"];\n'
                              'set "x" "main";\n'
                              'if header :matches "To" "*@*" { }\n'
                              'include "lib";\n'
                              'fileinto "main-sees-${x}-${1}";', MESSAGE, env=env)
    assert summary(result) == ["fileinto lib-sees-[]", "fileinto main-sees-main-me"]


async def test_requires_are_not_inherited() -> None:
    env = DictEnvironment(scripts={("personal", "lib"): 'fileinto "x";'})
    result = await run_script('require ["include", "fileinto"];\ninclude "lib";', MESSAGE,
                              env=env)
    assert result.error is not None and "not valid" in result.error.message
    # an included script without "variables" does not expand
    env = DictEnvironment(scripts={("personal", "lib"): 'require "fileinto";\n'
                                                         'fileinto "${x}";'})
    result = await run_script('require ["include", "variables"];\nset "x" "y";\n'
                              'include "lib";', MESSAGE, env=env)
    assert summary(result) == ["fileinto ${x}"]


async def test_return_ends_only_the_included_script_and_stop_ends_all() -> None:
    env = DictEnvironment(scripts={
        ("personal", "ret"): 'require ["include", "fileinto"];\n'
                             'fileinto "a";\nreturn;\nfileinto "b";',
        ("personal", "stp"): 'require "fileinto";\nfileinto "c";\nstop;\nfileinto "d";'})
    result = await run_script('require ["include", "fileinto"];\n'
                              'include "ret";\nfileinto "after-ret";\n'
                              'include "stp";\nfileinto "after-stp";', MESSAGE, env=env)
    assert summary(result) == ["fileinto a", "fileinto after-ret", "fileinto c"]


async def test_return_in_the_main_script_acts_as_stop() -> None:
    result = await run_script('require ["include", "fileinto"];\n'
                              'fileinto "a";\nreturn;\nfileinto "b";', MESSAGE)
    assert summary(result) == ["fileinto a"]


async def test_once_and_optional() -> None:
    env = DictEnvironment(scripts={("personal", "lib"): 'require "fileinto";\n'
                                                         'fileinto "lib";',
                                   ("global", "lib"): 'require "fileinto";\n'
                                                       'fileinto "global-lib";'})
    result = await run_script('require ["include"];\n'
                              'include :once "lib";\ninclude :once "lib";\n'
                              'include :global :once "lib";\n'
                              'include :optional "missing";', MESSAGE, env=env)
    assert summary(result) == ["fileinto lib", "fileinto global-lib"]
    assert result.error is None


async def test_a_missing_script_is_a_run_time_error() -> None:
    result = await run_script('require ["include", "fileinto"];\nfileinto "x";\n'
                              'include "missing";', MESSAGE)
    assert result.error is not None and "no personal script 'missing'" in result.error.message
    assert result.error.line == 3
    assert summary(result)[0] == "implicit keep" and not result.actions


async def test_recursion_is_a_run_time_error_but_once_skips_it() -> None:
    env = DictEnvironment(scripts={
        ("personal", "a"): 'require "include";\ninclude "b";',
        ("personal", "b"): 'require "include";\ninclude "a";',
        ("personal", "c"): 'require ["include", "fileinto"];\nfileinto "c";\n'
                           'include :once "c";'})
    result = await run_script('require "include";\ninclude "a";', MESSAGE, env=env)
    assert result.error is not None and "includes itself" in result.error.message
    result = await run_script('require "include";\ninclude "c";', MESSAGE, env=env)
    assert summary(result) == ["fileinto c"]


async def test_include_limits() -> None:
    env = DictEnvironment(scripts={
        ("personal", f"d{n}"): f'require "include";\ninclude "d{n + 1}";' for n in range(9)})
    env.scripts[("personal", "d9")] = "keep;"
    limits = Limits(max_include_depth=3)
    script = compile_script('require "include";\ninclude "d0";', limits=limits)
    rt = Runtime(script, make_message(MESSAGE), env, limits)
    result = await run(rt, script)
    assert isinstance(result.error, SieveLimitExceeded)
    assert result.error.limit == "max_include_depth"
    # three levels including the top script work (RFC 6609 §3.1)
    env.scripts[("personal", "d1")] = "keep;"
    result = await run(Runtime(script, make_message(MESSAGE), env, limits), script)
    assert summary(result) == ["keep"]
    many = 'require "include";\n' + "".join(f'include "x{n}";\n' for n in range(4))
    env.scripts.update({("personal", f"x{n}"): "keep;" for n in range(4)})
    limits = Limits(max_includes=3)
    script = compile_script(many, limits=limits)
    result = await run(Runtime(script, make_message(MESSAGE), env, limits), script)
    assert isinstance(result.error, SieveLimitExceeded)
    assert result.error.limit == "max_includes"
    assert result.error.line == 5


async def test_global_after_set_is_an_error() -> None:
    with pytest.raises(SieveSyntaxError) as caught:
        compile_script('require ["include", "variables"];\n'
                       'set "frutsels" "frop";\nglobal "Frutsels";')
    assert "already set" in caught.value.message
    assert (caught.value.line, caught.value.column) == (3, 1)
    # a duplicate declaration, or one after other commands, is not an error
    compile_script('require ["include", "variables"];\nglobal "frml";\nglobal "frml";\n'
                   'keep;\nglobal "friep";')


async def test_a_global_of_an_included_script_is_not_the_includers_local() -> None:
    env = DictEnvironment(scripts={("personal", "lib"): (
        'require ["include", "variables"];\nglobal "a";\nset "a" "x";')})
    # the including script set "a" locally: lib's global "a" is another variable, fine
    result: Result = await run_script('require ["include", "variables"];\n'
                                      'set "a" "1";\ninclude "lib";', MESSAGE, env=env)
    assert result.error is None


@pytest.mark.parametrize(("source", "why"), [
    ('require "include";\nglobal "a";', "variables"),
    ('require ["include", "variables"];\nglobal "1";', "not a variable name"),
    ('require ["include", "variables"];\nglobal "global.a";', "not a variable name"),
    ('require ["include", "variables"];\ninclude "${name}";', "constant"),
    ('require "include";\ninclude "";', "empty script name"),
    ('require "include";\ninclude :personal :global "a";', "only one location"),
    ('require "include";\ninclude :once :once "a";', "twice"),
    ('require "variables";\nreturn;', "include"),
])
async def test_errors_at_bind_time(source: str, why: str) -> None:
    with pytest.raises(SieveSyntaxError) as caught:
        compile_script(source)
    assert why in caught.value.message
    assert caught.value.line == 2


async def test_included_script_sees_header_edits() -> None:
    env = DictEnvironment(scripts={("personal", "lib"): (
        'require ["editheader", "fileinto"];\n'
        'if exists "X-Added" { fileinto "seen-added"; }\n'
        'deleteheader "Subject";\n')})
    script = compile_script('require ["include", "editheader", "fileinto"];\n'
                            'addheader "X-Added" "1";\ninclude "lib";\n'
                            'if not exists "Subject" { fileinto "subject-gone"; }')
    result = await run(Runtime(script, make_message(MESSAGE), env, DEFAULT), script)
    assert summary(result) == ["fileinto seen-added", "fileinto subject-gone"]
