"""What every part of web/dav/ shares: the request as DAV sees it, the URL layout parsed into
a target, and the error answers.

Kept apart from app.py (the dispatcher) so that the parts (props, caldav, carddav, sync,
principal, files, scheduling) import it without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote
from xml.etree.ElementTree import Element

from starlette.requests import Request
from starlette.responses import Response

from postroom.config_dav import DavConfig
from postroom.core.errors import Kind, MailError
from postroom.core.principal import Principal
from postroom.services.dav import Dav
from postroom.web.context import WebSettings
from postroom.web.dav import DAV_PREFIX
from postroom.web.dav import xml as X

XML_TYPE = "application/xml; charset=utf-8"
DAV_HEADER = ("1, 2, 3, access-control, calendar-access, addressbook, extended-mkcol, "
              "calendar-auto-schedule")
_SAFE = "/@:+=~-._!$&'(),;"


class DavError(Exception):
    """An answer other than success: ``status`` with the precondition elements (RFC 4918
    §16) in an error body, or a plain text body."""

    def __init__(self, status: int, *conditions: Element, text: str = "",
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(text or str(status))
        self.status = status
        self.conditions = conditions
        self.text = text
        self.headers = headers or {}


def quote_segment(segment: str) -> str:
    return quote(segment, safe=_SAFE.replace("/", ""))


def href(*segments: str, collection: bool = True) -> str:
    """/dav/<segments...>[/]: every segment percent-encoded (RFC 3986 §2.1)."""
    path = DAV_PREFIX + "/".join(quote_segment(s) for s in segments if s)
    if collection and not path.endswith("/"):
        path += "/"
    return path


@dataclass(frozen=True, slots=True)
class Target:
    """Where a path points in the layout (web/dav/__init__.py).

    ``kind``: root, principals, principal, family (e.g. /dav/calendars/), home, collection,
    item, box (scheduling inbox/outbox and below), files, missing."""

    kind: str
    family: str = ""
    user: str = ""
    segment: str = ""
    name: str = ""


FAMILIES = ("calendars", "addressbooks")


def parse_target(path: str) -> Target:
    """Split a decoded path into the layout's parts; "/" and "/dav" are the root."""
    if path in ("/", "/dav", DAV_PREFIX):
        return Target("root")
    if not path.startswith(DAV_PREFIX):
        return Target("missing")
    parts = [p for p in path[len(DAV_PREFIX):].split("/")]
    if parts and parts[-1] == "":
        parts.pop()
    if any(p in ("", ".", "..") for p in parts):
        return Target("missing")
    head = parts[0]
    if head == "files":
        return Target("files", "files", parts[1] if len(parts) > 1 else "")
    if head == "principals":
        if len(parts) == 1:
            return Target("principals")
        if len(parts) == 2:
            return Target("principal", user=parts[1])
        return Target("missing")
    if head not in FAMILIES:
        return Target("missing")
    if len(parts) == 1:
        return Target("family", head)
    user = parts[1]
    if len(parts) == 2:
        return Target("home", head, user)
    segment = parts[2]
    if head == "calendars" and segment in ("inbox", "outbox"):
        return Target("box", head, user, segment, "/".join(parts[3:]))
    if len(parts) == 3:
        return Target("collection", head, user, segment)
    if len(parts) == 4:
        return Target("item", head, user, segment, parts[3])
    return Target("missing")


class DavRequest:
    """One authenticated DAV request: what the parts need of it."""

    def __init__(self, request: Request, principal: Principal, dav: Dav,
                 settings: WebSettings) -> None:
        self.request = request
        self.principal = principal
        self.dav = dav
        self.settings = settings
        self.config: DavConfig = dav.config
        self.method = request.method.upper()
        self.path = request.url.path
        self.target = parse_target(self.path)
        self._body: bytes | None = None
        # (family, segment) -> the collection's href (props.collection_href)
        self.hrefs: dict[tuple[str, str], str] = {}

    @property
    def address(self) -> str:
        return self.principal.address or ""

    def header(self, name: str) -> str | None:
        return self.request.headers.get(name)

    def depth(self, default: str) -> str:
        """RFC 4918 §10.2: "0", "1" or "infinity"; anything else is a 400."""
        value = (self.header("depth") or default).strip().lower()
        if value not in ("0", "1", "infinity"):
            raise DavError(400, text="Depth must be 0, 1 or infinity")
        return value

    async def body(self, most: int) -> bytes:
        """The whole body, refused with 413 beyond ``most`` octets (the web guard bounds the
        stream as well)."""
        if self._body is None:
            chunks: list[bytes] = []
            size = 0
            async for chunk in self.request.stream():
                size += len(chunk)
                if size > most:
                    raise DavError(413, text=f"the body is larger than {most} octets")
                chunks.append(chunk)
            self._body = b"".join(chunks)
        return self._body

    async def xml(self) -> Element | None:
        """The body parsed safely (xml.py), None when empty; BadXml propagates to app.py."""
        body = await self.body(self.config.max_xml_size)
        return X.parse(body, self.config.max_xml_size, self.config.max_xml_depth)

    def principal_href(self, address: str | None = None) -> str:
        return href("principals", address or self.address)

    def home_href(self, family: str, address: str | None = None) -> str:
        return href(family, address or self.address)


def xml_response(body: bytes, status: int = 207, headers: dict[str, str] | None = None,
                 ) -> Response:
    return Response(body, status_code=status, media_type=XML_TYPE, headers=headers)


def multistatus(ms: X.Multistatus, headers: dict[str, str] | None = None) -> Response:
    return xml_response(ms.to_bytes(), 207, headers)


NOT_FOUND_BODY = b"Not Found\n"


def error_response(status: int, *conditions: Element, text: str = "",
                   headers: dict[str, str] | None = None) -> Response:
    """An error answer. 404 always has the same body, whatever the reason (missing, or
    hidden by the ACL: DESIGN.md §9, "a folder the user may not see is 404 exactly like a
    missing one")."""
    if status == 404:
        return Response(NOT_FOUND_BODY, status_code=404, media_type="text/plain",
                        headers=headers)
    if conditions:
        return xml_response(X.error(*conditions), status, headers)
    body = (text or X.REASONS.get(status, "Error")).replace("\n", " ")[:500] + "\n"
    return Response(body.encode(), status_code=status,
                    media_type="text/plain; charset=utf-8", headers=headers)


def mail_error_status(exc: MailError) -> int:
    return {Kind.NOT_FOUND: 404, Kind.NO_PERM: 403, Kind.EXISTS: 405, Kind.INVALID: 400,
            Kind.OVER_QUOTA: 507, Kind.LIMIT: 507, Kind.IN_USE: 409, Kind.DISABLED: 403,
            Kind.AUTH_FAILED: 401, Kind.AUTH_REQUIRED: 401, Kind.UNAVAILABLE: 503,
            Kind.TEMPORARY: 503}.get(exc.kind, 403)


def mail_error_response(exc: MailError, path: str, privilege: str = "") -> Response:
    """A service's refusal as DAV says it: 403 with need-privileges (RFC 3744 §7.1.1) when
    the privilege is known, 507 with quota-not-exceeded (RFC 4331 §6) for the quota."""
    status = mail_error_status(exc)
    if exc.kind is Kind.NO_PERM and privilege:
        return error_response(403, X.need_privileges(path, privilege))
    if exc.kind is Kind.OVER_QUOTA:
        return error_response(507, X.elem("{DAV:}quota-not-exceeded"))
    if exc.kind is Kind.LIMIT:
        return error_response(507, X.elem("{DAV:}number-of-matches-within-limits"))
    return error_response(status, text=exc.text)
