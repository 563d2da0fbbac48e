"""The Sieve test harness (tests/support/sieve.py) itself: a message, a run, a summary."""

from __future__ import annotations

from tests.support.sieve import DictEnvironment, make_message, run_script, summary

MESSAGE = "From: a@example.com\nTo: b@example.org\nSubject: hi\n\nbody\n"


async def test_keep_by_default() -> None:
    result = await run_script("", MESSAGE)
    assert summary(result) == ["implicit keep"]


async def test_discard() -> None:
    assert summary(await run_script("discard;", MESSAGE)) == ["discard"]


async def test_message_size_counts_crlf() -> None:
    msg = make_message(MESSAGE)
    assert msg.size == len(MESSAGE.replace("\n", "\r\n"))
    assert await msg.full() == MESSAGE.replace("\n", "\r\n").encode()


async def test_environment_records_duplicates_on_commit() -> None:
    env = DictEnvironment()
    assert not await env.duplicate("x", 60, False)
    assert not await env.duplicate("x", 60, False)
    env.commit()
    assert await env.duplicate("x", 60, False)
