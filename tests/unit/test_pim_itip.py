"""pim.itip: REQUEST/CANCEL/REPLY messages (RFC 5546 §3.2) and applying a reply."""

from __future__ import annotations

from datetime import UTC, datetime

import icalendar
import pytest

from postroom.pim import itip
from postroom.pim.model import InvalidItem
from tests.unit.test_pim_ical import BERLIN_TZ, cal, ev

NOW = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)
LONG_CN = "A Very Long Common Name That Forces The Attendee Line To Fold Somewhere"

EVENT = cal(BERLIN_TZ, ev(
    "DTSTART;TZID=Europe/Berlin:20260302T090000", "DURATION:PT1H", "RRULE:FREQ=WEEKLY;COUNT=4",
    "SUMMARY:Planning", "SEQUENCE:3", "ORGANIZER;CN=Alice:mailto:alice@example.test",
    "ATTENDEE;PARTSTAT=ACCEPTED;ROLE=CHAIR:mailto:alice@example.test",
    f"ATTENDEE;CN={LONG_CN};PARTSTAT=NEEDS-ACTION;RSVP=TRUE:\r\n mailto:bob@example.test",
    "ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:carol@example.test",
    "BEGIN:VALARM", "ACTION:DISPLAY", "TRIGGER:-PT5M", "END:VALARM",
    "X-ORGANIZER-CLIENT-STUFF:keep me"))


def parsed(data: bytes) -> icalendar.Calendar:
    return icalendar.Calendar.from_ical(data)


def test_request() -> None:
    msg = parsed(itip.request(EVENT, now=NOW))
    assert str(msg["METHOD"]) == "REQUEST"
    (e,) = msg.walk("VEVENT")
    assert e["DTSTAMP"].dt == NOW and int(e["SEQUENCE"]) == 3
    assert not msg.walk("VALARM") and msg.walk("VTIMEZONE")
    assert len(e["ATTENDEE"]) == 3
    with pytest.raises(InvalidItem):
        itip.request(cal(ev("DTSTART:20260301T100000Z")))


def test_cancel_all_and_some() -> None:
    msg = parsed(itip.cancel(EVENT, now=NOW))
    (e,) = msg.walk("VEVENT")
    assert str(msg["METHOD"]) == "CANCEL" and str(e["STATUS"]) == "CANCELLED"
    assert int(e["SEQUENCE"]) == 4 and len(e["ATTENDEE"]) == 3
    assert "RRULE" not in e
    (e,) = parsed(itip.cancel(EVENT, ("Carol@Example.test",), now=NOW)).walk("VEVENT")
    assert str(e["ATTENDEE"]) == "mailto:carol@example.test"


def test_reply_and_parse_message() -> None:
    data = itip.reply(EVENT, "mailto:bob@example.test", "accepted", now=NOW)
    msg = parsed(data)
    (e,) = msg.walk("VEVENT")
    assert str(msg["METHOD"]) == "REPLY"
    att = e["ATTENDEE"]
    assert str(att) == "mailto:bob@example.test"
    assert att.params["PARTSTAT"] == "ACCEPTED" and "RSVP" not in att.params
    assert int(e["SEQUENCE"]) == 3
    info = itip.parse_message(data)
    assert (info.method, info.uid, info.organizer) == ("REPLY", "u1", "alice@example.test")
    assert [(a.address, a.partstat) for a in info.attendees] == [
        ("bob@example.test", "ACCEPTED")]
    with pytest.raises(InvalidItem):
        itip.reply(EVENT, "bob@example.test", "MAYBE")


def test_apply_reply_is_byte_stable() -> None:
    answer = itip.reply(EVENT, "bob@example.test", "DECLINED", now=NOW)
    updated = itip.apply_reply(EVENT, answer)
    after = updated.decode().replace("\r\n ", "").split("\r\n")
    changed = [line for line in after if line not in EVENT.decode().replace("\r\n ", "")
               .split("\r\n")]
    assert len(changed) == 1 and "PARTSTAT=DECLINED" in changed[0]
    assert "RSVP" not in changed[0] and LONG_CN in changed[0]
    # the bytes before and after Bob's line are exactly the organiser's
    text, new = EVENT.decode(), updated.decode()
    a = text.index("ATTENDEE;CN=A Very")
    b = text.index("mailto:bob@example.test\r\n") + len("mailto:bob@example.test\r\n")
    tail = len(text) - b
    assert new[:a] == text[:a] and new[len(new) - tail:] == text[b:]
    assert all(len(line.encode()) <= 75 for line in updated.decode().split("\r\n"))


