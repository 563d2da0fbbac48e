"""CardDAV's reports (RFC 6352): addressbook-query (§8.6) with its limit (§8.6.1) and
addressbook-multiget (§8.7), and the address-data element (§10.4) with vCard version
conversion (3.0 <-> 4.0)."""

from __future__ import annotations

from xml.etree.ElementTree import Element

from starlette.responses import Response

from postroom.pim import query
from postroom.pim.filters import AddressDataRequest, CardFilter
from postroom.services.dav.model import Collection
from postroom.web.dav import caldav, props
from postroom.web.dav import xml as X
from postroom.web.dav.common import DavError, DavRequest, multistatus
from postroom.web.dav.xml import CARDDAV, elem

D = "{DAV:}"
CARD = "{" + CARDDAV + "}"
VERSIONS = ("3.0", "4.0")


def card_filter(body: Element) -> CardFilter:
    """RFC 6352 §10.5; no filter element matches every card."""
    f = body.find(CARD + "filter")
    if f is None:
        return CardFilter()
    test = (f.get("test") or "anyof").lower()
    if test not in ("anyof", "allof"):
        raise DavError(400, text="test must be anyof or allof")
    return CardFilter(prop_filters=tuple(caldav.prop_filter(p, CARDDAV)
                                         for p in f.findall(CARD + "prop-filter")), test=test)


def data_request(body: Element) -> AddressDataRequest | None:
    """RFC 6352 §10.4: the properties and the vCard version asked for; None for the card
    as stored."""
    prop = body.find(D + "prop")
    ad = prop.find(CARD + "address-data") if prop is not None else None
    if ad is None:
        return None
    content_type = (ad.get("content-type") or "text/vcard").lower()
    version = ad.get("version")
    if content_type != "text/vcard" or (version is not None and version not in VERSIONS):
        raise DavError(403, elem(CARD + "supported-address-data"),
                       text="address data is text/vcard 3.0 or 4.0")
    names = tuple((p.get("name") or "").upper() for p in ad.findall(CARD + "prop"))
    if ad.find(CARD + "allprop") is not None:
        names = ()
    if version is None and not names:
        return None
    return AddressDataRequest(properties=names or None, content_type=content_type,
                              version=version or "3.0")


def renderer(request: AddressDataRequest | None) -> props.DataRenderer:
    def render(data: bytes) -> Element:
        out = data if request is None else query.address_data(data, request)
        return elem(CARD + "address-data", out.decode("utf-8", "replace"))
    return render


async def _book(req: DavRequest) -> Collection:
    t = req.target
    if t.kind != "collection" or t.family != "addressbooks":
        raise DavError(403, elem(D + "supported-report"),
                       text="address book reports are for address books")
    return await req.dav.collections.get(req.principal, t.family, t.segment)


async def addressbook_query(req: DavRequest, body: Element) -> Response:
    coll = await _book(req)
    flt = card_filter(body)
    limit: int | None = None
    nresults = body.find(CARD + "limit/" + CARD + "nresults")
    if nresults is not None:
        try:
            limit = max(1, int(X.text_of(nresults)))
        except ValueError:
            raise DavError(400, text="nresults must be a number") from None
    names = props.report_props(body)
    render = renderer(data_request(body))
    found = await req.dav.items.query_cards(req.principal, coll, flt,
                                            None if limit is None else limit + 1)
    ms = X.Multistatus()
    for item in found[:limit] if limit is not None else found:
        await props.item_response(req, ms, "addressbooks", coll, item.ref, item.data, names,
                                  CARD + "address-data", render)
    if limit is not None and len(found) > limit:
        # RFC 6352 §8.6.1: a truncated answer says so on the request-URI
        ms.status(req.path, 507, elem(D + "number-of-matches-within-limits"))
    return multistatus(ms)


async def addressbook_multiget(req: DavRequest, body: Element) -> Response:
    coll = await _book(req)
    return await caldav.multiget(req, body, coll, "addressbooks", CARD + "address-data",
                                 renderer(data_request(body)))
