"""Sharing that clients can see (issue 24): a calendar shared over IMAP SETACL appears in the
sharee's calendar home with the privileges its rights give (access/dav.py), writes beyond
them are 403 with DAV:need-privileges (RFC 3744 §7.1.1), and without ``l`` the calendar is
404, byte for byte the answer for a missing one."""

from __future__ import annotations

import re

from tests.support.dav import Dav

PRIVS = ('<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:displayname/>'
         '<D:current-user-privilege-set/><D:owner/></D:prop></D:propfind>')
EVENT = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\n"
         "DTSTAMP:20260101T000000Z\r\nDTSTART:20260310T090000Z\r\nDTEND:20260310T100000Z\r\n"
         "SUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
CAL = {"Content-Type": "text/calendar; charset=utf-8"}


def _setacl(dav: Dav, owner: str, folder: str, who: str, rights: str) -> None:
    imap = dav.imap(owner)
    try:
        typ, data = imap._simple_command("SETACL", f"\"{folder}\"", who, f"\"{rights}\"")  # type: ignore[attr-defined]
        assert typ == "OK", data
    finally:
        imap.logout()


def _home(dav: Dav, address: str) -> bytes:
    status, _, body = dav.request(address, "PROPFIND", f"/dav/calendars/{address}/", PRIVS,
                                  {"Depth": "1"})
    assert status == 207, body
    return body


def _shared_segment(body: bytes, owner: str) -> str | None:
    for resp in re.findall(rb"<D:response>.*?</D:response>", body, re.S):
        if f"Calendar ({owner})".encode() in resp:
            href = re.search(rb"<D:href>([^<]+)</D:href>", resp)
            assert href is not None
            return href.group(1).decode().rstrip("/").rsplit("/", 1)[1]
    return None


def test_shared_calendar_read_only_then_insert_then_revoked(dav: Dav) -> None:
    alice = dav.account("alice@example.test")
    bob = dav.account("bob@example.test")
    _home(dav, alice)  # makes alice's default calendars
    own_seg = None
    body = _home(dav, alice)
    for resp in re.findall(rb"<D:response>.*?</D:response>", body, re.S):
        if b"<D:displayname>Calendar</D:displayname>" in resp:
            own_seg = re.search(rb"<D:href>([^<]+)</D:href>", resp).group(1).decode()  # type: ignore[union-attr]
    assert own_seg is not None
    status, _, _ = dav.request(alice, "PUT", own_seg + "alice-1.ics",
                               EVENT.format(uid="alice-1@test", summary="Alice's"), CAL)
    assert status == 201

    _setacl(dav, alice, "Calendar", bob, "lr")
    body = _home(dav, bob)
    seg = _shared_segment(body, alice)
    assert seg is not None, body
    shared = next(r for r in re.findall(rb"<D:response>.*?</D:response>", body, re.S)
              if f"/{seg}/".encode() in r)
    assert b"<D:read/>" in shared and b"<D:write-content/>" not in shared \
        and b"<D:bind/>" not in shared
    assert f"/dav/principals/{alice}/".encode() in shared  # owner
    base = f"/dav/calendars/{bob}/{seg}/"
    status, _, got = dav.request(bob, "GET", base + "alice-1.ics")
    assert status == 200 and b"Alice's" in got
    status, _, err = dav.request(bob, "PUT", base + "bob-1.ics",
                                 EVENT.format(uid="bob-1@test", summary="Bob's"), CAL)
    assert status == 403 and b"need-privileges" in err and b"<D:bind/>" in err

    _setacl(dav, alice, "Calendar", bob, "lri")
    status, _, _ = dav.request(bob, "PUT", base + "bob-1.ics",
                               EVENT.format(uid="bob-1@test", summary="Bob's"), CAL)
    assert status == 201
    status, _, err = dav.request(bob, "PUT", base + "alice-1.ics",
                                 EVENT.format(uid="alice-1@test", summary="Changed"), CAL)
    assert status == 403 and b"need-privileges" in err
    status, _, _ = dav.request(bob, "DELETE", base + "alice-1.ics")
    assert status == 403

    _setacl(dav, alice, "Calendar", bob, "")
    assert _shared_segment(_home(dav, bob), alice) is None
    gone = dav.request(bob, "PROPFIND", base, PRIVS, {"Depth": "0"})
    missing = dav.request(bob, "PROPFIND", f"/dav/calendars/{bob}/999999/", PRIVS,
                          {"Depth": "0"})
    assert gone[0] == missing[0] == 404
    assert gone[2] == missing[2]
    g_get = dav.request(bob, "GET", base + "alice-1.ics")
    m_get = dav.request(bob, "GET", f"/dav/calendars/{bob}/999999/alice-1.ics")
    assert g_get[0] == m_get[0] == 404 and g_get[2] == m_get[2]
    g_put = dav.request(bob, "PUT", base + "x.ics", EVENT.format(uid="x@t", summary="x"), CAL)
    m_put = dav.request(bob, "PUT", f"/dav/calendars/{bob}/999999/x.ics",
                        EVENT.format(uid="x@t", summary="x"), CAL)
    assert g_put[0] == m_put[0] == 404 and g_put[2] == m_put[2]
    sync = ('<?xml version="1.0"?><D:sync-collection xmlns:D="DAV:"><D:sync-token/>'
            '<D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop></D:sync-collection>')
    patch = ('<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:"><D:set><D:prop>'
             '<D:displayname>x</D:displayname></D:prop></D:set></D:propertyupdate>')
    for method, suffix, body in (("REPORT", "", sync), ("PROPPATCH", "", patch),
                                 ("DELETE", "", ""), ("DELETE", "alice-1.ics", ""),
                                 ("GET", "", "")):
        hidden = dav.request(bob, method, base + suffix, body)
        absent = dav.request(bob, method, f"/dav/calendars/{bob}/999999/" + suffix, body)
        assert hidden[0] == absent[0] == 404 and hidden[2] == absent[2], (method, suffix)


