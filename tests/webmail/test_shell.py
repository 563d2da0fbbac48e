"""Webmail's frame: login lands in the inbox, the folder tree shows what IMAP LIST shows,
ids that are not folders of the user are 404 like ids that never existed."""

from __future__ import annotations

from tests.support.webmail import Webmail


def test_login_lands_in_the_inbox_with_the_folder_tree(mail: Webmail) -> None:
    alice = mail.account("alice@example.test")
    mail.deliver(alice, subject="First")
    web = mail.client(alice)
    assert web.get("/webmail/").location.startswith("/webmail/f/")
    tree = web.get("/webmail/tree")
    assert tree.status == 200
    for name in ("INBOX", "Drafts", "Sent", "Trash", "Junk", "Archive"):
        assert f'<span class="label">{name}</span>' in tree.text
    assert "1<span class=\"visually-hidden\"> unread" in tree.text


def test_root_sends_a_browser_to_webmail(mail: Webmail) -> None:
    web = mail.client(mail.account("alice@example.test"))
    assert web.get("/").location == "/webmail/"


def test_pages_need_a_session(mail: Webmail) -> None:
    from tests.support.web import WebClient
    anonymous = WebClient(mail.port)
    page = anonymous.get("/webmail/tree")
    assert page.status == 303 and page.location.startswith("/login")
