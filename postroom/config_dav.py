"""Configuration of CalDAV, CardDAV and the WebDAV file area (``[web.dav]``).

Kept apart from config_web.py so that DAV's keys and defaults sit together; docs/dav.md
explains them. Every limit here is explicit, has a default a small company can live with, and
is enforced where the request enters (web/dav/) or where the item is stored (services/dav/).
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta


def _d(text: str) -> Meta:
    return Meta(description=text)


class DavConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """CalDAV/CardDAV/WebDAV on the public web listeners (web.https, web.alt), under /dav/."""

    enabled: Annotated[bool, _d(
        "Serve CalDAV, CardDAV and the WebDAV file area under /dav/ on the public web "
        "listeners, with /.well-known/caldav and /.well-known/carddav.")] = True
    max_resource_size: Annotated[int, _d(
        "Largest calendar object or vCard one PUT may store, in octets (RFC 4791 §5.2.5 "
        "max-resource-size); a larger one gets 403 with the precondition."),
                                 Meta(ge=1024, le=64 << 20)] = 1 << 20
    max_file_size: Annotated[int, _d(
        "Largest file one PUT may store in the WebDAV file area, in octets (streamed; still "
        "counted against the user's quota)."), Meta(ge=1024, le=1 << 34)] = 100 << 20
    max_xml_size: Annotated[int, _d(
        "Largest XML request body (PROPFIND, PROPPATCH, REPORT, LOCK), in octets."),
                            Meta(ge=1024, le=16 << 20)] = 1 << 20
    max_xml_depth: Annotated[int, _d(
        "Deepest element nesting an XML request body may have; DTDs and entities are always "
        "refused."), Meta(ge=8, le=1000)] = 64
    max_multiget: Annotated[int, _d(
        "Most hrefs one calendar-multiget or addressbook-multiget may name."),
                            Meta(ge=10, le=100_000)] = 5000
    max_results: Annotated[int, _d(
        "Most resources one REPORT or Depth 1 PROPFIND answers; more gives 507 with "
        "DAV:number-of-matches-within-limits (RFC 5323 §5.17, RFC 6578 §3.6)."),
                           Meta(ge=100, le=1_000_000)] = 50_000
    max_instances: Annotated[int, _d(
        "Most instances one recurring event is expanded to in a query or an expand "
        "request (an endless RRULE stops there)."), Meta(ge=100, le=1_000_000)] = 10_000
    max_request_instances: Annotated[int, _d(
        "Most recurrence instances one request expands over all its items together "
        "(calendar-data expand, free-busy); past it a REPORT is cut with 507 "
        "DAV:number-of-matches-within-limits (RFC 5323 §5.17)."),
                                     Meta(ge=100, le=10_000_000)] = 100_000
    max_response_size: Annotated[int, _d(
        "Largest calendar-data/address-data one REPORT answer carries, in octets; past it "
        "the answer is cut with 507 DAV:number-of-matches-within-limits."),
                                 Meta(ge=64 << 10, le=1 << 30)] = 64 << 20
    max_view_instances: Annotated[int, _d(
        "Most event occurrences one webmail calendar view shows; more is a message asking "
        "for a shorter view."), Meta(ge=100, le=1_000_000)] = 5000
    max_import_size: Annotated[int, _d(
        "Largest .ics or .vcf file one import (CLI, API, webmail) takes, in octets."),
                               Meta(ge=1024, le=1 << 32)] = 256 << 20
    lock_timeout: Annotated[int, _d(
        "Longest WebDAV lock a client may take, in seconds (RFC 4918 §10.7 Timeout); "
        "Infinite asks get this."), Meta(ge=60, le=7 * 86400)] = 3600
    max_property_size: Annotated[int, _d(
        "Largest value one dead property (PROPPATCH, any namespace) may have, as XML "
        "octets; a larger one gets 413."), Meta(ge=1024, le=16 << 20)] = 64 << 10
    max_dead_properties: Annotated[int, _d(
        "Most dead properties one file or folder of the file area may carry; more gets 507."),
                                   Meta(ge=10, le=100_000)] = 1000
    calendar_name: Annotated[str, _d(
        "Name of the calendar folder every user gets on first use.")] = "Calendar"
    contacts_name: Annotated[str, _d(
        "Name of the address book folder every user gets on first use.")] = "Contacts"
    tasks_name: Annotated[str, _d(
        "Name of the task list folder every user gets on first use.")] = "Tasks"
    notes_name: Annotated[str, _d(
        "Name of the notes folder every user gets on first use.")] = "Notes"
    documents_name: Annotated[str, _d(
        "Name of the WebDAV file area folder every user gets on first use.")] = "Documents"
    directory_address_book: Annotated[bool, _d(
        "Show the domain's users as a read-only address book (the global address list) in "
        "every user's address book home.")] = True
    scheduling: Annotated[bool, _d(
        "Deliver invitations to local attendees' scheduling inboxes and send them to remote "
        "attendees as iMIP mail (RFC 6638, RFC 6047).")] = True
    max_inbox_messages: Annotated[int, _d(
        "Most scheduling messages a user's scheduling inbox keeps (RFC 6638 §2.2); the "
        "oldest go first. Each is also applied to the calendar when it arrives."),
                                  Meta(ge=10, le=100_000)] = 1000
    remote_invitations: Annotated[bool, _d(
        "File invitations (iMIP REQUEST) mailed from outside into the attendee's default "
        "calendar as NEEDS-ACTION; false leaves them in INBOX as mail only. Updates and "
        "cancellations of an event already in the calendar, by its own organiser, and "
        "invitations between local users apply either way.")] = True
