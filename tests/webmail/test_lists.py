"""The message list over HTTP against a real server: pages, sorts, conversations and search
over mail delivered by SMTP and APPENDed by IMAP; actions seen through IMAP; rights of a
folder shared read-only; bad input answered 4xx (docs/webmail/lists.md)."""

from __future__ import annotations

import json
import re

import pytest

from tests.support.webmail import Webmail
from tests.support.webmail_lists import (
    act,
    append,
    folders,
    imap_uids,
    message,
    rows,
    subjects,
    unread_rows,
)

DAY = "Mon, {d:02d} Jun 2026 10:00:00 +0000"


@pytest.fixture(scope="module")
def paged(mail: Webmail) -> str:
    """An account whose INBOX holds 12 messages with distinct dates, subjects and sizes."""
    who = mail.account("paged@example.test")
    imap = mail.imap(who)
    for i in range(1, 13):
        append(imap, "INBOX", message(who, f"Item {i:02d}", date=DAY.format(d=i),
                                      sender=f"Sender {13 - i:02d} <s{i}@remote.test>",
                                      body="x" * (100 * i)))
    imap.logout()
    return who


def test_pages_newest_first_with_counts_and_links(mail: Webmail, paged: str) -> None:
    web = mail.client(paged)
    inbox = folders(web)["INBOX"]
    first = web.get(f"/webmail/f/{inbox}?size=5")
    assert subjects(first) == [f"Item {i:02d}" for i in (12, 11, 10, 9, 8)]
    assert "1–5 of 12" in first.text
    assert 'rel="next"' in first.text and 'rel="last"' in first.text
    assert first.headers.get("Server-Timing", "").startswith("app;dur=")
    last = web.get(f"/webmail/f/{inbox}?size=5&page=3")
    assert subjects(last) == ["Item 02", "Item 01"] and "11–12 of 12" in last.text
    assert 'rel="prev"' in last.text and 'rel="next"' not in last.text
    beyond = web.get(f"/webmail/f/{inbox}?size=5&page=999")  # past the end: the last page
    assert subjects(beyond) == ["Item 02", "Item 01"]
    fragment = web.get(f"/webmail/f/{inbox}/rows?size=5&page=2")
    assert subjects(fragment) == [f"Item {i:02d}" for i in (7, 6, 5, 4, 3)]
    assert "<html" not in fragment.text
    assert fragment.headers.get("Server-Timing", "").startswith("app;dur=")


def test_page_size_is_capped_by_page_max(mail: Webmail, paged: str) -> None:
    web = mail.client(paged)
    inbox = folders(web)["INBOX"]
    page = web.get(f"/webmail/f/{inbox}?size=999999")  # page_max (200) applies
    assert len(rows(page)) == 12


def test_sorts(mail: Webmail, paged: str) -> None:
    web = mail.client(paged)
    inbox = folders(web)["INBOX"]
    base = f"/webmail/f/{inbox}?size=3"
    assert subjects(web.get(base + "&order=asc")) == ["Item 01", "Item 02", "Item 03"]
    assert subjects(web.get(base + "&sort=subject&order=asc")) == \
        ["Item 01", "Item 02", "Item 03"]
    assert subjects(web.get(base + "&sort=subject")) == ["Item 12", "Item 11", "Item 10"]
    assert subjects(web.get(base + "&sort=size")) == ["Item 12", "Item 11", "Item 10"]
    # "Sender 01" sent Item 12: from ascending starts there
    assert subjects(web.get(base + "&sort=from&order=asc")) == ["Item 12", "Item 11", "Item 10"]
    assert subjects(web.get(base + "&sort=arrival&order=asc")) == \
        ["Item 01", "Item 02", "Item 03"]


