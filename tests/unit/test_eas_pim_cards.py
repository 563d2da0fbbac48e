"""Contacts ApplicationData ↔ vCard (web/eas/pim/cards.py; MS-ASCNTC) and Tasks ↔ VTODO
(web/eas/pim/todos.py; MS-ASTASK)."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from postroom.pim import vcard
from postroom.protocols.eas.element import E, Element
from postroom.web.eas.pim import cards, todos

CARD3 = (b"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:u1\r\nFN:Ann Old\r\nN:Old;Ann;;;\r\n"
         b"EMAIL;TYPE=INTERNET:ann@x.test\r\nEMAIL;TYPE=WORK:ann@work.test\r\n"
         b"TEL;TYPE=CELL:+1 555\r\nTEL;TYPE=HOME:+1 666\r\nTEL;TYPE=WORK,FAX:+1 999\r\n"
         b"ADR;TYPE=WORK:;;1 Road;Town;ST;12345;Land\r\nORG:Acme;Sales\r\n"
         b"X-CUSTOM:keep me\r\nitem1.URL:https://ann.test/\r\nBDAY:1980-05-01\r\n"
         b"NOTE:line one\\nline two\r\nCATEGORIES:Friends,Work\r\nEND:VCARD\r\n")
CARD4 = (b"BEGIN:VCARD\r\nVERSION:4.0\r\nUID:u4\r\nFN:Bo\r\nN:;Bo;;;\r\n"
         b"TEL;TYPE=cell:+2 111\r\nANNIVERSARY:20100612\r\nEND:VCARD\r\n")


def app(*children: Element) -> Element:
    return E("AirSync", "ApplicationData", *children)


def value(card: vcard.Card, name: str) -> str:
    prop = card.get(name)
    assert prop is not None, name
    return prop.value


def fields(element: Element) -> dict[str, str]:
    return {c.name: c.text or "" for c in element.children if c.text is not None}


def test_a_vcard_3_goes_to_the_phone() -> None:
    got = fields(cards.to_app(CARD3))
    assert got["FirstName"] == "Ann" and got["LastName"] == "Old"
    assert got["Email1Address"] == "ann@x.test" and got["Email2Address"] == "ann@work.test"
    assert got["MobilePhoneNumber"] == "+1 555" and got["HomePhoneNumber"] == "+1 666"
    assert got["BusinessFaxNumber"] == "+1 999"
    assert got["BusinessAddressCity"] == "Town" and got["BusinessAddressPostalCode"] == "12345"
    assert got["CompanyName"] == "Acme" and got["Department"] == "Sales"
    assert got["WebPage"] == "https://ann.test/"
    assert got["Birthday"] == "1980-05-01T00:00:00.000Z"
    out = cards.to_app(CARD3)
    body = out.find("Body", "AirSyncBase")
    assert body is not None and body.value("Data") == "line one\nline two"
    cats = out.find("Categories")
    assert cats is not None and [x.text for x in cats.children] == ["Friends", "Work"]


def edited(received: Element, **changes: str) -> Element:
    """What a phone sends back: the item as it received it, with some fields changed (a
    Change carries the whole item, MS-ASCMD §2.2.3.24)."""
    out = E("AirSync", "ApplicationData")
    for child in received.children:
        if child.name not in changes:
            out.append(child)
    for name, text in changes.items():
        if text:
            out.add("Contacts2" if name == "NickName" else "Contacts", name, text)
    return out


def test_a_phone_edit_changes_its_slots_and_keeps_the_rest() -> None:
    data = cards.merge(CARD3, edited(cards.to_app(CARD3), MobilePhoneNumber="+1 777",
                                     JobTitle="Boss", NickName="annie"))
    card = vcard.parse(data)
    assert card.version == "3.0"
    tels = [(p.params.get("TYPE"), p.value) for p in card.all("TEL")]
    assert tels == [(["CELL"], "+1 777"), (["HOME"], "+1 666"), (["WORK", "FAX"], "+1 999")]
    assert value(card, "X-CUSTOM") == "keep me"
    url = card.get("URL")
    assert url is not None and url.group == "item1"
    assert value(card, "TITLE") == "Boss" and value(card, "NICKNAME") == "annie"
    assert value(card, "FN") == "Ann Old"  # names not changed: FN kept
    assert value(card, "UID") == "u1" and value(card, "BDAY") == "1980-05-01"
    assert [p.value for p in card.all("EMAIL")] == ["ann@x.test", "ann@work.test"]
    assert value(card, "NOTE") == "line one\\nline two"
    assert value(card, "CATEGORIES") == "Friends,Work"
    assert value(card, "ADR") == ";;1 Road;Town;ST;12345;Land"


def test_a_field_the_phone_left_out_was_cleared_and_unmapped_ones_stay() -> None:
    received = cards.to_app(CARD3)
    data = cards.merge(CARD3, edited(received, HomePhoneNumber="", Email1Address="",
                                     Birthday="", BusinessAddressCity=""))
    card = vcard.parse(data)
    assert [p.value for p in card.all("TEL")] == ["+1 555", "+1 999"]
    # the first EMAIL cleared, the second moves up (not cleared with it)
    assert [p.value for p in card.all("EMAIL")] == ["ann@work.test"]
    assert card.get("BDAY") is None
    assert value(card, "ADR") == ";;1 Road;;ST;12345;Land"
    assert value(card, "X-CUSTOM") == "keep me"
    # Contacts2 fields are left alone by a device that sends none of them
    with_nick = cards.merge(CARD3, edited(received, NickName="annie"))
    kept = cards.merge(with_nick, edited(received))
    assert value(vcard.parse(kept), "NICKNAME") == "annie"


def test_a_rename_updates_fn_and_n() -> None:
    card = vcard.parse(cards.merge(CARD3, app(E("Contacts", "FirstName", text="Anna"),
                                              E("Contacts", "LastName", text="New"))))
    assert value(card, "N") == "New;Anna;;;" and value(card, "FN") == "Anna New"


def test_a_vcard_4_is_written_back_as_4() -> None:
    data = cards.merge(CARD4, app(E("Contacts", "HomePhoneNumber", text="+2 222"),
                                  E("Contacts", "Anniversary",
                                    text="2011-06-12T00:00:00.000Z")))
    card = vcard.parse(data)
    assert card.version == "4.0"
    assert value(card, "ANNIVERSARY") == "20110612"
    assert any(p.params.get("TYPE") == ["home"] for p in card.all("TEL"))
    assert fields(cards.to_app(CARD4))["Anniversary"] == "2010-06-12T00:00:00.000Z"


@pytest.mark.parametrize(("sent", "stored"), [
    ("1980-05-01T00:00:00.000Z", "1980-05-01"), ("1980-04-30T22:00:00.000Z", "1980-05-01"),
    ("1980-05-01T05:00:00.000Z", "1980-05-01"), ("19800501T000000Z", "1980-05-01")])
def test_a_birthday_from_east_of_utc_keeps_its_day(sent: str, stored: str) -> None:
    card = vcard.parse(cards.merge(CARD3, app(E("Contacts", "Birthday", text=sent))))
    assert value(card, "BDAY") == stored


def test_a_new_contact_is_a_valid_vcard_3() -> None:
    data = cards.merge(None, app(E("Contacts", "FirstName", text="Cy"),
                                 E("Contacts", "Email1Address", text="cy@x.test")))
    card = vcard.parse(data)
    assert card.version == "3.0" and value(card, "FN") == "Cy"
    assert card.get("UID") is not None and card.get("N") is not None
    vcard.index_card(data)  # what a DAV put validates


def test_pictures_are_bounded() -> None:
    small = base64.b64encode(b"\xff\xd8jpeg").decode()
    data = cards.merge(CARD3, app(E("Contacts", "Picture", text=small)))
    assert fields(cards.to_app(data))["Picture"] == small
    big = base64.b64encode(b"x" * (cards.PICTURE_MAX + 1)).decode()
    with pytest.raises(cards.BadItem):
        cards.merge(CARD3, app(E("Contacts", "Picture", text=big)))


def test_a_task_round_trip_and_completion() -> None:
    data = todos.merge(None, app(E("Tasks", "Subject", text="Buy milk"),
                                 E("Tasks", "UtcDueDate", text="2026-12-10T17:00:00.000Z"),
                                 E("Tasks", "Importance", text="2"),
                                 E("Tasks", "ReminderSet", text="1"),
                                 E("Tasks", "ReminderTime", text="2026-12-10T09:00:00.000Z")))
    got = fields(todos.to_app(data))
    assert got["Subject"] == "Buy milk" and got["UtcDueDate"] == "2026-12-10T17:00:00.000Z"
    assert got["Importance"] == "2" and got["ReminderSet"] == "1"
    assert got["Complete"] == "0" and not todos.completed(data)
    done = todos.merge(data, app(E("Tasks", "Complete", text="1")))
    assert todos.completed(done) and fields(todos.to_app(done))["Complete"] == "1"
    assert b"Buy milk" in done
    again = todos.merge(done, app(E("Tasks", "Complete", text="0")))
    assert not todos.completed(again)


def test_a_task_edit_keeps_unmapped_properties() -> None:
    stored = (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VTODO\r\n"
              b"UID:t1\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:Old\r\nX-KEEP:yes\r\n"
              b"BEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:r\r\nTRIGGER:-PT5M\r\n"
              b"END:VALARM\r\nEND:VTODO\r\nEND:VCALENDAR\r\n")
    data = todos.merge(stored, app(E("Tasks", "Subject", text="New")))
    assert b"X-KEEP:yes" in data and b"TRIGGER:-PT5M" in data and b"SUMMARY:New" in data


_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc"),
                                       blacklist_characters="\r\n"),
                min_size=1, max_size=40).map(str.strip).filter(bool)


@settings(max_examples=60, deadline=None)
@given(_TEXT, _TEXT, _TEXT, _TEXT, _TEXT)
def test_contact_fields_round_trip(first: str, last: str, company: str, city: str,
                                   note: str) -> None:
    sent = app(E("Contacts", "FirstName", text=first), E("Contacts", "LastName", text=last),
               E("Contacts", "CompanyName", text=company),
               E("Contacts", "HomeAddressCity", text=city),
               E("AirSyncBase", "Body", E("AirSyncBase", "Type", text="1"),
                 E("AirSyncBase", "Data", text=note)))
    data = cards.merge(None, sent)
    vcard.index_card(data)
    got = fields(cards.to_app(data))
    assert (got["FirstName"], got["LastName"], got["CompanyName"], got["HomeAddressCity"]) \
        == (first, last, company, city)
    body = cards.to_app(data).find("Body", "AirSyncBase")
    assert body is not None and body.value("Data") == note
