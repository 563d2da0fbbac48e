"""Properties: PROPFIND (RFC 4918 §9.1: prop, allprop, propname; Depth 0 and 1) and
PROPPATCH (§9.2: all or nothing, 424 Failed Dependency for the rest when one fails), over the
resources of the layout (root, principal, homes, collections, items).

Which live properties a resource has is decided here, from what the services say about it;
what the viewer may do comes from ``access.dav.dav_privileges`` over the handle's rights (the
translation table), never from rights letters.
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from xml.etree.ElementTree import Element

from starlette.responses import Response

from postroom.access.dav import SUPPORTED_TREE, dav_privileges
from postroom.core.errors import Kind, MailError
from postroom.pim.recurrence import Budget, OverBudget
from postroom.services.dav.collections import COMPONENTS_PROP
from postroom.services.dav.model import Collection, ItemRef
from postroom.web.dav import xml as X
from postroom.web.dav.common import (
    DavError,
    DavRequest,
    href,
    multistatus,
    quote_segment,
    xml_response,
)
from postroom.web.dav.xml import APPLE, CALDAV, CARDDAV, CS, DAV, clark, elem

D = "{DAV:}"
C = "{" + CALDAV + "}"
CARD = "{" + CARDDAV + "}"

# Properties a client may set on a collection (stored in dav_props); everything else in
# these namespaces that we compute is protected (RFC 4918 §16 cannot-modify-protected-property)
SETTABLE = frozenset({
    D + "displayname", C + "calendar-description", C + "calendar-timezone",
    CARD + "addressbook-description", "{" + APPLE + "}calendar-color",
    "{" + APPLE + "}calendar-order", C + "schedule-calendar-transp"})
# RFC 4918 §9.1 allprop: the RFC 4918 live properties (not the expensive ones) + dead ones
ALLPROP = (D + "resourcetype", D + "displayname", D + "getetag", D + "getcontenttype",
           D + "getcontentlength", D + "getlastmodified", D + "creationdate")
READ_ONLY = ("read", "read-current-user-privilege-set")
OWNER_PRIVILEGES = ("read-current-user-privilege-set", "read", "bind", "unbind", "write-content",
                    "write-properties", "read-acl", "write-acl", "unlock", "write", "all")


@dataclass(frozen=True, slots=True)
class Resource:
    """One resource of the layout as the viewer sees it. ``kind``: root, principals,
    principal, family, home, collection, item, box."""

    kind: str
    path: str
    family: str = ""
    coll: Collection | None = None
    item: ItemRef | None = None


# -- resolving paths ----------------------------------------------------------------------------

async def resolve(req: DavRequest) -> Resource:
    """The resource the request path names; DavError 404 when there is none (or the viewer
    may not see it: the same answer)."""
    t = req.target
    if t.kind in ("root", "principals", "principal"):
        return Resource(t.kind, req.path)
    if t.kind == "family":
        return Resource("family", req.path, t.family)
    if t.kind == "home":
        return Resource("home", req.home_href(t.family), t.family)
    coll = await req.dav.collections.get(req.principal, t.family, t.segment)
    if t.kind == "collection":
        return Resource("collection", collection_href(req, t.family, coll), t.family, coll)
    if t.kind == "item":
        item = await req.dav.items.get(req.principal, coll, t.name)
        return Resource("item", item_href(req, t.family, coll, item.ref.name), t.family,
                        coll, item.ref)
    raise DavError(404)


def collection_href(req: DavRequest, family: str, coll: Collection) -> str:
    """The collection's URL for this viewer; made once per request (a report puts it in
    front of every member's name)."""
    key = (family, coll.segment)
    found = req.hrefs.get(key)
    if found is None:
        found = req.hrefs[key] = href(family, req.address, coll.segment)
    return found


def item_href(req: DavRequest, family: str, coll: Collection, name: str) -> str:
    return collection_href(req, family, coll) + quote_segment(name)


