"""RFC 5293 editheader: addheader/deleteheader, the RFC's examples, protected fields (§6),
changes seen by later tests (§7), encoding, field name errors, the edit limit."""

from __future__ import annotations

import pytest

from postroom.sieve import compile_script
from postroom.sieve.errors import SieveLimitExceeded, SieveRuntimeError, SieveSyntaxError
from postroom.sieve.interp import run
from postroom.sieve.limits import DEFAULT, Limits
from postroom.sieve.message import Message
from postroom.sieve.runtime import Result, Runtime
from tests.support.sieve import DictEnvironment, make_message, summary

MESSAGE = """\
Received: by mx.example.com; Mon, 21 Nov 2011 05:25:26 +0200
Auto-Submitted: yes
X-Hello: one
Delivered-To: bob@example.com
Subject: Frop!
X-Hello: two
From: stephan@example.com
To: kim@job.example.com
Delivered-To: alice@example.com
X-Hello: three
Delivered-To: bob@example.com

Frop!
"""


async def edit(source: str, text: str = MESSAGE,
               limits: Limits = DEFAULT) -> tuple[Message, Result]:
    script = compile_script(source, limits=limits)
    msg = make_message(text)
    rt = Runtime(script, msg, DictEnvironment(), limits)
    return msg, await run(rt, script)


def names(msg: Message) -> list[str]:
    return [name for name, _value in msg.fields]


async def test_rfc_5293_section_4_example() -> None:
    script = ('require ["editheader"];\n'
              '/* Don\'t redirect if we already redirected */\n'
              'if not header :contains "X-Sieve-Filtered"\n'
              '        ["<kim@job.example.com>", "<kim@home.example.com>"]\n'
              '{\n'
              '        addheader "X-Sieve-Filtered" "<kim@job.example.com>";\n'
              '        redirect "kim@home.example.com";\n'
              '}')
    msg, result = await edit(script)
    assert summary(result) == ["redirect kim@home.example.com"]
    assert msg.fields[0] == ("X-Sieve-Filtered", "<kim@job.example.com>")
    assert msg.edited
    # the redirected copy comes back: it is not redirected again
    again = msg.header_block().decode() + "\r\nFrop!\r\n"
    msg2, result2 = await edit(script, again)
    assert summary(result2) == ["implicit keep"]
    assert not msg2.edited


async def test_rfc_5293_section_5_deleteheader_index_example() -> None:
    msg, _ = await edit('require "editheader";\n'
                        'deleteheader :index 1 :contains "Delivered-To"\n'
                        '                        "bob@example.com";')
    assert msg.header("Delivered-To") == ["alice@example.com", "bob@example.com"]
    msg, _ = await edit('require "editheader";\n'
                        'deleteheader :index 2 :contains "Delivered-To" "bob@example.com";')
    # the second Delivered-To (alice) does not contain bob: nothing is deleted
    assert len(msg.header("Delivered-To")) == 3
    assert not msg.edited


async def test_rfc_5293_section_7_examples() -> None:
    msg, _ = await edit('require "editheader";\n'
                        'addheader "X-Hello" "World";\n'
                        'deleteheader :index 1 "X-Hello";')
    assert msg.header("X-Hello") == ["one", "two", "three"]  # unchanged
    msg, _ = await edit('require "editheader";\n'
                        'deleteheader :index 1 "X-Hello";\n'
                        'deleteheader :index 2 "X-Hello";')
    assert msg.header("X-Hello") == ["two"]  # the first and third are gone
    _, result = await edit('require ["editheader", "fileinto"];\n'
                           'addheader "X-Hello" "World";\n'
                           'if header :contains "X-Hello" "World"\n'
                           '{\n'
                           '        fileinto "international";\n'
                           '}', MESSAGE.replace("X-Hello", "X-Other"))
    assert summary(result) == ["fileinto international"]


async def test_rfc_5293_section_7_keep_twice_files_once() -> None:
    _, result = await edit('require "editheader";\n'
                           'keep;\naddheader "X-Flavor" "vanilla";\nkeep;')
    assert summary(result) == ["keep"]


async def test_addheader_last_and_deleteheader_last() -> None:
    msg, _ = await edit('require "editheader";\n'
                        'addheader :last "X-Trace" "end";\n'
                        'deleteheader :index 1 :last "X-Hello";')
    assert names(msg)[-1] == "X-Trace"
    assert msg.header("X-Hello") == ["one", "two"]