def test_subject_sort_uses_the_base_subject(mail: Webmail) -> None:
    who = mail.account("base@example.test")
    imap = mail.imap(who)
    for i, subject in enumerate(("Re: Banana", "apple", "Fwd: [list] Cherry")):
        append(imap, "INBOX", message(who, subject, date=DAY.format(d=i + 1)))
    imap.logout()
    web = mail.client(who)
    page = web.get(f"/webmail/f/{folders(web)['INBOX']}?sort=subject&order=asc")
    assert subjects(page) == ["apple", "Re: Banana", "Fwd: [list] Cherry"]


def test_conversations_group_by_references(mail: Webmail) -> None:
    who = mail.account("threads@example.test")
    imap = mail.imap(who)
    append(imap, "INBOX", message(who, "Plans", date=DAY.format(d=1), msgid="<a@x>"))
    append(imap, "INBOX", message(who, "Lonely", date=DAY.format(d=2), msgid="<z@x>"))
    append(imap, "INBOX", message(who, "Re: Plans", date=DAY.format(d=3), msgid="<b@x>",
                                  refs="<a@x>"))
    append(imap, "INBOX", message(who, "Re: Plans", date=DAY.format(d=4), msgid="<c@x>",
                                  refs="<a@x> <b@x>"))
    imap.logout()
    web = mail.client(who)
    inbox = folders(web)["INBOX"]
    page = web.get(f"/webmail/f/{inbox}?thread=1")
    # the Plans conversation has the newest message: it comes first, its messages nested
    assert subjects(page) == ["Plans", "Re: Plans", "Re: Plans", "Lonely"]
    assert "1–2 of 2" in page.text and 'class="count"' in page.text
    assert re.search(r'class="msg[^"]*depth-2[^"]*"', page.text)
    one = web.get(f"/webmail/f/{inbox}?thread=1&size=1&page=2")  # paged by conversation
    assert subjects(one) == ["Lonely"]
    searched = web.get(f"/webmail/f/{inbox}?thread=1&q=Lonely")
    assert subjects(searched) == ["Lonely"]


def test_search(mail: Webmail) -> None:
    who = mail.account("search@example.test")
    imap = mail.imap(who)
    append(imap, "INBOX", message(who, "Invoice March", sender="billing@shop.test",
                                  date=DAY.format(d=1), body="Total due: 40 kiwis"))
    append(imap, "INBOX", message(who, "Holiday photos", sender="Ann <ann@family.test>",
                                  date=DAY.format(d=2), body="See the beach",
                                  attachment=b"%PDF-1.4 tiny"), r"(\Seen \Flagged)")
    append(imap, "INBOX", message(who, "Re: invoice", sender="ann@family.test",
                                  date=DAY.format(d=3), body="Paid."), r"(\Answered)")
    imap.logout()
    mail.deliver(who, subject="Delivered by SMTP", body="smtp kiwis", sender="x@remote.test")
    web = mail.client(who)
    inbox = folders(web)["INBOX"]

    def found(query: str) -> list[str]:
        return sorted(subjects(web.get(f"/webmail/f/{inbox}?{query}")))

    assert found("q=invoice") == ["Invoice March", "Re: invoice"]
    assert found("q=kiwis") == ["Delivered by SMTP", "Invoice March"]
    assert found("from=ann") == ["Holiday photos", "Re: invoice"]
    assert found("from=ann&subject=invoice") == ["Re: invoice"]
    assert found("to=search%40example.test&q=beach") == ["Holiday photos"]
    assert found("body=beach") == ["Holiday photos"]
    assert found("subject=beach") == []
    assert found("flag=flagged") == ["Holiday photos"]
    assert found("flag=answered") == ["Re: invoice"]
    assert found("flag=seen") == ["Holiday photos"]
    assert "Holiday photos" not in found("flag=unseen")
    assert found("attach=1") == ["Holiday photos"]
    page = web.get(f"/webmail/f/{inbox}?q=nothing-like-this")
    assert rows(page) == [] and "No message matches." in page.text
    # arrival dates: everything arrived today; a window before today finds nothing
    assert found("before=2000-01-01") == []
    assert len(found("since=2000-01-01")) == 4
    assert 'class="mark attach"' in web.get(f"/webmail/f/{inbox}?attach=1").text


