"""sync-collection (RFC 6578) and getctag: an empty token lists every member, a later token
exactly the changes since (edits, additions) and deletions as 404 responses, a foreign or
malformed token is 403 DAV:valid-sync-token; also through the caldav library."""

from __future__ import annotations

import re

from tests.support.dav import Dav

EVENT = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\n"
         "DTSTAMP:20260101T000000Z\r\nDTSTART:20260310T090000Z\r\nDTEND:20260310T100000Z\r\n"
         "SUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
CAL = {"Content-Type": "text/calendar; charset=utf-8"}
CTAG = ('<?xml version="1.0"?><D:propfind xmlns:D="DAV:" xmlns:CS="http://calendarserver.org/ns/">'
        '<D:prop><CS:getctag/><D:sync-token/><D:displayname/></D:prop></D:propfind>')


def sync_body(token: str) -> str:
    return ('<?xml version="1.0"?><D:sync-collection xmlns:D="DAV:">'
            f'<D:sync-token>{token}</D:sync-token><D:sync-level>1</D:sync-level>'
            '<D:prop><D:getetag/></D:prop></D:sync-collection>')


def _calendar_path(dav: Dav, address: str) -> str:
    status, _, body = dav.request(address, "PROPFIND", f"/dav/calendars/{address}/", CTAG,
                                  {"Depth": "1"})
    assert status == 207
    for resp in re.findall(rb"<D:response>.*?</D:response>", body, re.S):
        if b"<D:displayname>Calendar</D:displayname>" in resp:
            m = re.search(rb"<D:href>([^<]+)</D:href>", resp)
            assert m is not None
            return m.group(1).decode()
    raise AssertionError(body)


def _sync(dav: Dav, address: str, path: str, token: str) -> tuple[str, bytes]:
    status, _, body = dav.request(address, "REPORT", path, sync_body(token), {"Depth": "1"})
    assert status == 207, body
    m = re.search(rb"<D:sync-token>([^<]+)</D:sync-token>", body)
    assert m is not None
    return m.group(1).decode(), body


def _responses(body: bytes) -> dict[str, bytes]:
    out = {}
    for resp in re.findall(rb"<D:response>.*?</D:response>", body, re.S):
        href = re.search(rb"<D:href>([^<]+)</D:href>", resp)
        assert href is not None
        out[href.group(1).decode().rsplit("/", 1)[1]] = resp
    return out


def test_sync_reports_changes_and_deletions_since_a_token(dav: Dav) -> None:
    alice = dav.account("alice@example.test")
    path = _calendar_path(dav, alice)
    for n in (1, 2, 3):
        status, _, _ = dav.request(alice, "PUT", f"{path}s{n}.ics",
                                   EVENT.format(uid=f"s{n}@t", summary=f"S{n}"), CAL)
        assert status == 201
    token, body = _sync(dav, alice, path, "")
    first = _responses(body)
    assert {"s1.ics", "s2.ics", "s3.ics"} <= set(first)
    assert all(b"404" not in r for r in first.values())
    # nothing happened: nothing reported, same token
    again, body = _sync(dav, alice, path, token)
    assert _responses(body) == {} and again == token
    # edit one, delete one, add one
    assert dav.request(alice, "PUT", f"{path}s1.ics",
                       EVENT.format(uid="s1@t", summary="S1 changed"), CAL)[0] == 204
    assert dav.request(alice, "DELETE", f"{path}s2.ics")[0] == 204
    assert dav.request(alice, "PUT", f"{path}s4.ics",
                       EVENT.format(uid="s4@t", summary="S4"), CAL)[0] == 201
    later, body = _sync(dav, alice, path, token)
    changes = _responses(body)
    assert set(changes) == {"s1.ics", "s2.ics", "s4.ics"}
    assert b"HTTP/1.1 404" in changes["s2.ics"] and b"getetag" not in changes["s2.ics"]
    assert b"getetag" in changes["s1.ics"] and b"getetag" in changes["s4.ics"]
    assert later != token
    # the ctag moved with it
    status, _, props = dav.request(alice, "PROPFIND", path, CTAG, {"Depth": "0"})
    assert status == 207 and later.encode() in props


def test_bad_tokens_are_403_valid_sync_token(dav: Dav) -> None:
    alice = dav.account("alice@example.test")
    path = _calendar_path(dav, alice)
    token, _ = _sync(dav, alice, path, "")
    other = token.rsplit("/", 1)[0] + "/1-" + token.rsplit("-", 1)[1]
    for bad in ("garbage", "http://postroom/ns/sync/x-y", other,
                token.rsplit("-", 1)[0] + "-99999999"):
        status, _, body = dav.request(alice, "REPORT", path, sync_body(bad), {"Depth": "1"})
        assert status == 403, bad
        assert b"valid-sync-token" in body


def test_caldav_library_sync(dav: Dav) -> None:
    frank = dav.account("frank@example.test")
    principal = dav.caldav(frank).principal()
    cal = next(c for c in principal.calendars() if c.get_display_name() == "Calendar")
    cal.save_event(EVENT.format(uid="lib-1@t", summary="One"))
    cal.save_event(EVENT.format(uid="lib-2@t", summary="Two"))
    objects = cal.objects_by_sync_token(load_objects=True, disable_fallback=True)
    assert len(list(objects)) == 2
    token = objects.sync_token
    cal.event_by_uid("lib-1@t").delete()
    cal.save_event(EVENT.format(uid="lib-3@t", summary="Three"))
    changed = cal.objects_by_sync_token(sync_token=token, load_objects=True,
                                        disable_fallback=True)
    got = list(changed)
    assert len(got) == 2  # lib-3 added, lib-1 deleted
    datas = [o.data for o in got if o.data]
    assert len(datas) == 1 and "Three" in datas[0]


def test_paged_sync_with_a_limit(dav: Dav) -> None:
    gus = dav.account("gus@example.test")
    path = _calendar_path(dav, gus)
    for n in range(7):
        assert dav.request(gus, "PUT", f"{path}p{n}.ics",
                           EVENT.format(uid=f"p{n}@t", summary=f"P{n}"), CAL)[0] == 201
    assert dav.request(gus, "DELETE", f"{path}p0.ics")[0] == 204

    def page(token: str) -> tuple[str, dict[str, bytes], bool]:
        body = sync_body(token).replace(
            "</D:sync-level>", "</D:sync-level><D:limit><D:nresults>3</D:nresults></D:limit>")
        status, _, out = dav.request(gus, "REPORT", path, body, {"Depth": "1"})
        assert status == 207, out
        m = re.search(rb"<D:sync-token>([^<]+)</D:sync-token>", out)
        assert m is not None
        more = b"507" in out
        responses = {k: v for k, v in _responses(out).items() if k}
        return m.group(1).decode(), responses, more

    token, seen, more = page("")
    assert len(seen) == 3 and more
    names = set(seen)
    while more:
        token, seen, more = page(token)
        assert len(seen) <= 3
        names |= {k for k, v in seen.items() if b"HTTP/1.1 404" not in v}
        # a removal the client never saw may be reported (RFC 6578 §3.5.2): only p0
        assert {k for k, v in seen.items() if b"HTTP/1.1 404" in v} <= {"p0.ics"}
    assert names == {f"p{n}.ics" for n in range(1, 7)}
    token2, seen, more = page(token)
    assert seen == {} and not more and token2 == token
