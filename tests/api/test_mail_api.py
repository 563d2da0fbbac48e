"""/api/v1 for mail data: a user's folders, public folders with a posting address, the
caller's own folders, ACLs with apply-to-subfolders, and the queue."""

from __future__ import annotations

import asyncio
import imaplib

from postroom.core.records import NewEntry
from tests.api.conftest import PASSWORD, Clients, q
from tests.support.factory import message
from tests.support.tls import insecure_context


def test_user_folders_create_list_rename_delete(api: Clients) -> None:
    base = "/api/v1/users/ann@example.test/folders"
    r = api.root.post(base, {"name": "Projects/2026"})
    assert r.status == 201 and r.json["folder"] == "Projects/2026" and r.json["type"] == "mail"
    assert api.root.post(base, {"name": "Projects/2026"}).status == 409
    names = [f["folder"] for f in api.root.get(base).json]
    assert {"INBOX", "Junk", "Projects", "Projects/2026"} <= set(names)
    assert api.root.patch(base + "/" + q("Projects/2026"), {"name": "Projects/Old"}
                          ).status == 204
    assert api.root.delete(base + "/" + q("Projects/Old")).status == 204
    assert "Projects/Old" not in [f["folder"] for f in api.root.get(base).json]
    r = api.root.delete(base + "/" + q("No/Such"))
    assert r.status == 404 and r.json["detail"]
    cal = api.root.post(base, {"name": "Calendar", "type": "calendar"})
    assert cal.json["type"] == "calendar"
    # a posting address is for public folders only
    assert api.root.post(base, {"name": "X", "address": "x@example.test"}).status == 422


def test_public_folder_with_posting_address_and_group_acl(api: Clients) -> None:
    api.root.post("/api/v1/groups", {"group": "staff@example.test",
                                     "members": ["ann@example.test"]})
    r = api.root.post("/api/v1/public/folders", {"name": "Support",
                                                 "address": "support@example.test"})
    assert r.status == 201 and r.json["address"] == "support@example.test"
    api.root.post("/api/v1/public/folders", {"name": "Support/Archive"})
    listed = {f["folder"]: f for f in api.root.get("/api/v1/public/folders").json}
    assert listed["Support"]["address"] == "support@example.test"
    r = api.root.put("/api/v1/public/acl/Support", {
        "identifier": "$staff@example.test", "rights": "lrsip", "apply_to_subfolders": True})
    assert r.status == 200 and r.json["rights"] == "lrsip" and r.json["subfolders"] == 1
    sub = api.root.get("/api/v1/public/acl/" + q("Support/Archive")).json
    assert {"identifier": "$staff@example.test", "rights": "lrsip"} in sub["entries"]
    # the grant is what IMAP sees (GETACL, RFC 4314 §3.3) and it works: the group member
    # selects the folder and its subfolder and may post into it
    with imaplib.IMAP4_SSL("127.0.0.1", api.srv.port("imaps"),
                           ssl_context=insecure_context()) as imap:
        imap.login("root@example.test", PASSWORD)
        typ, data = imap.getacl('"Public Folders/Support/Archive"')
        assert typ == "OK" and b"$staff@example.test lrsip" in data[0]
    with imaplib.IMAP4_SSL("127.0.0.1", api.srv.port("imaps"),
                           ssl_context=insecure_context()) as imap:
        imap.login("ann@example.test", PASSWORD)
        assert imap.select('"Public Folders/Support"')[0] == "OK"
        assert imap.select('"Public Folders/Support/Archive"')[0] == "OK"
        typ, data = imap.myrights('"Public Folders/Support"')
        assert typ == "OK" and data[0].endswith(b" lrsip"), data
    assert api.root.post("/api/v1/public/acl-apply/Support").json["count"] == 1
    r = api.root.delete("/api/v1/public/acl/Support?identifier=%24staff%40example.test"
                        "&apply_to_subfolders=true")
    assert r.status == 200 and r.json["rights"] == "" and r.json["subfolders"] == 1
    assert all(e["identifier"] != "$staff@example.test" for e in
               api.root.get("/api/v1/public/acl/" + q("Support/Archive")).json["entries"])
    assert api.root.patch("/api/v1/public/folders/Support", {"name": "Helpdesk"}).status == 204
    assert api.root.delete("/api/v1/public/folders/" + q("Helpdesk/Archive")).status == 204
    assert api.root.delete("/api/v1/public/folders/Helpdesk").status == 204
    # public folders are for global administrators
    assert api.boss.get("/api/v1/public/folders").status == 403


