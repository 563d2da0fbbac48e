"""XML for DAV: safe parsing of request bodies and the builders of answers (RFC 4918 §14).

Request bodies come from anyone who can reach the listener, authenticated or not, so parsing
is defensive: defusedxml refuses any DTD (and so every entity, internal or external: the
"billion laughs" and ``<!ENTITY x SYSTEM "file:///etc/passwd">`` never expand, and nothing is
fetched), the body is bounded by ``web.dav.max_xml_size`` before it is parsed, and the element
depth by ``web.dav.max_xml_depth`` while it is parsed (the tree builder counts, so a deeply
nested body stops at the limit rather than after building the tree).

Names are Clark names throughout (``{DAV:}displayname``); answers are serialised with fixed
prefixes (``D``, ``C``, ``CARD``, ``CS``, ``ICAL``) declared once on the root element, because
some clients (older iOS, Evolution) mis-handle prefixes redeclared on every element.
"""

from __future__ import annotations

from collections.abc import Iterable
from xml.etree.ElementTree import Element, ParseError, SubElement, TreeBuilder

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

DAV = "DAV:"
CALDAV = "urn:ietf:params:xml:ns:caldav"
CARDDAV = "urn:ietf:params:xml:ns:carddav"
CS = "http://calendarserver.org/ns/"
APPLE = "http://apple.com/ns/ical/"
XML_NS = "http://www.w3.org/XML/1998/namespace"

PREFIXES: dict[str, str] = {DAV: "D", CALDAV: "C", CARDDAV: "CARD", CS: "CS", APPLE: "ICAL"}

REASONS: dict[int, str] = {
    200: "OK", 201: "Created", 204: "No Content", 207: "Multi-Status", 301: "Moved Permanently",
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 409: "Conflict", 412: "Precondition Failed",
    413: "Payload Too Large", 415: "Unsupported Media Type", 423: "Locked",
    424: "Failed Dependency", 500: "Internal Server Error", 501: "Not Implemented",
    502: "Bad Gateway", 507: "Insufficient Storage"}


class BadXml(Exception):
    """The body is not XML we accept: ``status`` 400 (malformed, DTD, entities, too deep) or
    413 (too large)."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text


def clark(ns: str, local: str) -> str:
    return f"{{{ns}}}{local}"


def split(name: str) -> tuple[str, str]:
    """(namespace, local name) of a Clark name; ("", name) without a namespace."""
    if name.startswith("{") and "}" in name:
        ns, local = name[1:].split("}", 1)
        return ns, local
    return "", name


def status_line(status: int) -> str:
    return f"HTTP/1.1 {status} {REASONS.get(status, 'Unknown')}"


class _DepthLimited(TreeBuilder):
    """A tree builder that refuses nesting deeper than ``limit`` as it goes."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self._limit = limit
        self._depth = 0

    def start(self, tag: str, attrs: dict[str, str]) -> Element:
        self._depth += 1
        if self._depth > self._limit:
            raise BadXml(400, f"the XML body nests deeper than {self._limit} elements")
        return super().start(tag, attrs)

    def end(self, tag: str) -> Element:
        self._depth -= 1
        return super().end(tag)


def parse(body: bytes, max_size: int, max_depth: int) -> Element | None:
    """The root element of ``body``, or None for an empty body (RFC 4918 §9.1: an empty
    PROPFIND means allprop). Raises ``BadXml``."""
    if len(body) > max_size:
        raise BadXml(413, f"the XML body is larger than {max_size} octets")
    if not body.strip():
        return None
    builder = _DepthLimited(max_depth)
    try:
        parser = DefusedXMLParser(target=builder, forbid_dtd=True, forbid_entities=True,
                                  forbid_external=True)
        parser.feed(body)
        root = parser.close()
    except BadXml:
        raise
    except DefusedXmlException:
        raise BadXml(400, "DTDs and entities are not accepted in DAV requests") from None
    except (ParseError, ValueError, UnicodeError, LookupError) as exc:
        raise BadXml(400, f"malformed XML: {str(exc)[:200]}") from None
    if not isinstance(root, Element):
        raise BadXml(400, "malformed XML: no root element")
    return root


def child(parent: Element, name: str) -> Element | None:
    return parent.find(name)


def text_of(elem: Element | None) -> str:
    """All text inside ``elem`` (its descendants' too), stripped."""
    return "".join(elem.itertext()).strip() if elem is not None else ""


# -- building answers -------------------------------------------------------------------------

def elem(name: str, text: str | None = None, *children: Element) -> Element:
    e = Element(name)
    if text is not None:
        e.text = text
    e.extend(children)
    return e


def href(path: str) -> Element:
    return elem("{DAV:}href", path)


def _escape(text: str, attr: bool = False) -> str:
    out = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    out = out.replace("\r", "&#13;")
    if attr:
        out = out.replace('"', "&quot;").replace("\n", "&#10;")
    return out


