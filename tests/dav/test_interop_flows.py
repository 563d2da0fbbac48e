"""The request sequences real clients send, replayed with curl (Debian's package) as those
clients send them: iOS/macOS account discovery (unauthenticated PROPFIND, 401, well-known
301, the principal and home with Apple's and CalendarServer's properties), DAVx5's
sync-collection flow on a calendar and an address book, and Thunderbird's getctag, Depth 1
getetag and calendar-multiget flow."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from lxml import etree

from tests.support.dav import Dav
from tests.support.webmail import PASSWORD

CURL = shutil.which("curl")
pytestmark = pytest.mark.skipif(CURL is None, reason="Debian package curl is not installed")

NS = {"D": "DAV:", "C": "urn:ietf:params:xml:ns:caldav", "R": "urn:ietf:params:xml:ns:carddav",
      "CS": "http://calendarserver.org/ns/", "A": "http://apple.com/ns/ical/"}
USER = "ios@example.test"
IOS_UA = "iOS/17.4 (21E219) dataaccessd/1.0"
DAVX5_UA = "DAVx5/4.3.13-ose (2024/02/26; dav4jvm; okhttp/4.12.0) Android/14"
TB_UA = "Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Thunderbird/115.9.0"


def curl(method: str, url: str, body: str = "", *, user: str | None = USER,
         headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """One request with curl; (status, lower-cased headers of the last answer, body)."""
    assert CURL is not None
    args = [CURL, "--silent", "--show-error", "--insecure", "--include", "-X", method]
    if user is not None:
        args += ["--user", f"{user}:{PASSWORD}"]
    for k, v in (headers or {}).items():
        args += ["-H", f"{k}: {v}"]
    if body:
        args += ["-H", "Content-Type: text/xml; charset=utf-8", "--data-binary", body]
    done = subprocess.run([*args, url], capture_output=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    head, _, rest = done.stdout.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    hdrs = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
    return status, hdrs, rest


def xml(body: bytes) -> etree._Element:
    return etree.fromstring(body)


def responses(body: bytes) -> dict[str, etree._Element]:
    return {r.findtext("D:href", namespaces=NS): r for r in xml(body).findall("D:response", NS)}


def ok_prop(resp: etree._Element, path: str) -> etree._Element | None:
    for ps in resp.findall("D:propstat", NS):
        if "200" in (ps.findtext("D:status", namespaces=NS) or ""):
            found = ps.find(f"D:prop/{path}", NS)
            if found is not None:
                return found
    return None


def test_ios_discovery(dav: Dav) -> None:
    dav.account(USER)
    base = dav.base
    # 1. dataaccessd probes the bare server without credentials, expects a challenge.
    status, hdrs, _ = curl("PROPFIND", f"{base}/", '<?xml version="1.0" encoding="UTF-8"?>'
                           '<A:propfind xmlns:A="DAV:"><A:prop><A:current-user-principal/>'
                           '<A:principal-URL/><A:resourcetype/></A:prop></A:propfind>',
                           user=None, headers={"Depth": "0", "User-Agent": IOS_UA})
    assert status == 401 and hdrs["www-authenticate"].startswith("Basic realm=")
    # 2. The well-known URLs redirect without credentials (RFC 6764 §5).
    for kind in ("caldav", "carddav"):
        status, hdrs, _ = curl("PROPFIND", f"{base}/.well-known/{kind}", user=None,
                               headers={"Depth": "0", "User-Agent": IOS_UA})
        assert status == 301 and hdrs["location"].endswith("/dav/"), hdrs
    # 3. With credentials: current-user-principal from the redirect's target.
    status, _, body = curl("PROPFIND", f"{base}/dav/", '<?xml version="1.0" encoding="UTF-8"?>'
                           '<A:propfind xmlns:A="DAV:"><A:prop><A:current-user-principal/>'
                           '<A:principal-URL/><A:resourcetype/></A:prop></A:propfind>',
                           headers={"Depth": "0", "User-Agent": IOS_UA})
    assert status == 207
    (resp,) = responses(body).values()
    principal = ok_prop(resp, "D:current-user-principal/D:href")
    assert principal is not None and principal.text == f"/dav/principals/{USER}/"
    # 4. The principal with the properties iOS asks for; unknown ones are 404 in a propstat.
    status, _, body = curl("PROPFIND", f"{base}{principal.text}", (
        '<?xml version="1.0" encoding="UTF-8"?><A:propfind xmlns:A="DAV:" '
        'xmlns:B="urn:ietf:params:xml:ns:caldav" xmlns:C="http://calendarserver.org/ns/">'
        '<A:prop><B:calendar-home-set/><B:calendar-user-address-set/>'
        '<A:current-user-principal/><A:displayname/><C:dropbox-home-URL/>'
        '<C:email-address-set/><C:notification-URL/><A:principal-collection-set/>'
        '<A:principal-URL/><A:resource-id/><B:schedule-inbox-URL/><B:schedule-outbox-URL/>'
        '<A:supported-report-set/></A:prop></A:propfind>'),
        headers={"Depth": "0", "User-Agent": IOS_UA})
    assert status == 207
    (resp,) = responses(body).values()
    home = ok_prop(resp, "C:calendar-home-set/D:href")
    assert home is not None and home.text == f"/dav/calendars/{USER}/"
    addresses = [h.text for h in resp.iterfind(".//C:calendar-user-address-set/D:href", NS)]
    assert f"mailto:{USER}" in addresses
    assert ok_prop(resp, "C:schedule-outbox-URL/D:href") is not None
    # 5. The home, Depth 1, with Apple's collection properties (what Calendar.app lists).
    status, _, body = curl("PROPFIND", f"{base}{home.text}", (
        '<?xml version="1.0" encoding="UTF-8"?><A:propfind xmlns:A="DAV:" '
        'xmlns:B="urn:ietf:params:xml:ns:caldav" xmlns:C="http://calendarserver.org/ns/" '
        'xmlns:E="http://apple.com/ns/ical/"><A:prop><A:add-member/><C:allowed-sharing-modes/>'
        '<E:autoprovisioned/><E:calendar-color/><B:calendar-description/><E:calendar-order/>'
        '<B:calendar-timezone/><A:current-user-privilege-set/><C:getctag/><A:displayname/>'
        '<A:owner/><A:quota-available-bytes/><A:quota-used-bytes/><A:resource-id/>'
        '<A:resourcetype/><B:schedule-calendar-transp/><B:supported-calendar-component-set/>'
        '<A:supported-report-set/><A:sync-token/></A:prop></A:propfind>'),
        headers={"Depth": "1", "User-Agent": IOS_UA})
    assert status == 207, body
    calendars = {href: r for href, r in responses(body).items()
                 if r.find(".//D:resourcetype/C:calendar", NS) is not None}
    assert calendars, body
    for href, r in calendars.items():
        assert ok_prop(r, "CS:getctag") is not None, href
        assert ok_prop(r, "D:sync-token") is not None, href
        assert ok_prop(r, "D:current-user-privilege-set/D:privilege/D:write-content") \
            is not None or ok_prop(r, "D:current-user-privilege-set/D:privilege/D:all") \
            is not None or ok_prop(r, "D:current-user-privilege-set/D:privilege/D:write") \
            is not None, href
    # 6. Calendar.app sets a colour and an order with PROPPATCH, and reads them back.
    target = next(iter(calendars))
    status, _, body = curl("PROPPATCH", f"{base}{target}", (
        '<?xml version="1.0" encoding="UTF-8"?><A:propertyupdate xmlns:A="DAV:" '
        'xmlns:E="http://apple.com/ns/ical/"><A:set><A:prop>'
        '<E:calendar-color symbolic-color="custom">#1BADF8FF</E:calendar-color>'
        '<E:calendar-order>3</E:calendar-order></A:prop></A:set></A:propertyupdate>'),
        headers={"User-Agent": IOS_UA})
    assert status == 207 and b"200 OK" in body and b"424" not in body, body
    status, _, body = curl("PROPFIND", f"{base}{target}", (
        '<A:propfind xmlns:A="DAV:" xmlns:E="http://apple.com/ns/ical/"><A:prop>'
        '<E:calendar-color/><E:calendar-order/></A:prop></A:propfind>'),
        headers={"Depth": "0", "User-Agent": IOS_UA})
    (resp,) = responses(body).values()
    color = ok_prop(resp, "A:calendar-color")
    order = ok_prop(resp, "A:calendar-order")
    assert color is not None and color.text == "#1BADF8FF", body
    assert order is not None and order.text == "3", body


EVENT = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//interop//EN\r\nBEGIN:VEVENT\r\n"
         "UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20261210T100000Z\r\n"
         "DTEND:20261210T110000Z\r\nSUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
CARD = "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:{uid}\r\nFN:{name}\r\nEND:VCARD\r\n"
SYNC = ('<?xml version="1.0" encoding="UTF-8"?><sync-collection xmlns="DAV:" '
        'xmlns:CARD="urn:ietf:params:xml:ns:carddav"><sync-token>{token}</sync-token>'
        '<sync-level>1</sync-level><prop><getetag/><CARD:address-data/></prop>'
        '</sync-collection>')


def home_member(user: str, home: str, name: str) -> str:
    status, _, body = curl("PROPFIND", home, '<propfind xmlns="DAV:"><prop><displayname/>'
                           '</prop></propfind>', user=user, headers={"Depth": "1"})
    assert status == 207
    for href, r in responses(body).items():
        if r.findtext(".//D:displayname", namespaces=NS) == name:
            return href
    raise AssertionError(f"{name} not in {body!r}")


def put(dav: Dav, user: str, url: str, data: str, ctype: str,
        headers: dict[str, str] | None = None) -> tuple[int, dict[str, str]]:
    status, hdrs, _ = dav.request(user, "PUT", url, data, {"Content-Type": ctype,
                                                           **(headers or {})})
    return status, hdrs


def test_davx5_sync_collection(dav: Dav) -> None:
    user = "droid@example.test"
    dav.account(user)
    book = home_member(user, f"{dav.base}/dav/addressbooks/{user}/", "Contacts")
    url = f"{dav.base}{book}"
    h = {"Depth": "1", "User-Agent": DAVX5_UA}
    # Initial sync: empty token, with address-data (DAVx5 asks for the cards in the report).
    status, _, body = curl("REPORT", url, SYNC.format(token=""), user=user,
                           headers={**h, "Depth": "0"})
    assert status == 207, body
    token = xml(body).findtext("D:sync-token", namespaces=NS)
    assert token
    # DAVx5 creates with If-None-Match: *, edits with If-Match (the ETag it holds).
    status, hdrs = put(dav, user, f"{book}a.vcf", CARD.format(uid="a", name="Ann"),
                       "text/vcard; charset=utf-8", {"If-None-Match": "*"})
    assert status == 201 and hdrs.get("etag"), hdrs
    etag_a = hdrs["etag"]
    assert put(dav, user, f"{book}b.vcf", CARD.format(uid="b", name="Ben"),
               "text/vcard; charset=utf-8", {"If-None-Match": "*"})[0] == 201
    assert put(dav, user, f"{book}a.vcf", CARD.format(uid="a", name="Dup"),
               "text/vcard; charset=utf-8", {"If-None-Match": "*"})[0] == 412
    status, _, body = curl("REPORT", url, SYNC.format(token=token), user=user,
                           headers={**h, "Depth": "0"})
    assert status == 207, body
    got = responses(body)
    assert set(got) == {f"{book}a.vcf", f"{book}b.vcf"}, body
    assert ok_prop(got[f"{book}a.vcf"], "D:getetag").text == etag_a  # type: ignore[union-attr]
    assert b"FN:Ann" in body
    token = xml(body).findtext("D:sync-token", namespaces=NS)
    # Edit with If-Match, a stale If-Match is refused, deletion with If-Match.
    status, hdrs = put(dav, user, f"{book}a.vcf", CARD.format(uid="a", name="Anna"),
                       "text/vcard; charset=utf-8", {"If-Match": etag_a})
    assert status == 204, status
    assert put(dav, user, f"{book}a.vcf", CARD.format(uid="a", name="Old"),
               "text/vcard; charset=utf-8", {"If-Match": etag_a})[0] == 412
    status, _, body = curl("REPORT", url, SYNC.format(token=token), user=user,
                           headers={**h, "Depth": "0"})
    etag_b = ok_prop(responses(body)[f"{book}a.vcf"], "D:getetag")
    assert etag_b is not None and etag_b.text == hdrs["etag"], body
    assert set(responses(body)) == {f"{book}a.vcf"}, body
    token = xml(body).findtext("D:sync-token", namespaces=NS)
    assert dav.request(user, "DELETE", f"{book}b.vcf")[0] == 204
    status, _, body = curl("REPORT", url, SYNC.format(token=token), user=user,
                           headers={**h, "Depth": "0"})
    (gone,) = responses(body).items()
    assert gone[0] == f"{book}b.vcf" and "404" in (gone[1].findtext("D:status",
                                                                    namespaces=NS) or "")
    # Nothing changed: the same token comes back with no members.
    token2 = xml(body).findtext("D:sync-token", namespaces=NS)
    status, _, body = curl("REPORT", url, SYNC.format(token=token2), user=user,
                           headers={**h, "Depth": "0"})
    assert status == 207 and not responses(body), body
    # A token the server never issued: 403 valid-sync-token, DAVx5 then restarts from empty.
    status, _, body = curl("REPORT", url, SYNC.format(token="http://bogus/1"), user=user,
                           headers={**h, "Depth": "0"})
    assert status == 403 and b"valid-sync-token" in body, body


def test_thunderbird_ctag_etag_multiget(dav: Dav) -> None:
    user = "bird@example.test"
    dav.account(user)
    cal = home_member(user, f"{dav.base}/dav/calendars/{user}/", "Calendar")
    url = f"{dav.base}{cal}"
    h = {"User-Agent": TB_UA}
    ctag_q = ('<?xml version="1.0" encoding="UTF-8"?><D:propfind xmlns:D="DAV:" '
              'xmlns:CS="http://calendarserver.org/ns/"><D:prop><CS:getctag/></D:prop>'
              '</D:propfind>')

    def ctag() -> str:
        status, _, body = curl("PROPFIND", url, ctag_q, user=user, headers={**h, "Depth": "0"})
        assert status == 207, body
        (resp,) = responses(body).values()
        found = ok_prop(resp, "CS:getctag")
        assert found is not None and found.text, body
        return str(found.text)

    first = ctag()
    for n in range(3):
        assert put(dav, user, f"{cal}tb-{n}.ics", EVENT.format(uid=f"tb-{n}", summary=f"E{n}"),
                   "text/calendar; charset=utf-8", {"If-None-Match": "*"})[0] == 201
    second = ctag()
    assert second != first
    assert ctag() == second  # stable while nothing changes
    # Depth 1 getetag (Thunderbird's "what changed" listing), with resourcetype.
    status, _, body = curl("PROPFIND", url, '<?xml version="1.0" encoding="UTF-8"?>'
                           '<D:propfind xmlns:D="DAV:"><D:prop><D:getcontenttype/>'
                           '<D:resourcetype/><D:getetag/></D:prop></D:propfind>', user=user,
                           headers={**h, "Depth": "1"})
    assert status == 207
    etags = {href: ok_prop(r, "D:getetag") for href, r in responses(body).items()
             if href != cal}
    assert set(etags) == {f"{cal}tb-{n}.ics" for n in range(3)}, body
    # calendar-multiget of those, plus one that does not exist (404 in its response).
    hrefs = "".join(f"<D:href>{href}</D:href>" for href in etags)
    status, _, body = curl("REPORT", url, (
        '<?xml version="1.0" encoding="UTF-8"?><C:calendar-multiget xmlns:D="DAV:" '
        'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/><C:calendar-data/>'
        f'</D:prop>{hrefs}<D:href>{cal}missing.ics</D:href></C:calendar-multiget>'),
        user=user, headers={**h, "Depth": "1"})
    assert status == 207, body
    got = responses(body)
    for href, etag in etags.items():
        assert etag is not None
        assert ok_prop(got[href], "D:getetag").text == etag.text  # type: ignore[union-attr]
        data = ok_prop(got[href], "C:calendar-data")
        assert data is not None and "BEGIN:VCALENDAR" in (data.text or "")
    missing = got[f"{cal}missing.ics"]
    assert "404" in (missing.findtext("D:status", namespaces=NS) or ""), body
    # Thunderbird deletes with If-Match; the ctag moves again.
    some = next(iter(etags))
    tag = etags[some]
    assert tag is not None
    assert dav.request(user, "DELETE", some, headers={"If-Match": tag.text or ""})[0] == 204
    assert ctag() != second


def test_macos_mkcalendar_with_apple_properties(dav: Dav) -> None:
    """Calendar.app's MKCALENDAR: a UUID segment, timezone, order, colour, transparency, a
    component set and an emoji display name, all kept and read back."""
    user = "mac@example.test"
    dav.account(user)
    href = f"/dav/calendars/{user}/8A1C0E5B-9D1F-4C65-A1D2-3F4E5D6C7B8A/"
    tz = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Apple Inc.//macOS 14.4//EN\r\n"
          "BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nBEGIN:STANDARD\r\nDTSTART:19701025T030000"
          "\r\nRRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nTZOFFSETFROM:+0200\r\n"
          "TZOFFSETTO:+0100\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\nEND:VCALENDAR\r\n")
    status, _, body = curl("MKCALENDAR", f"{dav.base}{href}", (
        '<?xml version="1.0" encoding="UTF-8"?><B:mkcalendar '
        'xmlns:B="urn:ietf:params:xml:ns:caldav"><A:set xmlns:A="DAV:"><A:prop>'
        f'<B:calendar-timezone><![CDATA[{tz}]]></B:calendar-timezone>'
        '<D:calendar-order xmlns:D="http://apple.com/ns/ical/">2</D:calendar-order>'
        '<B:supported-calendar-component-set><B:comp name="VEVENT"/>'
        '</B:supported-calendar-component-set><D:calendar-color '
        'xmlns:D="http://apple.com/ns/ical/" symbolic-color="custom">#63DA38FF'
        '</D:calendar-color><A:displayname>Holidays \U0001f384</A:displayname>'
        '<B:schedule-calendar-transp><B:opaque/></B:schedule-calendar-transp></A:prop>'
        '</A:set></B:mkcalendar>'), user=user,
        headers={"User-Agent": "macOS/14.4 (23E214) CalendarAgent/988"})
    assert status == 201, body
    status, _, body = curl("PROPFIND", f"{dav.base}{href}", (
        '<A:propfind xmlns:A="DAV:" xmlns:E="http://apple.com/ns/ical/" '
        'xmlns:B="urn:ietf:params:xml:ns:caldav"><A:prop><A:displayname/><E:calendar-color/>'
        '<E:calendar-order/><B:supported-calendar-component-set/><B:calendar-timezone/>'
        '</A:prop></A:propfind>'), user=user, headers={"Depth": "0"})
    assert status == 207
    (resp,) = responses(body).values()
    assert ok_prop(resp, "D:displayname").text == "Holidays \U0001f384"  # type: ignore[union-attr]
    assert ok_prop(resp, "A:calendar-color").text == "#63DA38FF"  # type: ignore[union-attr]
    assert ok_prop(resp, "A:calendar-order").text == "2"  # type: ignore[union-attr]
    comps = resp.findall(".//C:supported-calendar-component-set/C:comp", NS)
    assert [c.get("name") for c in comps] == ["VEVENT"]
    assert "Europe/Berlin" in (ok_prop(resp, "C:calendar-timezone").text or "")  # type: ignore[union-attr]
    # Contacts.app's principal query: the address book home.
    status, _, body = curl("PROPFIND", f"{dav.base}/dav/principals/{user}/", (
        '<A:propfind xmlns:A="DAV:" xmlns:R="urn:ietf:params:xml:ns:carddav" '
        'xmlns:CS="http://calendarserver.org/ns/"><A:prop><R:addressbook-home-set/>'
        '<CS:me-card/><R:directory-gateway/></A:prop></A:propfind>'), user=user,
        headers={"Depth": "0"})
    (resp,) = responses(body).values()
    books = ok_prop(resp, "R:addressbook-home-set/D:href")
    assert books is not None and books.text == f"/dav/addressbooks/{user}/", body


def _item(dav: Dav, user: str, uid: str, extra: str = "") -> tuple[str, str]:
    cal = home_member(user, f"{dav.base}/dav/calendars/{user}/", "Calendar")
    body = EVENT.format(uid=uid, summary="cond").replace("END:VEVENT", f"{extra}END:VEVENT")
    status, hdrs = put(dav, user, f"{cal}{uid}.ics", body, "text/calendar")
    assert status == 201
    return f"{cal}{uid}.ics", hdrs["etag"]


def test_conditional_requests_plain(dav: Dav) -> None:
    """What clients rely on today: If-None-Match with the ETag held gives 304 on GET, a stale
    If-Match 412 on PUT and DELETE."""
    user = "cond@example.test"
    dav.account(user)
    href, etag = _item(dav, user, "c1")
    status, _, _ = curl("GET", f"{dav.base}{href}", user=user, headers={"If-None-Match": etag})
    assert status == 304
    assert dav.request(user, "DELETE", href, headers={"If-Match": '"stale"'})[0] == 412
    assert dav.request(user, "DELETE", href, headers={"If-Match": etag})[0] == 204


def test_conditional_requests_lists_and_weak(dav: Dav) -> None:
    """RFC 7232: If-Match is true when ANY listed tag matches (§3.1); If-None-Match compares
    weakly (§3.2), so W/"x" matches "x" and a GET gets 304."""
    user = "cond2@example.test"
    dav.account(user)
    href, etag = _item(dav, user, "c2")
    status, _, _ = curl("GET", f"{dav.base}{href}", user=user,
                        headers={"If-None-Match": f"W/{etag}"})
    assert status == 304
    status, _, _ = curl("GET", f"{dav.base}{href}", user=user,
                        headers={"If-None-Match": f'"other", {etag}'})
    assert status == 304
    assert dav.request(user, "DELETE", href, headers={"If-Match": f'"other", {etag}'})[0] == 204


def test_schedule_tag(dav: Dav) -> None:
    """RFC 6638 §3.2.10 / §8.2-8.3: a scheduling object resource has a Schedule-Tag (header on
    PUT/GET, C:schedule-tag property); If-Schedule-Tag-Match with another tag is 412. iOS and
    macOS send it when an attendee changes their participation."""
    user = "sched@example.test"
    dav.account(user)
    dav.account("other@example.test")
    href, _ = _item(dav, user, "s1", f"ORGANIZER:mailto:{user}\r\n"
                    f"ATTENDEE;PARTSTAT=ACCEPTED:mailto:{user}\r\n"
                    "ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:other@example.test\r\n")
    status, hdrs, _ = curl("GET", f"{dav.base}{href}", user=user)
    assert status == 200 and hdrs.get("schedule-tag"), hdrs
    body = EVENT.format(uid="s1", summary="changed")
    assert put(dav, user, href, body, "text/calendar",
               {"If-Schedule-Tag-Match": '"not-the-tag"'})[0] == 412


def test_davx5_paged_initial_sync(dav: Dav) -> None:
    """An initial sync in pages (DAV:limit, RFC 6578 §3.6): each page's token continues where
    it stopped; together the pages list every member exactly once, with calendar-data."""
    user = "pager@example.test"
    dav.account(user)
    cal = home_member(user, f"{dav.base}/dav/calendars/{user}/", "Calendar")
    names = {f"{cal}pg-{n}.ics" for n in range(7)}
    for n in range(7):
        assert put(dav, user, f"{cal}pg-{n}.ics", EVENT.format(uid=f"pg-{n}", summary=f"P{n}"),
                   "text/calendar")[0] == 201
    seen: list[str] = []
    token = ""
    for _ in range(10):
        status, _, body = curl("REPORT", f"{dav.base}{cal}", (
            '<?xml version="1.0" encoding="UTF-8"?><sync-collection xmlns="DAV:" '
            'xmlns:C="urn:ietf:params:xml:ns:caldav">'
            f'<sync-token>{token}</sync-token><sync-level>1</sync-level>'
            '<limit><nresults>3</nresults></limit><prop><getetag/><C:calendar-data/></prop>'
            '</sync-collection>'), user=user, headers={"Depth": "0", "User-Agent": DAVX5_UA})
        assert status == 207, body
        got = responses(body)
        more = got.pop(cal, None)
        for href, r in got.items():
            data = ok_prop(r, "C:calendar-data")
            assert data is not None and "BEGIN:VEVENT" in (data.text or ""), body
            seen.append(href)
        token = xml(body).findtext("D:sync-token", namespaces=NS) or ""
        if more is None:
            break
        assert "507" in (more.findtext("D:status", namespaces=NS) or ""), body
    assert sorted(seen) == sorted(names)


def test_directory_sync_sees_new_colleagues(dav: Dav) -> None:
    """The global address list is read-only (only read privileges) and syncs like any
    address book: a colleague added later appears in the changes since the last token, and
    the ctag moves (DAVx5 and Thunderbird then fetch the new card)."""
    user = "dir1@dirtest.test"
    dav.account(user)
    url = f"{dav.base}/dav/addressbooks/{user}/directory/"
    status, _, body = curl("PROPFIND", url, '<D:propfind xmlns:D="DAV:" '
                           'xmlns:CS="http://calendarserver.org/ns/"><D:prop>'
                           '<D:current-user-privilege-set/><CS:getctag/></D:prop></D:propfind>',
                           user=user, headers={"Depth": "0"})
    assert status == 207
    (resp,) = responses(body).values()
    privs = {p.tag for p in resp.iterfind(".//D:current-user-privilege-set/D:privilege/*", NS)}
    assert "{DAV:}read" in privs and not privs & {"{DAV:}bind", "{DAV:}write",
                                                   "{DAV:}write-content", "{DAV:}all"}, privs
    ctag = ok_prop(resp, "CS:getctag")
    assert ctag is not None
    status, _, body = curl("REPORT", url, SYNC.format(token=""), user=user,
                           headers={"Depth": "0", "User-Agent": DAVX5_UA})
    assert status == 207 and b"dir1@dirtest.test" in body, body
    token = xml(body).findtext("D:sync-token", namespaces=NS)
    dav.account("dir2@dirtest.test")
    status, _, body = curl("REPORT", url, SYNC.format(token=token), user=user,
                           headers={"Depth": "0", "User-Agent": DAVX5_UA})
    assert status == 207, body
    assert b"dir2@dirtest.test" in body, body
    status, _, after = curl("PROPFIND", url, '<D:propfind xmlns:D="DAV:" '
                            'xmlns:CS="http://calendarserver.org/ns/"><D:prop><CS:getctag/>'
                            '</D:prop></D:propfind>', user=user, headers={"Depth": "0"})
    (resp,) = responses(after).values()
    moved = ok_prop(resp, "CS:getctag")
    assert moved is not None and moved.text != ctag.text
