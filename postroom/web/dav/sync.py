"""sync-collection (RFC 6578): what changed in a collection since a token.

The service turns a token into changes (members whose message is newer) and removals (names
whose message was expunged since and that are not live again); this module renders them:
changed members with the asked properties, removed ones as a bare 404 response (§3.5.2), and
the new token. With a DAV:limit the answer is paged (§3.6): the changes in MODSEQ order up to
the limit, a 507 response on the request-URI saying there is more, and a token covering
exactly that page. A token this server did not give for this collection is 403 with
DAV:valid-sync-token (§3.2).
"""

from __future__ import annotations

from xml.etree.ElementTree import Element

from starlette.responses import Response

from postroom.core.errors import Kind, MailError
from postroom.web.dav import caldav, carddav, props
from postroom.web.dav import xml as X
from postroom.web.dav.common import DavError, DavRequest, multistatus
from postroom.web.dav.xml import CALDAV, CARDDAV, elem

D = "{DAV:}"


async def sync_collection(req: DavRequest, body: Element) -> Response:
    t = req.target
    if t.kind != "collection":
        raise DavError(403, elem(D + "supported-report"),
                       text="sync-collection is for calendars and address books")
    level = X.text_of(body.find(D + "sync-level")) or "1"
    if level not in ("1", "infinite"):
        raise DavError(400, text="sync-level must be 1 or infinite")
    token = X.text_of(body.find(D + "sync-token")) or None
    limit: int | None = None
    nresults = body.find(D + "limit/" + D + "nresults")
    if nresults is not None:
        try:
            limit = max(1, int(X.text_of(nresults)))
        except ValueError:
            raise DavError(400, text="nresults must be a number") from None
    coll = await req.dav.collections.get(req.principal, t.family, t.segment)
    try:
        changes = await req.dav.items.sync(req.principal, coll, token, limit)
    except MailError as exc:
        if exc.kind is Kind.INVALID:
            raise DavError(403, elem(D + "valid-sync-token")) from None
        raise
    names = props.report_props(body)
    if t.family == "calendars":
        data_prop = "{" + CALDAV + "}calendar-data"
        render = caldav.renderer(req, caldav.data_request(names, body))
    else:
        data_prop = "{" + CARDDAV + "}address-data"
        render = carddav.renderer(carddav.data_request(body))
    wants_data = names is not None and data_prop in names
    datas = await req.dav.items.get_many(req.principal, coll,
                                         [r.name for r in changes.changed]) \
        if wants_data and changes.changed else {}
    ms = X.Multistatus()
    for ref in changes.changed:
        item = datas.get(ref.name)
        await props.item_response(req, ms, t.family, coll, item.ref if item else ref,
                                  item.data if item else None, names, data_prop, render)
    for name in changes.removed:
        ms.status(props.item_href(req, t.family, coll, name), 404)
    if changes.truncated:
        # RFC 6578 §3.6: more to come; the token covers what this page holds
        ms.status(req.path, 507, elem(D + "number-of-matches-within-limits"))
    ms.append(elem(D + "sync-token", changes.token))
    return multistatus(ms)
