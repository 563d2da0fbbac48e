"""GET, HEAD, PUT and DELETE of calendar objects and vCards, and DELETE of collections
(RFC 4918 §9.4, §9.6, §9.7; RFC 4791 §5.3.2; RFC 6352 §6.3.2).

The bytes a client PUT are stored unchanged and GET returns them byte for byte, so the ETag of
the answer to PUT (RFC 4791 §5.3.4: a strong ETag only when the stored object is the one sent)
is always given. Conditional requests (RFC 7232 §3.1, §3.2) are decided in the service, under
the same transaction as the write, so two clients racing with the same If-Match cannot both
win.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

from starlette.responses import Response, StreamingResponse

from postroom.core.errors import Kind, MailError
from postroom.services.dav.model import Collection
from postroom.web.dav import props
from postroom.web.dav import xml as X
from postroom.web.dav.common import DavError, DavRequest, error_response, parse_target
from postroom.web.dav.xml import CALDAV, CARDDAV

NO_STORE = {"Cache-Control": "no-cache"}


_TAG = re.compile(r'\s*(\*|(?:W/)?"[^"]*")\s*(?:,|$)')
# RFC 6638 §3.1: a calendar object with an ORGANIZER is a scheduling object resource
_ORGANIZER = re.compile(rb"(?im)^ORGANIZER[;:]")


def _etags(value: str | None) -> list[str]:
    """The entity tags of an If-Match / If-None-Match list (RFC 7232 §3.1, §3.2), as given
    ("*", strong '"x"', weak 'W/"x"'); a malformed list yields what parsed before the fault."""
    out: list[str] = []
    pos = 0
    text = (value or "").strip()
    while pos < len(text):
        m = _TAG.match(text, pos)
        if m is None:
            break
        out.append(m.group(1))
        pos = m.end()
    return out


def _if_match(value: str | None, current: str | None) -> str | None:
    """What the service compares If-Match with: the listed tag equal to the item's current
    ETag when there is one (RFC 7232 §3.1: true when ANY matches, by the strong comparison,
    so a weak tag never does), else the first (which then fails, as it must); None when the
    header is absent."""
    tags = _etags(value)
    if value is not None and not tags:
        return value.strip() or None
    if "*" in tags:
        return "*"
    if current is not None and current in tags:
        return current
    return tags[0] if tags else None


def _weak_match(value: str | None, etag: str) -> bool:
    """If-None-Match (RFC 7232 §3.2): the weak comparison, W/ ignored on both sides."""
    tags = _etags(value)
    return "*" in tags or etag.removeprefix("W/") in (t.removeprefix("W/") for t in tags)


def _schedule_tag(data: bytes, etag: str) -> dict[str, str]:
    """RFC 6638 §3.2.10: a scheduling object resource carries a Schedule-Tag. Ours is its
    ETag: it changes with every stored change, also the server's merge of an attendee's
    reply, so a client holding an older tag gets 412 and refetches rather than overwriting
    a newer version (the conservative reading of §3.2.10; no silent loss)."""
    return {"Schedule-Tag": etag} if _ORGANIZER.search(data) else {}


async def handle(req: DavRequest) -> Response:
    t = req.target
    if req.method in ("GET", "HEAD"):
        return await get(req)
    if req.method == "PUT":
        if t.kind != "item":
            raise DavError(405, text="PUT a member of a collection, not a collection")
        return await put(req)
    if req.method == "DELETE":
        return await delete(req)
    if req.method in ("COPY", "MOVE"):
        return await transfer(req)
    raise DavError(405)


async def get(req: DavRequest) -> Response:
    t = req.target
    if t.kind == "collection":
        return await export(req)
    if t.kind != "item":
        await props.resolve(req)  # 404 when it is not there
        raise DavError(405, text="GET a member; collections are read with PROPFIND/REPORT",
                       headers={"Allow": "OPTIONS, PROPFIND, PROPPATCH, REPORT, DELETE"})
    coll = await req.dav.collections.get(req.principal, t.family, t.segment)
    try:
        item = await req.dav.items.get(req.principal, coll, t.name)
    except MailError as exc:
        if exc.kind is Kind.NO_PERM:
            return error_response(403, X.need_privileges(req.path, "read"))
        raise
    headers = {"ETag": item.ref.etag, "Last-Modified": props.http_date(item.ref.modified),
               **_schedule_tag(item.data, item.ref.etag), **NO_STORE}
    if _weak_match(req.header("if-none-match"), item.ref.etag):
        return Response(status_code=304, headers=headers)
    body = b"" if req.method == "HEAD" else item.data
    headers["Content-Length"] = str(len(item.data))
    return Response(body, status_code=200, media_type=item.ref.content_type, headers=headers)


async def put(req: DavRequest) -> Response:
    t = req.target
    coll = await req.dav.collections.get(req.principal, t.family, t.segment)
    if coll.handle is None:
        return error_response(403, X.need_privileges(req.path, "bind"))
    # RFC 4791 §5.3.2.1 / RFC 6352 §6.3.2.1: too large is 403 with max-resource-size,
    # decided on Content-Length before reading, or as the body passes the limit
    ns = CARDDAV if t.family == "addressbooks" else CALDAV
    too_large = DavError(403, X.elem(X.clark(ns, "max-resource-size")),
                         text=f"at most {req.config.max_resource_size} octets")
    announced = req.header("content-length")
    if announced is not None and announced.strip().isdigit() and \
            int(announced) > req.config.max_resource_size:
        raise too_large
    try:
        data = await req.body(req.config.max_resource_size)
    except DavError as exc:
        if exc.status == 413:
            raise too_large from None
        raise
    content_type = req.header("content-type") or ""
    if_none = _etags(req.header("if-none-match"))
    existing = None
    try:
        existing = (await req.dav.items.get_many(req.principal, coll, [t.name])).get(t.name)
    except MailError as exc:
        if exc.kind is not Kind.NO_PERM:
            raise
    if_match = _if_match(req.header("if-match"),
                         existing.ref.etag if existing is not None else None)
    if if_none and "*" not in if_none and existing is not None and \
            _weak_match(req.header("if-none-match"), existing.ref.etag):
        raise DavError(412, text="the item has one of the ETags given (If-None-Match)")
    schedule = req.header("if-schedule-tag-match")
    if schedule is not None:
        # RFC 6638 §8.3: the stored scheduling object's Schedule-Tag must be the one given
        held = _schedule_tag(existing.data, existing.ref.etag) if existing is not None else {}
        if held.get("Schedule-Tag") != schedule.strip():
            raise DavError(412, text="the Schedule-Tag is not the one given "
                           "(If-Schedule-Tag-Match)")
        if_match = existing.ref.etag if existing is not None else if_match
    try:
        result = await req.dav.items.put(req.principal, coll, t.name, data, content_type,
                                         if_match=if_match, if_none_match="*" in if_none)
    except MailError as exc:
        if exc.kind is Kind.NO_PERM:
            privilege = "write-content" if existing is not None else "bind"
            return error_response(403, X.need_privileges(req.path, privilege))
        raise
    return Response(status_code=201 if result.created else 204,
                    headers={"ETag": result.ref.etag, **_schedule_tag(data, result.ref.etag),
                             **NO_STORE})


async def delete(req: DavRequest) -> Response:
    t = req.target
    if t.kind == "item":
        coll = await req.dav.collections.get(req.principal, t.family, t.segment)
        try:
            await req.dav.items.delete(req.principal, coll, t.name,
                                       if_match=await _delete_match(req, coll, t.name))
        except MailError as exc:
            if exc.kind is Kind.NO_PERM:
                return error_response(403, X.need_privileges(req.path, "unbind"))
            raise
        return Response(status_code=204)
    if t.kind == "collection":
        coll = await req.dav.collections.get(req.principal, t.family, t.segment)
        if coll.handle is None:
            return error_response(403, X.need_privileges(req.path, "unbind"))
        try:
            await req.dav.collections.delete(req.principal, coll)
        except MailError as exc:
            if exc.kind is Kind.NO_PERM:
                parent = req.home_href(t.family)
                return error_response(403, X.need_privileges(parent, "unbind"))
            raise
        return Response(status_code=204)
    raise DavError(403, text="this resource cannot be deleted")


async def transfer(req: DavRequest) -> Response:
    """COPY / MOVE of a calendar object or vCard to another of the viewer's collections of
    the same family (RFC 4918 §9.8, §9.9); collections are not copied or moved (403)."""
    t = req.target
    if t.kind != "item":
        raise DavError(403, text="only calendar objects and vCards can be copied or moved")
    destination = req.header("destination")
    if not destination:
        raise DavError(400, text="COPY and MOVE need a Destination header")
    parts = urlsplit(destination.strip())
    if parts.netloc and parts.netloc.lower() != (req.header("host") or "").lower():
        raise DavError(502, text="the destination is on another server")
    dest = parse_target(unquote(parts.path))
    if dest.kind != "item" or dest.family != t.family or \
            dest.user.lower() != req.address.lower():
        raise DavError(403, text="the destination must be a member of one of your "
                       "collections of the same kind")
    overwrite = (req.header("overwrite") or "T").strip().upper() != "F"
    source = await req.dav.collections.get(req.principal, t.family, t.segment)
    target = await req.dav.collections.get(req.principal, dest.family, dest.segment)
    try:
        result = await req.dav.items.transfer(req.principal, source, t.name, target,
                                              dest.name, overwrite=overwrite,
                                              move=req.method == "MOVE")
    except MailError as exc:
        if exc.kind is Kind.NO_PERM:
            return error_response(403, X.need_privileges(req.path, "unbind"
                                                         if req.method == "MOVE" else "bind"))
        raise
    return Response(status_code=201 if result.created else 204,
                    headers={"ETag": result.ref.etag})


async def export(req: DavRequest) -> Response:
    """GET of a calendar or address book: the whole collection as one iCalendar stream
    (each VTIMEZONE once) or one vCard file, for a client that subscribes to a feed or a
    user who saves it (RFC 4791 leaves GET on a collection open; this is what most servers
    answer)."""
    t = req.target
    coll = await req.dav.collections.get(req.principal, t.family, t.segment)
    try:
        refs = await req.dav.items.members(req.principal, coll)
    except MailError as exc:
        if exc.kind is Kind.NO_PERM:
            return error_response(403, X.need_privileges(req.path, "read"))
        raise
    if len(refs) > req.config.max_results:
        raise DavError(507, X.elem("{DAV:}number-of-matches-within-limits"))
    # streamed, each item read as it is sent (services/dav/transfer.py, as the CLI's and the
    # API's exports): a large calendar is never held whole
    if t.family == "addressbooks":
        media, chunks = "text/vcard; charset=utf-8", req.dav.transfer.export_cards
    else:
        media, chunks = "text/calendar; charset=utf-8", req.dav.transfer.export_calendar
    headers = {"ETag": f'"{coll.ctag.rsplit("/", 1)[-1]}"', **NO_STORE}
    if req.method == "HEAD":
        return Response(b"", status_code=200, media_type=media, headers=headers)
    return StreamingResponse(chunks(req.principal, coll), status_code=200, media_type=media,
                             headers=headers)


async def _delete_match(req: DavRequest, coll: Collection, name: str) -> str | None:
    """If-Match of a DELETE as the service compares it: with a list, the tag equal to the
    item's ETag when the caller may read it (else the first, as for PUT)."""
    header = req.header("if-match")
    if header is None or len(_etags(header)) < 2:
        return _if_match(header, None)
    try:
        current = (await req.dav.items.get_many(req.principal, coll, [name])).get(name)
    except MailError as exc:
        if exc.kind is not Kind.NO_PERM:
            raise
        current = None
    return _if_match(header, current.ref.etag if current is not None else None)
