"""SORT and THREAD algorithms (RFC 5256), without a server."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from postroom.protocols.imap import sort as T
from postroom.protocols.imap.wire import ParseError


@pytest.mark.parametrize(("raw", "base", "reply"), [
    ("hello", "hello", False),
    ("Re: hello", "hello", True),
    ("  RE:   re: RE[2]: hi  ", "hi", True),
    ("Re: [list] Fwd: hello (fwd)", "hello", True),
    ("[list] hello", "hello", False),
    ("[only]", "[only]", False),
    ("[fwd: hello]", "hello", True),
    ("[Fwd: Re: [x] y (fwd)]", "y", True),
    ("hello   world\t", "hello world", False),
    ("=?utf-8?q?Caf=C3=A9?= menu", "Café menu", False),
    ("Re:", "", True),
    ("", "", False),
    ("Ref: budget", "Ref: budget", False),
])
def test_base_subject(raw: str, base: str, reply: bool) -> None:
    assert T.base_subject(raw) == (base, reply)


def env(date: str | None = None, subject: str | None = None, frm: str | None = None,
        to: str | None = None, cc: str | None = None, name: str | None = None,
        irt: str | None = None, mid: str | None = None) -> list[Any]:
    def addr(a: str | None, n: str | None = None) -> list[list[str | None]] | None:
        if a is None:
            return None
        local, _, host = a.partition("@")
        return [[n, None, local, host]]
    return [date, subject, addr(frm, name), None, None, addr(to), addr(cc), None, irt, mid]


def item(seq: int, internal: int = 0, size: int = 0, refs: str | None = None,
         **kw: Any) -> T.Item:
    return T.Item(seq, seq, internal, size, env(**kw), refs)


def order(items: list[T.Item], spec: str) -> list[int]:
    from postroom.protocols.imap.wire import parse_command
    criteria = T.parse_criteria(parse_command(f"a SORT ({spec})".encode()).args[0])
    return [i.number for i in T.sort_items(items, criteria)]


def test_sort_keys_and_ties() -> None:
    items = [
        item(1, internal=300, size=10, date="Mon, 1 Jan 2024 10:00:00 +0000", subject="b",
             frm="zed@x", to="amy@y", name="Zed"),
        item(2, internal=100, size=30, date="Mon, 1 Jan 2024 12:00:00 +0200", subject="Re: a",
             frm="Bob@x", to="carl@y", name=None),
        item(3, internal=200, size=20, date=None, subject="A", frm="bob@x", cc="dan@y",
             name="alice"),
    ]
    assert order(items, "ARRIVAL") == [2, 3, 1]
    assert order(items, "SIZE") == [1, 3, 2]
    assert order(items, "REVERSE SIZE") == [2, 3, 1]
    # 12:00 +0200 is 10:00 UTC, equal to message 1: sequence order breaks the tie.
    # Message 3 has no Date: its INTERNALDATE (200, 1970) sorts first.
    assert order(items, "DATE") == [3, 1, 2]
    assert order(items, "SUBJECT") == [2, 3, 1]  # "a" = "A" (i;ascii-casemap), then seq
    assert order(items, "FROM") == [2, 3, 1]  # addr-mailbox, case-folded
    assert order(items, "TO") == [3, 1, 2]  # a missing To sorts as ""
    assert order(items, "CC SUBJECT") == [2, 1, 3]
    assert order(items, "DISPLAYFROM") == [3, 2, 1]  # "alice", "bob@x", "zed"
    assert order(items, "REVERSE ARRIVAL") == [1, 3, 2]


@pytest.mark.parametrize("spec", ["", "REVERSE", "REVERSE REVERSE DATE", "DATE REVERSE",
                                  "NOSUCH"])
def test_bad_criteria(spec: str) -> None:
    with pytest.raises(ParseError):
        order([], spec)


def threads(roots: list[T.Node]) -> str:
    return T.render(roots).decode()


def test_orderedsubject() -> None:
    items = [
        item(1, date="Mon, 1 Jan 2024 10:00:00 +0000", subject="plan"),
        item(2, date="Mon, 1 Jan 2024 09:00:00 +0000", subject="other"),
        item(3, date="Mon, 1 Jan 2024 11:00:00 +0000", subject="Re: plan"),
        item(4, date="Mon, 1 Jan 2024 12:00:00 +0000", subject="RE: Plan"),
        item(5, date="Mon, 1 Jan 2024 13:00:00 +0000", subject="Re: other"),
        item(6, date="Mon, 1 Jan 2024 14:00:00 +0000", subject="single"),
    ]
    assert threads(T.thread_orderedsubject(items)) == "(2 5)(1 (3)(4))(6)"


def test_references() -> None:
    d = "Mon, 1 Jan 2024 %02d:00:00 +0000"
    items = [
        item(1, date=d % 1, subject="A", mid="<a@x>"),
        item(2, date=d % 2, subject="Re: A", mid="<b@x>", refs="<a@x>"),
        item(3, date=d % 3, subject="Re: A", mid="<c@x>", refs="<a@x>"),
        item(4, date=d % 4, subject="Re: A", mid="<d@x>", refs="<a@x> <b@x>"),
        item(5, date=d % 5, subject="lost", mid="<e@x>", refs="<gone@x>"),
        item(6, date=d % 6, subject="lost2", mid="<f@x>", refs="<gone2@x>"),
        item(7, date=d % 7, subject="lost3", mid="<g@x>", refs="<gone2@x>"),
        item(8, date=d % 8, subject="Re: A", mid="<h@x>"),  # joins A by subject only
        item(9, date=d % 9, subject="B", mid="<i@x>", irt="<i@x>"),  # refers to itself
        item(10, date=d % 10, subject="Re: zzz", mid="<j@x>", irt="junk <a@x> <b@x>"),
    ]
    assert threads(T.thread_references(items)) == \
        "(1 (2 4)(3)(8)(10))(5)((6)(7))(9)"


def test_references_loop_and_duplicates() -> None:
    d = "Mon, 1 Jan 2024 %02d:00:00 +0000"
    items = [
        item(1, date=d % 1, subject="x", mid="<a@x>", refs="<b@x>"),
        item(2, date=d % 2, subject="y", mid="<b@x>", refs="<a@x>"),  # a loop
        item(3, date=d % 3, subject="z", mid="<a@x>"),  # a duplicate Message-ID
        item(4, date=d % 4, subject="w"),  # no Message-ID at all
    ]
    out = threads(T.thread_references(items))
    assert sorted(int(n) for n in out.replace("(", " ").replace(")", " ").split()) == \
        [1, 2, 3, 4]


def test_subject_merge_dummy() -> None:
    """Two originals with one base subject become siblings under a dummy (step 6D)."""
    d = "Mon, 1 Jan 2024 %02d:00:00 +0000"
    items = [item(1, date=d % 1, subject="news", mid="<a@x>"),
             item(2, date=d % 2, subject="News", mid="<b@x>")]
    assert threads(T.thread_references(items)) == "((1)(2))"
    assert threads(T.thread_references([])) == ""

_subjects = st.text(alphabet=st.sampled_from(list("Re:fwdFW []()x \t")), max_size=30)


@settings(max_examples=300, deadline=None)
@given(_subjects)
def test_base_subject_is_stable(raw: str) -> None:
    base, _ = T.base_subject(raw)
    assert T.base_subject(base)[0] == base


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.lists(st.integers(0, 8), max_size=4),
                          st.sampled_from(["a", "Re: a", "b", "", "[fwd: a]"])),
                max_size=12))
def test_every_message_threads_exactly_once(spec: list[tuple[int, list[int], str]]) -> None:
    """Random Message-IDs, duplicates, loops and dangling references: each message appears
    once in the THREAD answer, and a REFERENCES thread never holds an empty dummy."""
    items = [item(i + 1, internal=i, subject=subj, mid=f"<{mid}@x>",
                  refs=" ".join(f"<{r}@x>" for r in refs))
             for i, (mid, refs, subj) in enumerate(spec)]
    for roots in (T.thread_references(items), T.thread_orderedsubject(items)):
        text = threads(roots)
        numbers = sorted(int(n) for n in text.replace("(", " ").replace(")", " ").split())
        assert numbers == list(range(1, len(items) + 1))
        assert "()" not in text
