"""Properties of the WebDAV file area: PROPFIND (RFC 4918 §9.1) and PROPPATCH (§9.2).

Kept apart from props.py (calendars and address books) because the file area has its own
resources (nested collections and plain files) and its own live properties (locks, RFC 4331
quota), while dead properties here may be anything in any namespace: a client's value is kept
as the XML it sent (the property element with its attributes, xml:lang and children), so a
PROPFIND gives back what PROPPATCH stored (litmus ``props``).
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Awaitable, Callable
from xml.etree.ElementTree import Element

from starlette.responses import Response

from postroom.access.dav import dav_privileges
from postroom.core.errors import Kind, MailError
from postroom.services.dav.files import Node
from postroom.services.dav.locks import Lock
from postroom.web.dav import xml as X
from postroom.web.dav.common import DavError, DavRequest, href, multistatus, quote_segment
from postroom.web.dav.locks import lockdiscovery, supportedlock
from postroom.web.dav.xml import elem

D = "{DAV:}"
# RFC 4918 §9.1: allprop gives these live properties (and every dead one)
ALLPROP = (D + "resourcetype", D + "displayname", D + "getetag", D + "getcontenttype",
           D + "getcontentlength", D + "getlastmodified", D + "creationdate",
           D + "lockdiscovery", D + "supportedlock")
# computed by the server: PROPPATCH refuses them (RFC 4918 §16 cannot-modify-protected-property)
PROTECTED = frozenset({*ALLPROP, D + "current-user-privilege-set", D + "quota-used-bytes",
                       D + "quota-available-bytes", D + "owner", D + "supported-report-set"})
def http_date(ts: int) -> str:
    return email.utils.formatdate(ts, usegmt=True)


def iso_date(ts: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


class FileProps:
    """Live and dead properties of file-area nodes for one request."""

    def __init__(self, req: DavRequest) -> None:
        self.req = req
        self._locks: dict[str, list[Lock]] = {}  # per area, read once per request

    async def live(self, node: Node, name: str) -> Element | None:
        """One live property's value, None when the node has no such property."""
        ref = node.ref
        if name == D + "resourcetype":
            return elem(name, None, elem(D + "collection")) if node.collection else elem(name)
        if name == D + "displayname":
            # the area itself shows its folder's name ("Documents"), the rest their own
            return elem(name, node.name or node.folder.displayname)
        if name == D + "getetag":
            return elem(name, ref.etag) if ref else None
        if name == D + "getcontenttype":
            if ref:
                return elem(name, ref.content_type or "application/octet-stream")
            return elem(name, "httpd/unix-directory")
        if name == D + "getcontentlength":
            return elem(name, str(ref.size)) if ref else None
        if name == D + "getlastmodified":
            return elem(name, http_date(ref.modified if ref else node.created))
        if name == D + "creationdate":
            return elem(name, iso_date(node.created))
        if name == D + "lockdiscovery":
            return await self.discovery(node)
        if name == D + "supportedlock":
            return supportedlock()
        if name == D + "current-user-privilege-set":
            return elem(name, None, *[elem(D + "privilege", None, elem(D + p))
                                      for p in dav_privileges(node.handle.rights)])
        if name in (D + "quota-used-bytes", D + "quota-available-bytes") and node.collection:
            used, limit = await self.req.dav.files.quota(self.req.principal)
            if name.endswith("used-bytes"):
                return elem(name, str(used))
            return elem(name, str(max(limit - used, 0))) if limit is not None else None
        return None

    async def discovery(self, node: Node) -> Element:
        if node.area not in self._locks:
            self._locks[node.area] = await self.req.dav.files.locks.active(node.area)
        locks = [lk for lk in self._locks[node.area] if lk.covers(node.path)]
        now = int(time.time())
        # a lock rooted elsewhere covers this node from a collection above (Depth infinity)
        return lockdiscovery([(lk, file_href(lk.area, lk.path, lk.path != node.path
                                             or node.collection), lk.expires - now)
                              for lk in locks])

    async def response(self, ms: X.Multistatus, node: Node, mode: str,
                       wanted: list[str]) -> None:
        """One multistatus response for ``node`` (RFC 4918 §9.1): ``mode`` prop, allprop or
        propname; ``wanted`` the names asked (prop) or included (allprop's DAV:include)."""
        dead = await self.req.dav.files.props(self.req.principal, node)
        found: list[Element] = []
        missing: list[Element] = []
        if mode == "propname":
            names = [n for n in ALLPROP if await self.live(node, n) is not None]
            found = [elem(n) for n in names] + [elem(n) for n in dead]
        else:
            names = list(ALLPROP) + [n for n in wanted if n not in ALLPROP] \
                if mode == "allprop" else wanted
            for name in names:
                value = await self.live(node, name)
                if value is None and name in dead:
                    value = stored(name, dead[name])
                if value is not None:
                    found.append(value)
                elif mode == "prop":
                    missing.append(elem(name))
            if mode == "allprop":
                found += [stored(n, v) for n, v in dead.items() if n not in names]
        ms.propstats(node_href(node), [(200, found), (404, missing)])