def test_unread_bold_flags_and_actions_seen_by_imap(mail: Webmail) -> None:
    who = mail.account("acts@example.test")
    for i in range(4):
        mail.deliver(who, subject=f"Act {i}")
    web = mail.client(who)
    ids = folders(web)
    inbox = ids["INBOX"]
    uids = rows(web.get(f"/webmail/f/{inbox}"))
    assert len(uids) == 4 and unread_rows(web.get(f"/webmail/f/{inbox}")) == uids
    done = act(web, inbox, "read", uids[:2], json=True)
    assert done.status == 200 and json.loads(done.text) == {"ok": True, "count": 2}
    imap = mail.imap(who)
    assert sorted(imap_uids(imap, "INBOX", "SEEN")) == sorted(uids[:2])
    assert act(web, inbox, "unread", uids[:1], json=True).status == 200
    assert imap_uids(imap, "INBOX", "SEEN") == [uids[1]]
    redirect = act(web, inbox, "flag", uids[2:3])
    assert redirect.status == 303 and redirect.location == f"/webmail/f/{inbox}"
    assert imap_uids(imap, "INBOX", "FLAGGED") == [uids[2]]
    assert 'class="msg unread flagged' in web.get(f"/webmail/f/{inbox}").text
    assert act(web, inbox, "unflag", uids[2:3], json=True).status == 200
    assert imap_uids(imap, "INBOX", "FLAGGED") == []
    # delete = move to Trash; in Trash: for good, after a confirmation
    assert act(web, inbox, "delete", uids[:1], json=True).status == 200
    assert uids[0] not in imap_uids(imap, "INBOX")
    trash = imap_uids(imap, "Trash")
    assert len(trash) == 1
    ask = act(web, ids["Trash"], "delete", trash)
    assert ask.status == 200 and "Delete for good?" in ask.text
    assert imap_uids(imap, "Trash") == trash
    assert act(web, ids["Trash"], "delete", trash, confirm=True).status == 303
    assert imap_uids(imap, "Trash") == []
    # move and copy
    assert act(web, inbox, "copy", uids[1:2], target=ids["Archive"], json=True).status == 200
    assert len(imap_uids(imap, "Archive")) == 1 and uids[1] in imap_uids(imap, "INBOX")
    assert act(web, inbox, "move", uids[1:2], target=ids["Archive"], json=True).status == 200
    assert len(imap_uids(imap, "Archive")) == 2 and uids[1] not in imap_uids(imap, "INBOX")
    # spam to Junk, not spam back to INBOX
    assert act(web, inbox, "spam", uids[2:3], json=True).status == 200
    junk = imap_uids(imap, "Junk")
    assert len(junk) == 1 and uids[2] not in imap_uids(imap, "INBOX")
    assert act(web, inbox, "ham", uids[3:4], json=True).status == 422  # not in Junk
    assert act(web, ids["Junk"], "ham", junk, json=True).status == 200
    assert imap_uids(imap, "Junk") == [] and len(imap_uids(imap, "INBOX")) == 2
    # expunge asks first without JS too
    keep = imap_uids(imap, "Archive")
    assert "Delete for good?" in act(web, ids["Archive"], "expunge", keep[:1]).text
    assert act(web, ids["Archive"], "expunge", keep[:1], json=True).status == 200
    assert imap_uids(imap, "Archive") == keep[1:]
    imap.logout()


