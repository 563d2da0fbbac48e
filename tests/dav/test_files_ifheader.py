"""The If header (RFC 4918 §10.4), Timeout (§10.7), Lock-Token (§10.5) and Range (RFC 7233)
parsers of the file area, without a server: every branch of the grammar, and malformed input
refused with 400 rather than misread."""

from __future__ import annotations

import asyncio

import pytest

from postroom.web.dav.common import DavError
from postroom.web.dav.files import _range, split_path
from postroom.web.dav.locks import (
    IfList,
    State,
    evaluate,
    parse_if,
    parse_lock_token,
    parse_timeout,
    submitted_tokens,
)

T1 = "urn:uuid:181d4fae-7d8c-11d0-a765-00a0c91e6bf2"
T2 = "urn:uuid:58f202ac-22cf-11d1-b12d-002035b29092"


def test_untagged_lists() -> None:
    lists = parse_if(f'(<{T1}> ["I am an ETag"]) (Not <DAV:no-lock> ["I am another ETag"])')
    assert [lst.resource for lst in lists] == [None, None]
    first, second = lists
    assert first.conditions[0].token == T1 and not first.conditions[0].negate
    assert first.conditions[1].etag == '"I am an ETag"'
    assert second.conditions[0].negate and second.conditions[0].token == "DAV:no-lock"
    assert submitted_tokens(lists) == {T1, "DAV:no-lock"}


def test_tagged_lists_and_weak_etags() -> None:
    lists = parse_if(f'<http://h/dav/files/a/x> (<{T1}>) <http://h/dav/files/a/y> '
                     f'(<{T2}> [W/"w1"])')
    assert [lst.resource for lst in lists] == ["http://h/dav/files/a/x",
                                               "http://h/dav/files/a/y"]
    assert lists[1].conditions[1].etag == '"w1"'


@pytest.mark.parametrize("value", [
    "", "()", f"(<{T1}>", f"<{T1}>", "(Not)", "(Not Not <a:b>)", "garbage", "([unterminated)",
    "(<a:b>) junk", "x" * 9000,
])
def test_malformed_if_is_400(value: str) -> None:
    with pytest.raises(DavError) as caught:
        parse_if(value)
    assert caught.value.status == 400


def _eval(lists: list[IfList], states: dict[str | None, State | None]) -> bool:
    async def state_of(tag: str | None) -> State | None:
        return states.get(tag)
    return asyncio.run(evaluate(lists, state_of))


def test_evaluation() -> None:
    locked = State(frozenset({T1}), '"e1"')
    assert _eval(parse_if(f'(<{T1}> ["e1"])'), {None: locked})
    assert not _eval(parse_if(f'(<{T1}> ["e2"])'), {None: locked})
    assert _eval(parse_if(f'(<{T1}> ["e2"]) (Not <DAV:no-lock> ["e1"])'), {None: locked})
    assert not _eval(parse_if(f"(Not <{T1}>)"), {None: locked})
    assert _eval(parse_if(f"(<{T2}>) (Not <DAV:no-lock>)"), {None: locked})
    assert not _eval(parse_if("(<DAV:no-lock>)"), {None: locked})
    # a tagged list is evaluated against its own resource; an unknown one is false
    assert _eval(parse_if(f"<http://h/c/> (<{T1}>)"), {"http://h/c/": locked})
    assert not _eval(parse_if(f"<http://other/> (<{T1}>)"), {None: locked})
    # an ETag condition on a resource without an ETag (a collection, a missing file) is false
    assert not _eval(parse_if('(["e1"])'), {None: State(frozenset(), None)})


def test_timeout_and_lock_token() -> None:
    assert parse_timeout(None) is None
    assert parse_timeout("Infinite, Second-4100000000") is None
    assert parse_timeout("Second-600") == 600
    assert parse_timeout("Bogus, Second-60") == 60
    assert parse_timeout("Second-99999999999999999999999") is None
    assert parse_lock_token(f"<{T1}>") == T1
    for bad in (None, "", T1, "<" + "x" * 2000 + ">"):
        with pytest.raises(DavError):
            parse_lock_token(bad)


def test_ranges() -> None:
    assert _range("bytes=0-4", 10) == (0, 4)
    assert _range("bytes=5-", 10) == (5, 9)
    assert _range("bytes=-3", 10) == (7, 9)
    assert _range("bytes=3-100", 10) == (3, 9)
    assert _range("bytes=10-", 10) == (-1, -1)
    assert _range("bytes=5-2", 10) == (-1, -1)
    assert _range("bytes=-0", 10) == (-1, -1)
    assert _range("bytes=0-1,3-4", 10) is None  # several ranges: the whole file
    assert _range("items=0-1", 10) is None
    assert _range("bytes=a-b", 10) is None


def test_split_path() -> None:
    assert split_path("/dav/files/Alice@Example.test/") == ("alice@example.test", "")
    assert split_path("/dav/files/a@b/x/y.txt") == ("a@b", "x/y.txt")
    assert split_path("/dav/files/a@b/x/../y") is None
    assert split_path("/dav/files/") is None
    assert split_path("/dav/calendars/a@b/") is None
