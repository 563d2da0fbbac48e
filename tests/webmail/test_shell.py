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


def test_the_list_links_to_the_folder_s_sharing(mail: Webmail) -> None:
    """The owner gets "Sharing"; someone with a read-only share gets "Your rights"."""
    owner = mail.account("sharer@example.test")
    reader = mail.account("reader@example.test")
    imap = mail.imap(owner)
    try:
        imap.create("Shared")
        imap.setacl("Shared", reader, "lrs")
    finally:
        imap.logout()
    web = mail.client(owner)
    inbox = web.get("/webmail/").location
    assert ">Sharing</a>" in web.get(inbox).text
    services = mail.server.services

    async def shared_id() -> int:
        rec = await services.directory.require_account(reader)
        principal = await services.directory.principal_for(rec)
        return (await services.mailboxes.open(principal, f"Other Users/{owner}/Shared")).id
    fid = mail.server.call(shared_id())
    page = mail.client(reader).get(f"/webmail/f/{fid}")
    assert page.status == 200 and ">Your rights</a>" in page.text
    assert f'href="/webmail/f/{fid}/sharing"' in page.text
