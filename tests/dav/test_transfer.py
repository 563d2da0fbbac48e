"""Import and export of whole calendars and address books (services/dav/transfer.py) on a
running server: a 5,000-event .ics and a 2,000-card .vcf generated here, bad items skipped and
reported by number, a second import replacing rather than duplicating, export joined back
into one file (each VTIMEZONE once) that CalDAV clients then see item by item."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from postroom.core.errors import Kind, MailError
from postroom.services.dav.transfer import ImportReport, _Counted
from tests.support.dav import Dav

ALICE = "alice@transfer.test"
EVENTS = int(__import__("os").environ.get("EVENTS", "5000"))
CARDS = 2000
BAD_EVENTS = (EVENTS // 4 - 1, EVENTS * 3 // 4)

TZ = """BEGIN:VTIMEZONE\r
TZID:Europe/Berlin\r
BEGIN:STANDARD\r
DTSTART:19701025T030000\r
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r
TZOFFSETFROM:+0200\r
TZOFFSETTO:+0100\r
END:STANDARD\r
BEGIN:DAYLIGHT\r
DTSTART:19700329T020000\r
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r
TZOFFSETFROM:+0100\r
TZOFFSETTO:+0200\r
END:DAYLIGHT\r
END:VTIMEZONE\r
"""


def _event(i: int) -> str:
    day = 1 + i % 28
    month = 1 + (i // 28) % 12
    extra = "RRULE:FREQ=WEEKLY;COUNT=5\r\n" if i % 50 == 0 else ""
    if i in BAD_EVENTS:  # bad: a DTSTART that is no date
        return (f"BEGIN:VEVENT\r\nUID:bad-{i}@transfer.test\r\nDTSTAMP:20260101T000000Z\r\n"
                f"SUMMARY:Broken {i}\r\nDTSTART;VALUE=DATE:2026X101\r\nEND:VEVENT\r\n")
    return (f"BEGIN:VEVENT\r\nUID:ev-{i}@transfer.test\r\nDTSTAMP:20260101T000000Z\r\n"
            f"DTSTART;TZID=Europe/Berlin:2026{month:02d}{day:02d}T{8 + i % 9:02d}0000\r\n"
            f"DURATION:PT1H\r\nSUMMARY:Event number {i}\r\n{extra}END:VEVENT\r\n")


def ics(count: int) -> Iterator[bytes]:
    yield b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Other server//EN\r\nMETHOD:PUBLISH\r\n"
    yield TZ.encode()
    for i in range(count):
        yield _event(i).encode()
    yield b"END:VCALENDAR\r\n"


def vcf(count: int) -> Iterator[bytes]:
    for i in range(count):
        if i == 777:  # bad: a card with no FN and a broken line
            yield (b"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:bad-card\r\nthis is not a line\r\n"
                   b"END:VCARD\r\n")
            continue
        version = "4.0" if i % 2 else "3.0"
        yield (f"BEGIN:VCARD\r\nVERSION:{version}\r\nUID:card-{i}@transfer.test\r\n"
               f"FN:Person {i}\r\nN:{i};Person;;;\r\nEMAIL:person{i}@example.net\r\n"
               f"TEL:+49 30 {i:07d}\r\nEND:VCARD\r\n").encode()


def _rechunk(chunks: Iterator[bytes], size: int = 8192) -> Iterator[bytes]:
    """The stream cut at arbitrary places, as a file read is."""
    buf = b""
    for c in chunks:
        buf += c
        while len(buf) >= size:
            yield buf[:size]
            buf = buf[size:]
    if buf:
        yield buf


def _user(dav: Dav) -> Any:
    services = dav.server.services

    async def get() -> Any:
        rec = await services.directory.require_account(ALICE)
        return await services.directory.principal_for(rec)
    return dav.server.call(get())


def _import(dav: Dav, kind: str, folder: str, chunks: Iterator[bytes]) -> ImportReport:
    transfer = dav.server.services.dav.transfer
    principal = _user(dav)
    seen: list[int] = []

    async def go() -> ImportReport:
        coll = await transfer.collection(principal, kind, folder)
        if kind == "calendar":
            return await transfer.import_calendar(principal, coll, chunks,
                                                  lambda n, _o: seen.append(n))
        return await transfer.import_cards(principal, coll, chunks,
                                           lambda n, _o: seen.append(n))
    report = dav.server.call(go())
    assert seen == list(range(1, len(seen) + 1)) and len(seen) == report.total
    return report


def _export(dav: Dav, kind: str, folder: str) -> bytes:
    transfer = dav.server.services.dav.transfer
    principal = _user(dav)

    async def go() -> bytes:
        coll = await transfer.collection(principal, kind, folder)
        stream = transfer.export_calendar(principal, coll) if kind == "calendar" \
            else transfer.export_cards(principal, coll)
        return b"".join([chunk async for chunk in stream])
    return bytes(dav.server.call(go()))


def test_calendar_of_5000_events(dav: Dav) -> None:
    dav.account(ALICE)
    t0 = time.monotonic()
    report = _import(dav, "calendar", "Calendar", _rechunk(ics(EVENTS)))
    took = time.monotonic() - t0
    print(f"\nimported {EVENTS} events in {took:.1f}s ({EVENTS / took:.0f}/s)")
    assert report.imported == EVENTS - 2 and report.replaced == 0 and not report.stopped
    # numbered from 1, in file order
    assert [n for n, _ in report.skipped] == [i + 1 for i in BAD_EVENTS]

    exported = _export(dav, "calendar", "Calendar")
    assert exported.startswith(b"BEGIN:VCALENDAR\r\n") and exported.endswith(b"END:VCALENDAR\r\n")
    assert exported.count(b"BEGIN:VEVENT") == EVENTS - 2
    assert exported.count(b"BEGIN:VTIMEZONE") == 1
    assert b"METHOD:" not in exported

    # the same file again: every event replaced in place, nothing doubled
    again = _import(dav, "calendar", "Calendar", ics(EVENTS))
    assert again.imported == 0 and again.replaced == EVENTS - 2
    assert _export(dav, "calendar", "Calendar").count(b"BEGIN:VEVENT") == EVENTS - 2

    # a CalDAV client sees the items
    principal = dav.caldav(ALICE).principal()
    cal = next(c for c in principal.calendars() if c.get_display_name() == "Calendar")
    last = EVENTS - 1
    found = cal.event_by_uid(f"ev-{last}@transfer.test")
    assert f"Event number {last}" in found.data


def test_address_book_of_2000_cards(dav: Dav) -> None:
    dav.account(ALICE)
    report = _import(dav, "contacts", "Contacts", _rechunk(vcf(CARDS), 5000))
    assert report.imported == CARDS - 1 and [n for n, _ in report.skipped] == [778]
    exported = _export(dav, "contacts", "Contacts")
    assert exported.count(b"BEGIN:VCARD") == CARDS - 1
    assert b"FN:Person 1999" in exported
    again = _import(dav, "contacts", "Contacts", iter([exported]))
    assert again.replaced == CARDS - 1 and again.imported == 0 and not again.skipped


def test_not_a_calendar_is_refused_whole(dav: Dav) -> None:
    dav.account(ALICE)
    with pytest.raises(MailError) as refused:
        _import(dav, "calendar", "Calendar", iter([b"From: someone\r\n\r\nhello\r\n"]))
    assert refused.value.kind is Kind.INVALID
    with pytest.raises(MailError):
        _import(dav, "contacts", "Contacts", iter([b"\x00\x01\x02 binary"]))


def test_wrong_folder_kind_and_missing_folder(dav: Dav) -> None:
    dav.account(ALICE)
    with pytest.raises(MailError) as missing:
        _import(dav, "calendar", "No such calendar", ics(1))
    assert missing.value.kind is Kind.NOT_FOUND
    with pytest.raises(MailError) as missing:
        _import(dav, "contacts", "Calendar", vcf(1))  # a calendar is not an address book
    assert missing.value.kind is Kind.NOT_FOUND


def test_import_size_limit_counts_the_stream() -> None:
    counted = _Counted(iter([b"x" * 600, b"y" * 600]), 1000)
    with pytest.raises(MailError) as over:
        list(counted)
    assert over.value.kind is Kind.LIMIT and "max_import_size" in over.value.text
    assert list(_Counted(iter([b"x" * 1000]), 1000)) == [b"x" * 1000]


def test_imports_send_no_invitations(dav: Dav) -> None:
    """Restoring a calendar must not invite (or re-invite) its attendees."""
    bob = dav.account("bob@transfer.test")
    dav.account(ALICE)
    group = (f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\n"
             f"UID:quiet-1@transfer.test\r\nDTSTAMP:20260101T000000Z\r\n"
             f"DTSTART:20260301T100000Z\r\nDURATION:PT1H\r\nSUMMARY:Restored meeting\r\n"
             f"ORGANIZER:mailto:{ALICE}\r\nATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:{bob}\r\n"
             f"ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:far@away.example\r\n"
             f"END:VEVENT\r\nEND:VCALENDAR\r\n").encode()
    assert _import(dav, "calendar", "Calendar", iter([group])).imported == 1
    time.sleep(1.0)
    principal = dav.caldav(bob).principal()
    cal = next(c for c in principal.calendars() if c.get_display_name() == "Calendar")
    assert not [e for e in cal.events() if "quiet-1@transfer.test" in e.data]
    queued = dav.server.call(dav.server.services.store.queue.list())
    assert not [e for e in queued if "far@away.example" in e.recipients]