def file_href(area: str, path: str, collection: bool) -> str:
    """/dav/files/<area>/<path>[/], every segment percent-encoded (RFC 3986 §2.1)."""
    out = href("files", area)
    if path:
        out += "/".join(quote_segment(s) for s in path.split("/"))
        if collection:
            out += "/"
    return out


def node_href(node: Node) -> str:
    return file_href(node.area, node.path, node.collection)


XML_NS = "{http://www.w3.org/XML/1998/namespace}"


def stored(name: str, value: str) -> Element:
    """A dead property as stored: the element the client sent."""
    parsed = X.parse_fragment(value)
    if parsed is not None and parsed.tag == name:
        return parsed
    return elem(name, value)


def propfind_request(body: Element | None) -> tuple[str, list[str]]:
    """(mode, names) of a PROPFIND body (RFC 4918 §14.20); empty means allprop."""
    if body is None:
        return "allprop", []
    if body.tag != D + "propfind":
        raise DavError(400, text="a PROPFIND body is a DAV:propfind")
    if body.find(D + "propname") is not None:
        return "propname", []
    if body.find(D + "allprop") is not None:
        include = body.find(D + "include")
        return "allprop", [c.tag for c in include] if include is not None else []
    prop = body.find(D + "prop")
    if prop is None:
        raise DavError(400, text="DAV:propfind needs prop, allprop or propname")
    return "prop", [c.tag for c in prop if isinstance(c.tag, str)]


async def propfind(req: DavRequest, node: Node,
                   walk: Callable[[Node, str], Awaitable[list[Node]]]) -> Response:
    """PROPFIND on a file or collection at Depth 0, 1 or infinity (bounded by max_results,
    else 403 DAV:propfind-finite-depth: RFC 4918 §9.1.1)."""
    depth = req.depth("infinity")
    mode, wanted = propfind_request(await req.xml())
    nodes = [node]
    if node.collection and depth != "0":
        try:
            nodes += await walk(node, depth)
        except MailError as exc:
            if exc.kind is Kind.LIMIT and depth == "infinity":
                raise DavError(403, elem(D + "propfind-finite-depth")) from None
            raise
    props = FileProps(req)
    ms = X.Multistatus()
    for n in nodes:
        await props.response(ms, n, mode, wanted)
    return multistatus(ms)


async def proppatch(req: DavRequest, node: Node, tokens: frozenset[str]) -> Response:
    """PROPPATCH (RFC 4918 §9.2): set and remove in document order, all or nothing; a
    protected property fails with 403 and the rest with 424 Failed Dependency."""
    body = await req.xml()
    if body is None or body.tag != D + "propertyupdate":
        raise DavError(400, text="a PROPPATCH body is a DAV:propertyupdate")
    most_size = req.config.max_property_size
    most_props = req.config.max_dead_properties
    changes: dict[str, str | None] = {}
    order: list[str] = []
    refused: list[str] = []
    for action in body:
        if action.tag not in (D + "set", D + "remove"):
            continue
        prop = action.find(D + "prop")
        if prop is None:
            raise DavError(400, text="set and remove hold a DAV:prop")
        for p in prop:
            if not isinstance(p.tag, str):
                continue
            order.append(p.tag)
            if p.tag in PROTECTED:
                refused.append(p.tag)
            elif action.tag == D + "set":
                # RFC 4918 §4.3: the xml:lang in scope is part of the value
                lang = next((e.get(XML_NS + "lang") for e in (p, prop, action, body)
                             if e.get(XML_NS + "lang") is not None), None)
                if lang is not None:
                    p.set(XML_NS + "lang", lang)
                text = X.fragment(p)
                if len(text.encode()) > most_size:
                    raise DavError(413, text=f"a property is at most {most_size} octets")
                changes[p.tag] = text
            else:
                changes[p.tag] = None
    ms = X.Multistatus()
    seen = list(dict.fromkeys(order))
    if refused:
        ms.propstats(node_href(node), [
            (403, [elem(n) for n in seen if n in refused]),
            (424, [elem(n) for n in seen if n not in refused])])
        return multistatus(ms)
    current = await req.dav.files.props(req.principal, node)
    kept = {k for k in current if changes.get(k, "") is not None}
    if len(kept | {k for k, v in changes.items() if v is not None}) > most_props:
        raise DavError(507, text=f"a resource carries at most {most_props} properties")
    await req.dav.files.set_props(req.principal, node, changes, tokens)
    ms.propstats(node_href(node), [(200, [elem(n) for n in seen])])
    return multistatus(ms)
