"""The scheduling inbox and outbox (RFC 6638 §2.1, §2.2) under
/dav/calendars/<user>/inbox/ and /outbox/; app.py hands every request there to ``handle``
once it authenticated the user and checked that the home is theirs.

- PROPFIND: the box itself (resourcetype, displayname, privileges: props.py renders them);
  Depth 1 lists no members, because the server processes scheduling messages at once
  (services/dav/scheduling.py: invitations land in the calendar, answers in the organiser's
  copy), so nothing waits in the inbox.
- REPORT on the inbox (clients sync it): an empty multistatus, with a sync-token for
  sync-collection (RFC 6578 §3.2), so that polling clients are content.
- POST to the outbox: a VFREEBUSY request (RFC 6638 §5), answered with a
  CALDAV:schedule-response, one CALDAV:response per attendee. Implicit scheduling needs no
  POST (RFC 6638 §3.2): a PUT of the event does it.
- Anything on a member of a box: 404 (there are none); other methods: 405.
"""

from __future__ import annotations

from starlette.responses import Response

from postroom.core.errors import Kind, MailError
from postroom.pim.model import CALDAV_NS, InvalidItem
from postroom.services.dav import imip
from postroom.web.dav import props
from postroom.web.dav import xml as X
from postroom.web.dav.common import DavError, DavRequest, multistatus, xml_response
from postroom.web.dav.xml import elem

D = "{DAV:}"
C = "{" + CALDAV_NS + "}"
# A box has no members, so its token never changes (RFC 6578 §3.2: any opaque URI)
EMPTY_TOKEN = "http://postroom/ns/sync/0-0"
ALLOW = "OPTIONS, PROPFIND, REPORT"
CALENDAR_TYPES = ("text/calendar",)


async def handle(req: DavRequest, box: str) -> Response:
    """Entry point from app.py for everything under a user's inbox/ or outbox/."""
    if not req.config.scheduling:
        raise DavError(404)
    if req.target.name:
        raise DavError(404)  # RFC 6638 §4: the server keeps no messages in the box
    path = req.home_href("calendars") + box + "/"
    if req.method == "PROPFIND":
        return await _propfind(req, path)
    if req.method == "REPORT":
        return await _report(req)
    if req.method == "POST" and box == "outbox":
        return await _post(req)
    allow = ALLOW + (", POST" if box == "outbox" else "")
    raise DavError(405, headers={"Allow": allow})


async def _propfind(req: DavRequest, path: str) -> Response:
    req.depth("0")  # validate; Depth 1 adds no members
    mode, names = props.requested(await req.xml())
    ms = X.Multistatus()
    await props.respond(req, ms, props.Resource("box", path, "calendars"), mode, names)
    return multistatus(ms)


async def _report(req: DavRequest) -> Response:
    body = await req.xml()
    if body is None:
        raise DavError(400, text="REPORT needs a body")
    ms = X.Multistatus()
    if body.tag == D + "sync-collection":
        ms.append(elem(D + "sync-token", EMPTY_TOKEN))
    elif body.tag not in (C + "calendar-query", C + "calendar-multiget"):
        raise DavError(403, elem(D + "supported-report"))
    return multistatus(ms)


async def _post(req: DavRequest) -> Response:
    """RFC 6638 §5: a free-busy request; its preconditions (§5.1.1) as 400/403 bodies."""
    media = (req.header("content-type") or "").split(";", 1)[0].strip().lower()
    if media not in CALENDAR_TYPES:
        raise DavError(415, elem(C + "supported-calendar-data"),
                       text="POST a text/calendar VFREEBUSY request")
    data = await req.body(req.config.max_resource_size)
    try:
        request = imip.freebusy_request(data)
    except InvalidItem as exc:
        raise DavError(400, elem(X.clark(*exc.precondition)), text=exc.text) from None
    try:
        answers = await req.dav.scheduling.freebusy(req.principal, request)
    except MailError as exc:
        if exc.kind is Kind.NO_PERM:
            raise DavError(403, elem(C + "organizer-allowed")) from None
        if exc.kind is Kind.LIMIT:
            raise DavError(403, elem(C + "max-attendees-per-instance")) from None
        raise
    root = elem(C + "schedule-response")
    for answer in answers:
        resp = elem(C + "response", None,
                    elem(C + "recipient", None, X.href("mailto:" + answer.recipient)),
                    elem(C + "request-status", answer.status))
        if answer.data is not None:
            resp.append(elem(C + "calendar-data", answer.data.decode("utf-8", "replace")))
        root.append(resp)
    return xml_response(X.serialize(root), 200)
