"""RFC 7352 duplicate: the RFC's examples, :handle, :header/:uniqueid, :seconds, :last,
tracking only committed runs."""

from __future__ import annotations

import pytest

from postroom.sieve import compile_script
from postroom.sieve.errors import SieveSyntaxError
from postroom.sieve.ext.duplicate import tracking_value
from tests.support.sieve import DictEnvironment, run_script, summary

MESSAGE = """\
From: list@example.net
To: me@example.org
Message-ID:  <1234@example.net>
X-Event: Alarm at 12:00
Subject: hello

body
"""


async def deliver(script: str, env: DictEnvironment, text: str = MESSAGE) -> list[str]:
    """One delivery: run, then commit what the run tracked (the delivery completed)."""
    result = await run_script(script, text, env=env)
    assert result.error is None, result.error
    env.commit()
    return summary(result)


@pytest.mark.parametrize("script", [
    'require "duplicate";\nif duplicate {\n  discard;\n}',
    'require "duplicate";\nif duplicate :header "message-id" {\n  discard;\n}',
    'require ["duplicate", "variables"];\nif header :matches "message-id" "*" {\n'
    '  if duplicate :uniqueid "${0}" {\n    discard;\n  }\n}',
])
async def test_rfc_7352_section_3_2_equivalent_examples(script: str) -> None:
    env = DictEnvironment()
    assert await deliver(script, env) == ["implicit keep"]
    assert await deliver(script, env) == ["discard"]
    assert env.duplicates == {tracking_value("", "<1234@example.net>")}


async def test_the_three_forms_share_one_list() -> None:
    env = DictEnvironment()
    await deliver('require "duplicate"; if duplicate { discard; }', env)
    assert await deliver('require ["duplicate", "variables"];\n'
                         'if duplicate :uniqueid "<1234@example.net>" { discard; }',
                         env) == ["discard"]


async def test_rfc_7352_section_5_1_example() -> None:
    script = ('require ["duplicate", "fileinto", "mailbox"];\n'
              'if duplicate {\n  fileinto :create "Trash/Duplicate";\n}')
    env = DictEnvironment()
    assert await deliver(script, env) == ["implicit keep"]
    assert await deliver(script, env) == ["fileinto Trash/Duplicate :create"]


async def test_rfc_7352_section_5_2_example() -> None:
    script = ('require ["duplicate", "variables", "imap4flags",\n'
              '  "fileinto"];\n'
              'if header :matches "subject" "ALERT: *" {\n'
              '  if duplicate :seconds 60 :uniqueid "${1}" {\n'
              '    setflag "\\\\seen";\n'
              '  }\n'
              '  fileinto "Alerts";\n'
              '}')
    env = DictEnvironment()
    alert = MESSAGE.replace("Subject: hello", "Subject: ALERT: disk full")
    assert await deliver(script, env, alert) == ["fileinto Alerts"]
    other = alert.replace("<1234@example.net>", "<5678@monitor.example>")
    assert await deliver(script, env, other) == ["fileinto Alerts :flags \\Seen"]
    assert ("duplicate", (tracking_value("", "disk full"), 60, False)) in env.calls


async def test_rfc_7352_section_5_4_example() -> None:
    script = ('require ["duplicate", "imap4flags"];\n'
              'if duplicate :header "X-Event-ID" :handle "notifier" {\n'
              '  discard;\n'
              '}\n'
              'if allof (\n'
              '  duplicate :header "X-Ticket-ID" :handle "support",\n'
              '  address "to" "support@example.com",\n'
              '  header :contains "subject" "fileserver")\n'
              '{\n'
              '  setflag "\\\\seen";\n'
              '}')
    env = DictEnvironment()
    ticket = ("From: helpdesk@example.com\nTo: support@example.com\nX-Ticket-ID: 20141112\n"
              "Subject: Re: fileserver down\n\nbody\n")
    event = "From: monitor@example.com\nTo: me@example.org\nX-Event-ID: 20141112\n\nup\n"
    assert await deliver(script, env, ticket) == ["implicit keep"]
    # the same value under the other handle is not a duplicate
    assert await deliver(script, env, event) == ["implicit keep"]
    assert await deliver(script, env, event) == ["discard"]
    assert await deliver(script, env, ticket) == ["implicit keep :flags \\Seen"]


async def test_handles_keep_separate_lists() -> None:
    env = DictEnvironment()
    first = 'require "duplicate"; if duplicate :handle "a" { discard; }'
    second = 'require "duplicate"; if duplicate :handle "b" { discard; }'
    assert await deliver(first, env) == ["implicit keep"]
    assert await deliver(second, env) == ["implicit keep"]
    assert await deliver(first, env) == ["discard"]
    assert await deliver('require "duplicate"; if duplicate { discard; }',
                         env) == ["implicit keep"]


async def test_header_value_is_unfolded_decoded_and_trimmed() -> None:
    env = DictEnvironment()
    await deliver('require "duplicate"; if duplicate :header "X-Event" { discard; }', env)
    assert tracking_value("", "Alarm at 12:00") in env.duplicates


async def test_a_run_does_not_see_its_own_ids_and_asks_once() -> None:
    env = DictEnvironment()
    script = ('require "duplicate";\n'
              'if duplicate { discard; }\nif duplicate { discard; }')
    assert await deliver(script, env) == ["implicit keep"]
    assert sum(1 for call in env.calls if call[0] == "duplicate") == 1


async def test_a_failed_run_tracks_nothing() -> None:
    env = DictEnvironment()
    result = await run_script('require ["duplicate", "fileinto"];\n'
                              'if not duplicate { redirect "a@b.example"; fileinto "x"; }',
                              MESSAGE, env=env)
    assert result.error is None
    # the delivery failed: the service does not commit
    env.pending.clear()
    assert await deliver('require "duplicate"; if duplicate { discard; }',
                         env) == ["implicit keep"]


async def test_missing_header_and_invalid_name_are_false_and_track_nothing() -> None:
    env = DictEnvironment()
    text = MESSAGE.replace("Message-ID:  <1234@example.net>\n", "")
    assert await deliver('require "duplicate"; if duplicate { discard; }', env,
                         text) == ["implicit keep"]
    assert await deliver('require ["duplicate", "variables"]; set "h" "bad name:";\n'
                         'if duplicate :header "${h}" { discard; }', env) == ["implicit keep"]
    assert env.duplicates == set()


async def test_seconds_and_last() -> None:
    env = DictEnvironment()
    await deliver('require "duplicate"; if duplicate :seconds 0 { discard; }', env)
    assert env.calls == []  # :seconds 0 is false unconditionally, nothing tracked
    await deliver('require "duplicate"; if duplicate :seconds 3600 :last { discard; }', env)
    await deliver('require "duplicate"; if duplicate { discard; }', env)
    asked = [args for name, args in env.calls if name == "duplicate"]
    assert asked == [(tracking_value("", "<1234@example.net>"), 3600, True),
                     (tracking_value("", "<1234@example.net>"), -1, False)]  # the default


async def test_header_and_uniqueid_exclude_each_other() -> None:
    with pytest.raises(SieveSyntaxError) as caught:
        compile_script('require "duplicate";\n'
                       'if duplicate :header "x" :uniqueid "y" { discard; }')
    assert (caught.value.line, caught.value.column) == (2, 4)
