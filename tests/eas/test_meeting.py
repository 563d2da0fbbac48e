"""MeetingResponse on a real server (web/eas/meeting.py): a local organiser's invitation is
filed in the attendee's calendar by implicit scheduling; the attendee accepts from the phone
(16.x: RequestId is the calendar item) and the organiser's copy shows the answer (the REPLY
went through services/dav/scheduling.py); a decline removes the attendee's copy; bad
requests are Status 2."""

from __future__ import annotations

import time
from typing import Any

import pytest

from postroom.protocols.eas.element import E, Element
from postroom.web.eas import calendar, meeting
from tests.eas.pim_helpers import context, folder, run, sync_all, user
from tests.support.dav import Dav
from tests.support.server import RunningServer

CAL = calendar.ITEM_CLASS  # the item class as Sync calls it

M = "MeetingResponse"


@pytest.fixture(scope="module")
def eas_extra() -> list[str]:
    """This module's limits for the shared ActiveSync server (tests/eas/conftest.py)."""
    return ["web.eas.require_provisioning=false"]


def caldav_calendar(dav: Dav, address: str) -> Any:
    return next(c for c in dav.caldav(address).principal().calendars()
                if c.get_display_name() == "Calendar")


def invite(dav: Dav, organizer: str, attendee: str, uid: str) -> None:
    caldav_calendar(dav, organizer).save_event(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20300310T090000Z\r\n"
        "DTEND:20300310T100000Z\r\nSUMMARY:Planning\r\n"
        f"ORGANIZER:mailto:{organizer}\r\n"
        f"ATTENDEE;PARTSTAT=ACCEPTED:mailto:{organizer}\r\n"
        f"ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:{attendee}\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n")


def respond(srv: RunningServer, address: str, answer: int, collection: str,
            request_id: str) -> Element:
    body = E(M, "MeetingResponse", E(M, "Request", E(M, "UserResponse", text=answer),
                                      E(M, "CollectionId", text=collection),
                                      E(M, "RequestId", text=request_id)))
    out = run(srv, meeting.handle(context(srv, address, "16.1", "MeetingResponse"), body))
    assert isinstance(out, Element)
    return out


def partstat(dav: Dav, organizer: str, uid: str, attendee: str) -> str:
    data = caldav_calendar(dav, organizer).event_by_uid(uid).icalendar_component
    for att in data.get("ATTENDEE"):
        if str(att).lower() == f"mailto:{attendee}":
            return str(att.params.get("PARTSTAT"))
    raise AssertionError(attendee)


def wait_for(check: Any, timeout: float = 10) -> None:
    end = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < end
        time.sleep(0.1)


def test_accept_from_the_phone_reaches_a_local_organiser(srv: RunningServer, dav: Dav) -> None:
    alice, bob = user(dav, "org"), user(dav, "att")
    invite(dav, alice, bob, "meet-1@test")
    ctx = context(srv, bob, "16.1")
    cal = folder(srv, bob, "Calendar")
    state: dict[str, Any] = {}
    batch = sync_all(srv, calendar, ctx, cal, state)
    assert len(batch.changes) == 1
    item = batch.changes[0]
    assert item.data is not None and item.data.value("MeetingStatus") == "3"
    assert item.data.value("ResponseType") == "5"
    out = respond(srv, bob, 1, cal.server_id, item.server_id)
    result = out.find("Result")
    assert result is not None and result.value("Status") == "1"
    assert result.value("RequestId") == item.server_id
    assert result.value("CalendarId") == item.server_id
    wait_for(lambda: partstat(dav, alice, "meet-1@test", bob) == "ACCEPTED")
    again = sync_all(srv, calendar, ctx, cal, state)
    changed = again.changes[0].data
    assert changed is not None and changed.value("ResponseType") == "3"


def test_decline_removes_the_copy_and_tells_the_organiser(srv: RunningServer,
                                                          dav: Dav) -> None:
    alice, bob = user(dav, "org"), user(dav, "att")
    invite(dav, alice, bob, "meet-2@test")
    ctx = context(srv, bob, "16.1")
    cal = folder(srv, bob, "Calendar")
    state: dict[str, Any] = {}
    sid = sync_all(srv, calendar, ctx, cal, state).changes[0].server_id
    result = respond(srv, bob, 3, cal.server_id, sid).find("Result")
    assert result is not None and result.value("Status") == "1"
    assert result.find("CalendarId") is None
    wait_for(lambda: partstat(dav, alice, "meet-2@test", bob) == "DECLINED")
    assert [ch.kind for ch in sync_all(srv, calendar, ctx, cal, state).changes] == ["Delete"]


