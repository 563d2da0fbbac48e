"""CalDAV's own methods and reports (RFC 4791): MKCALENDAR (§5.3.1) and extended MKCOL
(RFC 5689) for both families, calendar-query (§7.8), calendar-multiget (§7.9),
free-busy-query (§7.10), and the calendar-data element (§9.6) with expand (§9.6.5).

This module only turns XML into pim.filters values and answers into XML; the index
pre-filtering and the matching are the service's (services/dav/items.py) and pim's.
"""

from __future__ import annotations

import asyncio
import calendar
import re
from xml.etree.ElementTree import Element

from starlette.responses import Response

from postroom.core.errors import Kind, MailError
from postroom.pim import query
from postroom.pim.filters import (
    CalendarDataRequest,
    CompFilter,
    ParamFilter,
    PropFilter,
    TextMatch,
    TimeRange,
)
from postroom.pim.freebusy import vfreebusy
from postroom.pim.recurrence import Budget
from postroom.services.dav.collections import COMPONENTS_PROP, DISPLAYNAME
from postroom.services.dav.model import Collection
from postroom.web.dav import props
from postroom.web.dav import xml as X
from postroom.web.dav.common import DavError, DavRequest, xml_response
from postroom.web.dav.xml import CALDAV, CARDDAV, elem

D = "{DAV:}"
C = "{" + CALDAV + "}"
CARD = "{" + CARDDAV + "}"
_UTC = re.compile(r"^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$")
KIND_OF_COMPONENTS: dict[tuple[str, ...], str] = {("VTODO",): "tasks", ("VJOURNAL",): "notes"}


def valid_filter(text: str) -> DavError:
    return DavError(403, elem(C + "valid-filter"), text=text)


def utc_time(value: str | None, what: str) -> int | None:
    """RFC 4791 §9.9: "date with UTC time" (19970714T170000Z) to epoch seconds."""
    if value is None:
        return None
    m = _UTC.match(value.strip())
    if not m:
        raise valid_filter(f"{what} must be a UTC date-time like 20260101T000000Z")
    y, mo, d, h, mi, s = (int(g) for g in m.groups())
    try:
        return calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0))
    except (ValueError, OverflowError):
        raise valid_filter(f"{what} is not a date") from None


def time_range(e: Element | None) -> TimeRange | None:
    if e is None:
        return None
    start = utc_time(e.get("start"), "start")
    end = utc_time(e.get("end"), "end")
    if start is None and end is None:
        raise valid_filter("a time-range needs start or end")
    if start is not None and end is not None and end <= start:
        raise valid_filter("a time-range must end after it starts")
    return TimeRange(start, end)


def text_match(e: Element, ns: str) -> TextMatch:
    collation = e.get("collation") or "i;ascii-casemap"
    if not query.supported_collation(collation):
        raise DavError(403, elem(("{" + ns + "}") + "supported-collation"),
                       text=f"unsupported collation {collation[:40]}")
    match_type = e.get("match-type") or "contains"
    if match_type not in ("equals", "contains", "starts-with", "ends-with"):
        raise DavError(400, text="match-type must be equals, contains, starts-with or "
                       "ends-with")
    return TextMatch(text=e.text or "", collation=collation,
                     negate=(e.get("negate-condition") or "no").lower() == "yes",
                     match_type=match_type)


def param_filter(e: Element, ns: str) -> ParamFilter:
    q = "{" + ns + "}"
    name = e.get("name")
    if not name:
        raise DavError(400, text="param-filter needs a name")
    tm = e.find(q + "text-match")
    return ParamFilter(name=name.upper(), is_not_defined=e.find(q + "is-not-defined") is not None,
                       text_match=text_match(tm, ns) if tm is not None else None)


def prop_filter(e: Element, ns: str) -> PropFilter:
    q = "{" + ns + "}"
    name = e.get("name")
    if not name:
        raise DavError(400, text="prop-filter needs a name")
    test = (e.get("test") or "anyof").lower()
    if test not in ("anyof", "allof"):
        raise DavError(400, text="test must be anyof or allof")
    return PropFilter(
        name=name.upper(), is_not_defined=e.find(q + "is-not-defined") is not None,
        time_range=time_range(e.find(q + "time-range")) if ns == CALDAV else None,
        text_matches=tuple(text_match(t, ns) for t in e.findall(q + "text-match")),
        param_filters=tuple(param_filter(p, ns) for p in e.findall(q + "param-filter")),
        test=test)


def comp_filter(e: Element) -> CompFilter:
    """RFC 4791 §9.7.1."""
    name = e.get("name")
    if not name:
        raise valid_filter("comp-filter needs a name")
    return CompFilter(
        name=name.upper(), is_not_defined=e.find(C + "is-not-defined") is not None,
        time_range=time_range(e.find(C + "time-range")),
        prop_filters=tuple(prop_filter(p, CALDAV) for p in e.findall(C + "prop-filter")),
        comp_filters=tuple(comp_filter(c) for c in e.findall(C + "comp-filter")))


