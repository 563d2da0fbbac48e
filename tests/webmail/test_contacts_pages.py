"""Webmail contacts over HTTP (a real server, WebClient): create, view, search, groups
(CATEGORIES), edit keeping what the form does not show, delete; the global address list is
listed and read-only; a book shared read-only refuses edits with a clear 403; bad input is a
clear 4xx, never a 500."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlencode, urlsplit

from tests.support.web import Page, WebClient
from tests.support.webmail import Webmail

ALICE = "alice@ctpages.test"
BOB = "bob@ctpages.test"


def own_book(web: WebClient) -> str:
    page = web.get("/webmail/contacts")
    assert page.status == 200, page.text
    found = re.search(r'href="/webmail/contacts\?book=(\d+)"', page.text)
    assert found, page.text
    return found.group(1)


def post(web: WebClient, path: str, fields: dict[str, str]) -> Page:
    body = urlencode({"csrf": web.csrf, **fields}).encode()
    return web.request("POST", path, body, {"Content-Type": "application/x-www-form-urlencoded"})


def create(web: WebClient, book: str, **fields: str) -> str:
    """The new contact's card URL."""
    page = post(web, "/webmail/contacts/save", {"book": book, **fields})
    assert page.status == 303, page.text
    return page.location


def etag_of(web: WebClient, card: str) -> str:
    found = re.search(r'name="etag" value="([^"]*)"', web.get(card).text)
    assert found
    return found.group(1).replace("&#34;", '"').replace("&quot;", '"')


def test_create_search_group_edit_delete(mail: Webmail) -> None:
    mail.account(ALICE)
    web = mail.client(ALICE)
    book = own_book(web)
    card = create(web, book, name="Ann Lee", given="Ann", family="Lee",
                  emails="ann@example.org\nann.lee@work.example", phones="+49 30 1234",
                  org="ACME", street="Main 1", city="Berlin", code="10115", country="DE",
                  note="Met at the fair", groups="Friends, Work")
    create(web, book, name="Carl Zed", emails="carl@example.org", groups="Work")
    shown = web.get(urlsplit(card).path + "?" + urlsplit(card).query)
    assert shown.status == 200
    for text in ("Ann Lee", "ann@example.org", "ACME", "Berlin", "Met at the fair", "Friends"):
        assert text in shown.text
    assert "/webmail/compose?to=ann%40example.org" in shown.text
    listing = web.get("/webmail/contacts")
    assert "Ann Lee" in listing.text and "Carl Zed" in listing.text
    found = web.get("/webmail/contacts?q=acme")
    assert "Ann Lee" in found.text and "Carl Zed" not in found.text
    assert "Carl Zed" in web.get("/webmail/contacts?q=CARL").text
    work = web.get("/webmail/contacts?group=Work")
    assert "Ann Lee" in work.text and "Carl Zed" in work.text
    friends = web.get("/webmail/contacts?group=Friends")
    assert "Ann Lee" in friends.text and "Carl Zed" not in friends.text
    write_all = re.search(r'href="([^"]+)" id="ct-write-group"', work.text)
    assert write_all and "ann%40example.org" in write_all.group(1) \
        and "carl%40example.org" in write_all.group(1)
    # edit: the form's fields change, the rest of the card stays
    item = parse_qs(urlsplit(card).query)["item"][0]
    etag = etag_of(web, card)
    page = post(web, "/webmail/contacts/save", {
        "book": book, "item": item, "etag": etag, "name": "Ann Lee-Smith",
        "emails": "ann@example.org", "groups": "Friends"})
    assert page.status == 303, page.text
    again = web.get(urlsplit(card).path + "?" + urlsplit(card).query)
    assert "Ann Lee-Smith" in again.text and "ACME" not in again.text
    stale = post(web, "/webmail/contacts/save", {"book": book, "item": item, "etag": etag,
                                                 "name": "Old"})
    assert stale.status == 409 and "changed meanwhile" in stale.text
    gone = post(web, "/webmail/contacts/delete", {"book": book, "item": item,
                                                  "etag": etag_of(web, card)})
    assert gone.status == 303
    assert "Ann Lee" not in web.get("/webmail/contacts").text
    assert web.get(urlsplit(card).path + "?" + urlsplit(card).query).status == 404


def test_directory_is_listed_and_read_only(mail: Webmail) -> None:
    mail.account(ALICE)
    mail.account(BOB)
    web = mail.client(ALICE)
    page = web.get("/webmail/contacts?book=directory")
    assert page.status == 200
    assert BOB in page.text
    link = re.search(r'href="(/webmail/contacts/card\?book=directory[^"]+)"', page.text)
    assert link
    card = web.get(link.group(1).replace("&amp;", "&"))
    assert card.status == 200 and "Delete contact" not in card.text and ">Edit<" not in card.text
    item = parse_qs(urlsplit(link.group(1).replace("&amp;", "&")).query)["item"][0]
    refused = post(web, "/webmail/contacts/save", {"book": "directory", "item": item,
                                                   "name": "Mine now"})
    assert refused.status == 403 and "read-only" in refused.text
    refused = post(web, "/webmail/contacts/save", {"book": "directory", "name": "New"})
    assert refused.status == 403
    refused = post(web, "/webmail/contacts/delete", {"book": "directory", "item": item})
    assert refused.status == 403


