"""Webmail's filters page in the browser (Debian's Chromium, Playwright): a rule made with the
form becomes the active script and files a message delivered over SMTP into a folder (read
over IMAP); a vacation with dates; the raw editor refuses a broken script with its line and
column, focused, and choosing the error puts the cursor there; axe finds no serious or
critical violation on the page, the rule form (also with an error) and the editor."""

from __future__ import annotations

import time

from tests.support.axe import serious
from tests.support.browser import submit
from tests.support.webmail import Webmail

ALICE = "alice@fbrowser.test"


def test_rule_vacation_and_raw_editor_in_the_browser(mail_browser: Webmail) -> None:
    mail = mail_browser
    mail.account(ALICE)
    imap = mail.imap(ALICE)
    try:
        imap.create("Receipts")
    finally:
        imap.logout()
    context, page = mail.browser(ALICE)
    try:
        page.goto("/webmail/settings")
        page.get_by_role("link", name="Sort mail into folders").click()
        page.wait_for_url("**/webmail/settings/filters")
        assert serious(page) == []

        # a rule, with a mistake first (no action chosen)
        page.get_by_role("link", name="Add a rule").click()
        page.wait_for_url("**/filters/rules/new")
        assert serious(page) == []
        page.get_by_label("Name (optional)").fill("Receipts")
        condition = page.get_by_role("group", name="Condition 1")
        condition.get_by_label("Look at").select_option("subject")
        condition.get_by_label("Comparison").select_option("contains")
        condition.get_by_label("Value").fill("receipt")
        submit(page, "Save rule")
        assert page.get_by_role("alert").is_visible()
        assert page.evaluate("document.activeElement.getAttribute('role')") == "alert"
        assert "choose at least one thing to do" in page.get_by_role("alert").inner_text()
        assert serious(page) == []
        page.get_by_label("Move to folder").select_option("Receipts")
        page.get_by_label("Mark as read").check()
        submit(page, "Save rule")
        assert "Rule saved." in page.locator(".flash").inner_text()
        row = page.locator("#rule-1")
        assert "Subject contains “receipt”" in row.inner_text()
        assert "move to Receipts, mark as read" in row.inner_text()
        scripts = page.locator("table.wm-scripts")
        assert "webmail" in scripts.inner_text() and "active" in scripts.inner_text()

        # the generated script, in the raw editor
        page.get_by_role("link", name="webmail", exact=True).click()
        page.wait_for_load_state()
        source = page.get_by_label("Script", exact=True).input_value()
        assert 'fileinto :flags "\\\\Seen" "Receipts";' in source, source

        # a message delivered over SMTP is filed, marked read
        mail.deliver(ALICE, subject="Your receipt #42", body="Thanks.")
        assert _filed(mail, "Receipts", "receipt #42")

        # a vacation with dates
        page.goto("/webmail/settings/filters")
        page.get_by_label("Answer new messages automatically").check()
        page.get_by_label("First day").fill("2026-12-20")
        page.get_by_label("Last day").fill("2027-01-05")
        page.get_by_label("Subject of the reply").fill("Away")
        page.get_by_label("Reply", exact=True).fill("Back on January 6.")
        submit(page, "Save out of office")
        assert "Out of office saved." in page.locator(".flash").inner_text()
        assert "Scheduled" in page.locator("#vacation-state").inner_text()
        assert page.get_by_label("First day").input_value() == "2026-12-20"

        # the raw editor with a broken script
        page.get_by_role("link", name="Write a new script").click()
        page.wait_for_load_state()
        assert serious(page) == []
        page.get_by_label("Name", exact=True).fill("mine")
        page.get_by_label("Script", exact=True).fill(
            'require "fileinto";\nif true {\n  fileinot "X";\n}\n')
        submit(page, "Save")
        alert = page.get_by_role("alert")
        assert "Line 3, column 3:" in alert.inner_text()
        assert page.evaluate("document.activeElement.getAttribute('role')") == "alert"
        assert page.get_by_label("Script", exact=True).get_attribute("aria-invalid") == "true"
        assert serious(page) == []
        alert.get_by_role("link").first.click()
        assert page.evaluate("document.activeElement.id") == "f-source"
        at = page.evaluate("document.getElementById('f-source').selectionStart")
        assert at == len('require "fileinto";\nif true {\n  '), at
        # fixed, checked, saved without activating
        page.get_by_label("Script", exact=True).fill('require "fileinto";\nif true {\n  keep;\n}\n')
        submit(page, "Check")
        assert "The script is valid." in page.locator("#f-source-ok").inner_text()
        submit(page, "Save")
        assert "Script “mine” saved." in page.locator(".flash").inner_text()
        assert "webmail" in page.locator("table.wm-scripts").inner_text()
    finally:
        context.close()


def _filed(mail: Webmail, folder: str, subject: str) -> bool:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        imap = mail.imap(ALICE)
        try:
            imap.select(folder, readonly=True)
            _, found = imap.search(None, "SEEN", "SUBJECT", f'"{subject}"')
            if found[0]:
                return True
        finally:
            imap.logout()
        time.sleep(0.2)
    return False
