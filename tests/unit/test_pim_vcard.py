"""pim.vcard: validation (RFC 6352 §5.1), index, 3.0 <-> 4.0 conversion."""

from __future__ import annotations

import pytest

from postroom.pim import vcard
from postroom.pim.model import CARDDAV_NS, InvalidItem

APPLE = (b"BEGIN:VCARD\r\nVERSION:3.0\r\nPRODID:-//Apple Inc.//iOS 17.0//EN\r\n"
         b"N:Doe;John;Q.;Dr.;\r\nFN:Dr. John Q. Doe\r\nORG:Example\\, Inc.;Sales;\r\n"
         b"item1.EMAIL;type=INTERNET;type=HOME;type=pref:john@example.test\r\n"
         b"TEL;type=CELL;type=VOICE;type=pref:+1 555 0100\r\n"
         b"item1.X-ABLabel:_$!<Other>!$_\r\n"
         b"PHOTO;ENCODING=b;TYPE=JPEG:/9j/4AAQSkZJRgABAQAAAQABAAD\r\n /2wBDAAMCAgICAgMCAgI\r\n"
         b"UID:ABCD-1234\r\nEND:VCARD\r\n")

THUNDERBIRD = (b"BEGIN:VCARD\r\nVERSION:4.0\r\nN:Muster;Erika;;;\r\nFN:Erika Muster\r\n"
               b"EMAIL;PREF=1:erika@example.test\r\nTEL;VALUE=TEXT:0049 30 1234\r\n"
               b"NICKNAME:Eri\r\nUID:urn:uuid:2e5f-11\r\nEND:VCARD\r\n")

PHONE_21 = (b"BEGIN:VCARD\nVERSION:2.1\nN;CHARSET=UTF-8:M\xc3\xbcller;Hans\n"
            b"TEL;CELL:+49 170 1\nUID:p1\nEND:VCARD\n")


def reason(data: bytes) -> str:
    with pytest.raises(InvalidItem) as info:
        vcard.index_card(data)
    assert info.value.precondition == (CARDDAV_NS, "valid-address-data")
    return info.value.text


def test_apple_card() -> None:
    idx = vcard.index_card(APPLE)
    assert (idx.component, idx.uid, idx.summary) == ("VCARD", "ABCD-1234", "Dr. John Q. Doe")
    assert idx.content_type == "text/vcard; charset=utf-8"
    assert idx.text.splitlines() == ["doe john q. dr.", "dr. john q. doe", "example, inc. sales",
                                     "john@example.test", "+1 555 0100"]
    assert (idx.start, idx.end, idx.recurring) == (None, None, False)


def test_thunderbird_and_phone_cards() -> None:
    idx = vcard.index_card(THUNDERBIRD)
    assert idx.uid == "urn:uuid:2e5f-11"
    assert "eri" in idx.text.splitlines()
    idx = vcard.index_card(PHONE_21)
    assert idx.summary == "Müller Hans"  # no FN: taken from N
    assert "+49 170 1" in idx.text


@pytest.mark.parametrize("data", [
    b"",
    b"\xff\xfe",
    b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:x\r\nEND:VCARD\r\n",  # no UID
    b"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:a\r\nFN:x\r\n",  # no END
    APPLE + APPLE,
    b"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:a\r\nno colon here\r\nEND:VCARD\r\n",
    b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n",
    b"BEGIN:VCARD\r\nVERSION:9.9\r\nUID:a\r\nEND:VCARD\r\n",
    b"hello\r\n" + APPLE,
    b"BEGIN:VCARD\r\n" * 10 + b"UID:a\r\n" + b"END:VCARD\r\n" * 10,
])
def test_rejected(data: bytes) -> None:
    assert reason(data)


def test_quoted_param_with_colon() -> None:
    data = (b'BEGIN:VCARD\r\nVERSION:4.0\r\nUID:q\r\nFN:Q\r\n'
            b'ADR;LABEL="Street 1:\\nTown";TYPE=work:;;Street 1;Town;;;\r\nEND:VCARD\r\n')
    assert vcard.index_card(data).summary == "Q"
    card = vcard.parse(data)
    adr = card.get("ADR")
    assert adr is not None and adr.params["LABEL"] == ["Street 1:\\nTown"]


def test_convert_3_to_4_and_back() -> None:
    four = vcard.convert(APPLE, "4.0")
    text = four.decode()
    assert "VERSION:4.0\r\n" in text
    assert "PREF=1" in text
    assert "PHOTO:data:image/jpeg;base64,/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAMCAgICAgMCAgI" \
        in text.replace("\r\n ", "")
    assert vcard.index_card(four).uid == "ABCD-1234"
    three = vcard.convert(four, "3.0").decode()
    assert "VERSION:3.0\r\n" in three and "ENCODING=b" in three
    assert "pref" in three.lower()
    assert vcard.convert(APPLE, "3.0") == APPLE  # same version: unchanged
    assert all(len(line.encode()) <= 75 for line in three.split("\r\n"))


def test_convert_4_to_3_adds_n_and_maps_kind() -> None:
    data = (b"BEGIN:VCARD\r\nVERSION:4.0\r\nKIND:group\r\nFN:Team\r\nUID:g1\r\n"
            b"MEMBER:urn:uuid:a\r\nTEL;VALUE=uri:tel:+1-555\r\nEND:VCARD\r\n")
    three = vcard.convert(data, "3.0").decode()
    assert "X-ADDRESSBOOKSERVER-KIND:group" in three
    assert "X-ADDRESSBOOKSERVER-MEMBER:urn:uuid:a" in three
    assert "N:;;;;" in three and "TEL:+1-555" in three
    with pytest.raises(InvalidItem):
        vcard.convert(data, "2.1")


def test_vcard_21_quoted_printable() -> None:
    data = (b"BEGIN:VCARD\r\nVERSION:2.1\r\nUID:qp1\r\n"
            b"N;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:M=C3=BCller;J=C3=\r\n=BCrgen\r\n"
            b"FN;CHARSET=ISO-8859-1;QUOTED-PRINTABLE:J=FCrgen M=FCller\r\nEND:VCARD\r\n")
    idx = vcard.index_card(data)
    assert idx.summary == "Jürgen Müller"
    assert idx.text.splitlines() == ["müller jürgen", "jürgen müller"]


def test_convert_21_quoted_printable_to_3() -> None:
    data = (b"BEGIN:VCARD\r\nVERSION:2.1\r\nUID:qp2\r\nFN;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:"
            b"J=C3=BCrgen\r\nNOTE;ENCODING=QUOTED-PRINTABLE:line one=0D=0Aline two\r\n"
            b"END:VCARD\r\n")
    out = vcard.convert(data, "3.0").decode()
    assert "FN:Jürgen\r\n" in out and "NOTE:line one\\nline two\r\n" in out
    assert "QUOTED-PRINTABLE" not in out and "CHARSET" not in out
