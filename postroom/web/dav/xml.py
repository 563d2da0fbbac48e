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
from xml.etree.ElementTree import Element, ParseError, TreeBuilder

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
    if not attr and "&" not in text and "<" not in text and ">" not in text \
            and "\r" not in text:
        return text  # the common case (hrefs, ETags, status lines): nothing to replace
    out = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    out = out.replace("\r", "&#13;")
    if attr:
        out = out.replace('"', "&quot;").replace("\n", "&#10;")
    return out


class _Writer:
    """Renders elements with fixed prefixes into a list of strings.

    A namespace gets its prefix when it is first met, in document order: its fixed one
    (PREFIXES) or ``x<n>``, n the number of namespaces met before it. The declarations are
    written last, on the root (``document``), so a multistatus can be written response by
    response without first walking a whole tree to collect them. Each Clark name is turned
    into its prefixed form once per document (a multistatus repeats a handful of names
    thousands of times). The xml prefix is bound by definition and never declared
    (Namespaces in XML §3): xml:lang on a dead property stays xml:lang."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self.qnames: dict[str, str] = {}
        self.out: list[str] = []

    def qname(self, clark_name: str) -> str:
        q = self.qnames.get(clark_name)
        if q is None:
            ns, local = split(clark_name)
            if ns:
                prefix = self.names.get(ns)
                if prefix is None:
                    prefix = "xml" if ns == XML_NS else PREFIXES.get(ns) or f"x{len(self.names)}"
                    self.names[ns] = prefix
                q = f"{prefix}:{local}"
            else:
                q = local
            self.qnames[clark_name] = q
        return q

    def attributes(self, e: Element) -> str:
        if not e.attrib:
            return ""
        return "".join(f' {self.qname(k)}="{_escape(v, True)}"' for k, v in e.attrib.items())

    def render(self, e: Element) -> None:
        out = self.out
        tag = self.qname(e.tag)
        attrs = self.attributes(e)
        if len(e) == 0 and not e.text:
            out.append(f"<{tag}{attrs}/>")
        else:
            out.append(f"<{tag}{attrs}>")
            if e.text:
                out.append(_escape(e.text))
            for c in e:
                self.render(c)
            out.append(f"</{tag}>")
        if e.tail:
            out.append(_escape(e.tail))

    def document(self, root: str, attrs: str = "") -> bytes:
        """The XML declaration and the root element ``root`` (a Clark name, its prefix taken
        first) with ``attrs`` (from ``attributes``), every namespace met declared, and what
        was rendered so far inside it."""
        tag = self.qname(root)
        declare = "".join(f' xmlns:{p}="{_escape(ns, True)}"'
                          for ns, p in self.names.items() if ns != XML_NS)
        head = f'<?xml version="1.0" encoding="utf-8"?>\n<{tag}{declare}{attrs}'
        if not self.out:
            return f"{head}/>".encode()
        return "".join([head, ">", *self.out, f"</{tag}>"]).encode()


def serialize(root: Element) -> bytes:
    """The document, UTF-8, with every namespace declared once on the root."""
    writer = _Writer()
    writer.qname(root.tag)
    attrs = writer.attributes(root)
    if root.text:
        writer.out.append(_escape(root.text))
    for c in root:
        writer.render(c)
    return writer.document(root.tag, attrs)


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
    """An RFC 4918 §13 multistatus answer, written response by response.

    Each response is rendered when it is added (the DAV:response, href, propstat and status
    wrappers as text, the properties through ``_Writer``), not kept as a tree to be walked
    again at the end: a report of thousands of members was spending most of its time
    building and re-walking ElementTree nodes for the same few wrapper elements. The output
    is the one ``serialize`` gives for the equivalent tree (tests/unit/test_dav_xml.py)."""

    def __init__(self) -> None:
        self._writer = _Writer()
        self._writer.qname(MULTISTATUS)  # DAV: is the first namespace, "D" its prefix
        self.count = 0

    def propstats(self, path: str, groups: Iterable[tuple[int, list[Element]]],
                  description: str = "", errors: dict[int, Element] | None = None) -> None:
        """One ``response`` with a ``propstat`` per (status, properties) group; empty groups
        are left out (RFC 4918 §14.22). ``errors``: the precondition a group's status
        carries (RFC 4918 §14.5, e.g. 403 cannot-modify-protected-property)."""
        w = self._writer
        out = w.out
        out.append(_RESPONSE)
        out.append(_href_text(path))
        for status, props in groups:
            if not props:
                continue
            out.append("<D:propstat><D:prop>")
            for prop in props:
                w.render(prop)
            out.append(_STATUS_IN_PROPSTAT.get(status) or
                       f"</D:prop><D:status>{_escape(status_line(status))}</D:status>")
            if errors and status in errors:
                w.render(elem("{DAV:}error", None, errors[status]))
            out.append("</D:propstat>")
        if description:
            out.append(f"<D:responsedescription>{_escape(description)}"
                       "</D:responsedescription>")
        out.append("</D:response>")
        self.count += 1

    def status(self, path: str, status: int, *conditions: Element) -> None:
        """One ``response`` with a bare status (a missing member, a removal in a sync
        report: RFC 6578 §3.5.2), and the error element when there is a precondition."""
        out = self._writer.out
        out.append(_RESPONSE)
        out.append(_href_text(path))
        out.append(f"<D:status>{_escape(status_line(status))}</D:status>")
        if conditions:
            self._writer.render(elem("{DAV:}error", None, *conditions))
        out.append("</D:response>")
        self.count += 1

    def append(self, e: Element) -> None:
        self._writer.render(e)

    def to_bytes(self) -> bytes:
        return self._writer.document(MULTISTATUS)


MULTISTATUS = "{DAV:}multistatus"
_RESPONSE = "<D:response>"
# "</D:prop><D:status>HTTP/1.1 200 OK</D:status>" and the like, made once
_STATUS_IN_PROPSTAT = {code: f"</D:prop><D:status>{status_line(code)}</D:status>"
                       for code in REASONS}


def _href_text(path: str) -> str:
    """A DAV:href element as text (what rendering ``href(path)`` gives)."""
    return f"<D:href>{_escape(path)}</D:href>" if path else "<D:href/>"
