"""The JSON API's machinery: one declarative table of endpoints, typed bodies, errors.

Every endpoint is an ``Endpoint``: method, path, the msgspec types of its query, body and
response, the CLI command it mirrors, and an async handler that calls one admin service with
the caller's ``Actor``. From the same table come the Starlette routes and the OpenAPI document
(web/api/openapi.py), so the document cannot drift from what is served.

For each request the table's wrapper, in this order:

1. finds who is calling (``Authorization: Bearer`` first, RFC 6750 §2.1; else the session
   layer's ``request.state.user``), or answers 401 with ``WWW-Authenticate: Bearer``
   (RFC 6750 §3);
2. decodes the query string and the body with msgspec into the endpoint's types: unknown
   fields, wrong types, out-of-range numbers are 422, a body that is not JSON is 400, a wrong
   Content-Type is 415; nothing is parsed by hand;
3. runs the handler, and turns a ``MailError`` into RFC 9457 problem details whose ``detail``
   is the error's text, the same text the CLI prints, and whose status comes from the one
   table the pages use as well (web/forms.py ``STATUS``).

A handler never tests rights: the services decide (an object in a domain the caller does not
administer is NOT_FOUND there, so 404 here).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar
from urllib.parse import quote

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from postroom.core.actor import Actor, Origin
from postroom.core.errors import MailError
from postroom.services.admin import Admin
from postroom.services.apitokens import ApiTokens
from postroom.services.apppasswords import AppPasswords
from postroom.services.auth import AuthService
from postroom.services.dav import Dav
from postroom.services.twofactor import TwoFactor
from postroom.web.forms import status_of
from postroom.web.identity import WebUser, current_user
from postroom.web.problems import error_response

T = TypeVar("T")
PREFIX = "/api/v1"
JSON = "application/json"
REALM = 'Bearer realm="postroom"'
MAX_ID = (1 << 63) - 1  # the stores' integer keys are signed 64-bit

class ApiServices(Protocol):
    """What the API needs of web/app.py's ``WebServices``: services only, never the store."""

    @property
    def admin(self) -> Admin: ...

    @property
    def auth(self) -> AuthService: ...

    @property
    def tokens(self) -> ApiTokens | None: ...

    @property
    def app_passwords(self) -> AppPasswords: ...

    @property
    def two_factor(self) -> TwoFactor: ...

    @property
    def dav(self) -> Dav | None: ...


class ApiSettings(Protocol):
    """What the API needs of web/app.py's ``WebSettings``."""

    @property
    def hostname(self) -> str: ...


