"""Webmail's folder management (/webmail/folders): create, rename, move and delete through the
same names and rights as IMAP, seen over IMAP LIST; refusals drawn as messages with their
status, never a 500; ids the user may not see are the same 404 as ids that never existed."""

from __future__ import annotations

import re

import pytest

from tests.support.web import WebClient
from tests.support.webmail import Webmail
from tests.support.webmail_manage import folder_id, imap_names, neutral

ALICE = "alice@folders.test"
BOB = "bob@folders.test"


@pytest.fixture(scope="module")
def alice(mail: Webmail) -> WebClient:
    mail.account(ALICE)
    mail.account(BOB)
    web = mail.client(ALICE)
    web.get("/webmail/folders")
    return web


def test_the_page_lists_the_tree_with_sharing_links(mail: Webmail, alice: WebClient) -> None:
    page = alice.get("/webmail/folders")
    assert page.status == 200
    inbox = folder_id(mail, ALICE, "INBOX")
    assert f'href="/webmail/f/{inbox}/sharing"' in page.text
    for name in ("INBOX", "Drafts", "Sent", "Trash", "Junk", "Archive"):
        assert f">{name}</a>" in page.text
    # INBOX cannot be deleted: no link offered; Archive can
    assert f"/webmail/folders/delete?folder={inbox}" not in page.text
    assert f'id="f-rename-{inbox}"' not in page.text  # nor renamed from here
    archive = folder_id(mail, ALICE, "Archive")
    assert f"/webmail/folders/delete?folder={archive}" in page.text
    # the settings and mail links of the frame are there
    assert 'href="/webmail/settings"' in page.text


def test_create_at_the_top_and_under_a_parent(mail: Webmail, alice: WebClient) -> None:
    page = alice.post("/webmail/folders/create", {"name": "Projects", "parent": ""})
    assert page.status == 303 and page.location == "/webmail/folders", page.text
    assert "Folder Projects created." in alice.follow(page).text
    parent = folder_id(mail, ALICE, "Projects")
    page = alice.post("/webmail/folders/create", {"name": "2024", "parent": str(parent)})
    assert page.status == 303, page.text
    imap = mail.imap(ALICE)
    try:
        names = imap_names(imap)
    finally:
        imap.logout()
    assert {"Projects", "Projects/2024"} <= names


def test_rename_and_move_are_seen_over_imap(mail: Webmail, alice: WebClient) -> None:
    alice.post("/webmail/folders/create", {"name": "Old", "parent": ""})
    old = folder_id(mail, ALICE, "Old")
    page = alice.post("/webmail/folders/rename", {"folder": str(old), "name": "New"})
    assert page.status == 303, page.text
    archive = folder_id(mail, ALICE, "Archive")
    page = alice.post("/webmail/folders/rename", {"folder": str(old), "name": "New",
                                                  "parent": str(archive)})
    assert page.status == 303, page.text
    imap = mail.imap(ALICE)
    try:
        names = imap_names(imap)
        assert "Archive/New" in names and "New" not in names and "Old" not in names
        assert folder_id(mail, ALICE, "Archive/New") == old  # the id survives
        # and back to the top
        page = alice.post("/webmail/folders/rename", {"folder": str(old), "name": "Top",
                                                      "parent": ""})
        assert page.status == 303, page.text
        names = imap_names(imap)
        assert "Top" in names and "Archive/New" not in names
    finally:
        imap.logout()


def test_the_move_page_offers_where_the_folder_may_go(mail: Webmail,
                                                     alice: WebClient) -> None:
    alice.post("/webmail/folders/create", {"name": "Box", "parent": ""})
    box = folder_id(mail, ALICE, "Box")
    alice.post("/webmail/folders/create", {"name": "Inner", "parent": str(box)})
    inner = folder_id(mail, ALICE, "Box/Inner")
    archive = folder_id(mail, ALICE, "Archive")
    page = alice.get(f"/webmail/folders/move?folder={box}")
    assert page.status == 200 and "Move the folder Box" in page.text
    assert f'<option value="{archive}">Archive</option>' in page.text
    assert f'<option value="{inner}"' not in page.text  # not inside itself
    assert f'<option value="{box}"' not in page.text
    page = alice.get(f"/webmail/folders/move?folder={inner}")
    assert f'<option value="{box}" selected>' in page.text
    assert f'href="/webmail/folders/move?folder={box}"' in alice.get("/webmail/folders").text


def test_delete_asks_first_then_deletes(mail: Webmail, alice: WebClient) -> None:
    alice.post("/webmail/folders/create", {"name": "Doomed", "parent": ""})
    doomed = folder_id(mail, ALICE, "Doomed")
    confirm = alice.get(f"/webmail/folders/delete?folder={doomed}")
    assert confirm.status == 200 and "Delete the folder Doomed?" in confirm.text
    page = alice.post("/webmail/folders/delete", {"folder": str(doomed)})
    assert page.status == 303, page.text
    imap = mail.imap(ALICE)
    try:
        assert "Doomed" not in imap_names(imap)
    finally:
        imap.logout()


