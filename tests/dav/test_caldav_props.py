"""PROPFIND and PROPPATCH on calendars (RFC 4918 §9.1, §9.2; RFC 4791 §5.2): allprop,
propname, unknown properties as 404 propstats, PROPPATCH all-or-nothing with 424, dead
properties kept, the Apple colour, MKCALENDAR with properties and a component set."""

from __future__ import annotations

import re

from tests.support.dav import Dav

ALL = ('<?xml version="1.0"?><D:propfind xmlns:D="DAV:" '
       'xmlns:C="urn:ietf:params:xml:ns:caldav" xmlns:I="http://apple.com/ns/ical/" '
       'xmlns:X="urn:example:x"><D:prop>'
       '<D:displayname/><D:resourcetype/><C:supported-calendar-component-set/>'
       '<C:supported-calendar-data/><C:max-resource-size/><C:calendar-description/>'
       '<I:calendar-color/><D:supported-report-set/><D:supported-privilege-set/>'
       '<D:sync-token/><D:owner/><D:acl/><D:quota-used-bytes/><X:unknown/>'
       '</D:prop></D:propfind>')


def _mkcalendar(dav: Dav, address: str, segment: str, comps: str = "VEVENT") -> str:
    body = ('<?xml version="1.0"?><C:mkcalendar xmlns:D="DAV:" '
            'xmlns:C="urn:ietf:params:xml:ns:caldav" xmlns:I="http://apple.com/ns/ical/">'
            '<D:set><D:prop><D:displayname>Work</D:displayname>'
            '<C:calendar-description>Work things</C:calendar-description>'
            '<I:calendar-color>#FF0000FF</I:calendar-color>'
            '<C:supported-calendar-component-set>'
            + "".join(f'<C:comp name="{c}"/>' for c in comps.split(",")) +
            '</C:supported-calendar-component-set></D:prop></D:set></C:mkcalendar>')
    path = f"/dav/calendars/{address}/{segment}/"
    status, _, out = dav.request(address, "MKCALENDAR", path, body)
    assert status == 201, out
    return path


def test_mkcalendar_with_properties(dav: Dav) -> None:
    alice = dav.account("alice@example.test")
    path = _mkcalendar(dav, alice, "work")
    status, _, body = dav.request(alice, "PROPFIND", path, ALL, {"Depth": "0"})
    assert status == 207
    assert b"<D:displayname>Work</D:displayname>" in body
    assert b"Work things" in body and b"#FF0000FF" in body
    assert b'<C:comp name="VEVENT"/>' in body
    assert b"<C:calendar/>" in body and b"calendar-multiget" in body
    assert b"sync-collection" in body and b"<C:max-resource-size>" in body
    ok, missing = re.findall(rb"<D:propstat>.*?</D:propstat>", body, re.S)
    assert b"404" in missing and b"unknown" in missing and b"unknown" not in ok
    status, _, _ = dav.request(alice, "MKCALENDAR", path, "")
    assert status == 405
    both = _mkcalendar(dav, alice, "mixed", "VEVENT,VTODO")
    status, _, body = dav.request(alice, "PROPFIND", both, ALL, {"Depth": "0"})
    assert b'<C:comp name="VEVENT"/><C:comp name="VTODO"/>' in body
    tasks = _mkcalendar(dav, alice, "chores", "VTODO")
    status, _, body = dav.request(alice, "PROPFIND", tasks, ALL, {"Depth": "0"})
    assert b'<C:comp name="VTODO"/>' in body and b"VEVENT" not in body


def test_proppatch_all_or_nothing(dav: Dav) -> None:
    bob = dav.account("bob@example.test")
    path = _mkcalendar(dav, bob, "patchme")
    good = ('<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" '
            'xmlns:I="http://apple.com/ns/ical/" xmlns:X="urn:example:x"><D:set><D:prop>'
            '<D:displayname>Renamed</D:displayname><I:calendar-color>#00FF00FF</I:calendar-color>'
            '<X:dead lang="en">kept <X:b>inner</X:b></X:dead></D:prop></D:set>'
            '</D:propertyupdate>')
    status, _, body = dav.request(bob, "PROPPATCH", path, good)
    assert status == 207 and b"200 OK" in body and b"403" not in body
    bad = ('<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:"><D:set><D:prop>'
           '<D:displayname>Not applied</D:displayname><D:getetag>x</D:getetag></D:prop>'
           '</D:set></D:propertyupdate>')
    status, _, body = dav.request(bob, "PROPPATCH", path, bad)
    assert status == 207 and b"403" in body and b"424" in body
    assert b"cannot-modify-protected-property" in body
    query = ('<?xml version="1.0"?><D:propfind xmlns:D="DAV:" xmlns:X="urn:example:x">'
             '<D:prop><D:displayname/><X:dead/></D:prop></D:propfind>')
    status, _, body = dav.request(bob, "PROPFIND", path, query, {"Depth": "0"})
    assert b"<D:displayname>Renamed</D:displayname>" in body
    assert b"inner" in body and b'lang="en"' in body
    remove = ('<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:X="urn:example:x">'
              '<D:remove><D:prop><X:dead/></D:prop></D:remove></D:propertyupdate>')
    assert dav.request(bob, "PROPPATCH", path, remove)[0] == 207
    status, _, body = dav.request(bob, "PROPFIND", path, query, {"Depth": "0"})
    assert b"inner" not in body and b"404" in body