def _collect(root: Element, found: dict[str, str]) -> None:
    seen: set[str] = set()
    for e in root.iter():
        for name in (e.tag, *e.attrib) if e.attrib else (e.tag,):
            if name in seen:
                continue
            seen.add(name)
            ns, _ = split(name)
            if ns and ns not in found:
                found[ns] = PREFIXES.get(ns) or f"x{len(found)}"


class _Writer:
    """Renders a tree with fixed prefixes; each Clark name is turned into its prefixed form
    once per document (a multistatus repeats a handful of names thousands of times)."""

    def __init__(self, names: dict[str, str]) -> None:
        self.names = names
        self.qnames: dict[str, str] = {}
        self.out: list[str] = []

    def qname(self, clark_name: str) -> str:
        q = self.qnames.get(clark_name)
        if q is None:
            ns, local = split(clark_name)
            q = f"{self.names[ns]}:{local}" if ns else local
            self.qnames[clark_name] = q
        return q

    def render(self, e: Element, declare: str = "") -> None:
        out = self.out
        tag = self.qname(e.tag)
        attrs = "".join(f' {self.qname(k)}="{_escape(v, True)}"' for k, v in e.attrib.items()) \
            if e.attrib else ""
        if len(e) == 0 and not e.text:
            out.append(f"<{tag}{declare}{attrs}/>")
        else:
            out.append(f"<{tag}{declare}{attrs}>")
            if e.text:
                out.append(_escape(e.text))
            for c in e:
                self.render(c)
            out.append(f"</{tag}>")
        if e.tail:
            out.append(_escape(e.tail))


def serialize(root: Element) -> bytes:
    """The document, UTF-8, with every namespace declared once on the root."""
    names: dict[str, str] = {}
    _collect(root, names)
    # the xml prefix is bound by definition and must never be declared (Namespaces in XML
    # §3): xml:lang on a dead property stays xml:lang
    names.pop(XML_NS, None)
    declare = "".join(f' xmlns:{p}="{_escape(ns, True)}"' for ns, p in names.items())
    names[XML_NS] = "xml"
    writer = _Writer(names)
    writer.out.append('<?xml version="1.0" encoding="utf-8"?>\n')
    writer.render(root, declare)
    return "".join(writer.out).encode()


def fragment(e: Element) -> str:
    """One element as XML text with its own namespace declarations (dead properties are
    stored this way: store/repo/dav.py keeps text, not trees)."""
    return serialize(e).split(b"\n", 1)[1].decode()


def parse_fragment(text: str) -> Element | None:
    """The element ``fragment`` stored; None when the text is not one."""
    try:
        return parse(text.encode(), 1 << 24, 1000)
    except BadXml:
        return None


def error(*conditions: Element) -> bytes:
    """An RFC 4918 §16 error body: ``<D:error>`` with the precondition elements."""
    return serialize(elem("{DAV:}error", None, *conditions))


def need_privileges(path: str, privilege: str) -> Element:
    """RFC 3744 §7.1.1: which privilege on which resource was missing."""
    return elem("{DAV:}need-privileges", None, elem(
        "{DAV:}resource", None, href(path),
        elem("{DAV:}privilege", None, elem(clark(DAV, privilege)))))


class Multistatus:
    """An RFC 4918 §13 multistatus answer, built response by response."""

    def __init__(self) -> None:
        self.root = Element("{DAV:}multistatus")
        self.count = 0

    def propstats(self, path: str, groups: Iterable[tuple[int, list[Element]]],
                  description: str = "", errors: dict[int, Element] | None = None) -> None:
        """One ``response`` with a ``propstat`` per (status, properties) group; empty groups
        are left out (RFC 4918 §14.22). ``errors``: the precondition a group's status
        carries (RFC 4918 §14.5, e.g. 403 cannot-modify-protected-property)."""
        resp = SubElement(self.root, "{DAV:}response")
        resp.append(href(path))
        for status, props in groups:
            if not props:
                continue
            ps = SubElement(resp, "{DAV:}propstat")
            SubElement(ps, "{DAV:}prop").extend(props)
            SubElement(ps, "{DAV:}status").text = status_line(status)
            if errors and status in errors:
                ps.append(elem("{DAV:}error", None, errors[status]))
        if description:
            SubElement(resp, "{DAV:}responsedescription").text = description
        self.count += 1

    def status(self, path: str, status: int, *conditions: Element) -> None:
        """One ``response`` with a bare status (a missing member, a removal in a sync
        report: RFC 6578 §3.5.2), and the error element when there is a precondition."""
        resp = SubElement(self.root, "{DAV:}response")
        resp.append(href(path))
        SubElement(resp, "{DAV:}status").text = status_line(status)
        if conditions:
            resp.append(elem("{DAV:}error", None, *conditions))
        self.count += 1

    def append(self, e: Element) -> None:
        self.root.append(e)

    def to_bytes(self) -> bytes:
        return serialize(self.root)