async def test_deleteheader_all_and_by_pattern() -> None:
    msg, _ = await edit('require "editheader";\n'
                        'deleteheader :matches "X-Hello" "t*";\n'
                        'deleteheader "subject";')
    assert msg.header("X-Hello") == ["one"]
    assert msg.header("Subject") == []
    msg, _ = await edit('require "editheader";\ndeleteheader "x-hello";')
    assert msg.header("X-Hello") == []


async def test_received_and_auto_submitted_are_never_deleted() -> None:
    msg, result = await edit('require "editheader";\n'
                             'deleteheader "received";\n'
                             'deleteheader "Auto-Submitted";\n'
                             'deleteheader "subject";')
    assert result.error is None
    assert msg.header("Received") and msg.header("Auto-Submitted") == ["yes"]
    assert msg.header("Subject") == []


async def test_non_ascii_values_are_encoded_and_read_back() -> None:
    comment = "Ein unerhört großer Test"
    msg, _ = await edit('require ["editheader", "variables"];\n'
                        f'set "comment" "{comment}";\n'
                        'addheader "Comment" "${comment}";\n'
                        'if header :is "comment" "${comment}" { addheader "X-Ok" "1"; }')
    raw = msg.raw_header("Comment")[0]
    assert raw.isascii() and "=?utf-8?" in raw
    long = "ü" * 100
    longer, _ = await edit(f'require "editheader";\naddheader "X-Long" "{long}";')
    words = longer.raw_header("X-Long")[0].split(" ")
    assert len(words) > 1 and all(len(w) <= 75 for w in words)  # RFC 2047 §2
    assert longer.header("X-Long") == [long]
    assert msg.header("Comment") == [comment]
    assert msg.header("X-Ok") == ["1"]


async def test_line_breaks_become_spaces() -> None:
    msg, _ = await edit('require "editheader";\naddheader "X-Field" "Frop\nFrml";\n'
                        'addheader "X-Text" text:\nlong content\n  continued\n.\n;')
    assert msg.raw_header("X-Field") == ["Frop Frml"]
    assert b"X-Field: Frop Frml\r\n" in msg.header_block()
    assert msg.raw_header("X-Text") == ["long content continued"]  # no trailing blank


async def test_size_follows_the_edits() -> None:
    before = make_message(MESSAGE).size
    msg, _ = await edit('require "editheader";\n'
                        'if size :over ' + str(before - 1) + ' { addheader "X-A" "12345"; }\n'
                        'if size :over ' + str(before + 10) + ' { addheader "X-B" "1"; }\n')
    assert msg.size == before + len("X-A: 12345\r\n") + len("X-B: 1\r\n")
    msg, _ = await edit('require "editheader";\ndeleteheader "X-Hello";')
    assert msg.size == before - len("X-Hello: one\r\nX-Hello: two\r\nX-Hello: three\r\n")


@pytest.mark.parametrize(("command", "why"), [
    ('addheader "X-field:" "Frop";', "is invalid"),
    ('addheader "X field" "Frop";', "is invalid"),
    ('deleteheader "X-field:";', "is invalid"),
    ('deleteheader :last "X-field";', ":last needs :index"),
    ('addheader "X-big" "' + "A" * 995 + '";', "longer than 998"),
])
async def test_errors_at_bind_time(command: str, why: str) -> None:
    with pytest.raises(SieveSyntaxError) as caught:
        compile_script(f'require "editheader";\n# comment\n{command}')
    assert why in caught.value.message
    assert (caught.value.line, caught.value.column) == (3, 1)


async def test_nul_in_a_value_is_refused() -> None:
    with pytest.raises(SieveSyntaxError):
        compile_script('require ["editheader", "encoded-character"];\n'
                       'addheader "X-field" "Woah${hex:00}!";')


async def test_invalid_name_at_run_time_is_an_error() -> None:
    msg, result = await edit('require ["editheader", "variables"];\n'
                             'set "name" "X-field:";\n'
                             'addheader "${name}" "Frop";')
    assert isinstance(result.error, SieveRuntimeError)
    assert "is invalid" in result.error.message
    assert result.error.line == 3
    assert result.implicit_keep and not msg.edited


async def test_edit_limit() -> None:
    limits = Limits(max_header_edits=3)
    _, result = await edit('require "editheader";\n' +
                           'addheader "X-A" "1";\n' * 4, limits=limits)
    assert isinstance(result.error, SieveLimitExceeded)
    assert result.error.limit == "max_header_edits"
    assert result.error.line == 5
