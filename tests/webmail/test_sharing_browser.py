"""In the browser (Debian's Chromium, Playwright from PyPI): alice shares a folder with bob as
read-only from the sharing screen, bob's webmail tree shows it under Other Users/ and IMAP
MYRIGHTS says exactly ``lrs``; the "who" combobox completes only what is typed; and axe finds
no serious or critical violation on the folders, sharing (both views) and settings pages."""

from __future__ import annotations

from typing import Any

from tests.support.axe import serious
from tests.support.browser import submit
from tests.support.webmail import Webmail
from tests.support.webmail_manage import folder_id, myrights

ALICE = "alice@browser.test"
BOB = "bob@browser.test"


def test_alice_shares_read_only_and_bob_sees_it(mail_browser: Webmail) -> None:
    mail = mail_browser
    mail.account(ALICE)
    mail.account(BOB)
    context, page = mail.browser(ALICE)
    try:
        page.goto("/webmail/folders")
        page.get_by_label("Name", exact=True).fill("Plans")
        submit(page, "Create folder")
        assert "Folder Plans created." in page.locator(".flash").inner_text()
        page.get_by_role("link", name="Sharing of Plans").click()
        page.wait_for_load_state()
        assert page.get_by_role("heading", name="Sharing of Plans").is_visible()
        page.get_by_label("A user", exact=True).check()
        page.get_by_label("Address of the user or group").fill(BOB)
        page.get_by_label("Read", exact=True).check()
        submit(page, "Save access")
        assert f"{BOB} may now: see the folder, read messages, keep read/unread state" in \
            page.locator(".flash").inner_text()
        row = page.get_by_role("row", name=BOB)
        assert "Read" in row.inner_text()
        # manage.js: ticking a right picks "Custom"
        page.get_by_label("Change flags").check()
        assert page.get_by_label("Custom", exact=True).is_checked()
    finally:
        context.close()
    imap = mail.imap(BOB)
    try:
        assert myrights(imap, f"Other Users/{ALICE}/Plans") == "lrs"
    finally:
        imap.logout()
    context, page = mail.browser(BOB)
    try:
        page.goto("/webmail/folders")
        tree = page.locator("#folder-tree")
        assert tree.get_by_text(ALICE).is_visible()
        link = tree.locator(f'a[data-folder-id="{folder_id(mail, ALICE, "Plans")}"]')
        assert link.inner_text().strip() == "Plans"
        # bob's sharing screen for it is read-only, in words
        page.goto(f"/webmail/f/{folder_id(mail, ALICE, 'Plans')}/sharing")
        assert page.locator("#my-rights").inner_text() == \
            "See the folder, read messages, keep read/unread state."
        assert page.get_by_role("button", name="Save access").count() == 0
    finally:
        context.close()


def test_the_picker_completes_as_the_user_types(mail_browser: Webmail) -> None:
    """Security review, finding 9: no list of the domain in the page; typing two characters
    fills the combobox from /webmail/addresses (own domain only), the arrow keys and Enter
    pick one, and the share saved is the one picked."""
    mail = mail_browser
    mail.account(ALICE)
    mail.account(BOB)
    mail.account("bobby@elsewhere.test")
    context, page = mail.browser(ALICE)
    try:
        page.goto("/webmail/folders")
        page.get_by_label("Name", exact=True).fill("Picked")
        submit(page, "Create folder")
        page.goto(f"/webmail/f/{folder_id(mail, ALICE, 'Picked')}/sharing")
        assert page.locator("datalist").count() == 0
        who = page.get_by_role("combobox", name="Address of the user or group")
        assert who.get_attribute("aria-expanded") == "false"
        listbox = page.get_by_role("listbox", name="Suggested addresses")
        who.press_sequentially("b")
        page.wait_for_timeout(400)
        assert listbox.count() == 0  # one character: nothing asked, nothing shown
        who.press_sequentially("o")
        listbox.wait_for()
        assert who.get_attribute("aria-expanded") == "true"
        options = listbox.get_by_role("option")
        shown = [options.nth(i).inner_text() for i in range(options.count())]
        assert BOB in shown and not any("elsewhere" in text for text in shown)
        who.press("ArrowDown")
        assert who.get_attribute("aria-activedescendant") == options.nth(0).get_attribute("id")
        while page.locator("#" + str(who.get_attribute("aria-activedescendant"))
                           ).inner_text() != BOB:
            who.press("ArrowDown")
        who.press("Enter")
        assert who.input_value() == BOB and listbox.count() == 0
        page.get_by_label("A user", exact=True).check()
        page.get_by_label("Read", exact=True).check()
        submit(page, "Save access")
        assert f"{BOB} may now" in page.locator(".flash").inner_text()
        # Escape closes the list
        who = page.get_by_role("combobox", name="Address of the user or group")
        who.press_sequentially("bo")
        listbox.wait_for()
        who.press("Escape")
        assert listbox.count() == 0 and who.get_attribute("aria-expanded") == "false"
    finally:
        context.close()


def test_every_manage_page_passes_axe(mail_browser: Webmail) -> None:
    mail = mail_browser
    mail.account(ALICE)
    mail.account(BOB)
    failures: dict[str, list[str]] = {}
    context, page = mail.browser(ALICE)

    def check(label: str) -> None:
        bad = serious(page)
        if bad:
            failures[label] = bad

    try:
        page.goto("/webmail/folders")
        if folder_id_or_none(mail, ALICE, "Plans") is None:
            page.get_by_label("Name", exact=True).fill("Plans")
            submit(page, "Create folder")
        plans = folder_id(mail, ALICE, "Plans")
        remote = mail.server.call(mail.server.services.admin.multipop.add(
            _actor(), ALICE, host="pop.example.net", username="alice", password="pw"))
        for path in ("/webmail/folders", f"/webmail/folders/delete?folder={plans}",
                     f"/webmail/folders/move?folder={plans}",
                     f"/webmail/f/{plans}/sharing", f"/webmail/f/{plans}/sharing?edit={BOB}",
                     "/webmail/settings", "/webmail/settings/multipop",
                     f"/webmail/settings/multipop/{remote.id}", "/me"):
            response = page.goto(path)
            assert response is not None and response.status == 200, path
            check(path)
        # forms drawn again with their errors
        page.goto("/webmail/folders")
        page.get_by_label("Name", exact=True).fill("a/b")
        submit(page, "Create folder")
        check("/webmail/folders (with an error)")
        page.goto(f"/webmail/f/{plans}/sharing")
        page.get_by_label("Address of the user or group").fill("ghost@browser.test")
        submit(page, "Save access")
        check("sharing (with an error)")
        page.get_by_label("Address of the user or group").fill("")
        page.get_by_label("Address of the user or group").press_sequentially("bo")
        page.get_by_role("listbox", name="Suggested addresses").wait_for()
        check("sharing (suggestions open)")
        page.goto("/webmail/settings")
        page.get_by_label("Messages per page").fill("3")
        submit(page, "Save settings")
        assert page.get_by_label("Messages per page").get_attribute("aria-invalid") == "true"
        check("/webmail/settings (with an error)")
    finally:
        context.close()
    # the read-only view (bob has no "a")
    context, page = mail.browser(BOB)
    try:
        page.goto(f"/webmail/f/{plans}/sharing")
        check("sharing, read-only view")
    finally:
        context.close()
    assert not failures, failures


def folder_id_or_none(mail: Webmail, address: str, name: str) -> int | None:
    from postroom.core.errors import MailError
    try:
        return folder_id(mail, address, name)
    except MailError:
        return None


def _actor() -> Any:
    from postroom.core.actor import Actor
    return Actor.operator()