class In(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A request body or query: an unknown field is an error, not silently dropped."""


class Out(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A response body."""


class Problem(Exception):
    """An error the API answers with directly (not a service's ``MailError``)."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None
                 ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers


@dataclass(slots=True)
class Call:
    """One request as a handler sees it: who, and the decoded inputs."""

    request: Request
    who: WebUser | None  # None only for the endpoints that need nobody (the document)
    body: object = None
    query: object = None

    @property
    def user(self) -> WebUser:
        assert self.who is not None, "an endpoint with auth=False asked for its caller"
        return self.who

    @property
    def actor(self) -> Actor:
        return self.user.actor

    def param(self, name: str) -> str:
        return str(self.request.path_params[name])

    def int_param(self, name: str) -> int:
        """A numeric path parameter: anything else, or a number no row can have, is 404."""
        text = self.param(name)
        if not text.isdigit() or len(text) > 19 or int(text) > MAX_ID:
            raise Problem(404, f"no such {name}: {text[:40]}")
        return int(text)

    def body_as(self, kind: type[T]) -> T:
        assert isinstance(self.body, kind)
        return self.body

    def query_as(self, kind: type[T]) -> T:
        assert isinstance(self.query, kind)
        return self.query


Handler = Callable[[Call], Awaitable[Any]]
H = TypeVar("H", bound=Handler)


@dataclass(frozen=True, slots=True)
class Endpoint:
    method: str
    path: str  # Starlette form, under PREFIX: "/users/{address}", "/x/{folder:path}"
    handler: Handler
    summary: str
    tag: str
    cli: str  # the CLI command this endpoint mirrors ("" for API-only ones)
    out: Any = None  # the response type; None: 204 No Content
    body: type[In] | None = None
    query: type[In] | None = None
    status: int = 200
    auth: bool = True
    csv: bool = False  # the body may also be text/csv (handled by the handler)
    raw: str = ""  # the response is not JSON but this media type (bytes from the handler)
    location: Callable[[Any], str] | None = None  # 201: the new object's path under PREFIX
    # media types of a raw request body the handler streams itself (call.request.stream()):
    # whole .ics/.vcf files, never decoded as JSON nor held whole by the framework
    upload: tuple[str, ...] = ()

    @property
    def operation_id(self) -> str:
        return getattr(self.handler, "__name__", "op")


@dataclass
class Api:
    services: ApiServices
    settings: ApiSettings
    endpoints: list[Endpoint] = field(default_factory=list)

    def add(self, method: str, path: str, *, summary: str, tag: str, cli: str = "",
            **kw: Any) -> Callable[[H], H]:
        def register(handler: H) -> H:
            self.endpoints.append(Endpoint(method, path, handler, summary, tag, cli, **kw))
            return handler
        return register

    def routes(self) -> list[BaseRoute]:
        """One route per path, dispatching on the method, so that a wrong method gets 405
        with every allowed method in ``Allow`` (RFC 9110 §15.5.6)."""
        by_path: dict[str, dict[str, Callable[[Request], Awaitable[Response]]]] = {}
        for e in self.endpoints:
            by_path.setdefault(e.path, {})[e.method] = _wrap(self, e)
        routes: list[BaseRoute] = []
        for path, methods in by_path.items():
            if "GET" in methods:
                methods["HEAD"] = methods["GET"]
            routes.append(Route(path, _dispatch(methods), methods=list(methods)))
        return routes


def _dispatch(methods: dict[str, Callable[[Request], Awaitable[Response]]]
              ) -> Callable[[Request], Awaitable[Response]]:
    async def dispatch(request: Request) -> Response:
        return await methods[request.method](request)
    return dispatch


def _origin(request: Request) -> Origin:
    return Origin("api", request.client.host if request.client else "unknown")


async def authenticate(api: Api, request: Request) -> WebUser:
    """The caller: a bearer token (RFC 6750 §2.1), else the session's user; else 401."""
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        tokens = api.services.tokens
        if scheme.lower() != "bearer" or tokens is None:
            raise Problem(401, "use Authorization: Bearer TOKEN", {"WWW-Authenticate": REALM})
        found = await tokens.authenticate(token.strip())
        if found is None:
            # a failed login like any other: logged, counted for screening, throttled
            # (services/auth.py); a token has 256 random bits, so this is about noise
            await api.services.auth.failed("api", _origin(request).address, "")
            # RFC 6750 §3.1: invalid_token (unknown, revoked, expired)
            raise Problem(401, "the token is unknown, revoked or expired",
                          {"WWW-Authenticate": REALM + ', error="invalid_token"'})
        principal, rec = found
        request.state.api_token = rec  # the token itself, for the endpoints that need it
        return WebUser(Actor(principal, _origin(request)), "", "")
    user = current_user(request)
    if user is None:
        raise Problem(401, "log in, or send an API token (Authorization: Bearer TOKEN)",
                      {"WWW-Authenticate": REALM})
    if user.actor.origin.channel != "api":
        user = WebUser(Actor(user.actor.principal, _origin(request)), user.session_id,
                       user.csrf)
    return user


def problem(request: Request, status: int, detail: str,
            headers: dict[str, str] | None = None) -> Response:
    return error_response(request.url.path, status, detail, headers)


def _validation(exc: msgspec.ValidationError | msgspec.DecodeError, where: str) -> Problem:
    text = str(exc)
    if isinstance(exc, msgspec.ValidationError):
        return Problem(422, f"{where}: {text}")
    return Problem(400, f"{where} is not valid JSON: {text}")


def _media(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def decode_body(request: Request, endpoint: Endpoint) -> object:
    assert endpoint.body is not None
    media = _media(request)
    raw = await request.body()
    if endpoint.csv and media == "text/csv":
        return raw
    if media != JSON and not media.endswith("+json"):
        accepted = JSON + (" or text/csv" if endpoint.csv else "")
        raise Problem(415, f"send the body as {accepted}")
    try:
        return msgspec.json.decode(raw, type=endpoint.body)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise _validation(exc, "the body") from None


def decode_query(request: Request, endpoint: Endpoint) -> object:
    assert endpoint.query is not None
    try:
        return msgspec.convert(dict(request.query_params), endpoint.query, strict=False)
    except msgspec.ValidationError as exc:
        raise Problem(422, f"the query: {exc}") from None


def encode(endpoint: Endpoint, result: object) -> Response:
    if isinstance(result, Response):  # a raw endpoint streaming its answer (an export)
        return result
    if endpoint.out is None:
        return Response(status_code=204)
    if endpoint.raw:
        assert isinstance(result, bytes)
        return Response(result, endpoint.status, media_type=endpoint.raw)
    return Response(msgspec.json.encode(result), endpoint.status, media_type=JSON)


def _wrap(api: Api, endpoint: Endpoint) -> Callable[[Request], Awaitable[Response]]:
    async def run(request: Request) -> Response:
        response = await answer(request)
        # answers carry account data and, once, a new token: never stored by a cache
        # (RFC 9111 §5.2.2.5)
        response.headers["Cache-Control"] = "no-store"
        return response

    async def answer(request: Request) -> Response:
        try:
            user = await authenticate(api, request) if endpoint.auth else None
            call = Call(request, user)
            if endpoint.query is not None:
                call.query = decode_query(request, endpoint)
            if endpoint.body is not None:
                call.body = await decode_body(request, endpoint)
            result = await endpoint.handler(call)
            response = encode(endpoint, result)
            if endpoint.location is not None:
                # RFC 9110 §10.2.2: where the created resource is
                response.headers["Location"] = PREFIX + quote(endpoint.location(result),
                                                               safe="/@")
            return response
        except Problem as exc:
            return problem(request, exc.status, exc.detail, exc.headers)
        except MailError as exc:
            status = status_of(exc)
            headers = {"WWW-Authenticate": REALM} if status == 401 else None
            return problem(request, status, exc.text, headers)
    run.__name__ = endpoint.operation_id
    return run


def openapi_path(path: str) -> str:
    """``/x/{folder:path}`` → ``/x/{folder}`` (OpenAPI has no converters)."""
    return re.sub(r"\{(\w+)(:\w+)?\}", r"{\1}", PREFIX + path)


def path_params(path: str) -> Sequence[tuple[str, str]]:
    """(name, converter) of each path parameter."""
    return [(m.group(1), (m.group(2) or ":str")[1:])
            for m in re.finditer(r"\{(\w+)(:\w+)?\}", path)]

