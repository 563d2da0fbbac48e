"""vdirsyncer (Debian's package, a real CalDAV/CardDAV sync client) against the server:
discovery from the bare server URL, a two-way sync of the calendar, the task list and the
address book with a local directory, changes and deletions on both sides, metadata (colour,
display name) both ways, and a second sync that has nothing to do (stable ETags)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.dav import Dav
from tests.support.dav_interop import VDIRSYNCER, Vdirsyncer

pytestmark = pytest.mark.skipif(VDIRSYNCER is None,
                                reason="Debian package vdirsyncer is not installed")

USER = "vera@example.test"


def event(uid: str, summary: str) -> str:
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//interop//EN\r\nBEGIN:VEVENT\r\n"
            f"UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20261210T100000Z\r\n"
            f"DTEND:20261210T110000Z\r\nSUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


def todo(uid: str, summary: str) -> str:
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//interop//EN\r\nBEGIN:VTODO\r\n"
            f"UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:{summary}\r\nEND:VTODO\r\n"
            "END:VCALENDAR\r\n")


def card(uid: str, name: str) -> str:
    return (f"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uid}\r\nFN:{name}\r\nN:{name};;;;\r\n"
            f"EMAIL:{uid}@example.org\r\nEND:VCARD\r\n")


def collections(dav: Dav, home: str, user: str = USER) -> dict[str, str]:
    """displayname -> collection path, from a Depth 1 PROPFIND on ``home``."""
    status, _, body = dav.request(user, "PROPFIND", home,
                                  '<propfind xmlns="DAV:"><prop><displayname/></prop></propfind>',
                                  {"Depth": "1"})
    assert status == 207
    found = {}
    for resp in re.findall(rb"<D:response>(.*?)</D:response>", body, re.S):
        href = re.search(rb"<D:href>(.*?)</D:href>", resp)
        name = re.search(rb"<D:displayname>(.*?)</D:displayname>", resp)
        if href and name:
            found[name.group(1).decode()] = href.group(1).decode()
    return found


def server_items(dav: Dav, coll: str, user: str = USER) -> dict[str, bytes]:
    """href -> body of every member of ``coll`` (PROPFIND Depth 1, then GET each)."""
    status, _, body = dav.request(user, "PROPFIND", coll,
                                  '<propfind xmlns="DAV:"><prop><getetag/></prop></propfind>',
                                  {"Depth": "1"})
    assert status == 207
    out = {}
    for href in re.findall(rb"<D:href>(.*?)</D:href>", body):
        path = href.decode()
        if path.rstrip("/") == coll.rstrip("/"):
            continue
        status, _, data = dav.request(user, "GET", path)
        assert status == 200, path
        out[path] = data
    return out


def uids(blobs: list[bytes]) -> set[str]:
    return {m.group(1).decode().strip() for b in blobs for m in [re.search(rb"UID:(.*)", b)]
            if m}


def local_items(d: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in d.iterdir() if p.suffix in (".ics", ".vcf")}


def test_two_way_sync(dav: Dav, tmp_path: Path) -> None:
    dav.account(USER)
    cals = collections(dav, f"/dav/calendars/{USER}/")
    books = collections(dav, f"/dav/addressbooks/{USER}/")
    calendar, tasks, contacts = cals["Calendar"], cals["Tasks"], books["Contacts"]
    vd = Vdirsyncer(tmp_path, dav.port, USER)
    vd.run("discover")
    seg = {c: c.rstrip("/").rsplit("/", 1)[1] for c in (calendar, tasks, contacts)}
    lcal, ltasks, lcard = vd.cal / seg[calendar], vd.cal / seg[tasks], vd.card / seg[contacts]
    for d in (lcal, ltasks, lcard):
        assert d.is_dir(), vd.run("discover", "--list")
    vd.run("sync")

    # Both sides add.
    (lcal / "local-ev.ics").write_text(event("local-ev", "Local event"))
    (ltasks / "local-todo.ics").write_text(todo("local-todo", "Local task"))
    (lcard / "local-card.vcf").write_text(card("local-card", "Lou Local"))
    assert dav.request(USER, "PUT", f"{calendar}remote-ev.ics", event("remote-ev", "Remote"),
                       {"Content-Type": "text/calendar"})[0] == 201
    assert dav.request(USER, "PUT", f"{contacts}remote-card.vcf", card("remote-card", "Rem"),
                       {"Content-Type": "text/vcard"})[0] == 201
    vd.run("sync")
    assert uids(list(server_items(dav, calendar).values())) == {"local-ev", "remote-ev"}
    assert uids(list(server_items(dav, tasks).values())) == {"local-todo"}
    assert uids(list(server_items(dav, contacts).values())) == {"local-card", "remote-card"}
    assert uids(list(local_items(lcal).values())) == {"local-ev", "remote-ev"}
    assert uids(list(local_items(lcard).values())) == {"local-card", "remote-card"}
    # Nothing to do the second time: the ETags the server gave are stable.
    again = vd.run("sync")
    assert "Copying" not in again and "Updating" not in again and "Deleting" not in again, again

    # Both sides change.
    (lcal / "local-ev.ics").write_text(event("local-ev", "Local event moved"))
    remote_href = f"{calendar}remote-ev.ics"
    assert dav.request(USER, "PUT", remote_href, event("remote-ev", "Remote changed"),
                       {"Content-Type": "text/calendar"})[0] == 204
    vd.run("sync")
    on_server = b"".join(server_items(dav, calendar).values())
    assert b"SUMMARY:Local event moved" in on_server
    local = b"".join(local_items(lcal).values())
    assert b"SUMMARY:Remote changed" in local

    # Both sides delete.
    (lcard / "local-card.vcf").unlink()
    assert dav.request(USER, "DELETE", remote_href)[0] == 204
    vd.run("sync")
    assert uids(list(server_items(dav, contacts).values())) == {"remote-card"}
    assert uids(list(local_items(lcard).values())) == {"remote-card"}
    assert uids(list(server_items(dav, calendar).values())) == {"local-ev"}
    assert uids(list(local_items(lcal).values())) == {"local-ev"}
    again = vd.run("sync")
    assert "Copying" not in again and "Deleting" not in again, again


def test_metadata_both_ways(dav: Dav, tmp_path: Path) -> None:
    """``vdirsyncer metasync``: colour and display name read over PROPFIND, written back with
    PROPPATCH (Apple's calendar-color)."""
    dav.account(USER)
    calendar = collections(dav, f"/dav/calendars/{USER}/")["Calendar"]
    vd = Vdirsyncer(tmp_path, dav.port, USER)
    vd.run("discover")
    vd.run("metasync")
    local = vd.cal / calendar.rstrip("/").rsplit("/", 1)[1]
    assert (local / "displayname").read_text().strip() == "Calendar"
    (local / "color").write_text("#ff8800")
    (local / "displayname").write_text("Work")
    vd.run("metasync")
    status, _, body = dav.request(
        USER, "PROPFIND", calendar,
        '<propfind xmlns="DAV:" xmlns:A="http://apple.com/ns/ical/"><prop><displayname/>'
        '<A:calendar-color/></prop></propfind>', {"Depth": "0"})
    assert status == 207
    assert b">Work</" in body and b"#ff8800" in body, body


def test_collections_created_from_the_client(dav: Dav, tmp_path: Path) -> None:
    """``collections = ["from a", "from b"]``: a local calendar and address book are created
    on the server by vdirsyncer (extended MKCOL, RFC 5689) and filled; items whose UIDs are not
    safe in a URL (space, slash, '?', '#', '&', '<', non-ASCII) get a generated href and come
    back unchanged."""
    user = "vince@example.test"
    dav.account(user)
    vd = Vdirsyncer(tmp_path, dav.port, user, collections='["from a", "from b"]')
    (vd.cal / "trip").mkdir()
    (vd.card / "friends").mkdir()
    weird_ev = "we ird+uid/ä@x?y#z"
    weird_card = "c&d<e>%20"
    (vd.cal / "trip" / "w.ics").write_text(event(weird_ev, "Weird"))
    (vd.card / "friends" / "w.vcf").write_text(card(weird_card, "Weird Card"))
    vd.run("discover")
    vd.run("sync")
    cal = f"/dav/calendars/{user}/trip/"
    book = f"/dav/addressbooks/{user}/friends/"
    status, _, body = dav.request(user, "PROPFIND", cal, '<propfind xmlns="DAV:"><prop>'
                                  '<resourcetype/></prop></propfind>', {"Depth": "0"})
    assert status == 207 and b"calendar" in body, body
    status, _, body = dav.request(user, "PROPFIND", book, '<propfind xmlns="DAV:"><prop>'
                                  '<resourcetype/></prop></propfind>', {"Depth": "0"})
    assert status == 207 and b"addressbook" in body, body
    assert uids(list(server_items(dav, cal, user).values())) == {weird_ev}
    assert uids(list(server_items(dav, book, user).values())) == {weird_card}
    again = vd.run("sync")
    assert "Copying" not in again and "Updating" not in again, again


def test_imap_changes_reach_the_sync_client(dav: Dav, tmp_path: Path) -> None:
    """An event expunged over IMAP is reported deleted by sync and vdirsyncer removes the
    local file; one deleted locally is gone over IMAP too."""
    user = "ivy@example.test"
    dav.account(user)
    calendar = collections(dav, f"/dav/calendars/{user}/", user)["Calendar"]
    for uid in ("keep", "by-imap", "by-client"):
        assert dav.request(user, "PUT", f"{calendar}{uid}.ics", event(uid, f"S {uid}"),
                           {"Content-Type": "text/calendar"})[0] == 201
    vd = Vdirsyncer(tmp_path, dav.port, user)
    vd.run("discover")
    vd.run("sync")
    local = vd.cal / calendar.rstrip("/").rsplit("/", 1)[1]
    assert uids(list(local_items(local).values())) == {"keep", "by-imap", "by-client"}
    imap = dav.imap(user)
    try:
        assert imap.select("Calendar")[0] == "OK"
        typ, data = imap.search(None, "SUBJECT", '"S by-imap"')
        assert typ == "OK" and data[0], data
        imap.store(data[0].decode().split()[0], "+FLAGS", "\\Deleted")
        imap.expunge()
    finally:
        imap.logout()
    for p in local.iterdir():
        if b"UID:by-client" in p.read_bytes():
            p.unlink()
    vd.run("sync")
    assert uids(list(local_items(local).values())) == {"keep"}
    assert uids(list(server_items(dav, calendar, user).values())) == {"keep"}
    imap = dav.imap(user)
    try:
        typ, data = imap.select("Calendar", readonly=True)
        assert typ == "OK" and data[0] == b"1", data
    finally:
        imap.logout()


def test_conflict_resolved_by_the_server_copy(dav: Dav, tmp_path: Path) -> None:
    """Both sides change the same event between syncs: vdirsyncer sees the conflict from the
    ETag it holds and, configured "b wins", keeps the server's copy on both sides."""
    user = "connie@example.test"
    dav.account(user)
    calendar = collections(dav, f"/dav/calendars/{user}/", user)["Calendar"]
    href = f"{calendar}both.ics"
    assert dav.request(user, "PUT", href, event("both", "Original"),
                       {"Content-Type": "text/calendar"})[0] == 201
    vd = Vdirsyncer(tmp_path, dav.port, user)
    vd.run("discover")
    vd.run("sync")
    local = vd.cal / calendar.rstrip("/").rsplit("/", 1)[1]
    (path,) = [p for p in local.iterdir() if p.suffix == ".ics"]
    path.write_text(event("both", "Changed locally"))
    assert dav.request(user, "PUT", href, event("both", "Changed on the server"),
                       {"Content-Type": "text/calendar"})[0] == 204
    vd.run("sync")
    assert b"SUMMARY:Changed on the server" in path.read_bytes()
    assert b"SUMMARY:Changed on the server" in dav.request(user, "GET", href)[2]