def test_apply_reply_for_one_instance_adds_override() -> None:
    attendee_copy = cal(BERLIN_TZ, ev(
        "RECURRENCE-ID;TZID=Europe/Berlin:20260309T090000",
        "DTSTART;TZID=Europe/Berlin:20260309T090000", "DURATION:PT1H", "SEQUENCE:3",
        "ORGANIZER:mailto:alice@example.test",
        "ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:carol@example.test"))
    answer = itip.reply(attendee_copy, "carol@example.test", "TENTATIVE", now=NOW)
    updated = parsed(itip.apply_reply(EVENT, answer))
    evs = updated.walk("VEVENT")
    assert len(evs) == 2
    override = evs[1]
    assert override["RECURRENCE-ID"].dt == datetime(2026, 3, 9, 8, tzinfo=UTC)
    carol = next(a for a in override["ATTENDEE"] if "carol" in str(a))
    assert carol.params["PARTSTAT"] == "TENTATIVE"
    master_carol = next(a for a in evs[0]["ATTENDEE"] if "carol" in str(a))
    assert master_carol.params["PARTSTAT"] == "NEEDS-ACTION"


def test_apply_reply_rejects_foreign_and_old() -> None:
    answer = itip.reply(EVENT, "bob@example.test", "ACCEPTED", now=NOW)
    with pytest.raises(InvalidItem):
        itip.apply_reply(EVENT.replace(b"UID:u1", b"UID:other"), answer)
    with pytest.raises(InvalidItem):
        itip.apply_reply(EVENT.replace(b"SEQUENCE:3", b"SEQUENCE:5"), answer)


def test_apply_reply_from_stranger_refused() -> None:
    answer = itip.reply(EVENT, "mallory@example.test", "ACCEPTED", now=NOW)
    with pytest.raises(InvalidItem) as info:
        itip.apply_reply(EVENT, answer)
    assert info.value.precondition[1] == "valid-scheduling-message"


def test_server_parameters_not_sent() -> None:
    data = EVENT.replace(b"ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:carol",
                         b"ATTENDEE;SCHEDULE-STATUS=1.2;PARTSTAT=NEEDS-ACTION:mailto:carol")
    data = data.replace(b"ORGANIZER;CN=Alice:", b"ORGANIZER;CN=Alice;SCHEDULE-AGENT=SERVER:")
    assert b"SCHEDULE-STATUS=1.2" in data
    for msg in (itip.request(data, now=NOW), itip.cancel(data, now=NOW),
                itip.reply(data, "carol@example.test", "ACCEPTED", now=NOW)):
        assert b"SCHEDULE-" not in msg.replace(b"\r\n ", b"")


def _second_component(reply: bytes, who: str, partstat: str, rid: str = "") -> bytes:
    """``reply`` with its VEVENT repeated, the copy answering for ``who`` (and, with ``rid``,
    for that instance)."""
    text = reply.decode().replace("\r\n ", "")
    start, end = text.index("BEGIN:VEVENT"), text.index("END:VEVENT") + len("END:VEVENT\r\n")
    lines = []
    for line in text[start:end].split("\r\n"):
        if line.startswith("ATTENDEE"):
            line = f"ATTENDEE;PARTSTAT={partstat}:mailto:{who}"
        lines.append(line)
        if rid and line.startswith("UID:"):
            lines.append(f"RECURRENCE-ID;TZID=Europe/Berlin:{rid}")
    return (text[:end] + "\r\n".join(lines) + text[end:]).encode()


def test_apply_reply_every_component_speaks_for_the_sender() -> None:
    """Review fix: bob's reply whose second VEVENT answers for carol is refused as a whole
    when the caller says bob sent it; without the sender only the shape is checked."""
    answer = itip.reply(EVENT, "bob@example.test", "ACCEPTED", now=NOW)
    assert itip.apply_reply(EVENT, answer, attendee="mailto:Bob@example.test") != EVENT
    spoofed = _second_component(answer, "carol@example.test", "DECLINED", rid="20260309T090000")
    with pytest.raises(InvalidItem) as info:
        itip.apply_reply(EVENT, spoofed, attendee="bob@example.test")
    assert info.value.precondition[1] == "valid-scheduling-message"
    with pytest.raises(InvalidItem):  # the sender not named at all
        itip.apply_reply(EVENT, answer, attendee="carol@example.test")
    two = answer.replace(b"ATTENDEE;", b"ATTENDEE;PARTSTAT=ACCEPTED:mailto:carol@example.test"
                         b"\r\nATTENDEE;", 1)
    with pytest.raises(InvalidItem):  # two ATTENDEEs in one component
        itip.apply_reply(EVENT, two, attendee="bob@example.test")


def test_apply_reply_repeated_instance_refused() -> None:
    """Review fix: two components for the same RECURRENCE-ID (here both the master): the
    later one silently overrode the earlier; now the reply is refused."""
    answer = itip.reply(EVENT, "bob@example.test", "ACCEPTED", now=NOW)
    twice = _second_component(answer, "bob@example.test", "DECLINED")
    with pytest.raises(InvalidItem):
        itip.apply_reply(EVENT, twice, attendee="bob@example.test")
    with pytest.raises(InvalidItem):
        itip.apply_reply(EVENT, twice)
