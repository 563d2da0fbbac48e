"""The "envelope" extension (RFC 5228 §5.4): parts, address parts, the null sender."""

from __future__ import annotations

import pytest

from tests.support.sieve import DictEnvironment, make_message, run_script, summary

MESSAGE = "From: header@example.com\nTo: header@example.org\n\nx\n"


async def holds(test: str, *, sender: str = "Sender@Example.COM",
                recipient: str = "user+detail@example.org", auth: str = "",
                require: str = '"envelope"') -> bool:
    message = make_message(MESSAGE, sender=sender, recipient=recipient, auth=auth)
    result = await run_script(f"require [{require}];\nif {test} {{ discard; }}", message,
                              env=DictEnvironment())
    return summary(result) == ["discard"]


@pytest.mark.parametrize(("test", "expected"), [
    ('envelope "from" "sender@example.com"', True),  # default :is, i;ascii-casemap
    ('envelope :comparator "i;octet" "from" "sender@example.com"', False),
    ('envelope :localpart "from" "sender"', True),
    ('envelope :domain "from" "example.com"', True),
    ('envelope "to" "user+detail@example.org"', True),
    ('envelope "TO" "user+detail@example.org"', True),  # part names are case-insensitive
    ('envelope ["from", "to"] "user+detail@example.org"', True),
    ('envelope :contains "from" "header"', False),  # never the header fields
    ('envelope :matches "to" "*@example.org"', True),
    ('envelope "auth" ""', False),  # no authenticated submitter: nothing to match
])
async def test_envelope_parts(test: str, expected: bool) -> None:
    assert await holds(test) is expected


async def test_auth_part() -> None:
    assert await holds('envelope "auth" "submitter@example.com"', auth="submitter@example.com")


@pytest.mark.parametrize("test", [
    'envelope :is "from" ""', 'envelope :localpart "from" ""', 'envelope :domain "from" ""',
    'envelope :all :is "from" ""',
])
async def test_null_sender_is_the_empty_string_whatever_the_part(test: str) -> None:
    # RFC 5228 §5.4: "the null reverse-path is matched against the empty string,
    # regardless of the ADDRESS-PART argument specified"
    assert await holds(test, sender="")
    assert await holds(test, sender="<>")


@pytest.mark.parametrize(("path", "test", "expected"), [
    ("<a@example.com>", 'envelope "from" "a@example.com"', True),
    ("<@relay.example,@mx.example:a@example.com>", 'envelope :localpart "from" "a"', True),
    ("<MAILER-DAEMON>", 'envelope "from" "MAILER-DAEMON"', True),
    ("<MAILER-DAEMON>", 'envelope :domain :contains "from" ""', False),
    ("a@", 'envelope :all :is "from" "a@"', False),  # broken paths match nothing
    ("<<a@example.com>", 'envelope "from" "a@example.com"', False),
    ("<a@@example.com>", 'envelope :domain :contains "from" "example"', False),
    ('<"a b"@example.com>', 'envelope :localpart "from" "\\"a b\\""', True),
    ('<"ab"@example.com>', 'envelope "from" "ab@example.com"', True),  # quotes not needed
])
async def test_paths_are_parsed_as_smtp_paths(path: str, test: str, expected: bool) -> None:
    assert await holds(test, sender=path) is expected


async def test_subaddress_parts_on_the_envelope() -> None:
    req = '"envelope", "subaddress"'
    assert await holds('envelope :user "to" "user"', require=req)
    assert await holds('envelope :detail "to" "detail"', require=req)
    assert not await holds('envelope :detail "from" ""', require=req)  # no detail at all