async def children(req: DavRequest, res: Resource) -> list[Resource]:
    """Depth 1 members."""
    if res.kind == "root":
        return [Resource("principal", req.principal_href()),
                Resource("home", req.home_href("calendars"), "calendars"),
                Resource("home", req.home_href("addressbooks"), "addressbooks")]
    if res.kind == "principals":
        return [Resource("principal", req.principal_href())]
    if res.kind == "family":
        return [Resource("home", req.home_href(res.family), res.family)]
    if res.kind == "home":
        out = [Resource("collection", collection_href(req, res.family, c), res.family, c)
               for c in await req.dav.collections.home(req.principal, res.family)]
        if res.family == "calendars" and req.config.scheduling:
            out += [Resource("box", req.home_href("calendars") + "inbox/", "calendars"),
                    Resource("box", req.home_href("calendars") + "outbox/", "calendars")]
        return out
    if res.kind == "collection" and res.coll is not None:
        try:
            refs = await req.dav.items.members(req.principal, res.coll)
        except MailError as exc:
            if exc.kind is Kind.NO_PERM:
                return []  # listed (l) but not readable (r): a collection without members
            raise
        if len(refs) > req.config.max_results:
            raise DavError(507, elem(D + "number-of-matches-within-limits"))
        return [Resource("item", item_href(req, res.family, res.coll, r.name), res.family,
                         res.coll, r) for r in refs]
    return []


# -- property values ----------------------------------------------------------------------------

def _hrefs(name: str, *paths: str) -> Element:
    return elem(name, None, *(X.href(p) for p in paths))


def privileges_of(res: Resource) -> tuple[str, ...]:
    """What ``DAV:current-user-privilege-set`` lists for the resource (RFC 3744 §5.4)."""
    if res.coll is not None:
        if res.coll.handle is None:
            return READ_ONLY
        return dav_privileges(res.coll.handle.rights)
    if res.kind in ("home", "box"):
        return OWNER_PRIVILEGES  # one's own home: the owner may do everything there
    return READ_ONLY


def _privilege_set(privs: tuple[str, ...]) -> Element:
    return elem(D + "current-user-privilege-set", None,
                *(elem(D + "privilege", None, elem(clark(DAV, p))) for p in privs))


def _supported_privileges() -> Element:
    def node(name: str, members: tuple[str, ...]) -> Element:
        e = elem(D + "supported-privilege", None, elem(D + "privilege", None,
                                                       elem(clark(DAV, name))))
        for m in members:
            sub = next((s for n, s in SUPPORTED_TREE if n == m), ())
            e.append(node(m, sub))
        return e
    top, members = SUPPORTED_TREE[0]
    return elem(D + "supported-privilege-set", None, node(top, members))


def _reports(names: list[str]) -> Element:
    return elem(D + "supported-report-set", None, *(
        elem(D + "supported-report", None, elem(D + "report", None, elem(n))) for n in names))


def http_date(ts: int) -> str:
    return email.utils.formatdate(ts, usegmt=True)