def test_bad_requests_are_status_2(srv: RunningServer, dav: Dav) -> None:
    bob = user(dav, "bad")
    cal = folder(srv, bob, "Calendar")
    for answer, collection, request_id in ((1, cal.server_id, f"{cal.server_id}:missing"),
                                           (9, cal.server_id, f"{cal.server_id}:x"),
                                           (1, "999999", "999999:x")):
        result = respond(srv, bob, answer, collection, request_id).find("Result")
        assert result is not None and result.value("Status") == "2"
    empty = run(srv, meeting.handle(context(srv, bob, "16.1", "MeetingResponse"),
                                    E(M, "MeetingResponse")))
    assert isinstance(empty, Element) and empty.value("Status") == "2"


def test_a_meeting_the_phone_organises_invites_a_local_attendee(srv: RunningServer,
                                                               dav: Dav) -> None:
    alice, bob = user(dav, "org"), user(dav, "att")
    ctx = context(srv, alice)
    cal = folder(srv, alice, "Calendar")
    c = "Calendar"
    status, sid = run(srv, CAL.add(ctx, cal, E(
        "AirSync", "ApplicationData", E(c, "StartTime", text="20300401T090000Z"),
        E(c, "EndTime", text="20300401T100000Z"), E(c, "Subject", text="Phone meeting"),
        E(c, "UID", text="phone-meet@test"),
        E(c, "Attendees", E(c, "Attendee", E(c, "Email", text=bob), E(c, "Name", text="Bob"),
                            E(c, "AttendeeType", text=1)))), {}))
    assert status == 1 and sid is not None
    stored = caldav_calendar(dav, alice).event_by_uid("phone-meet@test").icalendar_component
    assert str(stored.get("ORGANIZER")).lower() == f"mailto:{alice}"

    def invited() -> bool:
        try:
            caldav_calendar(dav, bob).event_by_uid("phone-meet@test")
        except Exception:
            return False
        return True
    wait_for(invited)
    bobs = caldav_calendar(dav, bob).event_by_uid("phone-meet@test").icalendar_component
    assert str(bobs.get("SUMMARY")) == "Phone meeting"


def test_meeting_response_over_https_and_wbxml(srv: RunningServer, dav: Dav) -> None:
    from tests.support.eas import EasClient
    alice, bob = user(dav, "org"), user(dav, "att")
    invite(dav, alice, bob, "meet-wire@test")
    cal = folder(srv, bob, "Calendar")
    sid = sync_all(srv, calendar, context(srv, bob), cal, {}).changes[0].server_id
    phone = EasClient(srv, bob, version="14.1")
    body = E(M, "MeetingResponse", E(M, "Request", E(M, "UserResponse", text=2),
                                      E(M, "CollectionId", text=cal.server_id),
                                      E(M, "RequestId", text=sid)))
    status, _, root = phone.send("MeetingResponse", body)
    assert status == 200 and root is not None
    result = root.find("Result")
    assert result is not None and result.value("Status") == "1"
    assert result.value("CalendarId") == sid
    wait_for(lambda: partstat(dav, alice, "meet-wire@test", bob) == "TENTATIVE")
    # a malformed request is Status 2 over the wire too
    status, _, root = phone.send("MeetingResponse", E(M, "MeetingResponse"))
    assert status == 200 and root is not None and root.value("Status") == "2"


