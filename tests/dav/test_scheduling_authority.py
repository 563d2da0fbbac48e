"""Who may change what by scheduling (RFC 6638 §3.2, RFC 5546 §2.1: the organiser owns the
event). Review fixes: a REQUEST naming a UID the recipient already has changes that copy only
when the sender organises it, so bob cannot overwrite carol's meeting in alice's calendar, nor
alice's private event, nor carol's own copy, and a stranger mailing a REQUEST cannot either; a
REPLY whose second component answers for another attendee is refused as a whole; invitations
mailed from outside can be kept out of calendars (web.dav.remote_invitations = false)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from postroom.config_dav import DavConfig
from tests.dav.test_imip import imip_mail
from tests.dav.test_scheduling import calendar, copy_of, invite, partstat_line, wait_for
from tests.support.dav import DAV, Dav
from tests.support.server import RunningServer, server_config

ALICE = "alice@auth.test"
BOB = "bob@auth.test"
CAROL = "carol@auth.test"
EVE = "eve@remote.example"

PRIVATE = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//Postroom tests//EN\r
BEGIN:VEVENT\r
UID:{uid}\r
DTSTAMP:20260101T000000Z\r
DTSTART:20260310T090000Z\r
DTEND:20260310T100000Z\r
SUMMARY:Dentist\r
END:VEVENT\r
END:VCALENDAR\r
"""


def forged(uid: str, summary: str, organizer: str, attendees: list[str]) -> str:
    """An event ``organizer`` stores (or mails) claiming ``uid``, a later revision."""
    return invite(uid, summary, attendees, organizer=organizer).replace(
        "DTSTAMP:20260101T000000Z\r\n", "DTSTAMP:20260101T000000Z\r\nSEQUENCE:5\r\n"
    ).replace("ORGANIZER;CN=Alice:", "ORGANIZER:").replace("ATTENDEE;CN=Alice;", "ATTENDEE;")


def as_request(ical: str) -> str:
    return ical.replace("PRODID:-//Postroom tests//EN\r\n",
                        "PRODID:-//Remote//EN\r\nMETHOD:REQUEST\r\n")


def arrived(dav: Dav, address: str, sender: str) -> None:
    """Wait until a message from ``sender`` is in ``address``'s INBOX, then give the iMIP
    hook (run after filing) a moment."""
    imap = dav.imap(address)
    try:
        def there() -> bool:
            imap.select("INBOX")
            status, data = imap.search(None, "FROM", sender)
            return status == "OK" and bool(data[0].split())
        wait_for(there)
    finally:
        imap.logout()
    time.sleep(1.0)


def test_request_only_updates_a_copy_the_sender_organises(dav: Dav) -> None:
    """Bob knows the UIDs of carol's meeting (he is invited too) and of alice's private
    event; storing events of his own under those UIDs, with alice (and carol) as attendees,
    changes none of their copies; his deletion of them cancels nothing."""
    for who in (ALICE, BOB, CAROL):
        dav.account(who)
    calendar(dav, CAROL).save_event(invite("auth-board@auth.test", "Board meeting",
                                           [ALICE, BOB], organizer=CAROL))
    board = wait_for(lambda: copy_of(dav, ALICE, "auth-board@auth.test"))
    carols = copy_of(dav, CAROL, "auth-board@auth.test")
    calendar(dav, ALICE).save_event(PRIVATE.format(uid="auth-private@auth.test"))

    # bob's own calendar already holds the board UID (his invitation): a second calendar
    second = dav.caldav(BOB).principal().make_calendar(name="Second", cal_id="second")
    second.save_event(forged("auth-board@auth.test", "MOVED - board cancelled", BOB,
                             [ALICE, CAROL]))
    calendar(dav, BOB).save_event(forged("auth-private@auth.test", "pwned", BOB, [ALICE]))

    # scheduling runs inside the write: the answers above mean it is done
    assert copy_of(dav, ALICE, "auth-board@auth.test") == board
    assert copy_of(dav, CAROL, "auth-board@auth.test") == carols
    private = copy_of(dav, ALICE, "auth-private@auth.test")
    assert "SUMMARY:Dentist" in private and "pwned" not in private

    second.event_by_uid("auth-board@auth.test").delete()
    calendar(dav, BOB).event_by_uid("auth-private@auth.test").delete()
    assert copy_of(dav, ALICE, "auth-board@auth.test") == board
    assert "STATUS:CANCELLED" not in copy_of(dav, ALICE, "auth-private@auth.test")
    assert copy_of(dav, CAROL, "auth-board@auth.test") == carols

    # the organiser's own updates still reach alice
    ev = calendar(dav, CAROL).event_by_uid("auth-board@auth.test")
    ev.data = ev.data.replace("SUMMARY:Board meeting", "SUMMARY:Board meeting (room 2)")
    ev.save()
    assert "room 2" in copy_of(dav, ALICE, "auth-board@auth.test")