def _iso(ts: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def _stored(name: str, value: str) -> Element:
    """A dead or settable property as stored: an element when it was stored as one."""
    if value.startswith("<"):
        parsed = X.parse_fragment(value)
        if parsed is not None and parsed.tag == name:
            return parsed
    return elem(name, value)


Getter = Callable[[DavRequest, Resource], Awaitable[Element | None]]


async def _resourcetype(req: DavRequest, res: Resource) -> Element | None:
    e = elem(D + "resourcetype")
    if res.kind == "item":
        return e
    e.append(elem(D + "collection"))
    if res.kind == "principal":
        e.append(elem(D + "principal"))
    elif res.kind == "collection" and res.coll is not None:
        e.append(elem(CARD + "addressbook") if res.family == "addressbooks"
                 else elem(C + "calendar"))
    elif res.kind == "box":
        e.append(elem(C + ("schedule-inbox" if res.path.endswith("inbox/")
                           else "schedule-outbox")))
    return e


async def _displayname(req: DavRequest, res: Resource) -> Element | None:
    names = {"root": "Postroom", "principals": "Principals", "principal": req.address,
             "family": res.family.capitalize(), "home": res.family.capitalize()}
    if res.coll is not None and res.kind == "collection":
        return elem(D + "displayname", res.coll.displayname)
    if res.kind == "box":
        return elem(D + "displayname", "Inbox" if res.path.endswith("inbox/") else "Outbox")
    text = names.get(res.kind)
    return elem(D + "displayname", text) if text else None


# A member's properties that its index row alone gives (no I/O, nothing of the request):
# each computed only when asked for (a report of 10,000 ETags formats no dates)
ITEM_TEXT: dict[str, Callable[[ItemRef], str]] = {
    D + "getetag": lambda i: i.etag,
    D + "getcontenttype": lambda i: i.content_type,
    D + "getcontentlength": lambda i: str(i.size),
    D + "getlastmodified": lambda i: http_date(i.modified),
    D + "creationdate": lambda i: _iso(i.modified),
}


def _item_getter(name: str) -> Getter:
    text = ITEM_TEXT[name]

    async def get(req: DavRequest, res: Resource) -> Element | None:
        return elem(name, text(res.item)) if res.item is not None else None
    return get


async def _cup(req: DavRequest, res: Resource) -> Element | None:
    return _hrefs(D + "current-user-principal", req.principal_href())


async def _principal_url(req: DavRequest, res: Resource) -> Element | None:
    if res.kind != "principal":
        return None
    return _hrefs(D + "principal-URL", req.principal_href())


async def _owner(req: DavRequest, res: Resource) -> Element | None:
    if res.coll is not None:
        owner = res.coll.owner
        return _hrefs(D + "owner", req.principal_href(owner)) if owner else elem(D + "owner")
    if res.kind in ("home", "principal", "box"):
        return _hrefs(D + "owner", req.principal_href())
    return None


async def _pcs(req: DavRequest, res: Resource) -> Element | None:
    return _hrefs(D + "principal-collection-set", href("principals"))


async def _cups(req: DavRequest, res: Resource) -> Element | None:
    return _privilege_set(privileges_of(res))


async def _sps(req: DavRequest, res: Resource) -> Element | None:
    return _supported_privileges()


async def _acl(req: DavRequest, res: Resource) -> Element | None:
    """RFC 3744 §5.5, minimal and read-only: the viewer's own privileges as one protected
    ACE (the real sharing is managed over IMAP ACL, webmail or the admin)."""
    privs = privileges_of(res)
    return elem(D + "acl", None, elem(
        D + "ace", None, elem(D + "principal", None, X.href(req.principal_href())),
        elem(D + "grant", None, *(elem(D + "privilege", None, elem(clark(DAV, p)))
                                   for p in privs)),
        elem(D + "protected")))


async def _report_set(req: DavRequest, res: Resource) -> Element | None:
    if res.kind == "collection" and res.family == "calendars":
        return _reports([C + "calendar-query", C + "calendar-multiget",
                         C + "free-busy-query", D + "sync-collection"])
    if res.kind == "collection":
        return _reports([CARD + "addressbook-query", CARD + "addressbook-multiget",
                         D + "sync-collection"])
    return _reports([D + "principal-property-search", D + "principal-search-property-set",
                     D + "expand-property"])


async def _sync_token(req: DavRequest, res: Resource) -> Element | None:
    if res.kind == "collection" and res.coll is not None:
        return elem(D + "sync-token", res.coll.sync_token)
    return None


async def _ctag(req: DavRequest, res: Resource) -> Element | None:
    if res.kind == "collection" and res.coll is not None:
        return elem("{" + CS + "}getctag", res.coll.ctag)
    return None


def _principal_only(fn: Callable[[DavRequest], Element]) -> Getter:
    async def get(req: DavRequest, res: Resource) -> Element | None:
        return fn(req) if res.kind in ("principal", "root") else None
    return get


def _calendar_home(req: DavRequest) -> Element:
    return _hrefs(C + "calendar-home-set", req.home_href("calendars"))


def _addressbook_home(req: DavRequest) -> Element:
    return _hrefs(CARD + "addressbook-home-set", req.home_href("addressbooks"))


def _cuas(req: DavRequest) -> Element:
    return _hrefs(C + "calendar-user-address-set", f"mailto:{req.address}",
                  req.principal_href())


def _inbox_url(req: DavRequest) -> Element:
    return _hrefs(C + "schedule-inbox-URL", req.home_href("calendars") + "inbox/")


def _outbox_url(req: DavRequest) -> Element:
    return _hrefs(C + "schedule-outbox-URL", req.home_href("calendars") + "outbox/")


def _email_set(req: DavRequest) -> Element:
    """Apple's email-address-set (CalendarServer extension): the addresses iOS offers as
    the organiser."""
    return elem("{" + CS + "}email-address-set", None,
                elem("{" + CS + "}email-address", req.address))


def _cutype(req: DavRequest) -> Element:
    return elem(C + "calendar-user-type", "INDIVIDUAL")


def _calendar_only(fn: Callable[[DavRequest, Collection], Element | None]) -> Getter:
    async def get(req: DavRequest, res: Resource) -> Element | None:
        if res.kind != "collection" or res.family != "calendars" or res.coll is None:
            return None
        return fn(req, res.coll)
    return get


def _book_only(fn: Callable[[DavRequest, Collection], Element | None]) -> Getter:
    async def get(req: DavRequest, res: Resource) -> Element | None:
        if res.kind != "collection" or res.family != "addressbooks" or res.coll is None:
            return None
        return fn(req, res.coll)
    return get


def _components_named(req: DavRequest, coll: Collection) -> Element:
    e = elem(C + "supported-calendar-component-set")
    for comp in coll.components:
        c = elem(C + "comp")
        c.set("name", comp)
        e.append(c)
    return e


def _cal_data(req: DavRequest, coll: Collection) -> Element:
    cd = elem(C + "calendar-data")
    cd.set("content-type", "text/calendar")
    cd.set("version", "2.0")
    return elem(C + "supported-calendar-data", None, cd)


def _card_data(req: DavRequest, coll: Collection) -> Element:
    out = elem(CARD + "supported-address-data")
    for version in ("3.0", "4.0"):
        ad = elem(CARD + "address-data-type")
        ad.set("content-type", "text/vcard")
        ad.set("version", version)
        out.append(ad)
    return out


def _stored_prop(name: str) -> Getter:
    async def get(req: DavRequest, res: Resource) -> Element | None:
        if res.coll is None or res.kind != "collection":
            return None
        value = res.coll.props.get(name)
        return _stored(name, value) if value is not None else None
    return get


async def _quota(req: DavRequest, res: Resource, which: str) -> Element | None:
    """RFC 4331: the viewer's own account's quota, on their homes and own collections."""
    own = res.kind == "home" or (res.coll is not None and res.coll.owner == req.address
                                 and res.kind == "collection")
    if not own:
        return None
    used, limit = await req.dav.collections.quota(req.principal)
    if which == "used":
        return elem(D + "quota-used-bytes", str(used))
    if limit is None:
        return None
    return elem(D + "quota-available-bytes", str(max(limit - used, 0)))


async def _quota_used(req: DavRequest, res: Resource) -> Element | None:
    return await _quota(req, res, "used")


async def _quota_available(req: DavRequest, res: Resource) -> Element | None:
    return await _quota(req, res, "available")


def _max_size(ns: str) -> Getter:
    async def get(req: DavRequest, res: Resource) -> Element | None:
        want = "calendars" if ns == CALDAV else "addressbooks"
        if res.kind != "collection" or res.family != want:
            return None
        return elem(clark(ns, "max-resource-size"), str(req.config.max_resource_size))
    return get


LIVE: dict[str, Getter] = {
    D + "resourcetype": _resourcetype,
    D + "displayname": _displayname,
    **{name: _item_getter(name) for name in ITEM_TEXT},
    D + "current-user-principal": _cup,
    D + "principal-URL": _principal_url,
    D + "owner": _owner,
    D + "principal-collection-set": _pcs,
    D + "current-user-privilege-set": _cups,
    D + "supported-privilege-set": _sps,
    D + "acl": _acl,
    D + "supported-report-set": _report_set,
    D + "sync-token": _sync_token,
    D + "quota-used-bytes": _quota_used,
    D + "quota-available-bytes": _quota_available,
    "{" + CS + "}getctag": _ctag,
    C + "calendar-home-set": _principal_only(_calendar_home),
    C + "calendar-user-address-set": _principal_only(_cuas),
    C + "schedule-inbox-URL": _principal_only(_inbox_url),
    C + "schedule-outbox-URL": _principal_only(_outbox_url),
    C + "calendar-user-type": _principal_only(_cutype),
    "{" + CS + "}email-address-set": _principal_only(_email_set),
    CARD + "addressbook-home-set": _principal_only(_addressbook_home),
    C + "supported-calendar-component-set": _calendar_only(_components_named),
    C + "supported-calendar-data": _calendar_only(_cal_data),
    C + "max-resource-size": _max_size(CALDAV),
    CARD + "supported-address-data": _book_only(_card_data),
    CARD + "max-resource-size": _max_size(CARDDAV),
}
# settable ones are read from what was stored
for _name in SETTABLE:
    if _name != D + "displayname":
        LIVE[_name] = _stored_prop(_name)
PROTECTED = frozenset(LIVE) - SETTABLE | {COMPONENTS_PROP}


async def values(req: DavRequest, res: Resource, names: list[str] | None,
                 ) -> tuple[list[Element], list[Element]]:
    """(found, missing) property elements; ``names`` None means allprop."""
    if res.item is not None and names is not None and all(n in ITEM_TEXT for n in names):
        # a member in a report asked for its ETag (and the like): what the getters would
        # give, without a coroutine per property per member
        item = res.item
        return [elem(n, ITEM_TEXT[n](item)) for n in names], []
    found: list[Element] = []
    missing: list[Element] = []
    wanted = list(ALLPROP) if names is None else names
    for name in wanted:
        getter = LIVE.get(name)
        value = await getter(req, res) if getter is not None else None
        if value is None and getter is None and res.coll is not None \
                and res.kind == "collection" and name in res.coll.props:
            value = _stored(name, res.coll.props[name])
        if value is not None:
            found.append(value)
        elif names is not None:
            missing.append(elem(name))
    if names is None and res.coll is not None and res.kind == "collection":
        for name, text in res.coll.props.items():
            if name not in LIVE and name != COMPONENTS_PROP:
                found.append(_stored(name, text))
    return found, missing


async def propnames(req: DavRequest, res: Resource) -> list[Element]:
    out = []
    for name, getter in LIVE.items():
        if await getter(req, res) is not None:
            out.append(elem(name))
    if res.coll is not None and res.kind == "collection":
        out += [elem(n) for n in res.coll.props if n not in LIVE and n != COMPONENTS_PROP]
    return out


# -- PROPFIND -----------------------------------------------------------------------------------

def requested(body: Element | None) -> tuple[str, list[str] | None]:
    """("prop", names) | ("allprop", None) | ("propname", None) from a PROPFIND body."""
    if body is None:
        return "allprop", None
    if body.tag != D + "propfind":
        raise DavError(400, text="PROPFIND needs a DAV:propfind body")
    if body.find(D + "propname") is not None:
        return "propname", None
    prop = body.find(D + "prop")
    if prop is not None:
        return "prop", [c.tag for c in prop if isinstance(c.tag, str)]
    if body.find(D + "allprop") is not None:
        include = body.find(D + "include")
        extra = [c.tag for c in include] if include is not None else []
        return "allprop", (list(ALLPROP) + extra) if extra else None
    raise DavError(400, text="PROPFIND needs prop, allprop or propname")


async def respond(req: DavRequest, ms: X.Multistatus, res: Resource, mode: str,
                  names: list[str] | None) -> None:
    if mode == "propname":
        ms.propstats(res.path, [(200, await propnames(req, res))])
        return
    found, missing = await values(req, res, names)
    ms.propstats(res.path, [(200, found), (404, missing)])


async def propfind(req: DavRequest) -> Response:
    depth = req.depth("infinity")
    mode, names = requested(await req.xml())
    res = await resolve(req)
    ms = X.Multistatus()
    await respond(req, ms, res, mode, names)
    if depth != "0":
        if depth == "infinity" and res.kind in ("root", "home", "family", "principals") \
                and req.header("depth") is not None:
            # RFC 4918 §9.1: a server may refuse infinite depth on large trees. A request
            # with no Depth at all (infinity by default) is answered as Depth 1: clients
            # that leave it out mean "this and its members"
            raise DavError(403, elem(D + "propfind-finite-depth"))
        for member in await children(req, res):
            await respond(req, ms, member, mode, names)
    return multistatus(ms)


# -- PROPPATCH ----------------------------------------------------------------------------------

def value_text(e: Element) -> str:
    """How a set property is stored: its text, or the whole element when it has children or
    attributes (xml:lang, RFC 4918 §4.3: kept with the value)."""
    if len(e) == 0 and not e.attrib:
        return (e.text or "").strip() if e.tag == D + "displayname" else (e.text or "")
    return X.fragment(e)


def changes_of(body: Element) -> list[tuple[str, str | None, Element]]:
    """(name, value or None for remove, element) in document order (RFC 4918 §9.2)."""
    out: list[tuple[str, str | None, Element]] = []
    for action in body:
        if action.tag not in (D + "set", D + "remove"):
            continue
        prop = action.find(D + "prop")
        if prop is None:
            continue
        for p in prop:
            out.append((p.tag, value_text(p) if action.tag == D + "set" else None, p))
    return out


async def proppatch(req: DavRequest) -> Response:
    body = await req.xml()
    if body is None or body.tag != D + "propertyupdate":
        raise DavError(400, text="PROPPATCH needs a DAV:propertyupdate body")
    res = await resolve(req)
    changes = changes_of(body)
    ms = X.Multistatus()
    refused = [(n, e) for n, _, e in changes if n in PROTECTED or res.kind != "collection"
               or res.coll is None or res.coll.handle is None]
    if refused:
        bad = {n for n, _ in refused}
        ms.propstats(res.path, [(403, [elem(n) for n, _ in refused]),
                                (424, [elem(n) for n, _, _ in changes if n not in bad])],
                     description="protected or read-only properties",
                     errors={403: elem(D + "cannot-modify-protected-property")})
        return multistatus(ms)
    assert res.coll is not None
    try:
        await req.dav.collections.set_props(req.principal, res.coll,
                                            {n: v for n, v, _ in changes})
    except MailError as exc:
        if exc.kind is Kind.NO_PERM:  # RFC 3744 §7.1.1: say which privilege was missing
            raise DavError(403, X.need_privileges(res.path, "write-properties")) from None
        raise
    ms.propstats(res.path, [(200, [elem(n) for n, _, _ in changes])])
    return multistatus(ms)


# -- members in REPORT answers ------------------------------------------------------------------

DataRenderer = Callable[[bytes], Element]

def budget(req: DavRequest) -> Budget:
    """A fresh budget for one request: web.dav.max_request_instances expanded instances and
    web.dav.max_response_size octets of calendar-data/address-data, over all its items."""
    return Budget(req.config.max_request_instances, req.config.max_response_size)


def within_limits() -> Element:
    """RFC 5323 §5.17 / RFC 6578 §3.6: the answer was cut at a server limit."""
    return elem(D + "number-of-matches-within-limits")


def _data_element(data_prop: str, data: bytes, render: DataRenderer | None,
                  spend: Budget | None) -> Element:
    e = render(data) if render is not None else elem(data_prop, data.decode("utf-8", "replace"))
    if spend is not None:
        spend.spend(octets=len(e.text or ""))
    return e


async def item_response(req: DavRequest, ms: X.Multistatus, family: str, coll: Collection,
                        ref: ItemRef, data: bytes | None, names: list[str] | None,
                        data_prop: str = "", render: DataRenderer | None = None) -> None:
    """One member's ``response`` in a REPORT, for callers that build the multistatus
    themselves (sync-collection, addressbook-query; ``Report`` is the one-job way). The data
    is still rendered in a worker thread (an expansion never runs on the event loop); a
    renderer past its request budget makes the whole answer a 507."""
    res = Resource("item", item_href(req, family, coll, ref.name), family, coll, ref)
    wanted = [n for n in (names or []) if n != data_prop] if names is not None else None
    found, missing = await values(req, res, wanted)
    if data_prop and names is not None and data_prop in names and data is not None:
        try:
            found.append(await asyncio.to_thread(_data_element, data_prop, data, render,
                                                 None))
        except OverBudget:
            raise DavError(507, within_limits()) from None
    ms.propstats(res.path, [(200, found), (404, missing)])


@dataclass(slots=True)
class _Member:
    path: str
    found: list[Element]
    missing: list[Element]
    data: bytes | None  # to render into data_prop; None: not asked or not there


@dataclass(slots=True)
class _Status:
    path: str
    status: int
    conditions: tuple[Element, ...] = ()


class Report:
    """The responses of one calendar or address book REPORT. The cheap properties (etag,
    length, ...) are gathered on the event loop as members are added; the expensive part, the
    calendar-data/address-data (recurrence expansion, component selection, vCard conversion)
    and the serialisation of the whole answer, runs as ONE worker job in ``response``: the
    loop that serves every protocol never waits for it, and a report of thousands of items
    pays one thread hop, not one per item.

    The job spends from the request's ``Budget`` (instances inside the renderer, octets of
    every data element here). Past it the answer stops before the member that overflowed (no
    member is ever half there) and ends with a 507 response for the request-URI carrying
    DAV:number-of-matches-within-limits (RFC 5323 §5.17, as RFC 6578 §3.6 does for sync).
    ``whole``: the answer is all or nothing (sync-collection, whose token promises every
    change up to it): past the budget the request gets a 507 with that element instead."""

    def __init__(self, req: DavRequest, family: str, coll: Collection, names: list[str] | None,
                 data_prop: str, render: DataRenderer | None, spend: Budget,
                 *, whole: bool = False) -> None:
        self._req = req
        self._family = family
        self._coll = coll
        self._names = names
        self._data_prop = data_prop
        self._render = render
        self._budget = spend
        self._wants_data = names is not None and data_prop in names
        self._whole = whole
        self._entries: list[_Member | _Status] = []
        self._tail: list[Element] = []

    async def add(self, ref: ItemRef, data: bytes | None) -> None:
        names = self._names
        res = Resource("item", item_href(self._req, self._family, self._coll, ref.name),
                       self._family, self._coll, ref)
        wanted = [n for n in names if n != self._data_prop] if names is not None else None
        found, missing = await values(self._req, res, wanted)
        self._entries.append(_Member(res.path, found, missing,
                                     data if self._wants_data else None))

    def status(self, path: str, status: int, *conditions: Element) -> None:
        self._entries.append(_Status(path, status, conditions))

    def append(self, e: Element) -> None:
        """An element after the responses (sync-collection's DAV:sync-token)."""
        self._tail.append(e)

    async def response(self) -> Response:
        body = await asyncio.to_thread(self._build)
        if body is None:
            raise DavError(507, within_limits())
        return xml_response(body, 207)

    def _build(self) -> bytes | None:
        """The whole answer, in the worker thread; None when ``whole`` and over budget."""
        ms = X.Multistatus()
        try:
            for entry in self._entries:
                if isinstance(entry, _Status):
                    ms.status(entry.path, entry.status, *entry.conditions)
                    continue
                found = entry.found
                if entry.data is not None:
                    found = [*found, _data_element(self._data_prop, entry.data, self._render,
                                                   self._budget)]
                ms.propstats(entry.path, [(200, found), (404, entry.missing)])
        except OverBudget:
            if self._whole:
                return None
            ms.status(self._req.path, 507, within_limits())
        for e in self._tail:
            ms.append(e)
        return ms.to_bytes()


def report_props(body: Element) -> list[str] | None:
    """The DAV:prop names a REPORT asks for (None: DAV:allprop or nothing given)."""
    prop = body.find(D + "prop")
    if prop is None:
        return [D + "getetag"] if body.find(D + "allprop") is None else None
    return [c.tag for c in prop if isinstance(c.tag, str)]


def member_name(req: DavRequest, family: str, coll: Collection, path: str) -> str | None:
    """The member name an href in a multiget names, None when it is not in this collection
    (RFC 4791 §7.9: such hrefs get their own 404 response)."""
    from urllib.parse import unquote, urlsplit
    base = collection_href(req, family, coll)
    p = unquote(urlsplit(path.strip()).path)
    b = unquote(base)
    if not p.startswith(b):
        return None
    name = p[len(b):]
    if not name or "/" in name:
        return None
    return name
