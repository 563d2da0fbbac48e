"""iTIP (RFC 5546) messages for scheduling (RFC 6638 implicit scheduling; RFC 6047 iMIP)."""

from __future__ import annotations

from postroom.pim.model import SchedulingInfo


def request(data: bytes) -> bytes:
    """METHOD:REQUEST for a stored organiser's object (RFC 5546 §3.2.2)."""
    raise NotImplementedError


def cancel(data: bytes, attendees: tuple[str, ...] = ()) -> bytes:
    """METHOD:CANCEL (RFC 5546 §3.2.5), for all or the listed attendees."""
    raise NotImplementedError


def reply(data: bytes, attendee: str, partstat: str) -> bytes:
    """METHOD:REPLY from ``attendee`` with ``partstat`` (RFC 5546 §3.2.3)."""
    raise NotImplementedError


def apply_reply(organizer_copy: bytes, reply_data: bytes) -> bytes:
    """The organiser's object with the replying attendee's PARTSTAT set (RFC 5546 §3.2.3);
    raise ``InvalidItem`` when the reply does not belong to it (UID, older SEQUENCE)."""
    raise NotImplementedError


def parse_message(data: bytes) -> SchedulingInfo:
    """METHOD, UID, ORGANIZER, ATTENDEEs of an iTIP message (text/calendar with METHOD)."""
    raise NotImplementedError
