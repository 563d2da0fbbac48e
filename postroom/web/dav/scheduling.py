"""The scheduling inbox and outbox (RFC 6638 §2.1, §2.2) under
/dav/calendars/<user>/inbox/ and /outbox/; app.py hands every request there to ``handle``
once it authenticated the user and checked that the home is theirs (another user's box is
404, the answer for anything missing).

The inbox holds the scheduling messages delivered to the user (RFC 6638 §4; kept by
services/dav/scheduling.py beside the automatic processing that already changed the
calendars), in a folder that exists from the first delivery on:

- PROPFIND: the box (resourcetype, displayname, privileges: props.py renders them), with
  Depth 1 its messages (getetag, getcontenttype, ... as for any calendar object).
- REPORT: calendar-multiget, calendar-query and sync-collection (RFC 6578) over the messages;
  before the first delivery an empty multistatus with a fixed sync-token, which later
  counts as no token (the client gets everything).
- GET / HEAD of a message: the iTIP object as delivered, METHOD included; DELETE: the
  client's acknowledgement that it processed it (Apple Calendar and Thunderbird do that).
- PUT and anything else: 405 (RFC 6638 §2.2: only the server delivers into an inbox).
- POST to the outbox: a VFREEBUSY request (RFC 6638 §5), answered with a
  CALDAV:schedule-response, one CALDAV:response per attendee. Implicit scheduling needs no
  POST (RFC 6638 §3.2): a PUT of the event does it. The outbox has no members.
"""

from __future__ import annotations

from xml.etree.ElementTree import Element

from starlette.responses import Response

from postroom.core.errors import Kind, MailError
from postroom.pim.model import CALDAV_NS, InvalidItem
from postroom.services.dav import imip
from postroom.services.dav.model import Collection
from postroom.web.dav import caldav, props
from postroom.web.dav import xml as X
from postroom.web.dav.common import DavError, DavRequest, multistatus, xml_response
from postroom.web.dav.xml import elem

D = "{DAV:}"
C = "{" + CALDAV_NS + "}"
# The token of an inbox that has no folder yet (RFC 6578 §3.2: any opaque URI)
EMPTY_TOKEN = "http://postroom/ns/sync/0-0"
ALLOW = "OPTIONS, PROPFIND, REPORT"
ALLOW_MESSAGE = "OPTIONS, GET, HEAD, DELETE, PROPFIND"
CALENDAR_TYPES = ("text/calendar",)
CALENDAR_DATA = C + "calendar-data"


async def handle(req: DavRequest, box: str) -> Response:
    """Entry point from app.py for everything under a user's inbox/ or outbox/."""
    if not req.config.scheduling:
        raise DavError(404)
    path = req.home_href("calendars") + box + "/"
    if box == "inbox":
        return await _inbox(req, path)
    if req.target.name:
        raise DavError(404)  # the outbox keeps nothing
    if req.method == "PROPFIND":
        return await _propfind(req, path, None)
    if req.method == "REPORT":
        return await _report(req, None)
    if req.method == "POST":
        return await _post(req)
    raise DavError(405, headers={"Allow": ALLOW + ", POST"})


async def _inbox(req: DavRequest, path: str) -> Response:
    coll = await req.dav.scheduling.inbox(req.principal)
    name = req.target.name
    if name:
        if "/" in name:
            raise DavError(404)
        if req.method not in ("GET", "HEAD", "DELETE", "PROPFIND"):
            # RFC 6638 §2.2: only the server delivers into an inbox (PUT, COPY, MOVE to a
            # member, whether or not that name is taken)
            raise DavError(405, headers={"Allow": ALLOW_MESSAGE})
        if coll is None:
            raise DavError(404)
        if req.method in ("GET", "HEAD"):
            return await _get(req, coll, name)
        if req.method == "DELETE":
            await req.dav.items.delete(req.principal, coll, name,
                                       if_match=_if_match(req.header("if-match")))
            return Response(status_code=204)
        if req.method == "PROPFIND":
            req.depth("0")
            mode, names = props.requested(await req.xml())
            item = await req.dav.items.get(req.principal, coll, name)
            ms = X.Multistatus()
            await props.respond(req, ms, props.Resource(
                "item", props.item_href(req, "calendars", coll, name), "calendars", coll,
                item.ref), mode, names)
            return multistatus(ms)
        raise DavError(405, headers={"Allow": ALLOW_MESSAGE})
    if req.method == "PROPFIND":
        return await _propfind(req, path, coll)
    if req.method == "REPORT":
        return await _report(req, coll)
    raise DavError(405, headers={"Allow": ALLOW})


