"""The DAV application: one ASGI callable for /dav/ and the two well-known paths.

Dispatches by method and URL family (see the package docstring for the layout). Every request
but OPTIONS and the well-known redirects is authenticated with HTTP Basic (RFC 7617) through
AuthService, as IMAP LOGIN is: the throttle waits first (``before``), a failure is logged,
counted and punished (``failed``), a success noted (``succeeded``), and app passwords work
because ``password`` accepts them. Passwords travel only inside TLS: on a plain listener Basic
is refused.

Errors are answered here, once: a service's MailError by its kind (404 with one fixed body
whatever the reason, so a hidden folder and a missing one look alike), a content refusal
(pim's InvalidItem) as 403 with its precondition element (RFC 4791 §5.3.2.1, RFC 6352
§6.3.2.1), bad XML as 400/413; nothing a client sends makes a 500.
"""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from postroom.core.errors import MailError
from postroom.core.principal import Principal
from postroom.pim.model import InvalidItem
from postroom.services.dav import Dav
from postroom.services.dav.model import PreconditionFailed, UidConflict
from postroom.web.basicauth import Refusal, authenticate
from postroom.web.context import WebServices, WebSettings
from postroom.web.dav import WELL_KNOWN, caldav, carddav, principal, props, resources, sync
from postroom.web.dav import xml as X
from postroom.web.dav.common import (
    DAV_HEADER,
    DavError,
    DavRequest,
    Target,
    error_response,
    mail_error_response,
    parse_target,
    quote_segment,
)
from postroom.web.guard import App, Receive, Scope, Send

log = logging.getLogger("postroom.dav")

REALM = 'Basic realm="Postroom", charset="UTF-8"'
Handler = Callable[[DavRequest], Awaitable[Response]]

ALLOW_COLLECTION = "OPTIONS, GET, HEAD, DELETE, PROPFIND, PROPPATCH, REPORT"  # GET: export
ALLOW_HOME = "OPTIONS, PROPFIND, PROPPATCH, REPORT, MKCALENDAR, MKCOL"
ALLOW_ITEM = "OPTIONS, GET, HEAD, PUT, DELETE, PROPFIND, PROPPATCH, COPY, MOVE"
ALLOW_OTHER = "OPTIONS, PROPFIND, PROPPATCH, REPORT"


def allow_for(target: Target) -> str:
    """RFC 7231 §7.4.1 Allow: the methods this kind of resource answers."""
    if target.kind in ("home",):
        return ALLOW_HOME
    if target.kind == "collection":
        return ALLOW_COLLECTION + ", PUT, MKCALENDAR, MKCOL"  # PUT/MK* on an unmapped name
    if target.kind == "item":
        return ALLOW_ITEM
    if target.kind in ("files", "box"):
        return ALLOW_COLLECTION + ", PUT, MKCOL, COPY, MOVE, LOCK, UNLOCK, POST"
    return ALLOW_OTHER


def _delegate(module: str, *extra: Any) -> Handler:
    """Another part's entry point (web/dav/files.py, web/dav/scheduling.py), looked up at
    call time so that this file does not depend on their progress; 501 until they exist."""
    async def run(req: DavRequest) -> Response:
        try:
            mod = importlib.import_module(f"postroom.web.dav.{module}")
        except ImportError:
            mod = None
        handle = getattr(mod, "handle", None)
        if handle is None:
            return error_response(501, text=f"{module} is not available yet")
        result: Response = await handle(req, *extra)
        return result
    return run