def test_directory_address_book_is_read_only(dav: Dav) -> None:
    alice = dav.account("alice@example.test")
    dav.account("erin@example.test")
    status, _, body = dav.request(alice, "PROPFIND",
                                  f"/dav/addressbooks/{alice}/directory/", PRIVS,
                                  {"Depth": "1"})
    assert status == 207
    assert b"<D:read/>" in body and b"<D:bind/>" not in body
    card = ("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:x-1\r\nFN:X\r\nEND:VCARD\r\n")
    status, _, _ = dav.request(alice, "PUT", f"/dav/addressbooks/{alice}/directory/x.vcf",
                               card, {"Content-Type": "text/vcard"})
    assert status == 403
    hrefs = re.findall(rb"<D:href>([^<]+\.vcf)</D:href>", body)
    assert len(hrefs) >= 2
    status, _, got = dav.request(alice, "GET", hrefs[0].decode())
    assert status == 200 and b"BEGIN:VCARD" in got and b"EMAIL" in got


def test_sharee_without_a_cannot_change_properties(dav: Dav) -> None:
    judy = dav.account("judy@example.test")
    kim = dav.account("kim@example.test")
    _home(dav, judy)
    _setacl(dav, judy, "Calendar", kim, "lrite")
    seg = _shared_segment(_home(dav, kim), judy)
    assert seg is not None
    patch = ('<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:"><D:set><D:prop>'
             '<D:displayname>Mine now</D:displayname></D:prop></D:set></D:propertyupdate>')
    status, _, body = dav.request(kim, "PROPPATCH", f"/dav/calendars/{kim}/{seg}/", patch)
    assert status == 403 and b"write-properties" in body
    body = _home(dav, kim)
    assert f"Calendar ({judy})".encode() in body and b"Mine now" not in body
    status, _, _ = dav.request(kim, "DELETE", f"/dav/calendars/{kim}/{seg}/")
    assert status == 403  # no x
    _setacl(dav, judy, "Calendar", kim, "lritea")
    status, _, body = dav.request(kim, "PROPPATCH", f"/dav/calendars/{kim}/{seg}/", patch)
    assert status == 207 and b"200 OK" in body


def test_same_segment_for_own_and_shared_and_list_only(dav: Dav) -> None:
    lou = dav.account("lou@example.test")
    max_ = dav.account("max@example.test")
    mk = ('<?xml version="1.0"?><C:mkcalendar xmlns:D="DAV:" '
          'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop><D:displayname>{name}'
          '</D:displayname></D:prop></D:set></C:mkcalendar>')
    assert dav.request(lou, "MKCALENDAR", f"/dav/calendars/{lou}/team/",
                       mk.format(name="Lou team"))[0] == 201
    assert dav.request(max_, "MKCALENDAR", f"/dav/calendars/{max_}/team/",
                       mk.format(name="Max team"))[0] == 201
    assert dav.request(max_, "MKCALENDAR", f"/dav/calendars/{max_}/12345/",
                       mk.format(name="Digits"))[0] == 403
    assert dav.request(lou, "PUT", f"/dav/calendars/{lou}/team/e.ics",
                       EVENT.format(uid="e@t", summary="Lou's"), CAL)[0] == 201
    _setacl(dav, lou, "Lou team", max_, "l")
    body = _home(dav, max_)
    shared = [r for r in re.findall(rb"<D:response>.*?</D:response>", body, re.S)
              if b"Lou team" in r]
    assert len(shared) == 1 and f"/dav/calendars/{max_}/team/".encode() not in shared[0]
    href = re.search(rb"<D:href>([^<]+)</D:href>", shared[0])
    assert href is not None
    status, _, listing = dav.request(max_, "PROPFIND", href.group(1).decode(), PRIVS,
                                     {"Depth": "1"})
    assert status == 207 and b"e.ics" not in listing  # l without r: no members shown
    status, _, own = dav.request(max_, "PROPFIND", f"/dav/calendars/{max_}/team/", PRIVS,
                                 {"Depth": "0"})
    assert status == 207 and b"Max team" in own


def test_public_calendar_appears_in_every_home(dav: Dav) -> None:
    from postroom.core.principal import Principal
    rita = dav.account("rita@example.test")
    services = dav.server.services

    async def make() -> None:
        mb = await services.mailboxes.create(Principal.operator(), "Public Folders/Holidays",
                                             kind="calendar")
        await services.store.mailboxes.set_acl(mb.id, "anyone", "lr")
    dav.server.call(make())
    body = _home(dav, rita)
    public = [r for r in re.findall(rb"<D:response>.*?</D:response>", body, re.S)
              if b"Public: Holidays" in r]
    assert len(public) == 1
    assert b"<D:owner/>" in public[0] and b"<D:read/>" in public[0] \
        and b"<D:bind/>" not in public[0]
