"""The scheduling inbox (RFC 6638 §2.2, §4) holds what was delivered: alice's invitation is a
REQUEST in bob's inbox (and, as before, an event in his calendar), bob's answer a REPLY in
alice's, an iMIP REPLY by SMTP too; PROPFIND, GET, calendar-multiget, calendar-query and
sync-collection read it, DELETE acknowledges a message, PUT is refused, another user's inbox
is 404 like a missing one, the folder is in no calendar home, and the oldest messages go past
web.dav.max_inbox_messages."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree

from tests.dav.test_imip import REPLY, imip_mail
from tests.dav.test_scheduling import calendar, copy_of, invite, partstat_line, wait_for
from tests.support.dav import DAV, Dav
from tests.support.server import RunningServer, server_config

ALICE = "alice@inbox.test"
BOB = "bob@inbox.test"
DAVE = "dave@remote-inbox.example"
NS = {"d": "DAV:", "c": "urn:ietf:params:xml:ns:caldav"}

LIST = """<?xml version="1.0" encoding="utf-8"?>
<d:propfind xmlns:d="DAV:"><d:prop><d:getetag/><d:getcontenttype/><d:resourcetype/>
</d:prop></d:propfind>"""

SYNC = """<d:sync-collection xmlns:d="DAV:"><d:sync-token>{token}</d:sync-token>
<d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>"""

MULTIGET = """<c:calendar-multiget xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">
<d:prop><d:getetag/><c:calendar-data/></d:prop>{hrefs}</c:calendar-multiget>"""

QUERY = """<c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">
<d:prop><d:getetag/><c:calendar-data/></d:prop>
<c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT"/></c:comp-filter>
</c:filter></c:calendar-query>"""


def inbox_path(who: str) -> str:
    return f"/dav/calendars/{who}/inbox/"


def messages(dav: Dav, who: str) -> dict[str, str]:
    """href -> content type of every message in ``who``'s inbox (PROPFIND Depth 1)."""
    status, _, body = dav.request(who, "PROPFIND", inbox_path(who), LIST, {"Depth": "1"})
    assert status == 207, body
    out = {}
    for resp in etree.fromstring(body).findall("d:response", NS):
        href = resp.findtext("d:href", namespaces=NS) or ""
        if href.rstrip("/") != inbox_path(who).rstrip("/"):
            out[href] = resp.findtext(".//d:getcontenttype", namespaces=NS) or ""
    return out


def get(dav: Dav, who: str, href: str) -> str:
    status, headers, body = dav.request(who, "GET", href)
    assert status == 200, body
    assert headers["content-type"].startswith("text/calendar")
    return body.decode()


def sync(dav: Dav, who: str, token: str = "") -> tuple[str, dict[str, int]]:
    status, _, body = dav.request(who, "REPORT", inbox_path(who), SYNC.format(token=token))
    assert status == 207, body
    doc = etree.fromstring(body)
    found: dict[str, int] = {}
    for resp in doc.findall("d:response", NS):
        text = resp.findtext("d:status", namespaces=NS) or \
            resp.findtext("d:propstat/d:status", namespaces=NS) or ""
        found[resp.findtext("d:href", namespaces=NS) or ""] = int(text.split()[1])
    return doc.findtext("d:sync-token", namespaces=NS) or "", found


