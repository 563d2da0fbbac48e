"""Live updates (GET /webmail/events): changes made over IMAP reach the webmail stream of the
users who may see them, through the gate, and nobody else's.

Every test reads a real event stream over TLS (tests/support/webmail_live.py) from a real
server; the changes are made by real IMAP clients. "Nothing was sent" is shown with a marker:
a change in the user's own INBOX made afterwards, whose event must be the first one to come.
"""

from __future__ import annotations

import imaplib
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from postroom.core.actor import Actor, Origin
from postroom.core.principal import Principal
from postroom.services.webmail.live import Event
from postroom.web.webmail.live import frame
from tests.support.server import RunningServer, server_config
from tests.support.web import WebClient
from tests.support.webmail import WEBMAIL, Webmail
from tests.support.webmail_live import SseEvent, SseReader

MESSAGE = b"From: x@remote.test\r\nSubject: live\r\n\r\nHello.\r\n"
LIVE = ["web.webmail.live_heartbeat=1", "web.webmail.live_coalesce=0.25"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    srv = RunningServer(server_config(Path(tmp_path_factory.mktemp("live")),
                                      extra=WEBMAIL + LIVE))
    try:
        yield srv
    finally:
        srv.stop()


def folder_id(mail: Webmail, address: str, name: str) -> int:
    """The store id of ``address``'s folder ``name`` (as that user names it)."""
    services = mail.server.services

    async def find() -> int:
        account = await services.store.directory.get_account(address)
        assert account is not None
        principal = await services.directory.principal_for(account)
        return (await services.mailboxes.open(principal, name)).id
    return mail.server.call(find())


def stream(mail: Webmail, web: WebClient, query: str = "", **headers: str) -> SseReader:
    reader = SseReader(mail.port, dict(web.jar), "/webmail/events" + query, headers)
    assert reader.status == 200, (reader.status, reader.body)
    return reader


def append(client: imaplib.IMAP4, folder: str, message: bytes = MESSAGE) -> None:
    typ, data = client.append(folder, "", None, message)
    assert typ == "OK", data


def ok(result: tuple[str, object]) -> None:
    assert result[0] == "OK", result


@pytest.fixture(scope="module")
def users(mail: Webmail) -> dict[str, str]:
    return {name: mail.account(f"{name}@example.test") for name in ("alice", "bob", "carol")}


def marker(mail: Webmail, address: str, sse: SseReader) -> list[SseEvent]:
    """APPEND into ``address``'s INBOX and wait for its ``mail`` event: every event read
    before it (what the stream said meanwhile)."""
    inbox = folder_id(mail, address, "INBOX")
    with mail.imap(address) as client:
        append(client, "INBOX")
    _, before = sse.expect("mail", lambda d: d["folder"] == inbox, timeout=5)
    return before


def test_stream_says_retry_and_keeps_alive(mail: Webmail, users: dict[str, str]) -> None:
    sse = stream(mail, mail.client(users["alice"]))
    try:
        assert sse.response_headers["content-type"].startswith("text/event-stream")
        assert sse.response_headers["cache-control"] == "no-store"
        time.sleep(2.5)  # live_heartbeat=1
        assert sse.retry == 3000  # live_retry, in milliseconds
        assert "ping" in sse.comments
    finally:
        sse.close()


def test_append_store_and_expunge_reach_the_owner_within_2s(
        mail: Webmail, users: dict[str, str]) -> None:
    alice = users["alice"]
    inbox = folder_id(mail, alice, "INBOX")
    sse = stream(mail, mail.client(alice))
    try:
        with mail.imap(alice) as client:
            ok(client.select("INBOX"))
            start = time.monotonic()
            append(client, "INBOX")
            event, _ = sse.expect("mail", lambda d: d["folder"] == inbox, timeout=2)
            assert time.monotonic() - start < 2
            total, unseen = event.data["total"], event.data["unseen"]
            assert unseen >= 1 and total >= 1

            ok(client.select("INBOX"))
            ok(client.store("1:*", "+FLAGS", "(\\Seen)"))
            event, _ = sse.expect("mail", lambda d: d["folder"] == inbox and
                                  d["unseen"] == 0, timeout=2)
            assert event.data["total"] == total

            ok(client.store(str(total), "+FLAGS", "(\\Deleted)"))
            ok(client.expunge())
            event, _ = sse.expect("mail", lambda d: d["folder"] == inbox and
                                  d["total"] == total - 1, timeout=2)
    finally:
        sse.close()


def test_sharing_changes_reach_the_grantee(mail: Webmail, users: dict[str, str]) -> None:
    alice, bob = users["alice"], users["bob"]
    with mail.imap(alice) as owner:
        ok(owner.create("Projects"))
        projects = folder_id(mail, alice, "Projects")
        sse = stream(mail, mail.client(bob))
        try:
            ok(owner.setacl("Projects", bob, "lr"))
            sse.expect("folders", timeout=2)
            append(owner, "Projects")  # bob may read it now: he hears of new mail
            sse.expect("mail", lambda d: d["folder"] == projects, timeout=2)

            ok(owner.setacl("Projects", bob, "lrswi"))
            event, _ = sse.expect("rights", lambda d: d["folder"] == projects, timeout=2)
            assert event.data["rights"] == "lrswi"

            ok(owner.setacl("Projects", bob, "l"))  # still listed, no longer readable
            event, before = sse.expect("gone", lambda d: d["folder"] == projects, timeout=2)
            assert [e.type for e in before] == ["rights", "folders"], before

            ok(owner.setacl("Projects", bob, "lr"))
            sse.expect("folders", timeout=2)
            ok(owner.deleteacl("Projects", bob))  # not even listed
            event, before = sse.expect("gone", lambda d: d["folder"] == projects, timeout=2)
            assert [e.type for e in before] == ["folders"], before

            append(owner, "Projects")  # no longer his business
            assert not [e for e in marker(mail, bob, sse) if e.data.get("folder") == projects]
        finally:
            sse.close()


def test_a_deleted_shared_folder_is_gone_for_the_grantee(
        mail: Webmail, users: dict[str, str]) -> None:
    alice, bob = users["alice"], users["bob"]
    with mail.imap(alice) as owner:
        ok(owner.create("Doomed"))
        doomed = folder_id(mail, alice, "Doomed")
        ok(owner.setacl("Doomed", bob, "lrs"))
        sse = stream(mail, mail.client(bob), f"?folder={doomed}")
        try:
            ok(owner.rename("Doomed", "Doomed2"))
            sse.expect("folders", timeout=2)
            ok(owner.delete("Doomed2"))
            sse.expect("gone", lambda d: d["folder"] == doomed, timeout=2)
        finally:
            sse.close()


def test_own_folder_changes_say_folders(mail: Webmail, users: dict[str, str]) -> None:
    carol = users["carol"]
    sse = stream(mail, mail.client(carol))
    try:
        with mail.imap(carol) as client:
            ok(client.create("Hobbies"))
            sse.expect("folders", timeout=2)
            hobbies = folder_id(mail, carol, "Hobbies")
            append(client, "Hobbies")  # the new folder is watched at once
            sse.expect("mail", lambda d: d["folder"] == hobbies, timeout=2)
            ok(client.rename("Hobbies", "Pastimes"))
            sse.expect("folders", timeout=2)
            ok(client.delete("Pastimes"))
            sse.expect("folders", timeout=2)
    finally:
        sse.close()


def test_public_folders_reach_everyone_they_are_shared_with(
        mail: Webmail, users: dict[str, str]) -> None:
    """A public folder shared with ``anyone`` (made by the operator, as the CLI does): every
    user sees it appear and hears of its mail; taking ``anyone`` away makes it gone."""
    services = mail.server.services
    op, origin = Principal.operator(), Origin("test", "local")
    carol = users["carol"]
    sse = stream(mail, mail.client(carol))
    try:
        mail.server.call(services.mailboxes.create(op, "Public Folders/Notices"))
        mail.server.call(services.acl.set(op, "Public Folders/Notices", "anyone", "lrs",
                                          origin))
        sse.expect("folders", timeout=2)
        notices = folder_id(mail, carol, "Public Folders/Notices")
        with mail.imap(carol) as client:
            append_refused = client.append('"Public Folders/Notices"', "", None, MESSAGE)
            assert append_refused[0] == "NO"  # no ``i`` for anyone
        mail.server.call(services.acl.set(op, "Public Folders/Notices", "anyone", "lrsi",
                                          origin))
        event, _ = sse.expect("rights", lambda d: d["folder"] == notices, timeout=2)
        assert event.data["rights"] == "lrsi"
        with mail.imap(carol) as client:
            append(client, '"Public Folders/Notices"')
        sse.expect("mail", lambda d: d["folder"] == notices and d["total"] == 1, timeout=2)
        mail.server.call(services.acl.delete(op, "Public Folders/Notices", "anyone", origin))
        sse.expect("gone", lambda d: d["folder"] == notices, timeout=2)
    finally:
        sse.close()


def test_joining_a_group_shows_its_folders(mail: Webmail, users: dict[str, str]) -> None:
    """Group membership is not a change of any folder: the stream learns it when it checks
    its session again (each heartbeat; live_heartbeat=1 here) and decides the tree anew."""
    services = mail.server.services
    alice, carol = users["alice"], users["carol"]
    actor = Actor.operator()
    mail.server.call(services.admin.groups.add(actor, "club@example.test", [alice]))
    with mail.imap(alice) as owner:
        ok(owner.create("Club"))
        ok(owner.setacl("Club", "$club@example.test", "lr"))
    club = folder_id(mail, alice, "Club")
    sse = stream(mail, mail.client(carol))
    try:
        mail.server.call(services.admin.groups.member(actor, "club@example.test", carol, True))
        sse.expect("folders", timeout=6)  # heartbeat + the session cache (2 s)
        with mail.imap(alice) as owner:
            append(owner, "Club")
        sse.expect("mail", lambda d: d["folder"] == club, timeout=2)
    finally:
        sse.close()


def test_unshared_folders_of_others_are_never_told(mail: Webmail,
                                                   users: dict[str, str]) -> None:
    alice, bob = users["alice"], users["bob"]
    private = {folder_id(mail, alice, name) for name in ("INBOX", "Sent", "Trash")}
    sse = stream(mail, mail.client(bob))
    try:
        with mail.imap(alice) as client:
            ok(client.create("Secret"))
            private.add(folder_id(mail, alice, "Secret"))
            append(client, "INBOX")
            append(client, "Secret")
            ok(client.setacl("Secret", "carol@example.test", "lr"))  # shared, not with bob
            ok(client.select("INBOX"))
            ok(client.store("1:*", "+FLAGS", "(\\Flagged)"))
        before = marker(mail, bob, sse)
        assert not [e for e in before if e.data.get("folder") in private], before
        assert not [e for e in before if e.type == "folders"], before
    finally:
        sse.close()


def test_private_seen_of_another_reader_is_not_told(mail: Webmail,
                                                   users: dict[str, str]) -> None:
    alice, bob = users["alice"], users["bob"]
    with mail.imap(alice) as owner:
        ok(owner.create("Team"))
        append(owner, "Team")
        ok(owner.setacl("Team", bob, "lrs"))
    team = folder_id(mail, alice, "Team")
    alice_sse = stream(mail, mail.client(alice))
    bob_sse = stream(mail, mail.client(bob))
    try:
        with mail.imap(bob) as reader:
            ok(reader.select(f'"Other Users/{alice}/Team"'))
            ok(reader.store("1:*", "+FLAGS", "(\\Seen)"))  # bob's own \Seen (PD 6)
        event, _ = bob_sse.expect("mail", lambda d: d["folder"] == team, timeout=2)
        assert event.data["unseen"] == 0
        before = marker(mail, alice, alice_sse)
        assert not [e for e in before if e.data.get("folder") == team], before
    finally:
        alice_sse.close()
        bob_sse.close()


def test_a_burst_is_coalesced_and_ends_current(mail: Webmail, users: dict[str, str]) -> None:
    carol = users["carol"]
    inbox = folder_id(mail, carol, "INBOX")
    sse = stream(mail, mail.client(carol))
    try:
        with mail.imap(carol) as client:
            start = time.monotonic()
            for _ in range(30):
                append(client, "INBOX")
            took = time.monotonic() - start
            ok(client.select("INBOX"))
            _, data = client.search(None, "ALL")
            total = len(data[0].split())
        events: list[SseEvent] = []
        while True:
            event = sse.next(timeout=1.0)
            if event is None:
                break
            events.append(event)
        mails = [e for e in events if e.type == "mail" and e.data["folder"] == inbox]
        assert mails and mails[-1].data["total"] == total
        assert len(mails) <= took / 0.25 + 2, (len(mails), took)
    finally:
        sse.close()


def test_resume_and_open_folder(mail: Webmail, users: dict[str, str]) -> None:
    alice, bob = users["alice"], users["bob"]
    inbox = folder_id(mail, alice, "INBOX")
    web = mail.client(alice)
    sse = stream(mail, web, f"?folder={inbox}", **{"Last-Event-ID": "7"})
    try:
        kinds = {sse.expect("folders", timeout=2)[0].type,
                 sse.expect("mail", lambda d: d["folder"] == inbox, timeout=2)[0].type}
        assert kinds == {"folders", "mail"}
    finally:
        sse.close()
    # a folder the user may not read, and one that never existed: the same ``gone``
    others = folder_id(mail, bob, "INBOX")
    for fid in (others, 987654321):
        sse = stream(mail, web, f"?folder={fid}")
        try:
            event = sse.next(timeout=2)
            assert event is not None and event.type == "gone" and event.data == {"folder": fid}
        finally:
            sse.close()


def test_poll_gives_the_counts_and_hides_others_folders(mail: Webmail,
                                                        users: dict[str, str]) -> None:
    alice, bob = users["alice"], users["bob"]
    web = mail.client(alice)
    inbox = folder_id(mail, alice, "INBOX")
    page = web.get(f"/webmail/events?poll={inbox}")
    assert page.status == 200 and page.headers["Content-Type"] == "application/json"
    data = json.loads(page.body)
    assert data["folder"] == inbox and data["total"] >= 0 and data["unseen"] >= 0
    others = folder_id(mail, bob, "INBOX")
    hidden = web.get(f"/webmail/events?poll={others}")
    missing = web.get("/webmail/events?poll=987654321")
    assert hidden.status == missing.status == 404
    # the same text, but for the id the client sent itself
    assert hidden.body.replace(str(others).encode(), b"N") == \
        missing.body.replace(b"987654321", b"N")


@pytest.mark.parametrize("query", ["?folder=abc", "?folder=-1", "?folder=0",
                                   "?folder=99999999999999999999999", "?poll=", "?poll=x",
                                   "?poll=0", "?folder=1%00"])
def test_bad_input_is_4xx(mail: Webmail, users: dict[str, str], query: str) -> None:
    web = mail.client(users["alice"])
    assert web.get("/webmail/events" + query).status == 404


def test_other_methods_and_no_session(mail: Webmail, users: dict[str, str]) -> None:
    web = mail.client(users["alice"])
    web.get("/me")  # a page with the session's token
    assert web.post("/webmail/events").status == 405
    assert web.post("/webmail/events", csrf=False).status == 403
    assert web.request("HEAD", "/webmail/events").status == 200
    anonymous = WebClient(mail.port)
    page = anonymous.get("/webmail/events")
    assert page.status == 303 and page.location.startswith("/login")
    reader = SseReader(mail.port, {"__Host-postroom-webmail": "forged"})
    assert reader.status == 303


def test_logout_ends_the_stream(mail: Webmail, users: dict[str, str]) -> None:
    web = mail.client(users["carol"])
    sse = stream(mail, web)
    try:
        web.get("/me")  # a page with the session's token
        assert web.post("/logout").status == 303
        events = sse.until_end(timeout=4)  # live_heartbeat=1 (the session is checked)
        assert events[-1].type == "end" and events[-1].data == {"reason": "session"}
    finally:
        sse.close()


@pytest.mark.parametrize("how", ["password", "disabled"])
def test_a_password_change_or_a_disabled_account_ends_the_stream(mail: Webmail,
                                                                 how: str) -> None:
    address = mail.account(f"ending-{how}@example.test")
    sse = stream(mail, mail.client(address))
    services = mail.server.services
    try:
        if how == "password":
            mail.server.call(services.admin.users.set_password(Actor.operator(), address,
                                                               "Another-pass-98765"))
        else:
            mail.server.call(services.admin.users.update(Actor.operator(), address,
                                                         state="disabled"))
        events = sse.until_end(timeout=5)  # heartbeat 1 s + the session cache (2 s)
        assert events[-1].type == "end" and events[-1].data == {"reason": "session"}
    finally:
        sse.close()


def test_frame_is_one_event() -> None:
    assert frame(3, Event("mail", {"folder": 1, "total": 2, "unseen": 0})) == (
        b'id: 3\nevent: mail\ndata: {"folder":1,"total":2,"unseen":0}\n\n')
    # text is escaped to ASCII, so no data can break a line
    lines = frame(1, Event("rights", {"folder": 1, "rights": "l\nr\u2028"})).split(b"\n")
    assert len(lines) == 5 and lines[2] == b'data: {"folder":1,"rights":"l\\nr\\u2028"}'