def test_shared_read_only_book(mail: Webmail) -> None:
    mail.account(ALICE)
    mail.account(BOB)
    web = mail.client(ALICE)
    book = own_book(web)
    card = create(web, book, name="Shared Sam", emails="sam@example.org")
    imap = mail.imap(ALICE)
    try:
        assert imap.setacl("Contacts", BOB, "lr")[0] == "OK"
    finally:
        imap.logout()
    bob = mail.client(BOB)
    listing = bob.get("/webmail/contacts")
    assert "Shared Sam" in listing.text and "(read-only)" in listing.text
    item = parse_qs(urlsplit(card).query)["item"][0]
    refused = post(bob, "/webmail/contacts/save", {"book": book, "item": item,
                                                   "etag": etag_of(web, card),
                                                   "name": "Changed"})
    assert refused.status == 403 and "does not allow this change" in refused.text
    refused = post(bob, "/webmail/contacts/delete", {"book": book, "item": item})
    assert refused.status == 403
    assert f"/webmail/f/{book}/sharing" in web.get("/webmail/contacts").text


def test_bad_input_is_a_clear_4xx(mail: Webmail) -> None:
    mail.account(ALICE)
    web = mail.client(ALICE)
    book = own_book(web)
    cases = [({}, "needs a name"),
             ({"name": "x", "emails": "not an address"}, "is not an address"),
             ({"name": "x", "phones": "call me"}, "not a phone number"),
             ({"name": "x" * 600}, "at most 500"),
             ({"name": "x", "emails": "\n".join(f"a{i}@x.test" for i in range(30))},
              "at most 20"),
             ({"name": "x", "note": "n" * 4001}, "at most 4000")]
    for fields, message in cases:
        page = post(web, "/webmail/contacts/save", {"book": book, **fields})
        assert page.status == 422, (fields, page.status)
        assert message.lower() in page.text.lower(), message
    # a field over the form limit (web.forms) is 413 before any service sees it
    huge = post(web, "/webmail/contacts/save", {"book": book, "name": "x", "note": "n" * 200_000})
    assert huge.status == 413
    for path in ("/webmail/contacts?book=abc", "/webmail/contacts?book=999999",
                 "/webmail/contacts/card?book=abc&item=x", f"/webmail/contacts/card?book={book}",
                 f"/webmail/contacts/card?book={book}&item=missing.vcf",
                 "/webmail/contacts/card?book=999999&item=x.vcf",
                 "/webmail/contacts/new?book=%C2%B2"):
        assert web.get(path).status == 404, path
    assert post(web, "/webmail/contacts/save", {"book": "999999", "name": "x"}).status == 404
    assert web.get("/webmail/contacts?q=" + "x" * 5000).status == 200


def test_export_address_book_and_calendar(mail: Webmail) -> None:
    owner = "nina@ctpages.test"
    mail.account(owner)
    web = mail.client(owner)
    book = own_book(web)
    create(web, book, name="Export Me", emails="me@example.org")
    page = web.get(f"/webmail/contacts/export?book={book}")
    assert page.status == 200
    assert page.headers["Content-Type"].startswith("text/vcard")
    assert 'filename="Contacts.vcf"' in page.headers["Content-Disposition"]
    assert page.text.count("BEGIN:VCARD") == 1 and "FN:Export Me" in page.text
    directory = web.get("/webmail/contacts/export?book=directory")
    assert directory.status == 200 and owner in directory.text
    listing = web.get("/webmail/calendar")
    cal = re.search(r'id="cal-on-(\d+)"', listing.text)
    assert cal and f"/webmail/calendar/export?cal={cal.group(1)}" in listing.text
    body = urlencode({"csrf": web.csrf, "calendar": cal.group(1), "title": "Exported",
                      "start_date": "2026-05-01", "start_time": "10:00",
                      "end_date": "2026-05-01", "end_time": "11:00",
                      "repeat": "weekly", "ends": "never"}).encode()
    assert web.request("POST", "/webmail/calendar/save", body, {
        "Content-Type": "application/x-www-form-urlencoded"}).status == 303
    ics = web.get(f"/webmail/calendar/export?cal={cal.group(1)}")
    assert ics.status == 200 and ics.headers["Content-Type"].startswith("text/calendar")
    assert ics.text.startswith("BEGIN:VCALENDAR") and "SUMMARY:Exported" in ics.text
    assert 'filename="Calendar.ics"' in ics.headers["Content-Disposition"]
    for path in ("/webmail/contacts/export?book=999999", "/webmail/contacts/export?book=x",
                 "/webmail/calendar/export?cal=999999", "/webmail/calendar/export"):
        assert web.get(path).status == 404, path