class DavApp:
    def __init__(self, services: WebServices, settings: WebSettings) -> None:
        assert services.dav is not None
        self.dav: Dav = services.dav
        self.services = services
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        started = time.perf_counter()
        request = Request(scope, receive)
        response = await self.answer(request)
        # the server's own time (bench/dav.py reads it as the webmail bench does)
        response.headers["Server-Timing"] = \
            f"app;dur={(time.perf_counter() - started) * 1000:.1f}"
        await response(scope, receive, send)

    async def answer(self, request: Request) -> Response:
        path = request.url.path
        method = request.method.upper()
        if path.rstrip("/") in WELL_KNOWN:
            # RFC 6764 §5: the well-known URIs redirect to the context path
            return Response(status_code=301, headers={"Location": "/dav/"})
        target = parse_target(path)
        if method == "OPTIONS":
            return Response(status_code=200, headers={
                "DAV": DAV_HEADER, "Allow": allow_for(target), "Content-Length": "0",
                "MS-Author-Via": "DAV"})
        principal_or_refusal = await self.authenticate(request)
        if isinstance(principal_or_refusal, Response):
            return principal_or_refusal
        req = DavRequest(request, principal_or_refusal, self.dav, self.settings)
        try:
            return await self.dispatch(req)
        except DavError as exc:
            return error_response(exc.status, *exc.conditions, text=exc.text,
                                  headers=exc.headers)
        except X.BadXml as exc:
            return error_response(exc.status, text=exc.text)
        except UidConflict as exc:
            # the other member's href only when the service named it (the caller may read)
            return error_response(403, X.elem(X.clark(*exc.precondition), None,
                                              *([X.href(_sibling(req, exc.name))]
                                                if exc.name else [])))
        except InvalidItem as exc:
            return error_response(403, X.elem(X.clark(*exc.precondition)), text=exc.text)
        except PreconditionFailed as exc:
            return error_response(412, text=str(exc))
        except MailError as exc:
            return mail_error_response(exc, path, _privilege_for(method))
        except NotImplementedError:
            log.warning("DAV: a part is not implemented yet", exc_info=True)
            return error_response(501, text="not implemented yet")

    async def authenticate(self, request: Request) -> Principal | Response:
        """HTTP Basic through AuthService (IMAP's rules, web/basicauth.py); a Response when
        refused."""
        found = await authenticate(request, self.services.auth, self.settings, "dav")
        if isinstance(found, Refusal):
            return error_response(found.status, text=found.text,
                                  headers={"WWW-Authenticate": REALM} if found.challenge
                                  else None)
        return found

    async def dispatch(self, req: DavRequest) -> Response:
        target = req.target
        method = req.method
        if target.kind == "files":
            return await _delegate("files")(req)
        if target.kind == "box":
            if not _own(req, target.user):
                raise DavError(404)
            return await _delegate("scheduling", target.segment)(req)
        if target.kind == "missing":
            raise DavError(404)
        if target.user and not _own(req, target.user):
            if target.kind == "principal" and method == "PROPFIND":
                return await principal.other_propfind(req)
            raise DavError(404)  # another user's home: not there for you
        if method == "PROPFIND":
            return await props.propfind(req)
        if method == "PROPPATCH":
            return await props.proppatch(req)
        if method == "REPORT":
            return await self.report(req)
        if method in ("MKCALENDAR", "MKCOL"):
            return await caldav.mkcollection(req)
        if method in ("GET", "HEAD", "PUT", "DELETE", "COPY", "MOVE"):
            return await resources.handle(req)
        raise DavError(405, headers={"Allow": allow_for(target)})

    async def report(self, req: DavRequest) -> Response:
        body = await req.xml()
        if body is None:
            raise DavError(400, text="REPORT needs a body")
        handlers: dict[str, Callable[[DavRequest, Any], Awaitable[Response]]] = {
            "{urn:ietf:params:xml:ns:caldav}calendar-query": caldav.calendar_query,
            "{urn:ietf:params:xml:ns:caldav}calendar-multiget": caldav.calendar_multiget,
            "{urn:ietf:params:xml:ns:caldav}free-busy-query": caldav.free_busy_query,
            "{urn:ietf:params:xml:ns:carddav}addressbook-query": carddav.addressbook_query,
            "{urn:ietf:params:xml:ns:carddav}addressbook-multiget": carddav.addressbook_multiget,
            "{DAV:}sync-collection": sync.sync_collection,
            "{DAV:}principal-property-search": principal.property_search,
            "{DAV:}principal-search-property-set": principal.search_property_set,
            "{DAV:}expand-property": principal.expand_property,
        }
        handler = handlers.get(body.tag)
        if handler is None:
            # RFC 3253 §3.6: a report the resource does not support
            raise DavError(403, X.elem("{DAV:}supported-report"))
        return await handler(req, body)


def _own(req: DavRequest, user: str) -> bool:
    return user.lower() == req.address.lower()


def _sibling(req: DavRequest, name: str) -> str:
    """The href of another member of the request's collection (no-uid-conflict names it)."""
    base = req.path.rsplit("/", 1)[0]
    return f"{base}/{quote_segment(name)}"


def _privilege_for(method: str) -> str:
    """The DAV privilege a refused method lacked (RFC 3744 §7.1.1 need-privileges)."""
    return {"PUT": "bind", "DELETE": "unbind", "PROPPATCH": "write-properties",
            "MKCALENDAR": "bind", "MKCOL": "bind", "GET": "read", "HEAD": "read",
            "PROPFIND": "read", "REPORT": "read"}.get(method, "")


def build(services: WebServices, settings: WebSettings) -> App:
    return DavApp(services, settings)
