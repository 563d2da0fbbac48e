"""Implicit scheduling (RFC 6638 §3.2) between local users over the caldav library: alice's
invitation lands in bob's calendar as NEEDS-ACTION, bob's answer updates alice's copy, alice's
deletion cancels bob's copy; a remote attendee gets iMIP mail (RFC 6047) in the outbound
queue, from alice, with the iTIP object as text/calendar; method=REQUEST."""

from __future__ import annotations

import email
import email.policy
import time
from collections.abc import Callable
from typing import Any

from tests.support.dav import Dav

ALICE = "alice@sched.test"
BOB = "bob@sched.test"
CAROL = "carol@elsewhere.example"

INVITE = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//Postroom tests//EN\r
BEGIN:VEVENT\r
UID:{uid}\r
DTSTAMP:20260101T000000Z\r
DTSTART:20260410T090000Z\r
DTEND:20260410T100000Z\r
SUMMARY:{summary}\r
ORGANIZER;CN=Alice:mailto:{organizer}\r
ATTENDEE;CN=Alice;PARTSTAT=ACCEPTED:mailto:{organizer}\r
{attendees}END:VEVENT\r
END:VCALENDAR\r
"""


def invite(uid: str, summary: str, attendees: list[str], organizer: str = ALICE) -> str:
    lines = "".join(f"ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:{a}\r\n"
                    for a in attendees)
    return INVITE.format(uid=uid, summary=summary, organizer=organizer, attendees=lines)


def wait_for(check: Callable[[], Any], seconds: float = 15.0) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def calendar(dav: Dav, address: str) -> Any:
    principal = dav.caldav(address).principal()
    return next(c for c in principal.calendars() if c.get_display_name() == "Calendar")


def unfolded(text: str) -> str:
    return text.replace("\r\n ", "").replace("\n ", "")


def partstat_line(data: str, who: str) -> str:
    return next((line for line in unfolded(data).splitlines()
                 if line.startswith("ATTENDEE") and who in line), "")


def copy_of(dav: Dav, address: str, uid: str) -> str:
    for ev in calendar(dav, address).events():
        if uid in ev.data:
            return str(ev.data)
    return ""


def test_invitation_lands_in_bobs_calendar_and_his_answer_reaches_alice(dav: Dav) -> None:
    dav.account(ALICE)
    dav.account(BOB)
    uid = "sched-accept-1@sched.test"
    calendar(dav, ALICE).save_event(invite(uid, "Planning", [BOB]))

    bob_copy = wait_for(lambda: copy_of(dav, BOB, uid))
    assert "PARTSTAT=NEEDS-ACTION" in partstat_line(bob_copy, BOB)
    assert "METHOD" not in bob_copy  # a stored object has none (RFC 4791 §4.1)

    ev = calendar(dav, BOB).event_by_uid(uid)
    ev.data = ev.data.replace("PARTSTAT=NEEDS-ACTION", "PARTSTAT=ACCEPTED")
    ev.save()

    def accepted() -> bool:
        return "PARTSTAT=ACCEPTED" in partstat_line(copy_of(dav, ALICE, uid), BOB)
    wait_for(accepted)
    # the answer is not sent back as a new invitation: bob's copy keeps ACCEPTED
    time.sleep(0.5)
    assert "PARTSTAT=ACCEPTED" in partstat_line(copy_of(dav, BOB, uid), BOB)


def test_organiser_update_keeps_answer_and_delete_cancels(dav: Dav) -> None:
    dav.account(ALICE)
    dav.account(BOB)
    uid = "sched-cancel-1@sched.test"
    cal = calendar(dav, ALICE)
    cal.save_event(invite(uid, "Review", [BOB]))
    wait_for(lambda: copy_of(dav, BOB, uid))
    ev = calendar(dav, BOB).event_by_uid(uid)
    ev.data = ev.data.replace("PARTSTAT=NEEDS-ACTION", "PARTSTAT=TENTATIVE")
    ev.save()
    wait_for(lambda: "TENTATIVE" in partstat_line(copy_of(dav, ALICE, uid), BOB))

    mine = cal.event_by_uid(uid)
    mine.data = mine.data.replace("SUMMARY:Review", "SUMMARY:Review (room 2)")
    mine.save()
    wait_for(lambda: "room 2" in copy_of(dav, BOB, uid))
    assert "TENTATIVE" in partstat_line(copy_of(dav, BOB, uid), BOB)  # same revision

    cal.event_by_uid(uid).delete()
    wait_for(lambda: "STATUS:CANCELLED" in copy_of(dav, BOB, uid))


def test_attendee_may_not_cancel_or_hijack(dav: Dav) -> None:
    """Bob storing an event that names alice as ORGANIZER and himself as attendee sends
    alice a REPLY only; her calendar gets nothing she did not organise."""
    dav.account(ALICE)
    dav.account(BOB)
    uid = "sched-forged-1@sched.test"
    forged = invite(uid, "Forged", [BOB]).replace(
        f"ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:{BOB}",
        f"ATTENDEE;PARTSTAT=ACCEPTED:mailto:{BOB}")
    calendar(dav, BOB).save_event(forged)
    time.sleep(1.0)
    assert copy_of(dav, ALICE, uid) == ""


def _queued_to(dav: Dav, address: str) -> list[bytes]:
    services = dav.server.services
    out = []
    for entry in dav.server.call(services.store.queue.list()):
        if address in entry.recipients:
            out.append(dav.server.call(_read(services, entry.blob)))
    return out


async def _read(services: Any, blob: str) -> bytes:
    import asyncio
    data: bytes = await asyncio.to_thread(services.store.blobs.read, blob)
    return data


def test_remote_attendee_gets_imip_mail(dav: Dav) -> None:
    dav.account(ALICE)
    uid = "sched-remote-1@sched.test"
    calendar(dav, ALICE).save_event(invite(uid, "Offsite", [CAROL]))
    (raw,) = wait_for(lambda: _queued_to(dav, CAROL))
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert ALICE in str(msg["From"])
    assert "Offsite" in str(msg["Subject"])
    assert msg.get_content_type() == "multipart/alternative"
    parts = {p.get_content_type(): p for p in msg.iter_parts()}  # type: ignore[attr-defined]
    assert "text/plain" in parts
    cal = parts["text/calendar"]
    assert cal.get_param("method") == "REQUEST"
    body = cal.get_content()
    assert "METHOD:REQUEST" in body and uid in body


def test_attendee_deleting_declines_and_removed_attendee_is_cancelled(dav: Dav) -> None:
    dav.account(ALICE)
    dav.account(BOB)
    carl = dav.account("carl@sched.test")
    uid = "sched-decline-1@sched.test"
    cal = calendar(dav, ALICE)
    cal.save_event(invite(uid, "Standup", [BOB, carl]))
    wait_for(lambda: copy_of(dav, BOB, uid) and copy_of(dav, carl, uid))

    # bob deletes his copy: RFC 6638 §3.2.2.3, alice sees DECLINED
    calendar(dav, BOB).event_by_uid(uid).delete()
    wait_for(lambda: "PARTSTAT=DECLINED" in partstat_line(copy_of(dav, ALICE, uid), BOB))

    # alice takes carl off the list: carl's copy is cancelled
    mine = cal.event_by_uid(uid)
    mine.data = "\r\n".join(line for line in unfolded(mine.data).splitlines()
                            if not (line.startswith("ATTENDEE") and carl in line)) + "\r\n"
    mine.save()
    wait_for(lambda: "STATUS:CANCELLED" in copy_of(dav, carl, uid))
    assert "STATUS:CANCELLED" not in copy_of(dav, ALICE, uid)