def test_accepting_a_request_mail_in_the_inbox(srv: RunningServer, dav: Dav) -> None:
    import base64

    from tests.unit.test_eas_pim_meeting import ICS, MAIL
    bob = user(dav, "inbox")
    # the invitation is base64 in the mail: made for this attendee, then encoded
    encoded = base64.encodebytes(ICS.encode()).decode().replace("\n", "\r\n").encode()
    mine_ics = base64.encodebytes(ICS.replace("me@example.test", bob).encode()).decode()
    message = MAIL.replace(b"me@example.test", bob.encode()).replace(
        encoded, mine_ics.replace("\n", "\r\n").encode())
    dav.deliver(bob, sender="boss@remote.test", message=message)
    eas = context(srv, bob).eas
    inbox = folder(srv, bob, "INBOX")
    who = context(srv, bob).principal

    def uids() -> list[int]:
        async def view() -> list[int]:
            handle = await eas.mail.open(who, inbox)
            return [row.uid for row in await eas.mail.view(who, handle)]
        return run(srv, view())
    wait_for(lambda: bool(uids()))
    request_id = f"{inbox.server_id}:{uids()[-1]}"
    result = respond(srv, bob, 1, inbox.server_id, request_id).find("Result")
    assert result is not None and result.value("Status") == "1", result
    calendar_id = result.value("CalendarId")
    assert calendar_id is not None and calendar_id.startswith(folder(srv, bob, "Calendar")
                                                              .server_id + ":")
    mine = caldav_calendar(dav, bob).event_by_uid("inv-1@remote.test").icalendar_component
    assert any(str(a).lower() == f"mailto:{bob}" and a.params.get("PARTSTAT") == "ACCEPTED"
               for a in mine.get("ATTENDEE") if isinstance(mine.get("ATTENDEE"), list)) or \
        str(mine.get("ATTENDEE").params.get("PARTSTAT")) == "ACCEPTED"
    # a mail that is no invitation, or a uid that is not there: Status 2
    assert respond(srv, bob, 1, inbox.server_id, f"{inbox.server_id}:999999").find(
        "Result").value("Status") == "2"  # type: ignore[union-attr]


def _request_mail(bob: str, uid: str) -> bytes:
    """An iMIP REQUEST from a remote organiser to ``bob`` (RFC 6047), the invitation base64."""
    import base64

    from tests.unit.test_eas_pim_meeting import ICS, MAIL
    encoded = base64.encodebytes(ICS.encode()).decode().replace("\n", "\r\n").encode()
    mine = ICS.replace("me@example.test", bob).replace("inv-1@remote.test", uid)
    return MAIL.replace(b"me@example.test", bob.encode()).replace(
        encoded, base64.encodebytes(mine.encode()).decode().replace("\n", "\r\n").encode())


def test_an_answer_racing_the_delivery_hook_that_files_the_invitation(srv: RunningServer,
                                                                       dav: Dav) -> None:
    """The change feed tells a phone of a new mail when it is committed; scheduling files its
    invitation in the calendar only after that (services/delivery.py ``announce``). A phone
    answering at once raced the filing: both wrote a copy of the same UID and one of them
    failed (MeetingResponse Status 3, or the hook's copy was lost). Run side by side on the
    server's loop, the second to write starting a few steps later each time: every answer
    succeeds and one copy is left, accepted."""
    import asyncio

    from postroom.core.principal import Principal
    bob = user(dav, "race")
    inbox = folder(srv, bob, "INBOX")
    cal = folder(srv, bob, "Calendar")
    eas = context(srv, bob).eas
    who = context(srv, bob).principal
    scheduling = srv.services.dav.scheduling  # type: ignore[union-attr]

    async def later(steps: int, coro: Any) -> Any:
        for _ in range(steps):
            await asyncio.sleep(0)
        return await coro

    for n in range(24):
        uid = f"race-{n}@remote.test"
        mail = _request_mail(bob, uid)

        async def put(data: bytes = mail) -> int:
            operator = Principal.operator_as(who.account_id, bob, who.domain_id)
            result = await srv.services.messages.append(operator, "INBOX", [(data, (), None)])
            return result.uids[0]
        uid_in_inbox = run(srv, put())
        body = E(M, "MeetingResponse", E(M, "Request", E(M, "UserResponse", text=1),
                                          E(M, "CollectionId", text=inbox.server_id),
                                          E(M, "RequestId",
                                            text=f"{inbox.server_id}:{uid_in_inbox}")))
        hook = scheduling.incoming(mail, [bob])
        answer = meeting.handle(context(srv, bob, "16.1", "MeetingResponse"), body)
        first, second = (hook, answer) if n % 2 else (answer, hook)

        async def both(a: Any = first, b: Any = second, steps: int = n // 2) -> Any:
            return await asyncio.gather(a, later(steps, b))
        outcome = run(srv, both())
        out = outcome[1] if n % 2 else outcome[0]
        result = out.find("Result")
        assert result is not None and result.value("Status") == "1", (n, result)

        async def copies(uid: str = uid) -> list[bytes]:
            coll, refs = await eas.pim.listing(who, cal)
            items = await eas.pim.get_many(who, coll, [r.name for r in refs.values()])
            return [i.data for i in items.values() if i is not None and uid.encode() in i.data]
        [copy] = run(srv, copies())
        assert b"PARTSTAT=ACCEPTED" in copy, n
