"""The stored SORT keys (mime/sortkeys.py), without a store: they are the keys the in-memory
SORT reference compares, and their stored octets order exactly as those keys do."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from postroom.mime.sortkeys import sort_keys
from postroom.protocols.imap import sort as T

TRICKY = [
    "Re: hello", "  RE:   re: RE[2]: hi  ", "Re: [list] Fwd: hello (fwd)", "[only]",
    "[fwd: hello]", "[Fwd: Re: [x] y (fwd)]", "=?utf-8?q?Caf=C3=A9?= menu", "Re:", "",
    "Ref: budget", "=?iso-8859-1?q?=E4rger?= (fwd) (FWD)", "[a][b] Re[3]: [c] x",
    "=?bogus?q?x?=", "fwd: fw: FWD: hi", "Re: =?utf-8?b?w6TDtsO8?=", "\t\r\n  spaced \t out",
    "[fwd: [fwd: inner]]", "x\x00y", "RE: \u0130stanbul",
]


def env(subject: str | None = None, date: str | None = None,
        frm: list[list[str | None]] | None = None, to: list[list[str | None]] | None = None,
        cc: list[list[str | None]] | None = None) -> list[Any]:
    return [date, subject, frm, None, None, to, cc, None, None, None]


@pytest.mark.parametrize("raw", TRICKY)
def test_stored_subject_is_the_sort_base_subject(raw: str) -> None:
    keys = sort_keys(env(raw), 0)
    assert keys.subject == T.casemap(T.base_subject(raw)[0])
    item = T.Item(1, 1, 0, 0, env(raw))
    assert keys.subject == T.casemap(item.subject[0])


ADDRS: list[list[list[str | None]] | None] = [
    None, [], [[None, None, "zed", "x.example"]], [["Zed", None, "zed", "x.example"]],
    [["=?utf-8?q?=C3=89mile?=", None, "Emile", "x.example"]],
    [[None, None, "team", None], [None, None, "a", "y.example"], [None, None, None, None]],
    [[None, None, None, None], [None, None, "late", "y.example"]],
    [["STRAßE", None, "s", None]],
]


@pytest.mark.parametrize("addrs", ADDRS)
def test_address_keys_are_the_sort_keys(addrs: list[list[str | None]] | None) -> None:
    e = env("s", None, addrs, addrs, addrs)
    keys = sort_keys(e, 7)
    item = T.Item(1, 1, 7, 0, e)
    by_name = {name: T._KEY[name](item) for name in T.SORT_KEYS}
    assert (keys.from_, keys.to, keys.cc) == (by_name["FROM"], by_name["TO"], by_name["CC"])
    assert (keys.display_from, keys.display_to) == (by_name["DISPLAYFROM"],
                                                     by_name["DISPLAYTO"])
    assert keys.sent == by_name["DATE"] == 7.0  # no Date: the INTERNALDATE (RFC 5256 §2.2)


@pytest.mark.parametrize("date", ["Mon, 1 Jan 2024 12:00:00 +0200", "1 Jan 2024 10:00 GMT",
                                  "garbage", "", "Mon, 1 Jan 99999 12:00:00 +0000"])
def test_sent_date_is_the_sort_date(date: str) -> None:
    assert sort_keys(env("s", date), 1234).sent == T.sent_date(date, 1234)


@given(st.text(), st.text())
@settings(max_examples=500)
def test_stored_octets_order_like_the_keys(a: str, b: str) -> None:
    """What lets the database order: for any two keys (lone surrogates included), comparing
    the stored octets (memcmp, shorter first) agrees with comparing the strings."""
    keys_a = sort_keys(env(None, None, [[a, None, "m", None]]), 0)
    keys_b = sort_keys(env(None, None, [[b, None, "m", None]]), 0)
    sa, sb = keys_a.display_from, keys_b.display_from
    ka, kb = keys_a.stored()[4], keys_b.stored()[4]
    assert (ka < kb) == (sa < sb) and (ka == kb) == (sa == sb)


@given(st.lists(st.characters(), max_size=8).map("".join),
       st.lists(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), max_size=2)
       .map("".join))
def test_surrogates_survive_and_keep_their_order(text: str, surrogates: str) -> None:
    key = sort_keys(env(text + surrogates), 0)
    assert key.stored()[0].decode("utf-8", "surrogatepass") == key.subject