def test_invitation_and_answer_land_in_the_inboxes(dav: Dav) -> None:
    dav.account(ALICE)
    dav.account(BOB)
    uid = "inbox-flow-1@inbox.test"
    empty_token, before = sync(dav, BOB)  # no folder yet: a fixed token, nothing listed
    assert empty_token and before == {}
    calendar(dav, ALICE).save_event(invite(uid, "Inbox planning", [BOB], organizer=ALICE))

    # unchanged: the event is in bob's calendar, NEEDS-ACTION
    assert "PARTSTAT=NEEDS-ACTION" in partstat_line(wait_for(lambda: copy_of(dav, BOB, uid)),
                                                     BOB)
    # and the REQUEST is in his inbox, METHOD and all
    found = wait_for(lambda: messages(dav, BOB))
    assert len(found) == 1
    [(href, ctype)] = found.items()
    assert href.startswith(inbox_path(BOB)) and "method=REQUEST" in ctype
    text = get(dav, BOB, href)
    assert "METHOD:REQUEST" in text and uid in text
    # the caldav library sees it too
    assert len(list(dav.caldav(BOB).principal().schedule_inbox().get_items())) == 1

    token, listed = sync(dav, BOB)
    assert listed == {href: 200}
    assert sync(dav, BOB, empty_token)[1] == {href: 200}  # the early token: everything

    # bob accepts: alice's event says so, and her inbox has the REPLY
    ev = calendar(dav, BOB).event_by_uid(uid)
    ev.data = ev.data.replace("PARTSTAT=NEEDS-ACTION", "PARTSTAT=ACCEPTED")
    ev.save()
    wait_for(lambda: "PARTSTAT=ACCEPTED" in partstat_line(copy_of(dav, ALICE, uid), BOB))
    replies = wait_for(lambda: messages(dav, ALICE))
    [(reply_href, reply_type)] = replies.items()
    assert "method=REPLY" in reply_type
    assert "METHOD:REPLY" in get(dav, ALICE, reply_href)

    # bob acknowledges the invitation: gone, sync says removed, the event stays
    assert dav.request(BOB, "DELETE", href)[0] == 204
    assert messages(dav, BOB) == {}
    assert dav.request(BOB, "GET", href)[0] == 404
    _, changes = sync(dav, BOB, token)
    assert changes == {href: 404}
    assert uid in copy_of(dav, BOB, uid)
    # deleting the message sent nothing: alice's copy still says ACCEPTED, no new REPLY
    assert "PARTSTAT=ACCEPTED" in partstat_line(copy_of(dav, ALICE, uid), BOB)
    assert len(messages(dav, ALICE)) == 1

    # alice cancels: bob's copy says so, and the CANCEL is in his inbox
    calendar(dav, ALICE).event_by_uid(uid).delete()
    wait_for(lambda: "STATUS:CANCELLED" in copy_of(dav, BOB, uid))
    [(cancel_href, cancel_type)] = wait_for(lambda: messages(dav, BOB)).items()
    assert "method=CANCEL" in cancel_type and "METHOD:CANCEL" in get(dav, BOB, cancel_href)


def test_reports_read_the_inbox(dav: Dav) -> None:
    dav.account(ALICE)
    dav.account(BOB)
    uid = "inbox-reports-1@inbox.test"
    calendar(dav, ALICE).save_event(invite(uid, "Inbox reports", [BOB], organizer=ALICE))
    wanted = wait_for(lambda: [h for h in messages(dav, BOB) if uid in get(dav, BOB, h)])
    hrefs = "".join(f"<d:href>{h}</d:href>" for h in wanted)
    status, _, body = dav.request(BOB, "REPORT", inbox_path(BOB), MULTIGET.format(hrefs=hrefs))
    assert status == 207 and b"METHOD:REQUEST" in body and uid.encode() in body
    status, _, body = dav.request(BOB, "REPORT", inbox_path(BOB), QUERY)
    assert status == 207 and uid.encode() in body


def test_imip_reply_by_smtp_lands_in_the_organisers_inbox(dav: Dav) -> None:
    if not hasattr(dav.server.services.delivery, "delivered"):
        pytest.skip("the delivery hook is not wired yet")
    dav.account(ALICE)
    uid = "inbox-imip-1@inbox.test"
    calendar(dav, ALICE).save_event(invite(uid, "Remote inbox", [DAVE], organizer=ALICE))
    reply = REPLY.format(uid=uid, organizer=ALICE, attendee=DAVE, partstat="TENTATIVE")
    dav.deliver(ALICE, sender=DAVE, message=imip_mail(DAVE, ALICE, "REPLY", reply))
    wait_for(lambda: "PARTSTAT=TENTATIVE" in partstat_line(copy_of(dav, ALICE, uid), DAVE))
    kept = wait_for(lambda: [h for h in messages(dav, ALICE) if uid in get(dav, ALICE, h)])
    assert len(kept) == 1 and "METHOD:REPLY" in get(dav, ALICE, kept[0])


