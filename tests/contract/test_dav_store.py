"""Groupware's index (store/repo/dav.py) on both backends: an item's message and its row in
one transaction, an edit replacing the old message atomically, live rows, sync changes and
removals from MODSEQs and the expunge log, the calendar-query prefilter, URL segments and
properties; and the services over it (homes with their defaults, put/get/sync)."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

import pytest

from postroom.app import Services
from postroom.core.errors import Kind, MailError
from postroom.services.dav.items import etag_of
from postroom.store.repo.dav import ItemIndexRow
from tests.support.factory import account

EVENT = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\n"
         "DTSTAMP:20260101T000000Z\r\nDTSTART:20260310T090000Z\r\nDTEND:20260310T100000Z\r\n"
         "SUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


def row(name: str, uid: str, start: int | None = 100, end: int | None = 200,
        recurring: bool = False, size: int = 10) -> ItemIndexRow:
    return ItemIndexRow(name=name, etag='"e"', content_type="text/calendar",
                        component="VEVENT", ical_uid=uid, start=start, end=end,
                        recurring=recurring, summary=name, search="", size=size, modified=1)


async def _folder(s: Services) -> int:
    alice = await account(s, "alice@example.com")
    mb = await s.mailboxes.create(alice, "Cal", kind="calendar")
    return mb.id


async def test_items_are_written_replaced_and_removed_atomically(services: Services) -> None:
    s = services
    mbid = await _folder(s)
    repo = s.store.dav
    msg = await s.messages.prepare(b"one", [], None, b"Subject: x\r\n\r\n")
    uid1, modseq1, replaced = await repo.write_item(mbid, msg, row("a.ics", "A"),
                                                    expect_uid=None)
    assert replaced is None
    await repo.write_item(mbid, msg, row("b.ics", "B"), expect_uid=None)
    live = await repo.live(mbid)
    assert [i.name for i in live] == ["a.ics", "b.ics"]
    assert (await repo.by_ical_uid(mbid, "A"))[0].name == "a.ics"
    # a decision about a stale state is refused
    with pytest.raises(MailError) as exc:
        await repo.write_item(mbid, msg, row("a.ics", "A"), expect_uid=None)
    assert exc.value.kind is Kind.EXISTS
    with pytest.raises(MailError):
        await repo.write_item(mbid, msg, row("a.ics", "A"), expect_uid=uid1,
                              create_only=True)
    # the same iCalendar UID under another name is refused inside the transaction
    with pytest.raises(MailError) as exc:
        await repo.write_item(mbid, msg, row("c.ics", "A"), expect_uid=None)
    assert exc.value.kind is Kind.IN_USE and exc.value.text == "a.ics"
    # edit: one transaction, the old message gone, the name live under the new UID
    msg2 = await s.messages.prepare(b"two", [], None, b"Subject: y\r\n\r\n")
    uid2, modseq2, replaced = await repo.write_item(mbid, msg2, row("a.ics", "A"),
                                                    expect_uid=uid1)
    assert replaced == uid1 and uid2 > uid1 and modseq2 > modseq1
    assert await s.store.messages.get(mbid, uid1) is None
    assert (await repo.by_names(mbid, ["a.ics"]))["a.ics"].uid == uid2
    changed = await repo.changed_since(mbid, modseq1)
    assert [i.name for i in changed] == ["b.ics", "a.ics"]
    assert await repo.removed_since(mbid, modseq1) == []  # an edit is not a removal
    b_uid = (await repo.by_names(mbid, ["b.ics"]))["b.ics"].uid
    assert await repo.delete_item(mbid, b_uid)
    assert not await repo.delete_item(mbid, b_uid)
    assert await repo.removed_since(mbid, modseq2) == ["b.ics"]
    assert [i.name for i in await repo.live(mbid)] == ["a.ics"]
    mb = await s.store.mailboxes.get(mbid)
    assert mb is not None and mb.message_count == 1


async def test_candidates_prefilter_by_span(services: Services) -> None:
    s = services
    mbid = await _folder(s)
    repo = s.store.dav
    msg = await s.messages.prepare(b"x", [], None, b"\r\n")
    for r in (row("early", "1", 0, 50), row("inside", "2", 100, 200),
              row("late", "3", 500, 600), row("endless", "4", 10, None),
              row("weekly", "5", 0, 10, recurring=True), row("zero", "6", 150, 150),
              row("series", "7", 0, 130, recurring=True), row("undated", "8", None, None)):
        await repo.write_item(mbid, msg, r, expect_uid=None)
    names = {i.name for i in await repo.candidates(mbid, "VEVENT", 120, 300)}
    # a series is indexed over all its instances: one that ended before is no candidate
    assert names == {"inside", "endless", "zero", "series", "undated"}
    assert {i.name for i in await repo.candidates(mbid, "VTODO", None, None)} == set()
    assert len(await repo.candidates(mbid, None, None, None)) == 8


async def test_segments_and_properties(services: Services) -> None:
    s = services
    mbid = await _folder(s)
    repo = s.store.dav
    assert await repo.segments([mbid]) == {}
    await repo.set_segment(mbid, "work")
    await repo.set_segment(mbid, "job")
    assert await repo.segments([mbid]) == {mbid: "job"}
    await repo.set_props(mbid, {"{DAV:}displayname": "Job", "{urn:x}a": "1"})
    await repo.set_props(mbid, {"{urn:x}a": None, "{urn:x}b": "<x:b xmlns:x='urn:x'/>"})
    assert await repo.props([mbid]) == {mbid: {"{DAV:}displayname": "Job",
                                               "{urn:x}b": "<x:b xmlns:x='urn:x'/>"}}


async def test_services_home_put_get_sync(services: Services) -> None:
    s = services
    assert s.dav is not None
    alice = await account(s, "alice@example.com")
    home = await s.dav.collections.home(alice, "calendars")
    assert sorted(c.displayname for c in home) == ["Calendar", "Notes", "Tasks"]
    again = await s.dav.collections.home(alice, "calendars")
    assert [c.segment for c in again] == [c.segment for c in home]
    cal = next(c for c in home if c.kind == "calendar")
    data = EVENT.format(uid="u1", summary="One").encode()
    put = await s.dav.items.put(alice, cal, "one.ics", data, "text/calendar")
    assert put.created
    item = await s.dav.items.get(alice, cal, "one.ics")
    assert item.data == data and item.ref.etag == put.ref.etag
    assert put.ref.etag == etag_of(hashlib.sha256(data).hexdigest())
    first = await s.dav.items.sync(alice, cal, None)
    assert [r.name for r in first.changed] == ["one.ics"] and first.removed == []
    await s.dav.items.delete(alice, cal, "one.ics")
    later = await s.dav.items.sync(alice, cal, first.token)
    assert later.changed == [] and later.removed == ["one.ics"]
    with pytest.raises(MailError) as exc:
        await s.dav.items.sync(alice, cal, "http://postroom/ns/sync/1-1")
    assert exc.value.kind is Kind.INVALID
    books = await s.dav.collections.home(alice, "addressbooks")
    assert [c.displayname for c in books] == ["Contacts", "Directory"]


async def test_streamed_file_put(services: Services) -> None:
    s = services
    assert s.dav is not None
    alice = await account(s, "alice@example.com")
    [docs] = await s.dav.collections.home(alice, "files")
    chunk = b"\x00\x01binary" * 10_000

    async def body(n: int) -> AsyncIterator[bytes]:
        for _ in range(n):
            yield chunk
    put = await s.dav.items.put_file(alice, docs, "big.bin", body(20), "application/zip",
                                     1 << 24)
    assert put.created and put.ref.size == len(chunk) * 20
    item = await s.dav.items.get(alice, docs, "big.bin")
    assert item.data == chunk * 20 and item.ref.content_type == "application/zip"
    assert put.ref.etag == etag_of(hashlib.sha256(chunk * 20).hexdigest())
    with pytest.raises(MailError) as exc:
        await s.dav.items.put_file(alice, docs, "huge.bin", body(20), "", len(chunk) * 3)
    assert exc.value.kind is Kind.LIMIT
    assert [r.name for r in await s.dav.items.members(alice, docs)] == ["big.bin"]
    again = await s.dav.items.put_file(alice, docs, "big.bin", body(1), "text/plain",
                                       1 << 24, if_match=put.ref.etag)
    assert not again.created
    rec = await s.store.messages.get(docs.handle.id if docs.handle else 0, 2)
    assert rec is not None and b"Content-Transfer-Encoding: binary" in bytes(rec.prefix)


async def test_search_narrowing_is_literal_and_keeps_cut_texts(services: Services) -> None:
    """``live_containing`` (a contact search narrowed in SQL): the needle is a literal
    substring (``%``, ``_`` and ``\\`` are no wildcards), and an item whose search text was
    cut at the indexed length is always a candidate."""
    s = services
    mbid = await _folder(s)
    repo = s.store.dav
    msg = await s.messages.prepare(b"one", [], None, b"Subject: x\r\n\r\n")
    texts = {"a": "ann smith", "b": "ann_smith", "c": "50% off", "d": "back\\slash",
             "e": "x" * 40, "f": "bob"}
    for name, text in texts.items():
        r = row(name, name)
        await repo.write_item(mbid, msg, ItemIndexRow(
            name=r.name, etag=r.etag, content_type=r.content_type, component=r.component,
            ical_uid=r.ical_uid, start=r.start, end=r.end, recurring=r.recurring,
            summary=r.summary, search=text, size=r.size, modified=r.modified),
            expect_uid=None)

    async def names(needle: str) -> set[str]:
        return {i.name for i in await repo.live_containing(mbid, needle, 40)}
    assert await names("ann smith") == {"a", "e"}  # "e" was cut at 40: always a candidate
    assert await names("ann_smith") == {"b", "e"}
    assert await names("50%") == {"c", "e"}
    assert await names("back\\slash") == {"d", "e"}
    assert await names("nobody") == {"e"}


async def test_search_narrowing_keeps_non_ascii_texts_when_asked(services: Services) -> None:
    """``live_containing(..., non_ascii=True)`` (a search in i;unicode-casemap, whose fold
    may turn "ß" into "ss"): every text with a character outside ASCII is a candidate as
    well, on both backends; ASCII texts still only by the needle."""
    s = services
    mbid = await _folder(s)
    repo = s.store.dav
    msg = await s.messages.prepare(b"one", [], None, b"Subject: x\r\n\r\n")
    texts = {"a": "ann smith", "b": "straße", "c": "bob", "d": "\uff46\uff4f\uff4f",
             "e": "zoë", "f": "tab\there", "g": "del\x7fete"}
    for name, text in texts.items():
        r = row(name, name)
        await repo.write_item(mbid, msg, ItemIndexRow(
            name=r.name, etag=r.etag, content_type=r.content_type, component=r.component,
            ical_uid=r.ical_uid, start=r.start, end=r.end, recurring=r.recurring,
            summary=r.summary, search=text, size=r.size, modified=r.modified),
            expect_uid=None)

    async def names(needle: str, non_ascii: bool) -> set[str]:
        return {i.name for i in await repo.live_containing(mbid, needle, 1000,
                                                           non_ascii=non_ascii)}
    assert await names("ss", False) == set()
    assert await names("ss", True) == {"b", "d", "e"}
    assert await names("ann", True) == {"a", "b", "d", "e"}
    assert await names("here", True) == {"b", "d", "e", "f"}


async def test_finding_an_address_book_does_not_list_the_domain(
        services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every CardDAV request finds its collection (``Collections.get``); only a request for
    the global address list lists the domain's accounts (a large domain made every address
    book request pay for it)."""
    s = services
    assert s.dav is not None
    alice = await account(s, "alice@example.com")
    books = await s.dav.collections.home(alice, "addressbooks")
    contacts = next(c for c in books if c.virtual != "directory")
    calls: list[str] = []
    listing = s.store.directory.list_accounts

    async def counted(domain: str) -> object:
        calls.append(domain)
        return await listing(domain)
    monkeypatch.setattr(s.store.directory, "list_accounts", counted)
    found = await s.dav.collections.get(alice, "addressbooks", contacts.segment)
    assert found.segment == contacts.segment and calls == []
    gal = await s.dav.collections.get(alice, "addressbooks", "directory")
    assert gal.virtual == "directory" and calls
    with pytest.raises(MailError) as exc:
        await s.dav.collections.get(alice, "addressbooks", "nothing-here")
    assert exc.value.kind is Kind.NOT_FOUND