def calendar_filter(body: Element) -> CompFilter:
    f = body.find(C + "filter")
    if f is None:
        raise valid_filter("calendar-query needs a filter")
    top = f.findall(C + "comp-filter")
    if len(top) != 1 or (top[0].get("name") or "").upper() != "VCALENDAR":
        raise valid_filter("the filter's one comp-filter must be VCALENDAR")
    return comp_filter(top[0])


def data_request(names: list[str] | None, body: Element) -> CalendarDataRequest | None:
    """RFC 4791 §9.6: what the calendar-data element of the prop asks for; None when it
    asks for the object as stored."""
    prop = body.find(D + "prop")
    cd = prop.find(C + "calendar-data") if prop is not None else None
    if cd is None:
        return None
    expand = time_range(cd.find(C + "expand"))
    limit = time_range(cd.find(C + "limit-recurrence-set"))
    limit_fb = time_range(cd.find(C + "limit-freebusy-set"))
    comps: dict[str, tuple[str, ...] | None] | None = None
    top = cd.find(C + "comp")
    if top is not None:
        comps = {}
        _comp_selection(top, comps)
    if expand is None and limit is None and limit_fb is None and comps is None:
        return None
    return CalendarDataRequest(expand=expand, limit_recurrence=limit,
                               limit_freebusy=limit_fb, components=comps)


def _comp_selection(e: Element, out: dict[str, tuple[str, ...] | None]) -> None:
    name = (e.get("name") or "").upper()
    if not name:
        return
    if e.find(C + "allprop") is not None:
        out[name] = None
    else:
        out[name] = tuple((p.get("name") or "").upper() for p in e.findall(C + "prop"))
    for sub in e.findall(C + "comp"):
        _comp_selection(sub, out)
    if e.find(C + "allcomp") is not None:
        for comp in ("VEVENT", "VTODO", "VJOURNAL", "VFREEBUSY", "VTIMEZONE", "VALARM"):
            out.setdefault(comp, None)


def renderer(req: DavRequest, request: CalendarDataRequest | None,
             spend: Budget | None = None) -> props.DataRenderer:
    """calendar-data as ``request`` asks, each instance an expansion makes spent from the
    request's budget (``spend``; a fresh one when not given): N items, or N hrefs, cost the
    request at most web.dav.max_request_instances, not N x web.dav.max_instances."""
    most = req.config.max_instances
    total = spend if spend is not None else props.budget(req)

    def render(data: bytes) -> Element:
        out = data if request is None else query.calendar_data(
            data, request, max_instances=most, budget=total)
        return elem(C + "calendar-data", out.decode("utf-8", "replace"))
    return render


async def _calendar(req: DavRequest) -> Collection:
    t = req.target
    if t.kind != "collection" or t.family != "calendars":
        raise DavError(403, elem(D + "supported-report"),
                       text="calendar reports are for calendar collections")
    return await req.dav.collections.get(req.principal, t.family, t.segment)


async def calendar_query(req: DavRequest, body: Element) -> Response:
    coll = await _calendar(req)
    flt = calendar_filter(body)
    names = props.report_props(body)
    spend = props.budget(req)
    report = props.Report(req, "calendars", coll, names, C + "calendar-data",
                          renderer(req, data_request(names, body), spend), spend)
    # without calendar-data asked for (a client's getetag round before its multiget) the
    # index may answer alone: no item is read
    with_data = names is None or C + "calendar-data" in names
    for item in await req.dav.items.query_calendar(req.principal, coll, flt,
                                                   with_data=with_data):
        await report.add(item.ref, item.data)
    return await report.response()


async def calendar_multiget(req: DavRequest, body: Element) -> Response:
    coll = await _calendar(req)
    spend = props.budget(req)
    return await multiget(req, body, coll, "calendars", C + "calendar-data",
                          renderer(req, data_request(props.report_props(body), body), spend),
                          spend)


async def multiget(req: DavRequest, body: Element, coll: Collection, family: str,
                   data_prop: str, render: props.DataRenderer,
                   spend: Budget | None = None) -> Response:
    """RFC 4791 §7.9 / RFC 6352 §8.7: the named members, 404 for the others. Hrefs are
    keyed by the member they resolve to: ``a.ics``, ``a.ics?1`` and ``./a.ics`` name one
    member, answered once (otherwise one stored item, named many times over, would be
    rendered as often as the client likes)."""
    hrefs = [X.text_of(h) for h in body.findall(D + "href")]
    if len(hrefs) > req.config.max_multiget:
        raise DavError(403, elem(D + "number-of-matches-within-limits"),
                       text=f"at most {req.config.max_multiget} hrefs per multiget")
    names = props.report_props(body)
    # keyed by the member (or, for an href outside the collection, the href itself)
    wanted: dict[tuple[bool, str], tuple[str, str | None]] = {}
    for h in hrefs:
        name = props.member_name(req, family, coll, h)
        wanted.setdefault((True, name) if name else (False, h), (h, name))
    found = await req.dav.items.get_many(req.principal, coll,
                                         sorted({n for _, n in wanted.values() if n}))
    report = props.Report(req, family, coll, names, data_prop, render,
                          spend if spend is not None else props.budget(req))
    for h, name in wanted.values():
        item = found.get(name) if name else None
        if item is None:
            report.status(h, 404)
            continue
        await report.add(item.ref, item.data)
    return await report.response()


