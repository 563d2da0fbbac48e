"""Webmail's frame in Chromium: a layout usable on a phone screen (the folder list becomes a
drawer, nothing scrolls sideways), keyboard use (skip link first, ``?`` lists the shortcuts,
``/`` searches, ``g i`` goes to the inbox), and axe on the inbox at both widths."""

from __future__ import annotations

from tests.support.axe import serious
from tests.support.webmail import Webmail

USER = "shell@example.test"
PHONE = {"width": 390, "height": 844}


def test_a_phone_screen_gets_a_folder_drawer(mail_browser: Webmail) -> None:
    mail_browser.account(USER)
    mail_browser.deliver(USER, subject="On the phone")
    context, page = mail_browser.browser(USER, viewport=PHONE, is_mobile=True,
                                         has_touch=True)
    try:
        page.goto("/webmail/")
        folders = page.locator("#folders")
        menu = page.get_by_role("button", name="Folders")
        assert menu.is_visible() and not folders.is_visible()
        menu.click()
        assert folders.is_visible() and menu.get_attribute("aria-expanded") == "true"
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
        assert serious(page) == []
    finally:
        context.close()


def test_keyboard_shortcuts_and_focus_order(mail_browser: Webmail) -> None:
    mail_browser.account(USER)
    context, page = mail_browser.browser(USER)
    try:
        page.goto("/webmail/")
        inbox = page.url
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.className") == "skip"
        page.locator("body").click(position={"x": 5, "y": 5})
        page.keyboard.press("?")
        dialog = page.locator("#wm-keys")
        assert dialog.is_visible() and "Show these shortcuts" in dialog.inner_text()
        page.keyboard.press("Escape")
        assert not dialog.is_visible()
        page.keyboard.press("/")
        assert page.evaluate("document.activeElement.id") == "wm-q"
        page.goto("/webmail/settings")
        page.locator("body").click(position={"x": 5, "y": 5})
        page.keyboard.press("g")
        page.keyboard.press("i")
        page.wait_for_url(inbox)
        assert serious(page) == []
    finally:
        context.close()
