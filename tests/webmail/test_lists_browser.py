"""The message list in Debian's Chromium: select two messages and drag them onto a folder of
the tree, move one with the keyboard (``j`` then ``m``), live refresh keeps the selection and
announces new mail, and axe finds no serious or critical violation on the list's pages."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.webmail import Webmail
from tests.support.webmail_lists import folders, imap_uids

expect = pytest.importorskip("playwright.sync_api").expect
axe_module = pytest.importorskip("axe_playwright_python.sync_playwright")
BAD_IMPACTS = ("serious", "critical")


def _subjects(page: Any) -> list[str]:
    return [s.strip() for s in page.locator("#rows tr.msg a.open").all_text_contents()]


def test_drag_two_onto_a_folder_and_move_one_by_keyboard(mail_browser: Webmail) -> None:
    who = mail_browser.account("dragger@example.test")
    for subject in ("Alpha", "Bravo", "Charlie"):
        mail_browser.deliver(who, subject=subject)
    ids = folders(mail_browser.client(who))
    context, page = mail_browser.browser(who)
    page.goto(f"/webmail/f/{ids['INBOX']}")
    assert sorted(_subjects(page)) == ["Unread: Alpha", "Unread: Bravo", "Unread: Charlie"]
    page.get_by_label("Select: Alpha").check()
    page.get_by_label("Select: Bravo").check()
    row = page.locator("#rows tr.msg", has_text="Alpha")
    row.drag_to(page.locator(f'#folders [data-folder-id="{ids["Archive"]}"]'))
    expect(page.locator("#rows tr.msg")).to_have_count(1)
    imap = mail_browser.imap(who)
    assert len(imap_uids(imap, "Archive")) == 2
    # keyboard: j focuses the (only) row, m opens the folder picker
    page.locator("body").click(position={"x": 1, "y": 1})
    page.keyboard.press("j")
    assert page.evaluate("document.activeElement.className") == "open"
    page.keyboard.press("m")
    dialog = page.locator("#move-dialog")
    assert dialog.is_visible()
    page.select_option("#move-dialog-target", str(ids["Junk"]))
    dialog.get_by_role("button", name="Move").click()
    expect(page.locator("#rows tr.msg")).to_have_count(0)
    assert len(imap_uids(imap, "Junk")) == 1 and imap_uids(imap, "INBOX") == []
    imap.logout()
    context.close()


def test_live_refresh_keeps_selection_and_announces(mail_browser: Webmail) -> None:
    who = mail_browser.account("watcher@example.test")
    mail_browser.deliver(who, subject="Old news")
    ids = folders(mail_browser.client(who))
    context, page = mail_browser.browser(who)
    page.goto(f"/webmail/f/{ids['INBOX']}")
    page.get_by_label("Select: Old news").check()
    mail_browser.deliver(who, subject="Fresh news")
    # what live.js does when the stream says this folder changed
    page.evaluate(f"Postroom.live.emit('mail', {{folder: {ids['INBOX']}, total: 2, unseen: 2}})")
    expect(page.locator("#rows tr.msg")).to_have_count(2)
    assert page.get_by_label("Select: Old news").is_checked()
    expect(page.locator("#wm-status")).to_have_text("1 new message")
    # another folder's event changes nothing
    page.evaluate(f"Postroom.live.emit('mail', {{folder: {ids['Trash']}, total: 0}})")
    assert page.locator("#rows tr.msg").count() == 2
    context.close()


def test_toolbar_works_by_keyboard_alone(mail_browser: Webmail) -> None:
    who = mail_browser.account("tabber@example.test")
    mail_browser.deliver(who, subject="Flag me")
    ids = folders(mail_browser.client(who))
    context, page = mail_browser.browser(who)
    page.goto(f"/webmail/f/{ids['INBOX']}")
    page.get_by_label("Select: Flag me").focus()
    page.keyboard.press("Space")
    page.get_by_role("button", name="Flag", exact=True).focus()
    page.keyboard.press("Enter")
    page.wait_for_selector("#rows tr.msg.flagged")
    imap = mail_browser.imap(who)
    assert len(imap_uids(imap, "INBOX", "FLAGGED")) == 1
    imap.logout()
    # j focuses the row's link; Enter opens the reading page
    page.locator("h1").click()
    page.keyboard.press("j")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/webmail/f/{ids['INBOX']}/m/*")
    context.close()


def test_list_pages_pass_axe(mail_browser: Webmail) -> None:
    axe = axe_module.Axe()
    who = mail_browser.account("axe-list@example.test")
    for subject in ("One", "Two"):
        mail_browser.deliver(who, subject=subject)
    ids = folders(mail_browser.client(who))
    context, page = mail_browser.browser(who)
    failures: dict[str, list[str]] = {}
    inbox = ids["INBOX"]
    for path in (f"/webmail/f/{inbox}", f"/webmail/f/{inbox}?thread=1",
                 f"/webmail/f/{inbox}?q=One&flag=unseen", f"/webmail/f/{inbox}?q=nothing",
                 f"/webmail/f/{ids['Trash']}", f"/webmail/f/{ids['Trash']}/empty",
                 f"/webmail/f/{inbox}?size=1&page=2"):
        response = page.goto(path)
        assert response is not None and response.status == 200, path
        if "q=" in path:  # the advanced search disclosed too
            page.locator("details.adv-search summary").click()
        results = axe.run(page)
        bad = [f"{v['id']} ({v['impact']}): {v['help']} — "
               f"{[n['target'] for n in v['nodes']][:3]}"
               for v in results.response["violations"] if v["impact"] in BAD_IMPACTS]
        if bad:
            failures[path] = bad
    context.close()
    assert not failures, failures


def test_shortcuts_flag_read_delete_spam(mail_browser: Webmail) -> None:
    who = mail_browser.account("keys@example.test")
    for subject in ("Keep", "Bin", "Junk it"):
        mail_browser.deliver(who, subject=subject)
    ids = folders(mail_browser.client(who))
    context, page = mail_browser.browser(who)
    page.goto(f"/webmail/f/{ids['INBOX']}")
    page.locator("h1").click()
    rows = page.locator("#rows tr.msg")
    expect(rows).to_have_count(3)

    def focus(subject: str) -> None:
        page.locator("h1").click()
        for key in "kkkjjj":  # to the top, then down (j/k stop at the ends)
            page.keyboard.press(key)
            if subject in (page.evaluate("document.activeElement.textContent") or ""):
                return
        raise AssertionError(f"no row {subject}")

    focus("Keep")
    page.keyboard.press("s")
    expect(page.locator("#rows tr.msg.flagged")).to_have_count(1)
    focus("Keep")
    page.keyboard.press("u")
    expect(page.locator("#rows tr.msg.unread")).to_have_count(2)
    focus("Bin")
    page.keyboard.press("x")
    assert page.get_by_label("Select: Bin").is_checked()
    page.keyboard.press("#")
    expect(rows).to_have_count(2)
    focus("Junk it")
    page.keyboard.press("!")
    expect(rows).to_have_count(1)
    imap = mail_browser.imap(who)
    assert len(imap_uids(imap, "INBOX", "FLAGGED SEEN")) == 1
    assert len(imap_uids(imap, "Trash")) == 1 and len(imap_uids(imap, "Junk")) == 1
    imap.logout()
    context.close()
