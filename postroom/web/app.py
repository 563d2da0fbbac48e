"""One ASGI application per HTTP listener, assembled from the areas that listener serves.

The registry (postroom/registry.py) gives every web listener a front-end name:

- ``web-admin`` (port 1000, TLS): the operations endpoints (web/ops.py), and behind the
  session layer (web/session.py) the login and self-service pages (web/auth/), WebAdmin's
  pages (web/pages/), the JSON API under /api/v1 (web/api/) and /static;
- ``web`` (443, and 3000): client autoconfiguration (web/autoconfig.py), and behind the
  session layer of the realm "webmail" the same login pages and webmail (web/webmail/) under
  /webmail/ (``/`` sends a browser there); DAV and ActiveSync mount here later;
- ``web-plain`` (80): a 308 redirect to HTTPS for every path except those that must answer in
  plain HTTP: Thunderbird's autoconfig (clients try ``http://autoconfig.<domain>/`` first) and
  the ACME HTTP-01 challenge (RFC 8555 §8.3), answered from the pending challenges of the
  ACME client (services/acme/challenges.py), 404 for any other token.

Every application is wrapped in web/guard.py (security headers, body limit, no tracebacks).
Front-ends get ``WebServices`` (web/context.py): services only, never the store.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from postroom.core.errors import MailError
from postroom.services.acme.challenges import ChallengeStore
from postroom.web import api, auth, pages, session, webmail
from postroom.web import dav as dav_area
from postroom.web.api.framework import PREFIX as API_PREFIX
from postroom.web.autoconfig import autoconfig_routes
from postroom.web.context import WebServices, WebSettings
from postroom.web.dav import app as dav_app
from postroom.web.eas import PATH as EAS_PATH
from postroom.web.eas import app as eas_app
from postroom.web.forms import FormLimits, status_of
from postroom.web.guard import App, Guard, TooLarge
from postroom.web.identity import LoginRequired
from postroom.web.ops import ops_routes
from postroom.web.problems import error_response, wants_problem
from postroom.web.templating import static_mount

# Paths plain HTTP serves itself instead of redirecting (docs/web.md)
PLAIN_PATHS = ("/.well-known/autoconfig/", "/mail/config-v1.1.xml",
               "/.well-known/acme-challenge/")
_HOST = re.compile(r"^[A-Za-z0-9.-]{1,253}$")
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")  # base64url (RFC 8555 §8.1)


def build(front_end: str, services: WebServices, settings: WebSettings) -> App:
    routes: list[BaseRoute] = []
    if front_end == "web-admin":
        routes += ops_routes(services.health, services.metrics, settings.ops_networks)
        routes += auth.routes(services, settings)
        routes += pages.routes(services, settings)
        routes += api.routes(services, settings)
        routes.append(static_mount())
        admin = _starlette(routes)
        admin.state.form_limits = FormLimits(settings.form_max_field, settings.form_max_fields)
        # API imports of whole .ics/.vcf files stream under their own limit
        imports = ((f"{API_PREFIX}/groupware/", services.dav.config.max_import_size),) \
            if services.dav is not None else ()
        return _guarded(session.wrap(admin, services, settings, "webadmin"), settings, imports)
    else:
        eas_url = ""
        if services.eas is not None and front_end == "web":
            port = settings.https_port
            eas_url = f"https://{settings.hostname}{'' if port in (0, 443) else f':{port}'}" \
                + EAS_PATH
        routes += autoconfig_routes(services.client_config, eas_url)
        routes.append(Route("/.well-known/acme-challenge/{token}",
                            _challenge_route(services.acme_challenges)))
    if front_end == "web-plain":
        return _guarded(_redirecting(routes, settings), settings)
    plain: App = _starlette(routes)
    limits: tuple[tuple[str, int], ...] = ()
    if services.dav is not None:
        # DAV (web/dav/): HTTP Basic, no cookies, outside the webmail session layer. The
        # DAV application bounds every body itself (config_dav.py: a declared length before
        # reading, the stream as it arrives), so that an oversized calendar object gets its
        # precondition (403 CALDAV:max-resource-size, RFC 4791 §5.3.2.1) rather than the
        # guard's bare 413; the guard keeps the largest of those limits as the backstop.
        dav_cfg = services.dav.config
        plain = _dav_split(dav_app.build(services, settings), plain)
        limits += ((dav_area.DAV_PREFIX, max(dav_cfg.max_file_size, dav_cfg.max_resource_size,
                                             dav_cfg.max_xml_size)),)
    if services.eas is not None:
        # ActiveSync (web/eas/): HTTP Basic, no cookies, outside the webmail session layer;
        # the application bounds its bodies itself (a Status in WBXML, not a bare 413), the
        # guard keeps the largest of its limits as the backstop
        eas_cfg = services.eas.config
        plain = _eas_split(eas_app.build(services, settings), plain)
        most = max(eas_cfg.max_request_size, services.eas.max_message_size + (64 << 10))
        limits += ((EAS_PATH, most), (EAS_PATH.lower(), most))
    if services.webmail is None or not services.webmail.config.enabled:
        return _guarded(plain, settings, limits)
    mail = _starlette(auth.routes(services, settings) + webmail.routes(services, settings)
                       + [static_mount()])
    mail.state.form_limits = FormLimits(settings.form_max_field, settings.form_max_fields)
    limits += ((webmail.UPLOAD_PREFIX, services.webmail.config.max_upload_size + (64 << 10)),)
    sessioned = session.wrap(mail, services, settings, "webmail",
                             streamed=(webmail.UPLOAD_PREFIX,))
    return _guarded(_by_path(sessioned, plain), settings, limits)


def _starlette(routes: list[BaseRoute]) -> Starlette:
    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if isinstance(exc, LoginRequired) and not wants_problem(request.url.path):
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse("/login?" + urlencode({"next": target}), 303)
        detail = exc.detail if isinstance(exc, TooLarge) else ""  # never an exception's text
        return error_response(request.url.path, exc.status_code, detail,
                              dict(exc.headers) if exc.headers else None)

    async def server_error(request: Request, exc: Exception) -> Response:
        return error_response(request.url.path, 500)

    async def refused(request: Request, exc: Exception) -> Response:
        """A service's refusal that no handler answered itself: its status (web/forms.py's
        one table) and its text, which services write for users (never a traceback)."""
        assert isinstance(exc, MailError)
        return error_response(request.url.path, status_of(exc), exc.text)

    return Starlette(routes=routes, exception_handlers={HTTPException: http_error,
                                                        MailError: refused,
                                                        500: server_error})


# Paths of the public listeners served behind the webmail session layer; everything else there
# (autoconfig and Autodiscover, whose POSTs come from mail clients without cookies or CSRF
# tokens, and the ACME challenge) is served without it.
SESSION_PATHS = ("/webmail", "/login", "/logout", "/me", "/static/")


def _by_path(sessioned: App, plain: App) -> App:
    # These routers are plain functions that return the target's coroutine, not coroutines
    # awaiting it: a frame less per request for each, kept for a request's whole life, and
    # an ActiveSync Ping lives for its heartbeat on every phone (docs/eas/bench.md).
    def app(scope: dict[str, object], receive: object, send: object) -> Awaitable[None]:
        path = str(scope.get("path", "/"))
        root = path == "/" and scope.get("method") not in dav_area.ROOT_METHODS
        target = sessioned if root or path.startswith(SESSION_PATHS) else plain
        return target(scope, receive, send)  # type: ignore[arg-type]
    return app  # type: ignore[return-value]


def _dav_split(dav: App, rest: App) -> App:
    """/dav/ and the well-known DAV paths (RFC 6764 §5) to the DAV application, and DAV's
    methods on ``/``: a client given only the server's URL (the caldav library, iOS) sends
    PROPFIND to ``/`` for current-user-principal (RFC 5397) and gives up on anything else."""
    def app(scope: dict[str, object], receive: object, send: object) -> Awaitable[None]:
        path = str(scope.get("path", "/"))
        if path.startswith(dav_area.DAV_PREFIX) or path == dav_area.DAV_PREFIX[:-1] \
                or path.rstrip("/") in dav_area.WELL_KNOWN \
                or (path == "/" and scope.get("method") in dav_area.ROOT_METHODS):
            return dav(scope, receive, send)  # type: ignore[arg-type]
        return rest(scope, receive, send)  # type: ignore[arg-type]
    return app  # type: ignore[return-value]


def _eas_split(eas: App, rest: App) -> App:
    """/Microsoft-Server-ActiveSync to the ActiveSync application, whatever its letter case
    (devices differ; MS-ASHTTP §2.2.1.1 names it, IIS never cared)."""
    lowered = EAS_PATH.lower()

    def app(scope: dict[str, object], receive: object, send: object) -> Awaitable[None]:
        path = str(scope.get("path", "/")).rstrip("/").lower()
        if path == lowered:
            return eas(scope, receive, send)  # type: ignore[arg-type]
        return rest(scope, receive, send)  # type: ignore[arg-type]
    return app  # type: ignore[return-value]


def _redirecting(routes: list[BaseRoute], settings: WebSettings) -> App:
    """Plain HTTP: the listed paths are served, everything else is sent to HTTPS with 308
    (RFC 9110 §15.4.9: the method and body are kept, unlike 301/302)."""
    inner = _starlette(routes)

    async def app(scope: dict[str, object], receive: object, send: object) -> None:
        path = str(scope.get("path", "/"))
        if scope.get("type") != "http" or path.startswith(PLAIN_PATHS):
            await inner(scope, receive, send)  # type: ignore[arg-type]
            return
        request = Request(scope)
        host = (request.headers.get("host") or "").rsplit(":", 1)[0]
        if host.startswith("[") or not _HOST.match(host):
            host = settings.hostname
        port = settings.https_port
        netloc = host if port in (0, 443) else f"{host}:{port}"
        target = f"https://{netloc}{request.url.path}"
        if request.url.query:
            target += f"?{request.url.query}"
        await RedirectResponse(target, 308)(scope, receive, send)  # type: ignore[arg-type]
    return app  # type: ignore[return-value]


def _challenge_route(store: ChallengeStore | None) -> Callable[[Request],
                                                                  Awaitable[Response]]:
    """ACME HTTP-01 (RFC 8555 §8.3): the key authorization of a pending challenge, as
    application/octet-stream; 404 for any other token."""
    async def challenge(request: Request) -> Response:
        token = request.path_params["token"]
        answer = store.http_answer(token) if store is not None and _TOKEN.match(token) \
            else None
        if answer is None:
            return error_response(request.url.path, 404)
        return Response(answer, media_type="application/octet-stream")
    return challenge


def _guarded(app: App, settings: WebSettings,
             body_limits: tuple[tuple[str, int], ...] = ()) -> App:
    return Guard(app, tls=settings.tls, hsts_max_age=settings.hsts_max_age,
                 max_body=settings.max_body, body_limits=body_limits)