def test_refusals_are_messages_with_their_status(mail: Webmail, alice: WebClient) -> None:
    inbox = folder_id(mail, ALICE, "INBOX")
    page = alice.post("/webmail/folders/delete", {"folder": str(inbox)})
    assert page.status == 403 and "INBOX cannot be deleted" in page.text
    alice.post("/webmail/folders/create", {"name": "Parent", "parent": ""})
    parent = folder_id(mail, ALICE, "Parent")
    alice.post("/webmail/folders/create", {"name": "Child", "parent": str(parent)})
    page = alice.post("/webmail/folders/delete", {"folder": str(parent)})
    assert page.status == 409 and "children" in page.text
    page = alice.post("/webmail/folders/create", {"name": "a/b", "parent": ""})
    assert page.status == 422 and "cannot be empty or contain" in page.text
    assert 'value="a/b"' in page.text  # the value is kept
    page = alice.post("/webmail/folders/create", {"name": "", "parent": ""})
    assert page.status == 422
    page = alice.post("/webmail/folders/create", {"name": "Parent", "parent": ""})
    assert page.status == 409, page.text
    page = alice.post("/webmail/folders/rename", {"folder": str(parent), "name": "In",
                                                  "parent": str(parent)})
    assert page.status == 422 and "inside itself" in page.text


def test_ids_of_others_are_the_same_404_as_missing_ones(mail: Webmail,
                                                        alice: WebClient) -> None:
    bobs = folder_id(mail, BOB, "INBOX")
    missing = 987654321
    answers = []
    for fid in (bobs, missing):
        got = [alice.get(f"/webmail/folders/delete?folder={fid}"),
               alice.get(f"/webmail/folders/move?folder={fid}"),
               alice.post("/webmail/folders/delete", {"folder": str(fid)}),
               alice.post("/webmail/folders/rename", {"folder": str(fid), "name": "X"}),
               alice.post("/webmail/folders/create", {"name": "X", "parent": str(fid)})]
        assert [p.status for p in got] == [404] * 5
        answers.append([neutral(p.text, fid) for p in got])
    assert answers[0] == answers[1]
    imap = mail.imap(BOB)
    try:
        assert "INBOX/X" not in imap_names(imap) and "X" not in imap_names(imap)
    finally:
        imap.logout()


@pytest.mark.parametrize("value", ["abc", "-1", "0", "1" * 25, "99999999999999999999"])
def test_junk_ids_are_404(alice: WebClient, value: str) -> None:
    assert alice.get(f"/webmail/folders/delete?folder={value}").status == 404
    assert alice.get(f"/webmail/folders/move?folder={value}").status == 404
    assert alice.post("/webmail/folders/delete", {"folder": value}).status == 404
    assert alice.post("/webmail/folders/rename", {"folder": value, "name": "x"}).status == 404
    assert alice.post("/webmail/folders/create", {"name": "x", "parent": value}).status == 404


def test_bad_requests_are_4xx(mail: Webmail, alice: WebClient) -> None:
    assert alice.post("/webmail/folders/create", {"name": "NoToken"}, csrf=False).status == 403
    page = alice.request("POST", "/webmail/folders/create", b'{"name": "x"}',
                         {"Content-Type": "application/json", "X-CSRF-Token": alice.csrf})
    assert page.status == 415
    page = alice.post("/webmail/folders/create", {"name": "x" * 10000, "parent": ""})
    assert page.status == 413
    page = alice.post("/webmail/folders/create", {"name": "x" * 1000, "parent": ""})
    assert 400 <= page.status < 500
    assert alice.get("/webmail/folders/create").status == 405
    assert alice.get("/webmail/folders/delete").status == 404
    assert alice.get("/webmail/folders/move").status == 404
    assert alice.post("/webmail/folders/move", {"folder": "1"}).status == 405
    anonymous = WebClient(mail.port)
    page = anonymous.get("/webmail/folders")
    assert page.status == 303 and page.location.startswith("/login")


def test_shared_folders_are_managed_with_the_rights_imap_needs(mail: Webmail,
                                                               alice: WebClient) -> None:
    """Bob may make subfolders in Alice's folder only with ``k``, as over IMAP."""
    alice.post("/webmail/folders/create", {"name": "Team", "parent": ""})
    imap = mail.imap(ALICE)
    try:
        assert imap.setacl("Team", BOB, "lr")[0] == "OK"
    finally:
        imap.logout()
    team = folder_id(mail, ALICE, "Team")
    bob = mail.client(BOB)
    page = bob.get("/webmail/folders")
    assert page.status == 200 and f"/webmail/f/{team}/sharing" in page.text
    assert re.search(rf'<option value="{team}"', page.text) is None  # no k: not a parent
    page = bob.post("/webmail/folders/create", {"name": "Sub", "parent": str(team)})
    assert page.status == 403, page.text
    imap = mail.imap(ALICE)
    try:
        assert imap.setacl("Team", BOB, "lrk")[0] == "OK"
    finally:
        imap.logout()
    page = bob.post("/webmail/folders/create", {"name": "Sub", "parent": str(team)})
    assert page.status == 303, page.text
    imap = mail.imap(BOB)
    try:
        assert f"Other Users/{ALICE}/Team/Sub" in imap_names(imap)
    finally:
        imap.logout()
