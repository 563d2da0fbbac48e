"""CalDAV (RFC 4791), CardDAV (RFC 6352) and the WebDAV file area (RFC 4918) under /dav/ on
the public web listeners, with /.well-known/caldav and /.well-known/carddav (RFC 6764).

A front-end like IMAP: it parses requests (XML, headers), calls services/dav/, and renders
multistatus answers; it never touches the store and never tests rights letters
(access/dav.py translates rights into privileges). Clients authenticate with HTTP Basic over
TLS (passwords, or app passwords when two-factor is on), through the same AuthService,
throttle and screening as IMAP; there are no cookies and so no CSRF surface here.

URL layout (docs/dav.md):

    /.well-known/caldav, /.well-known/carddav   -> 301 /dav/
    /dav/                                       root: current-user-principal
    /dav/principals/<user@domain>/              the principal (RFC 5397, RFC 3744 §4)
    /dav/calendars/<user@domain>/               calendar home (RFC 4791 §6.2.1)
    /dav/calendars/<user@domain>/<segment>/     a calendar, task list or notes folder
    /dav/calendars/<user@domain>/inbox/         scheduling inbox (RFC 6638 §2.2)
    /dav/calendars/<user@domain>/outbox/        scheduling outbox (RFC 6638 §2.1)
    /dav/addressbooks/<user@domain>/            address book home (RFC 6352 §7.1.1)
    /dav/addressbooks/<user@domain>/<segment>/  an address book
    /dav/addressbooks/<user@domain>/directory/  the domain's global address list (read-only)
    /dav/files/<user@domain>/<path>             the file area ("Documents") of that user

``<segment>`` is the folder's id, or the name a client gave it with MKCALENDAR/MKCOL.
"""

from __future__ import annotations

DAV_PREFIX = "/dav/"
WELL_KNOWN = ("/.well-known/caldav", "/.well-known/carddav")
# Methods on "/" that go to DAV rather than webmail (GET, HEAD and POST stay webmail's)
ROOT_METHODS = frozenset({"PROPFIND", "PROPPATCH", "REPORT", "OPTIONS"})
