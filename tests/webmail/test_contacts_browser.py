"""Webmail contacts in the browser (Debian's Chromium, Playwright): create a contact through
the form, find it by search, open compose from "Write to"; axe finds no serious or critical
violation on the list, a card, the form (also with errors) and the global address list."""

from __future__ import annotations

from tests.support.axe import serious
from tests.support.browser import submit
from tests.support.webmail import Webmail

ALICE = "alice@ctbrowser.test"


def test_contact_form_search_write_to_and_axe(mail_browser: Webmail) -> None:
    mail = mail_browser
    mail.account(ALICE)
    context, page = mail.browser(ALICE)
    try:
        page.goto("/webmail/contacts")
        assert serious(page) == []
        page.keyboard.press("n")
        page.wait_for_url("**/webmail/contacts/new**")
        assert serious(page) == []
        page.get_by_label("Display name").fill("Dora Diaz")
        page.get_by_label("Email addresses (one a line)").fill("not-an-address")
        submit(page, "Save contact")
        assert page.get_by_role("alert").is_visible()
        assert serious(page) == []
        page.get_by_label("Email addresses (one a line)").fill("dora@example.org")
        page.get_by_label("Organisation").fill("Diaz & Co")
        page.get_by_label("Groups (separated by commas)").fill("Clients")
        submit(page, "Save contact")
        assert "Contact saved." in page.locator(".flash").inner_text()
        assert page.get_by_role("heading", name="Dora Diaz").is_visible()
        assert serious(page) == []
        page.goto("/webmail/contacts")
        page.keyboard.press("f")
        assert page.evaluate("document.activeElement.id") == "ct-q"
        page.keyboard.type("diaz & co")
        submit(page, "Find contacts")
        found = page.locator(".ct-list").get_by_role("link", name="Dora Diaz", exact=True)
        assert found.is_visible()
        page.get_by_role("link", name="Write to Dora Diaz").click()
        page.wait_for_url("**/webmail/compose**")
        assert "dora@example.org" in page.content()
        page.goto("/webmail/contacts?book=directory")
        assert page.get_by_text(ALICE).first.is_visible()
        assert serious(page) == []
    finally:
        context.close()


def test_live_update_when_a_carddav_client_adds_a_card(mail_browser: Webmail) -> None:
    import re

    from tests.support.dav import Dav

    mail = mail_browser
    mail.account(ALICE)
    context, page = mail.browser(ALICE)
    try:
        page.goto("/webmail/contacts")
        href = page.locator(".ct-books a", has_text="Contacts").first.get_attribute("href")
        found = re.search(r"book=(\d+)", href or "")
        assert found
        page.goto(f"/webmail/contacts?book={found.group(1)}")
        page.wait_for_timeout(500)  # the stream is open
        card = ("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:live-card\r\nFN:Phone Friend\r\n"
                "EMAIL:friend@example.org\r\nEND:VCARD\r\n")
        status, _, body = Dav(mail.server).request(
            ALICE, "PUT", f"/dav/addressbooks/{ALICE}/{found.group(1)}/live-card.vcf", card,
            {"Content-Type": "text/vcard"})
        assert status == 201, body
        page.locator(".ct-list").get_by_role("link", name="Phone Friend", exact=True).wait_for(
            timeout=15000)
    finally:
        context.close()
