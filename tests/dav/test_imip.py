"""iMIP coming in by SMTP (RFC 6047): a REPLY from a remote attendee updates the local
organiser's event; a REQUEST from a remote organiser lands in the local attendee's calendar as
NEEDS-ACTION; a REPLY whose From is not the attendee it speaks for changes nothing; the mail
itself is delivered to INBOX as usual."""

from __future__ import annotations

import smtplib
import ssl
import time
from email.message import EmailMessage

import pytest

from tests.dav.test_scheduling import calendar, copy_of, invite, partstat_line, wait_for
from tests.support.dav import Dav
from tests.support.webmail import PASSWORD

ALICE = "alice@imip.test"
BOB = "bob@imip.test"
DAVE = "dave@remote.example"

REPLY = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//Remote//EN\r
METHOD:REPLY\r
BEGIN:VEVENT\r
UID:{uid}\r
DTSTAMP:20260102T000000Z\r
DTSTART:20260410T090000Z\r
DTEND:20260410T100000Z\r
SUMMARY:Remote meeting\r
ORGANIZER:mailto:{organizer}\r
ATTENDEE;PARTSTAT={partstat}:mailto:{attendee}\r
END:VEVENT\r
END:VCALENDAR\r
"""


@pytest.fixture(autouse=True)
def _hook_wired(dav: Dav) -> None:
    if not hasattr(dav.server.services.delivery, "delivered"):
        pytest.skip("the delivery hook (services/delivery.py `delivered`) is not wired yet")


def imip_mail(sender: str, to: str, method: str, ical: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = f"{method.title()}: Remote meeting"
    msg.set_content("See the attached calendar object.")
    msg.add_alternative(ical, subtype="calendar", params={"method": method})
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))


def test_reply_by_smtp_updates_the_organisers_event(dav: Dav) -> None:
    dav.account(ALICE)
    uid = "imip-reply-1@imip.test"
    calendar(dav, ALICE).save_event(invite(uid, "Remote meeting", [DAVE], organizer=ALICE))
    reply = REPLY.format(uid=uid, organizer=ALICE, attendee=DAVE, partstat="ACCEPTED")
    dav.deliver(ALICE, sender=DAVE, message=imip_mail(DAVE, ALICE, "REPLY", reply))
    wait_for(lambda: "PARTSTAT=ACCEPTED" in partstat_line(copy_of(dav, ALICE, uid), DAVE))


def test_reply_from_someone_else_changes_nothing(dav: Dav) -> None:
    dav.account(ALICE)
    uid = "imip-spoof-1@imip.test"
    calendar(dav, ALICE).save_event(invite(uid, "Remote meeting", [DAVE], organizer=ALICE))
    reply = REPLY.format(uid=uid, organizer=ALICE, attendee=DAVE, partstat="DECLINED")
    mallory = "mallory@remote.example"
    dav.deliver(ALICE, sender=mallory, message=imip_mail(mallory, ALICE, "REPLY", reply))
    imap = dav.imap(ALICE)
    try:
        def arrived() -> bool:
            imap.select("INBOX")
            status, data = imap.search(None, "FROM", mallory)
            return status == "OK" and bool(data[0].split())
        wait_for(arrived)
    finally:
        imap.logout()
    time.sleep(1.0)
    assert "DECLINED" not in partstat_line(copy_of(dav, ALICE, uid), DAVE)


def test_request_from_outside_lands_as_needs_action(dav: Dav) -> None:
    dav.account(BOB)
    uid = "imip-request-1@remote.example"
    request = invite(uid, "Partner call", [BOB], organizer=DAVE).replace(
        "PRODID:-//Postroom tests//EN\r\n", "PRODID:-//Remote//EN\r\nMETHOD:REQUEST\r\n")
    dav.deliver(BOB, sender=DAVE, message=imip_mail(DAVE, BOB, "REQUEST", request))
    copy = wait_for(lambda: copy_of(dav, BOB, uid))
    assert "PARTSTAT=NEEDS-ACTION" in partstat_line(copy, BOB)
    assert "METHOD:" not in copy


def _insecure() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def test_local_sender_counts_only_when_authenticated(dav: Dav) -> None:
    """A REQUEST "from" alice that came in from outside (no AUTH) plants nothing in bob's
    calendar; bob's own mail program answering alice by mail (submission, AUTH) is applied."""
    dav.account(ALICE)
    dav.account(BOB)
    forged_uid = "imip-forged-1@imip.test"
    forged = invite(forged_uid, "Forged", [BOB], organizer=ALICE).replace(
        "PRODID:-//Postroom tests//EN\r\n", "PRODID:-//x//EN\r\nMETHOD:REQUEST\r\n")
    dav.deliver(BOB, sender=ALICE, message=imip_mail(ALICE, BOB, "REQUEST", forged))

    uid = "imip-submitted-1@imip.test"
    calendar(dav, ALICE).save_event(invite(uid, "By mail", [DAVE, BOB], organizer=ALICE))
    wait_for(lambda: copy_of(dav, BOB, uid))
    reply = REPLY.format(uid=uid, organizer=ALICE, attendee=BOB, partstat="TENTATIVE")
    with smtplib.SMTP("127.0.0.1", dav.server.port("submission"), timeout=20) as smtp:
        smtp.starttls(context=_insecure())
        smtp.login(BOB, PASSWORD)
        smtp.sendmail(BOB, [ALICE], imip_mail(BOB, ALICE, "REPLY", reply))
    wait_for(lambda: "PARTSTAT=TENTATIVE" in partstat_line(copy_of(dav, ALICE, uid), BOB))
    assert copy_of(dav, BOB, forged_uid) == ""


def test_request_for_a_uid_filed_under_another_name_reaches_the_other_attendees(
        dav: Dav) -> None:
    """Bob's own client already filed the invitation's UID under a name of its own: the
    server finds that copy by UID (one UID per calendar, RFC 4791 §5.3.2.1) instead of
    writing a second one, and Carol, the next recipient of the same mail, gets hers."""
    carol = "carol@imip.test"
    dav.account(BOB)
    dav.account(carol)
    uid = "imip-conflict-1@remote.example"
    plain = invite(uid, "Partner call", [BOB, carol], organizer=DAVE)
    href = dav.collection_href(BOB)
    status, _, body = dav.request(BOB, "PUT", href + "filed-by-my-phone.ics", plain,
                                  {"Content-Type": "text/calendar; charset=utf-8"})
    assert status == 201, body
    request = plain.replace("PRODID:-//Postroom tests//EN\r\n",
                            "PRODID:-//Remote//EN\r\nMETHOD:REQUEST\r\n")
    with smtplib.SMTP("127.0.0.1", dav.server.port("smtp"), timeout=20) as smtp:
        smtp.sendmail(DAVE, [BOB, carol], imip_mail(DAVE, BOB, "REQUEST", request))
    copy = wait_for(lambda: copy_of(dav, carol, uid))
    assert "PARTSTAT=NEEDS-ACTION" in partstat_line(copy, carol)