def test_empty_trash_and_junk(mail: Webmail) -> None:
    who = mail.account("empty@example.test")
    for i in range(3):
        mail.deliver(who, subject=f"Bin {i}")
    web = mail.client(who)
    ids = folders(web)
    uids = rows(web.get(f"/webmail/f/{ids['INBOX']}"))
    assert act(web, ids["INBOX"], "delete", uids[:2], json=True).status == 200
    assert act(web, ids["INBOX"], "spam", uids[2:], json=True).status == 200
    ask = web.get(f"/webmail/f/{ids['Trash']}/empty")
    assert ask.status == 200 and "cannot be undone" in ask.text
    assert "Empty Trash" in web.get(f"/webmail/f/{ids['Trash']}").text
    done = web.post(f"/webmail/f/{ids['Trash']}/empty")
    assert done.status == 303
    assert web.post(f"/webmail/f/{ids['Junk']}/empty",
                    headers={"Accept": "application/json"}).text == '{"ok":true,"count":1}'
    imap = mail.imap(who)
    assert imap_uids(imap, "Trash") == [] and imap_uids(imap, "Junk") == []
    imap.logout()
    assert web.get(f"/webmail/f/{ids['INBOX']}/empty").status == 422
    assert web.post(f"/webmail/f/{ids['INBOX']}/empty").status == 422
    assert web.post(f"/webmail/f/{ids['Trash']}/empty", csrf=False).status == 403


def test_read_only_shared_folder(mail: Webmail) -> None:
    owner = mail.account("owner@example.test")
    reader = mail.account("reader@example.test")
    mail.deliver(owner, subject="Shared one")
    imap = mail.imap(owner)
    typ, _ = imap.setacl("INBOX", reader, "lr")
    assert typ == "OK"
    imap.logout()
    owner_inbox = folders(mail.client(owner))["INBOX"]
    web = mail.client(reader)
    page = web.get(f"/webmail/f/{owner_inbox}")
    assert subjects(page) == ["Shared one"]
    uid = rows(page)
    assert 'value="delete"' not in page.text and 'value="move"' not in page.text
    assert 'value="spam"' not in page.text
    for action, target in (("delete", None), ("move", folders(web)["INBOX"]),
                           ("spam", None), ("expunge", None), ("read", None)):
        refused = act(web, owner_inbox, action, uid, target=target, json=True)
        assert refused.status == 403, (action, refused.text)
        assert json.loads(refused.text)["status"] == 403
    assert act(web, owner_inbox, "delete", uid, confirm=True).status == 403
    # copying out is reading: allowed
    assert act(web, owner_inbox, "copy", uid, target=folders(web)["INBOX"],
               json=True).status == 200
    imap = mail.imap(owner)
    assert len(imap_uids(imap, "INBOX")) == 1
    imap.logout()


