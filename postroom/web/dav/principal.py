"""Principals and discovery (RFC 3744 §4, §9; RFC 5397; RFC 6764): the principal reports.

PROPFIND on the root, a principal and the homes is props.py's (current-user-principal is on
every resource, so a client that starts anywhere finds its way: RFC 5397 §3). Here are the
REPORTs a client uses to find principals (principal-property-search, minimal: the viewer's
own domain's accounts by display name or address) and expand-property (RFC 3253 §3.8,
answered without expansion: the properties' own values).
"""

from __future__ import annotations

from xml.etree.ElementTree import Element

from starlette.responses import Response

from postroom.web.dav import props
from postroom.web.dav import xml as X
from postroom.web.dav.common import DavError, DavRequest, href, multistatus
from postroom.web.dav.xml import CALDAV, elem

D = "{DAV:}"
C = "{" + CALDAV + "}"
SEARCHABLE = (D + "displayname", C + "calendar-user-address-set")
MOST_MATCHES = 50


_OTHER_NAMES = (D + "displayname", D + "principal-URL", D + "resourcetype",
                C + "calendar-user-address-set", C + "calendar-user-type")


def _other(address: str, display: str, names: list[str]) -> tuple[list[Element], list[Element]]:
    """Properties of another principal a search may show: who it is, nothing more."""
    values: dict[str, Element] = {
        D + "displayname": elem(D + "displayname", display),
        D + "principal-URL": elem(D + "principal-URL", None, X.href(href("principals",
                                                                          address))),
        D + "resourcetype": elem(D + "resourcetype", None, elem(D + "collection"),
                                 elem(D + "principal")),
        C + "calendar-user-address-set": elem(C + "calendar-user-address-set", None,
                                              X.href(f"mailto:{address}")),
        C + "calendar-user-type": elem(C + "calendar-user-type", "INDIVIDUAL"),
    }
    found = [values[n] for n in names if n in values]
    missing = [elem(n) for n in names if n not in values]
    return found, missing


async def property_search(req: DavRequest, body: Element) -> Response:
    """RFC 3744 §9.4: match every property-search (test allof, default) or any (anyof)."""
    terms: list[str] = []
    for ps in body.findall(D + "property-search"):
        match = X.text_of(ps.find(D + "match"))
        if match:
            terms.append(match.lower().removeprefix("mailto:"))
    anyof = (body.get("test") or "allof").lower() == "anyof"
    prop = body.find(D + "prop")
    names = [c.tag for c in prop] if prop is not None else [D + "displayname"]
    ms = X.Multistatus()
    people = await req.dav.collections.directory_people(req.principal)
    shown = 0
    for address, display in people:
        hay = f"{address}\n{display}".lower()
        hits = [t in hay for t in terms]
        if terms and not (any(hits) if anyof else all(hits)):
            continue
        if address.lower() == req.address.lower():
            res = props.Resource("principal", req.principal_href())
            found, missing = await props.values(req, res, names)
        else:
            found, missing = _other(address, display, names)
        ms.propstats(href("principals", address), [(200, found), (404, missing)])
        shown += 1
        if shown >= MOST_MATCHES:
            break
    return multistatus(ms)


async def search_property_set(req: DavRequest, body: Element) -> Response:
    """RFC 3744 §9.5: which properties principal-property-search looks in (200 XML)."""
    root = elem(D + "principal-search-property-set")
    for name in SEARCHABLE:
        root.append(elem(D + "principal-search-property", None, elem(D + "prop", None,
                                                                     elem(name))))
    return Response(X.serialize(root), status_code=200,
                    media_type="application/xml; charset=utf-8")


async def expand_property(req: DavRequest, body: Element) -> Response:
    """RFC 3253 §3.8, minimal: the named properties of the request-URI, not expanded."""
    names = []
    for p in body.iter(D + "property"):
        ns = p.get("namespace") or "DAV:"
        if p.get("name"):
            names.append(X.clark(ns, p.get("name") or ""))
    res = await props.resolve(req)
    found, missing = await props.values(req, res, names)
    ms = X.Multistatus()
    ms.propstats(res.path, [(200, found), (404, missing)])
    return multistatus(ms)


async def other_propfind(req: DavRequest) -> Response:
    """PROPFIND of a colleague's principal (one a principal search may return): who it is
    (displayname, principal-URL, calendar-user-address-set), for the viewer's own domain only;
    anyone else is 404 as a missing principal."""
    user = req.target.user.lower()
    people = dict(await req.dav.collections.directory_people(req.principal))
    display = next((d for a, d in people.items() if a.lower() == user), None)
    if display is None:
        raise DavError(404)
    mode, names = props.requested(await req.xml())
    wanted = names if names is not None else [D + "displayname", D + "resourcetype",
                                               D + "principal-URL"]
    found, missing = _other(user, display, wanted)
    ms = X.Multistatus()
    if mode == "propname":
        found, missing = _other(user, display, list(_OTHER_NAMES))
        ms.propstats(req.path, [(200, [elem(e.tag) for e in found])])
    else:
        ms.propstats(req.path, [(200, found), (404, missing if names is not None else [])])
    return multistatus(ms)
