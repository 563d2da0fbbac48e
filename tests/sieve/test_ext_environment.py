"""RFC 5183 environment: the items Postroom knows itself, those the delivery gives, unknown
items false and never an error, :count."""

from __future__ import annotations

import pytest

from postroom import __version__
from postroom.sieve import compile_script
from postroom.sieve.errors import SieveSyntaxError
from tests.support.sieve import DictEnvironment, run_script, summary

MESSAGE = "From: a@example.net\nTo: me@example.org\nSubject: hi\n\nbody\n"


async def matched(test: str, env: DictEnvironment | None = None) -> bool:
    result = await run_script(f'require ["environment", "relational"];\n'
                              f'if {test} {{ discard; }}', MESSAGE, env=env)
    assert result.error is None, result.error
    return summary(result) == ["discard"]


@pytest.mark.parametrize(("item", "value"), [
    ("name", "Postroom"), ("version", __version__), ("location", "MDA"), ("phase", "during"),
    ("NAME", "postroom"),
])
async def test_items_postroom_knows(item: str, value: str) -> None:
    assert await matched(f'environment :is "{item}" "{value}"')


async def test_items_the_delivery_gives() -> None:
    env = DictEnvironment(environment_items={"domain": "example.org", "host": "mx.example.org",
                                     "remote-ip": "192.0.2.7", "remote-host": ""})
    assert await matched('environment :is "host" "mx.example.org"', env)
    assert await matched('environment :matches "domain" "*.org"', env)
    assert await matched('environment :is "remote-ip" "192.0.2.7"', env)
    # a known item that is empty: :contains "" is true, its count is 0
    assert await matched('environment :contains "remote-host" ""', env)
    assert await matched('environment :count "eq" "remote-host" "0"', env)
    assert await matched('environment :count "eq" "host" "1"', env)


async def test_unknown_items_are_false_never_an_error() -> None:
    assert not await matched('environment :contains "vnd.acme.rocket-sled-status" ""')
    assert not await matched('environment :contains "host" ""')  # no delivery information
    assert not await matched('environment :count "eq" "vnd.x" "0"')


async def test_rfc_5183_section_5_example_runs() -> None:
    env = DictEnvironment(environment_items={"remote-host": "mail.example.com"})
    assert await matched('environment :matches "remote-host" "*.example.com"', env)


async def test_environment_needs_require() -> None:
    with pytest.raises(SieveSyntaxError) as caught:
        compile_script('if environment "name" "Postroom" { keep; }')
    assert "environment" in caught.value.message
