"""The values pim/ hands to services and front-ends."""

from __future__ import annotations

from dataclasses import dataclass, field

# Item kinds, by the folder kind that holds them (store: mailboxes.kind)
CALENDAR_KINDS = frozenset({"calendar", "tasks", "notes", "journal"})
CONTACT_KINDS = frozenset({"contacts"})

# The component a folder kind holds by default (RFC 4791 §5.2.3 supported-calendar-component-set)
DEFAULT_COMPONENTS: dict[str, tuple[str, ...]] = {
    "calendar": ("VEVENT",),
    "tasks": ("VTODO",),
    "notes": ("VJOURNAL",),
    "journal": ("VJOURNAL",),
}


class InvalidItem(ValueError):
    """What a client sent is not an item this folder can hold.

    ``precondition`` names the DAV precondition element a 403/409 carries (RFC 4791 §5.3.2.1,
    RFC 6352 §6.3.2.1), as (namespace, local name), e.g.
    ``("urn:ietf:params:xml:ns:caldav", "valid-calendar-data")``; ``text`` is for the user."""

    def __init__(self, precondition: tuple[str, str], text: str) -> None:
        super().__init__(text)
        self.precondition = precondition
        self.text = text


CALDAV_NS = "urn:ietf:params:xml:ns:caldav"
CARDDAV_NS = "urn:ietf:params:xml:ns:carddav"


@dataclass(frozen=True, slots=True)
class ItemIndex:
    """What the store keeps beside an item to find it without parsing it (store: dav_items).

    ``component``: VEVENT, VTODO, VJOURNAL, VFREEBUSY (calendars), VCARD (contacts), "" (files).
    ``start``/``end``: the span the item occupies, in seconds since the epoch (UTC), over all
    its instances; ``None`` for unbounded (an endless RRULE has end None) or not applicable.
    ``recurring``: has RRULE/RDATE (queries must expand it). ``text``: the words a text-match
    or webmail search looks in (SUMMARY, LOCATION, DESCRIPTION; FN, N, EMAIL, TEL, ORG, NICKNAME),
    lower-cased, one per line. ``summary``: a one-line title for lists (webmail, ActiveSync)."""

    component: str
    uid: str
    start: int | None = None
    end: int | None = None
    recurring: bool = False
    text: str = ""
    summary: str = ""
    content_type: str = "text/calendar; charset=utf-8"


@dataclass(frozen=True, slots=True)
class Instance:
    """One occurrence of a (possibly recurring) component, as expansion yields it."""

    start: int  # epoch seconds UTC
    end: int
    recurrence_id: str | None = None  # the RECURRENCE-ID value of this instance, if recurring
    all_day: bool = False
    summary: str = ""
    transparent: bool = False  # TRANSP:TRANSPARENT, or a cancelled/declined instance
    status: str = ""  # STATUS (CONFIRMED, TENTATIVE, CANCELLED)


@dataclass(frozen=True, slots=True)
class BusyPeriod:
    start: int
    end: int
    fbtype: str = "BUSY"  # BUSY, BUSY-TENTATIVE, BUSY-UNAVAILABLE (RFC 5545 §3.2.9)


@dataclass(frozen=True, slots=True)
class Attendee:
    address: str  # mailto: stripped, lower-cased
    partstat: str = "NEEDS-ACTION"
    role: str = "REQ-PARTICIPANT"
    rsvp: bool = False
    name: str = ""


@dataclass(frozen=True, slots=True)
class SchedulingInfo:
    """Who organises an event and who attends (RFC 5545 §3.8.4.1, §3.8.4.3), for scheduling."""

    uid: str
    organizer: str | None  # address, mailto: stripped, lower-cased
    attendees: tuple[Attendee, ...] = field(default_factory=tuple)
    sequence: int = 0
    method: str = ""  # METHOD of an iTIP message (REQUEST, REPLY, CANCEL), "" for a stored one
    summary: str = ""