def test_mailed_request_from_a_stranger_overwrites_nothing(dav: Dav) -> None:
    dav.account(ALICE)
    uid = "auth-mailed-private@auth.test"
    calendar(dav, ALICE).save_event(PRIVATE.format(uid=uid))
    request = as_request(forged(uid, "planted", EVE, [ALICE]))
    dav.deliver(ALICE, sender=EVE, message=imip_mail(EVE, ALICE, "REQUEST", request))
    arrived(dav, ALICE, EVE)
    private = copy_of(dav, ALICE, uid)
    assert "SUMMARY:Dentist" in private and "planted" not in private


def test_mailed_reply_answering_for_someone_else_is_refused(dav: Dav) -> None:
    """Eve is invited to carol's meeting and replies with two VEVENTs: her own answer, then
    one declining for alice. Nothing of it is applied."""
    dav.account(ALICE)
    dav.account(CAROL)
    uid = "auth-reply@auth.test"
    calendar(dav, CAROL).save_event(invite(uid, "Board", [ALICE, EVE], organizer=CAROL))
    wait_for(lambda: copy_of(dav, ALICE, uid))
    reply = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Remote//EN\r\nMETHOD:REPLY\r\n"
             + "".join(f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260102T000000Z\r\n"
                       f"ORGANIZER:mailto:{CAROL}\r\nATTENDEE;PARTSTAT={ps}:mailto:{who}\r\n"
                       "END:VEVENT\r\n" for who, ps in ((EVE, "ACCEPTED"),
                                                        (ALICE, "DECLINED")))
             + "END:VCALENDAR\r\n")
    dav.deliver(CAROL, sender=EVE, message=imip_mail(EVE, CAROL, "REPLY", reply))
    arrived(dav, CAROL, EVE)
    carols = copy_of(dav, CAROL, uid)
    assert "DECLINED" not in partstat_line(carols, ALICE)
    assert "ACCEPTED" not in partstat_line(carols, EVE)


@pytest.fixture(scope="module")
def closed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dav]:
    """A server with web.dav.remote_invitations = false."""
    if "remote_invitations" not in DavConfig.__struct_fields__:
        pytest.skip("web.dav.remote_invitations is not in config_dav.py yet (requests.md)")
    srv = RunningServer(server_config(Path(tmp_path_factory.mktemp("closed")),
                                      extra=[*DAV, "web.dav.remote_invitations=false"]))
    try:
        yield Dav(srv)
    finally:
        srv.stop()


def test_remote_invitations_off_keeps_them_in_inbox(closed: Dav) -> None:
    """Off: a stranger's invitation stays mail only; a colleague's (local scheduling) and the
    remote organiser's update of an event already in the calendar still apply."""
    closed.account(ALICE)
    closed.account(BOB)
    uid = "auth-closed@remote.example"
    request = as_request(invite(uid, "Partner call", [ALICE], organizer=EVE))
    closed.deliver(ALICE, sender=EVE, message=imip_mail(EVE, ALICE, "REQUEST", request))
    arrived(closed, ALICE, EVE)
    assert copy_of(closed, ALICE, uid) == ""

    calendar(closed, BOB).save_event(invite("auth-local@auth.test", "Lunch", [ALICE],
                                            organizer=BOB))
    assert "PARTSTAT=NEEDS-ACTION" in partstat_line(
        copy_of(closed, ALICE, "auth-local@auth.test"), ALICE)