def test_bad_input_is_4xx(mail: Webmail, paged: str) -> None:
    web = mail.client(paged)
    ids = folders(web)
    inbox = ids["INBOX"]
    for query in ("sort=bogus", "order=up", "page=0", "page=-1", "page=abc", "size=x",
                  "since=2026-13-01", "before=yesterday", "since=2026-1-1", "flag=purple",
                  "thread=2", "attach=yes", "page=1&page=2", "q=" + "a" * 501,
                  "page=99999999999999999999"):
        for path in (f"/webmail/f/{inbox}", f"/webmail/f/{inbox}/rows"):
            assert web.get(f"{path}?{query}").status == 400, query
    # folders: unknown, another user's, junk ids: the same 404
    other = mail.account("stranger@example.test")
    theirs = folders(mail.client(other))["INBOX"]
    answers = {web.get(f"/webmail/f/{fid}").text
               for fid in (theirs, 999999, "abc", "0", "-1", "99999999999999999999")}
    assert len(answers) == 1 and web.get(f"/webmail/f/{theirs}").status == 404
    assert web.get(f"/webmail/f/{theirs}/rows").status == 404
    assert web.get(f"/webmail/f/{theirs}/empty").status == 404
    uid = rows(web.get(f"/webmail/f/{inbox}"))[0]
    assert act(web, theirs, "read", [1]).status == 404
    assert act(web, theirs, "read", [1]).text == web.get(f"/webmail/f/{theirs}").text
    assert act(web, inbox, "read", [999999], json=True).status == 404
    assert act(web, inbox, "move", [uid], target=theirs, json=True).status == 404
    assert act(web, inbox, "move", [uid], target=999999, json=True).status == 404
    assert act(web, inbox, "move", [uid], extra=[("target", "junk")]).status == 404
    assert act(web, inbox, "move", [uid], json=True).status == 422  # no target
    assert act(web, inbox, "move", [uid], target=inbox, json=True).status == 422
    assert act(web, inbox, "explode", [uid], json=True).status == 422
    assert act(web, inbox, "read", [], json=True).status == 422
    assert act(web, inbox, "read", [uid], csrf=False, json=True).status == 403
    junk = web.request("POST", f"/webmail/f/{inbox}/act",
                       b"action=read&uid=abc&csrf=" + web.csrf.encode(),
                       {"Content-Type": "application/x-www-form-urlencoded"})
    assert junk.status == 400
    for odd in ("%C2%B2", "1" * 25):  # "²" passes str.isdigit() but not int(); too long
        assert act(web, inbox, "read", [], extra=[("uid", "²" if odd == "%C2%B2" else odd)]
                   ).status == 400
        assert act(web, inbox, "move", [uid], extra=[("target", odd.replace("%C2%B2", "²"))]
                   ).status == 404
        assert web.get(f"/webmail/f/{odd}").status == 404
        assert web.get(f"/webmail/f/{odd}/rows").status == 404
    assert web.get("/webmail/tree?current=%C2%B2").status == 200  # the tree's id too
    typed = web.request("POST", f"/webmail/f/{inbox}/act", b'{"action": "read"}',
                        {"Content-Type": "application/json", "X-CSRF-Token": web.csrf})
    assert typed.status == 415
    many = [(uid,) for uid in range(1, 1002)]
    assert act(web, inbox, "read", [u for (u,) in many]).status == 413
    # next must be webmail's own path
    away = act(web, inbox, "read", [uid], extra=[("next", "https://evil.test/")])
    assert away.status == 303 and away.location == f"/webmail/f/{inbox}"
    there = act(web, inbox, "read", [uid], extra=[("next", f"/webmail/f/{inbox}?page=1")])
    assert there.location == f"/webmail/f/{inbox}?page=1"
    assert act(web, inbox, "read", [uid], extra=[("next", "//evil.test/x")]).location == \
        f"/webmail/f/{inbox}"


def test_equal_dates_list_newest_first(mail: Webmail) -> None:
    who = mail.account("ties@example.test")
    imap = mail.imap(who)
    for i in range(3):
        append(imap, "INBOX", message(who, f"Same {i}", date=DAY.format(d=5)))
    imap.logout()
    web = mail.client(who)
    inbox = folders(web)["INBOX"]
    assert subjects(web.get(f"/webmail/f/{inbox}")) == ["Same 2", "Same 1", "Same 0"]
    assert subjects(web.get(f"/webmail/f/{inbox}?order=asc")) == ["Same 0", "Same 1", "Same 2"]


def test_own_seen_in_a_shared_folder(mail: Webmail) -> None:
    owner = mail.account("sharer@example.test")
    reader = mail.account("peeker@example.test")
    mail.deliver(owner, subject="Team news")
    imap = mail.imap(owner)
    assert imap.setacl("INBOX", reader, "lrs")[0] == "OK"
    imap.logout()
    own = mail.client(owner)
    inbox = folders(own)["INBOX"]
    web = mail.client(reader)
    uid = rows(web.get(f"/webmail/f/{inbox}"))
    assert unread_rows(web.get(f"/webmail/f/{inbox}")) == uid
    assert act(web, inbox, "read", uid, json=True).status == 200
    assert unread_rows(web.get(f"/webmail/f/{inbox}")) == []
    assert rows(web.get(f"/webmail/f/{inbox}?flag=unseen")) == []
    assert rows(web.get(f"/webmail/f/{inbox}?flag=seen")) == uid
    assert unread_rows(own.get(f"/webmail/f/{inbox}")) == uid  # the owner's is their own
    assert rows(own.get(f"/webmail/f/{inbox}?flag=unseen")) == uid