def test_user_acl_get_set_delete(api: Clients) -> None:
    api.root.post("/api/v1/users/ann@example.test/folders", {"name": "Shared"})
    acl = "/api/v1/users/ann@example.test/acl/Shared"
    r = api.root.put(acl, {"identifier": "boss@example.test", "rights": "lr"})
    assert r.json == {"identifier": "boss@example.test", "rights": "lr"}
    assert api.root.put(acl, {"identifier": "boss@example.test", "rights": "+w"}
                        ).json["rights"] == "lrw"
    entries = api.root.get(acl).json["entries"]
    assert {"identifier": "boss@example.test", "rights": "lrw"} in entries
    bad = api.root.put(acl, {"identifier": "boss@example.test", "rights": "lrZ"})
    assert bad.status == 422
    api.root.post("/api/v1/users/ann@example.test/folders", {"name": "Shared/Sub"})
    assert api.root.post("/api/v1/users/ann@example.test/acl-apply/Shared").json == \
        {"count": 1}
    sub = api.root.get("/api/v1/users/ann@example.test/acl/Shared/Sub").json["entries"]
    assert {"identifier": "boss@example.test", "rights": "lrw"} in sub
    assert api.root.delete(acl + "?identifier=boss@example.test").json["rights"] == ""
    assert api.root.delete(acl).status == 422  # the identifier is required


def test_own_folders_and_sharing(api: Clients) -> None:
    """A user with a self token: their own folders and ACLs, as the gate allows over IMAP."""
    r = api.ann.post("/api/v1/me/folders", {"name": "Mine"})
    assert r.status == 201
    assert "Mine" in [f["folder"] for f in api.ann.get("/api/v1/me/folders").json]
    r = api.ann.put("/api/v1/me/acl/Mine", {"identifier": "boss@example.test", "rights": "lr"})
    assert r.status == 200 and r.json["rights"] == "lr"
    assert api.ann.get("/api/v1/me/acl/Mine").json["folder"] == "Mine"
    assert api.ann.delete("/api/v1/me/acl/Mine?identifier=boss@example.test").status == 200
    applied = api.ann.put("/api/v1/me/acl/Mine", {  # the ACL service says who may
        "identifier": "boss@example.test", "rights": "lr", "apply_to_subfolders": True})
    assert applied.status == 403 and applied.detail == \
        "apply to subfolders is an administrator action"
    assert api.ann.patch("/api/v1/me/folders/Mine", {"name": "Mine2"}).status == 204
    assert api.ann.delete("/api/v1/me/folders/Mine2").status == 204
    # not someone else's
    assert api.ann.get("/api/v1/users/boss@example.test/folders").status == 404
    assert api.ann.get("/api/v1/users/ann@example.test/acl/INBOX").status == 200  # own


def queued(api: Clients, count: int) -> list[int]:
    s = api.srv.services

    async def make() -> list[int]:
        blob = await asyncio.get_running_loop().run_in_executor(
            None, s.store.blobs.put_bytes, message("queued"))
        return await s.queue.enqueue([NewEntry("ann@example.test", ["x@remote.invalid"], blob,
                                               b"", {"remote": True}, state="hold")
                                      for _ in range(count)])
    return api.srv.call(make())


def test_queue_list_show_content_and_actions(api: Clients) -> None:
    first, second, third, fourth = queued(api, 4)
    ids = [e["id"] for e in api.root.get("/api/v1/queue").json]
    assert {first, second, third, fourth} <= set(ids)
    shown = api.root.get(f"/api/v1/queue/{first}").json
    assert shown["state"] == "hold" and shown["recipients"] == ["x@remote.invalid"]
    assert shown["destination"] == "remote"
    content = api.root.get(f"/api/v1/queue/{first}/content")
    assert content.headers["Content-Type"].startswith("message/rfc822")
    assert b"Subject: queued" in content.body
    retry = api.root.post(f"/api/v1/queue/{first}/retry")
    assert retry.status == 422 and "use 'queue release'" in retry.detail
    # deleting needs no queue manager: the entry is gone at once
    assert api.root.delete(f"/api/v1/queue/{fourth}").status == 204
    assert api.root.get(f"/api/v1/queue/{fourth}").status == 404
    assert api.root.post(f"/api/v1/queue/{third}/bounce").json["id"] == third
    # from here the server's queue manager may deliver, bounce and remove the entries
    assert api.root.post(f"/api/v1/queue/{first}/release").status == 204
    held = api.root.post(f"/api/v1/queue/{second}/hold")
    assert held.status == 200 and held.json["state"] == "hold"
    assert api.root.post(f"/api/v1/queue/{second}/release").status == 204
    assert api.root.post(f"/api/v1/queue/{second}/retry").status in (204, 404)
    r = api.root.get("/api/v1/queue/987654321")
    assert r.status == 404 and r.detail
    assert api.root.get("/api/v1/queue/abc").status == 404
    # the queue is for global administrators
    assert api.boss.get("/api/v1/queue").status == 403
    assert api.ann.delete(f"/api/v1/queue/{second}").status == 403