def _if_match(value: str | None) -> str | None:
    """A DELETE's If-Match: the one strong tag given (a list or a weak tag never matches
    an inbox message's ETag, and then the delete is refused with 412, as it must be)."""
    if value is None:
        return None
    value = value.strip()
    return value if value == "*" or (value.startswith('"') and "," not in value) \
        else '"-"'


async def _get(req: DavRequest, coll: Collection, name: str) -> Response:
    item = await req.dav.items.get(req.principal, coll, name)
    headers = {"ETag": item.ref.etag, "Last-Modified": props.http_date(item.ref.modified),
               "Cache-Control": "no-cache", "Content-Length": str(len(item.data))}
    body = b"" if req.method == "HEAD" else item.data
    return Response(body, status_code=200, media_type=item.ref.content_type, headers=headers)


async def _propfind(req: DavRequest, path: str, coll: Collection | None) -> Response:
    depth = req.depth("0")
    mode, names = props.requested(await req.xml())
    ms = X.Multistatus()
    await props.respond(req, ms, props.Resource("box", path, "calendars"), mode, names)
    if depth != "0" and coll is not None:
        for ref in await req.dav.items.members(req.principal, coll):
            await props.respond(req, ms, props.Resource(
                "item", props.item_href(req, "calendars", coll, ref.name), "calendars", coll,
                ref), mode, names)
    return multistatus(ms)


async def _report(req: DavRequest, coll: Collection | None) -> Response:
    body = await req.xml()
    if body is None:
        raise DavError(400, text="REPORT needs a body")
    if body.tag not in (D + "sync-collection", C + "calendar-query", C + "calendar-multiget"):
        raise DavError(403, elem(D + "supported-report"))
    if coll is None:
        ms = X.Multistatus()
        if body.tag == D + "sync-collection":
            ms.append(elem(D + "sync-token", EMPTY_TOKEN))
        elif body.tag == C + "calendar-multiget":
            for h in body.findall(D + "href"):
                ms.status(X.text_of(h), 404)
        return multistatus(ms)
    names = props.report_props(body)
    if body.tag == C + "calendar-multiget":
        spend = props.budget(req)
        return await caldav.multiget(req, body, coll, "calendars", CALENDAR_DATA,
                                     caldav.renderer(req, caldav.data_request(names, body),
                                                     spend), spend)
    if body.tag == C + "calendar-query":
        flt = caldav.calendar_filter(body)
        spend = props.budget(req)
        report = props.Report(req, "calendars", coll, names, CALENDAR_DATA,
                              caldav.renderer(req, caldav.data_request(names, body), spend),
                              spend)
        for item in await req.dav.items.query_calendar(req.principal, coll, flt):
            await report.add(item.ref, item.data)
        return await report.response()
    return await _sync(req, coll, body, names)


async def _sync(req: DavRequest, coll: Collection, body: Element,
                names: list[str] | None) -> Response:
    """RFC 6578 sync-collection on the inbox: new messages as changes, deleted (or dropped
    past web.dav.max_inbox_messages) ones as 404 members."""
    level = X.text_of(body.find(D + "sync-level")) or "1"
    if level not in ("1", "infinite"):
        raise DavError(400, text="sync-level must be 1 or infinite")
    token = X.text_of(body.find(D + "sync-token")) or None
    if token == EMPTY_TOKEN:
        token = None  # taken before the first delivery: everything is new
    try:
        changes = await req.dav.items.sync(req.principal, coll, token)
    except MailError as exc:
        if exc.kind is Kind.INVALID:
            raise DavError(403, elem(D + "valid-sync-token")) from None
        raise
    render = caldav.renderer(req, caldav.data_request(names, body))
    wants_data = names is not None and CALENDAR_DATA in names
    datas = await req.dav.items.get_many(req.principal, coll,
                                         [r.name for r in changes.changed]) \
        if wants_data and changes.changed else {}
    ms = X.Multistatus()
    for ref in changes.changed:
        item = datas.get(ref.name)
        await props.item_response(req, ms, "calendars", coll, item.ref if item else ref,
                                  item.data if item else None, names, CALENDAR_DATA, render)
    for name in changes.removed:
        ms.status(props.item_href(req, "calendars", coll, name), 404)
    ms.append(elem(D + "sync-token", changes.token))
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
