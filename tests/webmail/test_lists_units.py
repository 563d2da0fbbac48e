"""The list's pure parts: query validation and its URL form, paging arithmetic, the
has-attachment test on stored body structures, size and date display, and threading being
one implementation for IMAP and webmail."""

from __future__ import annotations

import datetime as dt

import pytest

from postroom.core.errors import MailError
from postroom.mime import threads
from postroom.protocols.imap import sort
from postroom.services.webmail.lists import Query, _paging, has_attachment
from postroom.web.webmail.lists import _safe_next, human_size, short_date


def test_query_validates_and_round_trips() -> None:
    for bad in ({"page": 0}, {"size": -1}, {"sort": "x"}, {"order": "up"}, {"flag": "red"},
                {"q": "a" * 501}, {"body": "b" * 501}):
        with pytest.raises(MailError):
            Query(**bad)  # type: ignore[arg-type]
    assert Query().params() == {}
    q = Query(page=2, sort="subject", order="asc", thread=False, q="hi",
              since=dt.date(2026, 1, 2), attach=True)
    assert q.params() == {"page": "2", "sort": "subject", "order": "asc", "thread": "0",
                          "q": "hi", "since": "2026-01-02", "attach": "1"}
    assert q.params(page=1) == {k: v for k, v in q.params().items() if k != "page"}
    assert q.searching and not Query(sort="size").searching


def test_paging() -> None:
    assert _paging(0, 1, 50) == (1, 1, 0)
    assert _paging(100, 2, 50) == (2, 2, 50)
    assert _paging(101, 3, 50) == (3, 3, 100)
    assert _paging(100, 99, 50) == (2, 2, 50)  # past the end: the last page


def test_has_attachment() -> None:
    text = {"t": ["text", "plain"]}
    assert not has_attachment(text)
    assert not has_attachment({"t": ["multipart", "alternative"],
                               "c": [text, {"t": ["text", "html"]}]})
    assert has_attachment({"t": ["multipart", "mixed"],
                           "c": [text, {"t": ["application", "pdf"]}]})
    assert has_attachment({"t": ["multipart", "mixed"],
                           "c": [text, {"t": ["text", "plain"], "disp": ["attachment", {}]}]})
    assert has_attachment({"t": ["image", "png"]})
    assert not has_attachment({})


def test_display_helpers() -> None:
    assert human_size(512) == "512 B" and human_size(1234) == "1.2 kB"
    assert human_size(250_000) == "250 kB" and human_size(3_400_000) == "3.4 MB"
    now = dt.datetime(2026, 6, 2, 12, 0, tzinfo=dt.UTC)
    assert short_date(dt.datetime(2026, 6, 2, 9, 5, tzinfo=dt.UTC), now) == "09:05"
    assert short_date(dt.datetime(2026, 3, 4, 9, 5, tzinfo=dt.UTC), now) == "4 Mar"
    assert short_date(dt.datetime(2025, 3, 4, 9, 5, tzinfo=dt.UTC), now) == "2025-03-04"


def test_next_stays_on_webmail() -> None:
    for bad in ("https://evil.test/", "//evil.test/", "/login", "/webmail//x", "javascript:x",
                "/webmail/\\evil", ""):
        assert _safe_next(bad, "/webmail/f/1") == "/webmail/f/1"
    assert _safe_next("/webmail/f/2?page=3&q=a%20b", "/x") == "/webmail/f/2?page=3&q=a%20b"


def test_threading_is_shared_with_imap() -> None:
    assert sort.Item is threads.Item and sort.thread_references is threads.thread_references
    assert sort.thread_orderedsubject is threads.thread_orderedsubject