def test_inbox_refusals_and_privacy(dav: Dav) -> None:
    dav.account(ALICE)
    dav.account(BOB)
    uid = "inbox-private-1@inbox.test"
    calendar(dav, ALICE).save_event(invite(uid, "Inbox private", [BOB], organizer=ALICE))
    href = wait_for(lambda: [h for h in messages(dav, BOB) if uid in get(dav, BOB, h)])[0]
    event = invite("planted@inbox.test", "Planted", [BOB])
    # RFC 6638 §2.2: nobody PUTs into an inbox, not even its owner
    status, headers, _ = dav.request(BOB, "PUT", inbox_path(BOB) + "planted.ics", event,
                                     {"Content-Type": "text/calendar"})
    assert status == 405 and "PUT" not in headers["allow"]
    status, _, _ = dav.request(BOB, "PUT", href, event, {"Content-Type": "text/calendar"})
    assert status == 405
    # another user's inbox and its messages: 404 exactly like a missing one
    theirs = dav.request(ALICE, "PROPFIND", inbox_path(BOB), LIST, {"Depth": "1"})
    nothing = dav.request(ALICE, "PROPFIND", f"/dav/calendars/{ALICE}/nosuch/", LIST,
                          {"Depth": "1"})
    assert theirs[0] == nothing[0] == 404 and theirs[2] == nothing[2]
    assert dav.request(ALICE, "GET", href)[0] == 404
    assert dav.request(ALICE, "DELETE", href)[0] == 404
    assert dav.request(BOB, "GET", inbox_path(BOB) + "nosuch.ics")[0] == 404
    # the inbox's folder is no calendar of bob's: not in his home, not in the library's list
    status, _, body = dav.request(BOB, "PROPFIND", f"/dav/calendars/{BOB}/", LIST,
                                  {"Depth": "1"})
    assert status == 207 and b"Scheduling Inbox" not in body
    names = [c.get_display_name() for c in dav.caldav(BOB).principal().calendars()]
    assert "Inbox" not in names and "Scheduling Inbox" not in names
    assert dav.request(BOB, "GET", href)[0] == 200  # and the owner still reads it
    # the folder's mark is the server's: no client may set it to hide (or fake) an inbox
    mark = ('<d:propertyupdate xmlns:d="DAV:" xmlns:p="http://postroom/ns/"><d:set><d:prop>'
            '<p:scheduling-inbox>1</p:scheduling-inbox></d:prop></d:set></d:propertyupdate>')
    cal_path = str(calendar(dav, BOB).url.path)
    status, _, _ = dav.request(BOB, "PROPPATCH", cal_path, mark)
    assert status in (207, 403)
    assert any(str(c.url.path) == cal_path for c in dav.caldav(BOB).principal().calendars())


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dav]:
    """A server whose inboxes keep ten messages (web.dav.max_inbox_messages = 10, the
    smallest allowed)."""
    srv = RunningServer(server_config(Path(tmp_path_factory.mktemp("small-inbox")),
                                      extra=[*DAV, "web.dav.max_inbox_messages=10"]))
    try:
        yield Dav(srv)
    finally:
        srv.stop()


def test_the_cap_drops_the_oldest(small: Dav) -> None:
    small.account(ALICE)
    small.account(BOB)
    cal = calendar(small, ALICE)
    for n in range(11):
        uid = f"inbox-cap-{n}@inbox.test"
        cal.save_event(invite(uid, f"Cap {n}", [BOB], organizer=ALICE))
        wait_for(lambda uid=uid: copy_of(small, BOB, uid))  # type: ignore[misc]
    kept = wait_for(lambda: (lambda m: m if len(m) == 10 else None)(messages(small, BOB)))
    texts = " ".join(get(small, BOB, h) for h in kept)
    assert "inbox-cap-0@" not in texts
    assert all(f"inbox-cap-{n}@" in texts for n in range(1, 11))
    # every event is in the calendar all the same
    assert all(copy_of(small, BOB, f"inbox-cap-{n}@inbox.test") for n in range(11))
