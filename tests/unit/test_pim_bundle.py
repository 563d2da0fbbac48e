"""pim.bundle: streaming split and join of .ics and .vcf files."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from postroom.pim import bundle, ical, vcard
from postroom.pim.model import InvalidItem
from tests.unit.test_pim_ical import BERLIN_TZ
from tests.unit.test_pim_vcard import APPLE, THUNDERBIRD

NY_TZ = BERLIN_TZ.replace("Europe/Berlin", "America/New_York")

ICS = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//EN\r\nMETHOD:PUBLISH\r\n"
       "X-WR-CALNAME:Work\r\n" + BERLIN_TZ + NY_TZ +
       "BEGIN:VEVENT\r\nUID:a\r\nDTSTART;TZID=Europe/Berlin:20260302T090000\r\n"
       "RRULE:FREQ=WEEKLY\r\nSUMMARY:a long summary that is folded onto a second line becau\r\n"
       " se it is long\r\nEND:VEVENT\r\n"
       "BEGIN:VEVENT\r\nUID:a\r\nRECURRENCE-ID;TZID=Europe/Berlin:20260309T090000\r\n"
       "DTSTART;TZID=Europe/Berlin:20260309T100000\r\nEND:VEVENT\r\n"
       "BEGIN:VEVENT\r\nDTSTART:20260303T090000Z\r\nSUMMARY:no uid\r\nEND:VEVENT\r\n"
       "BEGIN:VTODO\r\nUID:t\r\nDUE;TZID=America/New_York:20260310T120000\r\n"
       "BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT5M\r\nEND:VALARM\r\nEND:VTODO\r\n"
       "END:VCALENDAR\r\n").encode()


def chunked(data: bytes, size: int) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i:i + size]


@pytest.mark.parametrize("size", [1, 7, 64, 100_000])
def test_split_calendar_any_chunking(size: int) -> None:
    objs = list(bundle.split_calendar(chunked(ICS, size)))
    assert len(objs) == 3
    idx = [ical.index_calendar(o) for o in objs]
    assert [(i.uid, i.component) for i in idx[:1] + idx[2:]] == [("a", "VEVENT"),
                                                                 ("t", "VTODO")]
    assert idx[0].recurring and b"RECURRENCE-ID" in objs[0]
    assert objs[0].count(b"BEGIN:VTIMEZONE") == 1 and b"TZID:Europe/Berlin" in objs[0]
    assert b"TZID:America/New_York" in objs[2] and b"Europe/Berlin" not in objs[2]
    assert b"VTIMEZONE" not in objs[1]
    assert all(b"METHOD" not in o and b"X-WR-CALNAME" not in o and b"PRODID:-//x//EN" in o
               for o in objs)
    assert b"\r\n se it is long\r\n" in objs[0]  # folding kept
    assert idx[1].uid.startswith("postroom-")
    again = list(bundle.split_calendar([ICS]))
    assert ical.index_calendar(again[1]).uid == idx[1].uid  # deterministic


def test_split_calendar_lf_and_bom() -> None:
    data = b"\xef\xbb\xbf" + ICS.replace(b"\r\n", b"\n")
    objs = list(bundle.split_calendar([data]))
    assert len(objs) == 3 and all(b"\r\n" in o and b"\n\n" not in o for o in objs)


@pytest.mark.parametrize("data", [
    b"hello",
    b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:a\r\n",
    b"\xff\xfe\x00",
    b"",
])
def test_split_calendar_rejects(data: bytes) -> None:
    with pytest.raises(InvalidItem):
        list(bundle.split_calendar([data]))


def test_join_calendar_roundtrip() -> None:
    objs = list(bundle.split_calendar([ICS]))
    joined = b"".join(bundle.join_calendar(iter(objs)))
    assert joined.startswith(b"BEGIN:VCALENDAR\r\n") and joined.endswith(b"END:VCALENDAR\r\n")
    assert joined.count(b"BEGIN:VTIMEZONE") == 2
    assert joined.count(b"BEGIN:VEVENT") == 3 and joined.count(b"BEGIN:VALARM") == 1
    assert len(list(bundle.split_calendar([joined]))) == 3


def test_cards_split_and_join() -> None:
    no_uid = b"BEGIN:VCARD\nVERSION:3.0\nFN:Nobody\nEND:VCARD\n"
    vcf = APPLE + THUNDERBIRD + no_uid
    cards = list(bundle.split_cards(chunked(vcf, 5)))
    assert [vcard.index_card(c).uid for c in cards[:2]] == ["ABCD-1234", "urn:uuid:2e5f-11"]
    assert cards[0] == APPLE
    third = vcard.index_card(cards[2])
    assert third.uid.startswith("postroom-") and cards[2].split(b"\r\n")[2].startswith(b"UID:")
    joined = b"".join(bundle.join_cards(cards))
    assert list(bundle.split_cards([joined])) == cards
    with pytest.raises(InvalidItem):
        list(bundle.split_cards([b"BEGIN:VCARD\r\nFN:x\r\n"]))
    with pytest.raises(InvalidItem):
        list(bundle.split_cards([b"FN:x\r\n"]))


def test_split_bounded_by_item_size() -> None:
    endless_line = (b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDESCRIPTION:" + b"x" * 4096
                    for _ in range(1000))
    with pytest.raises(InvalidItem):
        list(bundle.split_calendar(endless_line, max_item_size=64 * 1024))
    big = ICS.replace(b"SUMMARY:no uid", b"SUMMARY:" + b"y" * 70_000)
    with pytest.raises(InvalidItem):
        list(bundle.split_calendar([big], max_item_size=64 * 1024))
    assert len(list(bundle.split_calendar([big], max_item_size=128 * 1024))) == 3