def test_allprop_and_propname(dav: Dav) -> None:
    carol = dav.account("carol@example.test")
    home = f"/dav/calendars/{carol}/"
    status, _, body = dav.request(carol, "PROPFIND", home, "", {"Depth": "1"})
    assert status == 207 and b"<D:resourcetype>" in body
    assert b"current-user-privilege-set" not in body  # not an allprop property
    names = '<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:propname/></D:propfind>'
    status, _, body = dav.request(carol, "PROPFIND", home, names, {"Depth": "1"})
    assert status == 207 and b"<D:current-user-privilege-set/>" in body
    status, _, body = dav.request(carol, "PROPFIND", home, names, {"Depth": "infinity"})
    assert status == 403 and b"propfind-finite-depth" in body


def test_xml_lang_on_a_dead_property_survives(dav: Dav) -> None:
    dora = dav.account("dora@example.test")
    path = _mkcalendar(dav, dora, "lang")
    patch = ('<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:X="urn:example:x">'
             '<D:set><D:prop><X:title xml:lang="fr">Bonjour</X:title></D:prop></D:set>'
             '</D:propertyupdate>')
    assert dav.request(dora, "PROPPATCH", path, patch)[0] == 207
    query = ('<?xml version="1.0"?><D:propfind xmlns:D="DAV:" xmlns:X="urn:example:x">'
             '<D:prop><X:title/></D:prop></D:propfind>')
    status, _, body = dav.request(dora, "PROPFIND", path, query, {"Depth": "0"})
    assert status == 207 and b'xml:lang="fr"' in body and b"Bonjour" in body
    assert b"XML/1998/namespace" not in body


def test_imap_rename_keeps_the_url(dav: Dav) -> None:
    eve = dav.account("eve@example.test")
    home = f"/dav/calendars/{eve}/"
    names = ('<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:displayname/>'
             '</D:prop></D:propfind>')
    status, _, body = dav.request(eve, "PROPFIND", home, names, {"Depth": "1"})
    before = re.findall(rb"<D:href>([^<]+)</D:href><D:propstat><D:prop><D:displayname>"
                        rb"Calendar<", body)
    assert status == 207 and len(before) == 1
    imap = dav.imap(eve)
    try:
        assert imap.rename("Calendar", "Agenda")[0] == "OK"
    finally:
        imap.logout()
    status, _, body = dav.request(eve, "PROPFIND", before[0].decode(), names, {"Depth": "0"})
    assert status == 207 and b"<D:displayname>Agenda</D:displayname>" in body


def test_quota_properties_and_over_quota(dav: Dav) -> None:
    fay = dav.account("fay@example.test")
    services = dav.server.services

    async def limit() -> None:
        await services.store.directory.update_account(fay, quota_bytes=1500)
    dav.server.call(limit())
    home = f"/dav/calendars/{fay}/"
    quota = ('<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:quota-used-bytes/>'
             '<D:quota-available-bytes/></D:prop></D:propfind>')
    status, _, body = dav.request(fay, "PROPFIND", home, quota, {"Depth": "0"})
    assert status == 207 and b"<D:quota-available-bytes>1500<" in body
    path = _mkcalendar(dav, fay, "q")
    event = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\n"
             "UID:{n}@t\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260101T090000Z\r\n"
             "SUMMARY:{n}\r\nDESCRIPTION:" + "x" * 300 + "\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    results = [dav.request(fay, "PUT", f"{path}{n}.ics", event.format(n=n),
                           {"Content-Type": "text/calendar"}) for n in range(4)]
    assert results[0][0] == 201
    refused = [r for r in results if r[0] == 507]
    assert refused and b"quota-not-exceeded" in refused[0][2]
    status, _, body = dav.request(fay, "PROPFIND", home, quota, {"Depth": "0"})
    used = int(re.search(rb"<D:quota-used-bytes>(\d+)<", body).group(1))  # type: ignore[union-attr]
    assert 0 < used <= 1500


def test_mkcalendar_with_a_bad_property_makes_nothing(dav: Dav) -> None:
    gil = dav.account("gil@example.test")
    body = ('<?xml version="1.0"?><C:mkcalendar xmlns:D="DAV:" '
            'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop>'
            '<D:displayname>Bad</D:displayname><D:getetag>x</D:getetag>'
            '</D:prop></D:set></C:mkcalendar>')
    path = f"/dav/calendars/{gil}/bad/"
    status, _, out = dav.request(gil, "MKCALENDAR", path, body)
    assert status == 403 and b"mkcalendar-response" in out
    assert b"403 Forbidden" in out and b"424 Failed Dependency" in out
    assert dav.request(gil, "PROPFIND", path, "", {"Depth": "0"})[0] == 404
