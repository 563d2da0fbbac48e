"""Webmail's sharing screen (/webmail/f/{fid}/sharing): entries as presets and in words, changes
through AclService (checked over IMAP GETACL/MYRIGHTS and in the audit log), the read-only
MYRIGHTS view, "apply to subfolders" for administrators only, and bad input: 4xx, never a 500,
and a folder the user may not see is the same 404 as a missing one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server import RunningServer, server_config
from tests.support.web import WebClient
from tests.support.webmail import WEBMAIL, Webmail
from tests.support.webmail_manage import (
    audit,
    folder_id,
    getacl,
    imap_names,
    make_admin,
    myrights,
    neutral,
)

ALICE = "alice@share.test"
BOB = "bob@share.test"
CAROL = "carol@share.test"
BOSS = "boss@share.test"
TEAM = "team@share.test"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """Administrators may log in without a second factor here (apply-to-subfolders tests);
    the picker suggests two accounts at most (web.webmail.sharing_suggestions)."""
    extra = [*WEBMAIL, 'web.totp_admins="optional"', "web.webmail.sharing_suggestions=2"]
    srv = RunningServer(server_config(Path(tmp_path_factory.mktemp("sharing")), extra=extra))
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def alice(mail: Webmail) -> WebClient:
    for address in (ALICE, BOB, CAROL, BOSS):
        mail.account(address)
    from postroom.core.actor import Actor
    mail.server.call(mail.server.services.admin.groups.add(Actor.operator(), TEAM,
                                                           members=[BOB, CAROL]))
    web = mail.client(ALICE)
    web.get("/webmail/folders")  # a page with the CSRF token
    for name in ("Projects", "Reports"):
        assert web.post("/webmail/folders/create", {"name": name, "parent": ""}).status == 303
    return web


def url(mail: Webmail, name: str, owner: str = ALICE) -> str:
    return f"/webmail/f/{folder_id(mail, owner, name)}/sharing"


def share(web: WebClient, path: str, **fields: str) -> object:
    data = {"action": "set", "kind": "user", "who": "", "preset": "read", **fields}
    return web.post(path, data)


def test_share_read_only_then_read_write_then_remove(mail: Webmail, alice: WebClient) -> None:
    path = url(mail, "Projects")
    page = alice.get(path)
    assert page.status == 200
    assert "always has all rights" in page.text and ALICE in page.text
    assert BOB in page.text  # suggested by the picker (the same domain)
    page = alice.post(path, {"action": "set", "kind": "user", "who": BOB, "preset": "read"})
    assert page.status == 303, page.text
    shown = alice.follow(page).text
    assert "see the folder, read messages, keep read/unread state" in shown
    a, b = mail.imap(ALICE), mail.imap(BOB)
    try:
        assert getacl(a, "Projects")[BOB] == "lrs"
        shared = f"Other Users/{ALICE}/Projects"
        assert shared in imap_names(b)
        assert myrights(b, shared) == "lrs"
        records = audit(mail, "acl.set")
        assert records and records[0].target == f"{ALICE}:Projects"
        assert records[0].origin.startswith("webmail:")
        assert records[0].detail["identifier"] == BOB and records[0].detail["rights"] == "lrs"
        # bob's tree shows it, as IMAP LIST does
        tree = mail.client(BOB).get("/webmail/tree").text
        assert '<span class="label">Projects</span>' in tree and ALICE in tree
        # read-write
        page = alice.post(path, {"action": "set", "kind": "user", "who": BOB,
                                 "preset": "read-write"})
        assert page.status == 303, page.text
        assert getacl(a, "Projects")[BOB] == "lrswipkxtecd"  # RFC 4314 §2.1.1 c, d
        assert myrights(b, shared) == "lrswipkxtecd"
        # the change link fills the form in with the entry
        page = alice.get(f"{path}?edit={BOB}")
        assert 'id="r-read-write" name="preset" value="read-write" checked' in page.text
        # custom rights, one checkbox per right
        page = alice.request("POST", path, (
            f"csrf={alice.csrf}&action=set&kind=user&who={BOB}&preset=custom"
            "&right=l&right=r&right=w").encode(),
            {"Content-Type": "application/x-www-form-urlencoded"})
        assert page.status == 303, page.text
        assert getacl(a, "Projects")[BOB] == "lrw"
        page = alice.follow(page)
        assert "Custom</strong>: see the folder, read messages, change flags" in page.text
        # remove
        page = alice.post(path, {"action": "delete", "identifier": BOB})
        assert page.status == 303, page.text
        assert BOB not in getacl(a, "Projects")
        assert audit(mail, "acl.delete")[0].detail["identifier"] == BOB
        assert shared not in imap_names(b)
    finally:
        a.logout()
        b.logout()


def test_every_kind_of_entry_is_shown_in_words(mail: Webmail, alice: WebClient) -> None:
    path = url(mail, "Reports")
    for fields in ({"kind": "group", "who": TEAM, "preset": "read"},
                   {"kind": "anyone", "preset": "read"},
                   {"kind": "authenticated", "preset": "full"},
                   {"kind": "user", "who": CAROL, "preset": "custom", "custom": "w",
                    "deny": "on"}):
        page = alice.post(path, {"action": "set", "who": "", **fields})
        assert page.status == 303, (fields, page.text)
    a = mail.imap(ALICE)
    try:
        acl = getacl(a, "Reports")
    finally:
        a.logout()
    assert acl[f"${TEAM}"] == "lrs" and acl["anyone"] == "lrs" and acl[f"-{CAROL}"] == "w"
    assert acl["authenticated"] == "lrswipkxteacd"
    shown = alice.get(path).text
    assert f"group {TEAM}" in shown and "anyone, even anonymous" in shown
    assert "anyone logged in" in shown and "<strong>Denied:</strong> " + CAROL in shown
    assert "Full (may also share)" in shown
    assert "change who may access it" in shown
    # carol (in the group, minus her negative entry) over IMAP
    c = mail.imap(CAROL)
    try:
        assert "w" not in myrights(c, f"Other Users/{ALICE}/Reports")
    finally:
        c.logout()


def test_read_only_view_without_admin_right(mail: Webmail, alice: WebClient) -> None:
    path = url(mail, "Projects")
    assert alice.post(path, {"action": "set", "kind": "user", "who": BOB,
                             "preset": "read"}).status == 303
    bob = mail.client(BOB)
    page = bob.get(path)
    assert page.status == 200
    assert "Your rights in this folder" in page.text
    assert "See the folder, read messages, keep read/unread state." in page.text
    assert "Save access" not in page.text and "Give or change access" not in page.text
    before = len(audit(mail, "acl.set"))
    page = bob.post(path, {"action": "set", "kind": "user", "who": CAROL, "preset": "full"})
    assert page.status == 403
    page = bob.post(path, {"action": "delete", "identifier": BOB})
    assert page.status == 403
    assert len(audit(mail, "acl.set")) == before
    a = mail.imap(ALICE)
    try:
        assert getacl(a, "Projects")[BOB] == "lrs"
    finally:
        a.logout()
    # with "a" granted, bob gets the editor for alice's folder
    assert alice.post(path, {"action": "set", "kind": "user", "who": BOB,
                             "preset": "full"}).status == 303
    page = bob.get(path)
    assert "Give or change access" in page.text and f"{ALICE} <span" in page.text
    assert "Apply to subfolders" not in page.text


def test_a_folder_not_seen_is_the_same_404_as_a_missing_one(mail: Webmail,
                                                             alice: WebClient) -> None:
    hidden = folder_id(mail, ALICE, "Drafts")
    missing = 987654321
    carol = mail.client(CAROL)
    carol.get("/webmail/folders")
    answers = []
    for fid in (hidden, missing):
        got = [carol.get(f"/webmail/f/{fid}/sharing"),
               carol.post(f"/webmail/f/{fid}/sharing", {"action": "set", "kind": "user",
                                                       "who": CAROL, "preset": "full"}),
               carol.post(f"/webmail/f/{fid}/sharing", {"action": "delete",
                                                       "identifier": CAROL})]
        assert [p.status for p in got] == [404, 404, 404]
        answers.append([neutral(p.text, fid) for p in got])
    assert answers[0] == answers[1]
    for junk in ("abc", "0", "-5", "9" * 30):
        assert carol.get(f"/webmail/f/{junk}/sharing").status == 404


@pytest.mark.parametrize("fields, word", [
    ({"preset": "custom", "custom": "Z"}, "invalid ACL right"),
    ({"preset": "custom"}, "choose a preset"),
    ({"preset": "bogus"}, "choose a preset"),
    ({"preset": "custom", "custom": "9"}, "site-defined"),
    ({"who": "nobody@share.test"}, "no account"),
    ({"who": "not an address"}, "invalid"),
    ({"who": ""}, "give the user"),
    ({"kind": "group", "who": "$ghosts@share.test"}, "no group"),
    ({"kind": "planet"}, "choose a user"),
])
def test_bad_entries_are_422_with_the_form_kept(mail: Webmail, alice: WebClient,
                                                fields: dict[str, str], word: str) -> None:
    path = url(mail, "Reports")
    alice.get(path)
    data = {"action": "set", "kind": "user", "who": CAROL, "preset": "read", **fields}
    page = alice.post(path, data)
    assert page.status == 422, page.text
    assert word in page.text and 'role="alert"' in page.text
    if data["who"]:
        assert f'value="{data["who"]}"' in page.text


def test_bad_requests_are_4xx(mail: Webmail, alice: WebClient) -> None:
    path = url(mail, "Reports")
    alice.get(path)
    assert alice.post(path, {"action": "set", "who": CAROL}, csrf=False).status == 403
    page = alice.request("POST", path, b"{}", {"Content-Type": "application/json",
                                                "X-CSRF-Token": alice.csrf})
    assert page.status == 415
    assert alice.post(path, {"action": "set", "who": "x" * 9000}).status == 413
    # a plain user may not apply to subfolders: refused by the service, nothing copied
    page = alice.post(path, {"action": "apply"})
    assert page.status == 403
    page = alice.post(path, {"action": "set", "kind": "user", "who": CAROL,
                             "preset": "read", "apply": "on"})
    assert page.status == 303  # the entry is set; "apply" is not offered, so ignored
    assert not audit(mail, "acl.apply-to-subfolders")
    assert "Apply to subfolders" not in alice.get(path).text


def test_apply_to_subfolders_for_administrators(mail: Webmail, alice: WebClient) -> None:
    make_admin(mail, BOSS, "share.test")
    boss = mail.client(BOSS)
    boss.get("/webmail/folders")
    assert boss.post("/webmail/folders/create", {"name": "Dept", "parent": ""}).status == 303
    dept = folder_id(mail, BOSS, "Dept")
    assert boss.post("/webmail/folders/create", {"name": "Sub",
                                                 "parent": str(dept)}).status == 303
    path = f"/webmail/f/{dept}/sharing"
    page = boss.get(path)
    assert "Apply to subfolders" in page.text
    page = boss.post(path, {"action": "set", "kind": "user", "who": BOB, "preset": "read",
                            "apply": "on"})
    assert page.status == 303, page.text
    assert "Copied to 1 subfolders" in boss.follow(page).text
    a = mail.imap(BOSS)
    try:
        assert getacl(a, "Dept/Sub")[BOB] == "lrs"
    finally:
        a.logout()
    assert boss.post(path, {"action": "apply"}).status == 303
    records = audit(mail, "acl.apply-to-subfolders")
    assert records and records[0].target == f"{BOSS}:Dept"
    # the administrator of the domain also administers alice's folder (as over IMAP)
    page = boss.get(url(mail, "Reports"))
    assert page.status == 200 and "Apply to subfolders" in page.text


def test_the_picker_suggests_at_most_the_configured_number(mail: Webmail,
                                                           alice: WebClient) -> None:
    """web.webmail.sharing_suggestions=2: the first two accounts of alice's domain (herself
    left out) and its groups; a third is not offered but can still be typed."""
    page = alice.get(url(mail, "Reports")).text
    datalist = page.split('<datalist id="who-list">')[1].split("</datalist>")[0]
    assert f'value="{BOB}"' in datalist and f'value="{BOSS}"' in datalist
    assert f'value="{CAROL}"' not in datalist and f'value="{ALICE}"' not in datalist
    assert f'value="${TEAM}"' in datalist


def test_rights_checklist_follows_the_stored_letters() -> None:
    from postroom.access import presets
    listed = presets.checklist("lrw")
    assert [letter for letter, _, _ in listed] == list("lrswipkxtea")
    assert [letter for letter, _, held in listed if held] == ["l", "r", "w"]
    assert dict((letter, meaning) for letter, meaning, _ in listed)["a"] == \
        "change who may access it"


def test_a_public_folder_shared_with_admin_right(mail: Webmail, alice: WebClient) -> None:
    """A public folder whose ACL gives alice ``a``: the editor, "administrators always have
    all rights" instead of an owner, and her change reads back over IMAP."""
    from postroom.core.actor import Actor
    operator = Actor.operator()
    folders = mail.server.services.admin.folders
    mail.server.call(folders.create(operator, None, "Sales"))
    mail.server.call(folders.set_acl(operator, None, "Sales", ALICE, "lrsa"))
    path = url(mail, "Public Folders/Sales")
    page = alice.get(path)
    assert page.status == 200, page.text
    assert "always have all rights" in page.text and "Give or change access" in page.text
    assert alice.post(path, {"action": "set", "kind": "user", "who": CAROL,
                             "preset": "read"}).status == 303
    c = mail.imap(CAROL)
    try:
        assert myrights(c, "Public Folders/Sales") == "lrs"
    finally:
        c.logout()
    assert audit(mail, "acl.set")[0].target == "public:Sales"
    # an entry to change that is not there: the form with defaults
    page = alice.get(f"{path}?edit=nobody%40share.test")
    assert page.status == 200 and 'id="r-read" name="preset" value="read" checked' in page.text
