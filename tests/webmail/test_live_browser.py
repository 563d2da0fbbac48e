"""Live updates in a real browser (Debian's Chromium driven by Playwright): with alice's inbox
open, a message APPENDed over IMAP changes the folder tree's unread count within 2 s, without
a reload; losing a shared folder that is open leaves it.

The page is the inbox's list (/webmail/f/FID) when the lists part serves it; without it (this
part tested alone) the same layout pieces are put together on the tree fragment
(/webmail/tree): <body data-folder>, the tree in <nav id="folders">, core.js and live.js
loaded from /static as the layout loads them, under the same CSP.
"""

from __future__ import annotations

import time
from typing import Any

from tests.support.webmail import Webmail

APPEND = b"From: x@remote.test\r\nSubject: live\r\n\r\nHello.\r\n"


def _folder_id(mail: Webmail, address: str, name: str) -> int:
    services = mail.server.services

    async def find() -> int:
        account = await services.store.directory.get_account(address)
        assert account is not None
        principal = await services.directory.principal_for(account)
        return (await services.mailboxes.open(principal, name)).id
    return mail.server.call(find())


def open_folder(page: Any, folder: int) -> None:
    """The folder's page with the live stream running (see the module docstring)."""
    response = page.goto(f"/webmail/f/{folder}")
    if response is None or response.status != 200:
        page.goto(f"/webmail/tree?current={folder}")
        page.evaluate("""(folder) => {
            document.body.dataset.folder = String(folder);
            const nav = document.createElement("nav");
            nav.id = "folders";
            nav.append(document.getElementById("folder-tree"));
            document.body.append(nav);
        }""", folder)
        page.add_script_tag(url="/static/webmail/core.js")
        page.add_script_tag(url="/static/webmail/live.js")
    page.wait_for_function("() => window.Postroom !== undefined")


def unread(page: Any, folder: int) -> str:
    badge = page.locator(f'#folders a[data-folder-id="{folder}"] .unread')
    return str(badge.inner_text()) if badge.count() else ""


def test_append_changes_the_unread_count_without_reload(mail_browser: Webmail) -> None:
    mail = mail_browser
    alice = mail.account("alice@example.test")
    inbox = _folder_id(mail, alice, "INBOX")
    context, page = mail.browser(alice)
    try:
        open_folder(page, inbox)
        page.evaluate("() => { window.notReloaded = true; }")
        before = unread(page, inbox)
        time.sleep(0.5)  # the stream is open (EventSource connects at once)
        with mail.imap(alice) as client:
            start = time.monotonic()
            typ, _ = client.append("INBOX", "", None, APPEND)
            assert typ == "OK"
        page.wait_for_function(
            """([folder, before]) => {
                const a = document.querySelector(`#folders a[data-folder-id="${folder}"]`);
                const badge = a && a.querySelector(".unread");
                return badge !== null && badge.textContent !== before;
            }""", arg=[inbox, before], timeout=2000)
        assert time.monotonic() - start < 2.5
        assert unread(page, inbox) != before
        assert page.evaluate("() => window.notReloaded") is True
    finally:
        context.close()


def test_losing_an_open_shared_folder_leaves_it(mail_browser: Webmail) -> None:
    mail = mail_browser
    alice, bob = mail.account("alice@example.test"), mail.account("bob@example.test")
    with mail.imap(alice) as owner:
        owner.create("Lent")
        assert owner.setacl("Lent", bob, "lrs")[0] == "OK"
        lent = _folder_id(mail, alice, "Lent")
        context, page = mail.browser(bob)
        try:
            open_folder(page, lent)
            time.sleep(0.5)
            assert owner.deleteacl("Lent", bob)[0] == "OK"
            page.wait_for_url("**/webmail/**", timeout=3000)
            page.wait_for_function(
                "() => !location.search.includes('current=') && "
                "!location.pathname.startsWith('/webmail/tree')", timeout=3000)
            assert f"/webmail/f/{lent}" not in page.url
        finally:
            context.close()