async def free_busy_query(req: DavRequest, body: Element) -> Response:
    """RFC 4791 §7.10: a VFREEBUSY of the collection's busy time (200 text/calendar)."""
    coll = await _calendar(req)
    span = time_range(body.find(C + "time-range"))
    if span is None:
        raise DavError(400, text="free-busy-query needs a time-range")
    try:
        periods = await req.dav.items.freebusy(req.principal, coll, span)
    except MailError as exc:
        if exc.kind is Kind.LIMIT:  # past max_results or web.dav.max_request_instances
            raise DavError(507, props.within_limits(), text=exc.text) from None
        raise
    # the VFREEBUSY of up to max_request_instances periods: built off the event loop too
    data = await asyncio.to_thread(vfreebusy, periods, span)
    return Response(data, status_code=200, media_type="text/calendar; charset=utf-8")


# -- MKCALENDAR and extended MKCOL --------------------------------------------------------------

def _set_props(body: Element | None) -> list[Element]:
    if body is None:
        return []
    out: list[Element] = []
    for action in body.findall(D + "set"):
        prop = action.find(D + "prop")
        if prop is not None:
            out.extend(prop)
    return out


async def mkcollection(req: DavRequest) -> Response:
    """MKCALENDAR (RFC 4791 §5.3.1) and extended MKCOL (RFC 5689 §3) in the viewer's home:
    the collection and its initial properties at once."""
    t = req.target
    if t.kind != "collection":
        raise DavError(405 if t.kind in ("home", "item") else 403,
                       text="collections are made directly below one's home")
    body = await req.xml()
    if body is not None and body.tag not in (C + "mkcalendar", D + "mkcol"):
        raise DavError(415 if req.method == "MKCOL" else 400, text="unexpected body")
    given = _set_props(body)
    kind = "contacts" if t.family == "addressbooks" else "calendar"
    values: dict[str, str] = {}
    bad: list[Element] = []
    for p in given:
        if p.tag == D + "resourcetype":
            types = {c.tag for c in p}
            if (t.family == "calendars" and C + "calendar" not in types) or \
                    (t.family == "addressbooks" and CARD + "addressbook" not in types):
                bad.append(p)
        elif p.tag == C + "supported-calendar-component-set":
            comps = tuple(sorted({(c.get("name") or "").upper() for c in p.findall(C + "comp")}))
            if t.family != "calendars" or not comps or any(
                    c not in ("VEVENT", "VTODO", "VJOURNAL") for c in comps):
                bad.append(p)
                continue
            kind = KIND_OF_COMPONENTS.get(comps, "calendar")
            if comps not in (("VEVENT",), ("VTODO",), ("VJOURNAL",)):
                values[COMPONENTS_PROP] = ",".join(comps)
        elif p.tag in props.PROTECTED:
            bad.append(p)
        else:
            values[p.tag] = props.value_text(p)
    if req.method == "MKCOL" and body is None:
        raise DavError(403, elem(D + "valid-resourcetype"),
                       text="plain MKCOL makes no calendar or address book here")
    if req.method == "MKCALENDAR" and t.family != "calendars":
        raise DavError(403, elem(C + "calendar-collection-location-ok"))
    if bad:
        # RFC 5689 §3, RFC 4791 §5.3.1: nothing is made; the answer says, per property,
        # which ones could not be set (403) and which failed with them (424)
        bad_names = {b.tag for b in bad}
        answer = elem(D + "mkcol-response" if req.method == "MKCOL"
                      else C + "mkcalendar-response")
        for status, names in ((403, [b.tag for b in bad]),
                              (424, [p.tag for p in given if p.tag not in bad_names])):
            if names:
                answer.append(elem(D + "propstat", None,
                                   elem(D + "prop", None, *(elem(n) for n in names)),
                                   elem(D + "status", X.status_line(status))))
        return xml_response(X.serialize(answer), 403)
    if DISPLAYNAME in values:
        values[DISPLAYNAME] = values[DISPLAYNAME].strip()
    await req.dav.collections.create(req.principal, t.family, t.segment, kind, values)
    return Response(status_code=201, headers={"Cache-Control": "no-cache"})
