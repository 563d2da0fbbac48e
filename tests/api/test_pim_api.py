"""/api/v1/groupware: import and export of whole calendars and address books (web/api/pim.py),
as an administrator in an account and as the caller in their own folders; refusals (wrong
media type, another domain's account, a missing folder, a file that is not a calendar)."""

from __future__ import annotations

import pytest

from tests.api.conftest import Clients, q

BASE = "/api/v1/groupware"
ICS = {"Content-Type": "text/calendar; charset=utf-8"}
VCF = {"Content-Type": "text/vcard"}


def calendar(count: int, prefix: str) -> bytes:
    events = "".join(
        f"BEGIN:VEVENT\r\nUID:{prefix}-{i}@api.test\r\nDTSTAMP:20260101T000000Z\r\n"
        f"DTSTART:202606{1 + i % 28:02d}T100000Z\r\nDURATION:PT30M\r\nSUMMARY:{prefix} {i}\r\n"
        "END:VEVENT\r\n" for i in range(count))
    bad = "BEGIN:VEVENT\r\nUID:broken@api.test\r\nDTSTART:nonsense\r\nEND:VEVENT\r\n"
    return (f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\n{events}{bad}"
            "END:VCALENDAR\r\n").encode()


def cards(count: int) -> bytes:
    return "".join(f"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:c{i}@api.test\r\nFN:Card {i}\r\n"
                   f"EMAIL:c{i}@example.net\r\nEND:VCARD\r\n" for i in range(count)).encode()


@pytest.fixture(autouse=True)
def _registered(api: Clients) -> None:
    if not any(p.startswith(BASE) for p in api.spec.doc.get("paths", {})):
        pytest.skip("web/api/pim.py is not registered in web/api/__init__.py yet")


def test_administrator_imports_and_exports_an_accounts_calendar(api: Clients) -> None:
    path = f"{BASE}/users/{q('ann@example.test')}/calendars/Calendar"
    answer = api.boss.call("POST", path, raw=calendar(200, "boss"), headers=ICS)
    assert answer.status == 200, answer.body
    body = answer.json
    assert body["folder"] == "Calendar" and body["imported"] == 200 and body["replaced"] == 0
    assert body["skipped"] == [{"item": 201, "reason": body["skipped"][0]["reason"]}]
    again = api.root.call("POST", path, raw=calendar(200, "boss"), headers=ICS).json
    assert again["imported"] == 0 and again["replaced"] == 200
    exported = api.root.get(path)
    assert exported.status == 200
    assert exported.headers["Content-Type"].startswith("text/calendar")
    assert exported.body.count(b"BEGIN:VEVENT") == 200


def test_own_address_book_and_calendar(api: Clients) -> None:
    book = f"{BASE}/me/contacts/Contacts"
    answer = api.ann.call("POST", book, raw=cards(50), headers=VCF)
    assert answer.status == 200 and answer.json["imported"] == 50, answer.body
    out = api.ann.get(book)
    assert out.status == 200 and out.body.count(b"BEGIN:VCARD") == 50
    assert out.headers["Content-Type"].startswith("text/vcard")
    cal = f"{BASE}/me/calendars/{q('Imported events')}"
    made = api.ann.call("POST", cal + "?create=true", raw=calendar(3, "own"), headers=ICS)
    assert made.status == 200 and made.json["folder"] == "Imported events", made.body
    assert api.ann.get(cal).body.count(b"BEGIN:VEVENT") == 3
    address_book = f"{BASE}/users/{q('ann@example.test')}/contacts/Contacts"
    assert api.root.get(address_book).body.count(b"BEGIN:VCARD") == 50
    assert api.root.call("POST", address_book, raw=cards(2), headers=VCF).json["replaced"] == 2


def test_refusals(api: Clients) -> None:
    own = f"{BASE}/me/calendars/Calendar"
    wrong = api.ann.call("POST", own, raw=b"{}", headers={"Content-Type": "application/json"})
    assert wrong.status == 415
    garbage = api.ann.call("POST", own, raw=b"hello, no calendar", headers=ICS)
    assert garbage.status in (400, 422)
    missing = api.ann.get(f"{BASE}/me/calendars/{q('No such')}")
    assert missing.status == 404
    # a domain administrator does not reach another domain's account: 404 as if missing
    olga = api.boss.get(f"{BASE}/users/{q('olga@other.test')}/calendars/Calendar")
    nobody = api.boss.get(f"{BASE}/users/{q('nobody@example.test')}/calendars/Calendar")
    assert olga.status == nobody.status == 404
    # a user is no administrator of their own domain
    assert api.ann.get(f"{BASE}/users/{q('ann@example.test')}/calendars/Calendar").status \
        == 404
    assert api.anon.get(own).status == 401
