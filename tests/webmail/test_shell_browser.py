"""Webmail's frame in Chromium: a layout usable on a phone screen (the folder list becomes a
drawer, nothing scrolls sideways), keyboard use (skip link first, ``?`` lists the shortcuts,
``/`` searches, ``g i`` goes to the inbox), and axe on the inbox at both widths."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.webmail import Webmail

axe_module = pytest.importorskip("axe_playwright_python.sync_playwright")
BAD_IMPACTS = ("serious", "critical")
USER = "shell@example.test"
PHONE = {"width": 390, "height": 844}


def _violations(page: Any) -> list[str]:
    results = axe_module.Axe().run(page)
    return [f"{v['id']} ({v['impact']}): {v['help']} {[n['target'] for n in v['nodes']][:3]}"
            for v in results.response["violations"] if v["impact"] in BAD_IMPACTS]


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
        assert _violations(page) == []
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
        assert _violations(page) == []
    finally:
        context.close()
