"""The session layer of a web realm ("webadmin"; "webmail" later): who is behind each request,
and CSRF protection for every state change (docs/web.md "Sessions").

A pure ASGI middleware between the guard (web/guard.py) and the Starlette application. On
every HTTP request it sets:

- ``request.state.user``: a ``WebUser`` (web/identity.py) for a logged-in session of this
  realm, with an ``Actor`` whose origin is the realm and the client address; else None.
  A request without a session cookie passes with None: the JSON API resolves bearer tokens
  itself;
- ``request.state.pending``: the half-finished login (``services.websessions.Resolved`` in
  stage "code" or "enrol") when the cookie names one; such a session is *not* a user, so every
  page but the login steps treats it as logged out;
- ``request.state.csrf``: the token forms must carry: the session's, or for anonymous forms
  (the login form) a pre-session token in its own cookie (the double-submit pattern);
- ``request.state.realm`` and ``request.state.session_token`` for the login pages.

Cookies: ``__Host-postroom-<realm>`` (the session) and ``__Host-postroom-<realm>-csrf``, both
``Secure; HttpOnly; SameSite=Strict; Path=/`` without ``Domain`` (the ``__Host-`` prefix makes
browsers refuse them over plain HTTP and from sibling hosts, RFC 6265bis §4.1.3.2). Session
cookies carry no Max-Age: they end with the browser, and the server ends them sooner
(services/websessions.py).

CSRF: an unsafe method (anything but GET, HEAD, OPTIONS) must carry the token in the
``X-CSRF-Token`` header or the form field ``csrf`` (urlencoded or multipart), compared in
constant time, else 403; under the ``streamed`` prefixes (webmail's uploads, whose bodies may
be tens of megabytes) the header or the ``csrf`` query parameter, the body never read here.
This holds for every page request, and for /api/ requests that come
with a session cookie; an API request authenticated by a bearer token has no cookie and needs
none. Cross-site unsafe requests are refused before that from the browser's own statement:
``Sec-Fetch-Site`` other than same-origin/none, or an ``Origin`` naming another host
(``null`` decides nothing: see ``_cross_site``). The form body is read here and replayed to
the application unchanged; its size is already bounded by the guard (``web.max_body_size``).
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Mapping
from http.cookies import SimpleCookie
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlsplit

from starlette.datastructures import Headers
from starlette.requests import Request, cookie_parser
from starlette.responses import Response

from postroom.core.actor import Actor, Origin
from postroom.services.websessions import Resolved, WebSessions
from postroom.web.guard import App, Message, Receive, Scope, Send
from postroom.web.identity import WebUser
from postroom.web.problems import error_response, wants_problem

if TYPE_CHECKING:
    from postroom.web.context import WebServices, WebSettings

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf"
PRE_TOKEN_LENGTH = 43  # secrets.token_urlsafe(32)
SAME_SITE = ("same-origin", "none")  # Sec-Fetch-Site values of a request we accept


def session_cookie(realm: str) -> str:
    return f"__Host-postroom-{realm}"


def csrf_cookie(realm: str) -> str:
    return f"__Host-postroom-{realm}-csrf"


def cookie_header(name: str, value: str, *, expire: bool = False) -> str:
    cookie: SimpleCookie = SimpleCookie()
    cookie[name] = value
    morsel = cookie[name]
    morsel["path"] = "/"
    morsel["secure"] = True
    morsel["httponly"] = True
    morsel["samesite"] = "Strict"
    if expire:
        morsel["max-age"] = 0
    return morsel.OutputString()


def start_session(request: Request, response: Response, token: str) -> None:
    """Hand a new session's cookie to the browser (a login step finished)."""
    response.headers.append("set-cookie",
                            cookie_header(session_cookie(_realm(request)), token))


def end_session(request: Request, response: Response) -> None:
    """Tell the browser to drop the session cookie (logged out)."""
    response.headers.append("set-cookie",
                            cookie_header(session_cookie(_realm(request)), "", expire=True))


def session_token(request: Request) -> str | None:
    """The cookie token of the request's session (logged in or half-way), if any."""
    token = getattr(request.state, "session_token", None)
    return token if isinstance(token, str) else None


def pending(request: Request) -> Resolved | None:
    """The half-finished login of this request, if any (stage "code" or "enrol")."""
    value = getattr(request.state, "pending", None)
    return value if isinstance(value, Resolved) else None


def _realm(request: Request) -> str:
    return str(request.state.realm)


def wrap(app: App, services: WebServices, settings: WebSettings, realm: str,
         streamed: tuple[str, ...] = ()) -> App:
    """``app`` behind the session layer of ``realm`` ("webadmin" or "webmail"). Under the
    ``streamed`` path prefixes (webmail's uploads) the body is never read here: the CSRF token
    must come in the ``X-CSRF-Token`` header or the ``csrf`` query parameter, so that a large
    body is streamed by the application instead of held in memory by this layer."""
    return SessionLayer(app, services.sessions, realm, streamed)


class SessionLayer:
    def __init__(self, app: App, sessions: WebSessions, realm: str,
                 streamed: tuple[str, ...] = ()) -> None:
        self.app = app
        self.sessions = sessions
        self.realm = realm
        self.streamed = streamed
        self.cookie = session_cookie(realm)
        self.pre_cookie = csrf_cookie(realm)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        state.update(user=None, pending=None, realm=self.realm, session_token=None)
        headers = Headers(scope=scope)
        cookies = cookie_parser(headers.get("cookie", ""))
        path = str(scope.get("path", "/"))
        client = scope.get("client")
        ip = str(client[0]) if client else ""
        outgoing: list[str] = []  # cookies every response of this request sets
        for_pages: list[str] = []  # cookies only an HTML page sets (the pre-session token)

        token = cookies.get(self.cookie) or None
        resolved = await self.sessions.resolve(token, self.realm) if token else None
        if resolved is not None:
            state["session_token"] = token
            if resolved.stage == "full":
                state["user"] = WebUser(Actor(resolved.principal, Origin(self.realm, ip)),
                                        resolved.session.public_id, resolved.csrf)
            else:
                state["pending"] = resolved
        elif token:
            outgoing.append(cookie_header(self.cookie, "", expire=True))  # a dead session

        pre = cookies.get(self.pre_cookie, "")
        if len(pre) != PRE_TOKEN_LENGTH:
            pre = ""
        sent_pre = pre
        if resolved is None and not pre and not wants_problem(path):
            # set by HTML pages only: a stylesheet, a probe or /metrics fetched at the same
            # moment must not replace the token of the form the page shows
            pre = secrets.token_urlsafe(32)
            for_pages.append(cookie_header(self.pre_cookie, pre))
        state["csrf"] = resolved.csrf if resolved is not None else pre

        method = str(scope.get("method", "GET")).upper()
        if method not in SAFE_METHODS and (resolved is not None or not wants_problem(path)):
            refusal = _cross_site(headers)
            expected = resolved.csrf if resolved is not None else sent_pre
            if refusal is None:
                given = headers.get(CSRF_HEADER)
                if given is None and self.streamed and path.startswith(self.streamed):
                    query = bytes(scope.get("query_string", b"")).decode("latin-1")
                    given = dict(parse_qsl(query)).get(CSRF_FIELD)
                elif given is None:
                    given, receive = await _form_token(scope, receive, headers)
                if not expected or not given or \
                        not hmac.compare_digest(given.encode(), expected.encode()):
                    refusal = ("the form's security token is missing or out of date; "
                               "reload the page and try again")
            if refusal is not None:
                response = error_response(path, 403, refusal)
                await response(scope, receive, send)
                return

        if not outgoing and not for_pages:
            await self.app(scope, receive, send)
            return

        async def send_with_cookies(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                cookies = list(outgoing)
                if any(k.lower() == b"content-type" and v.startswith(b"text/html")
                       for k, v in headers):
                    cookies += for_pages
                message["headers"] = headers + [(b"set-cookie", c.encode("latin-1"))
                                                for c in cookies]
            await send(message)
        await self.app(scope, receive, send_with_cookies)


def _cross_site(headers: Headers) -> str | None:
    """Why an unsafe request is refused as cross-site, from what the browser says (Fetch
    Metadata, Origin: RFC 6454 §7); None when it says nothing against it."""
    site = headers.get("sec-fetch-site")
    if site is not None and site.lower() not in SAME_SITE:
        return "cross-site requests cannot change anything here"
    origin = headers.get("origin")
    # "null" says nothing: it is what browsers send on our own same-origin POSTs, because
    # every response carries Referrer-Policy: no-referrer (web/guard.py; Fetch §3.2.5,
    # "serializing a request origin"). The CSRF token decides those.
    if origin is not None and origin != "null":
        host = (headers.get("host") or "").lower()
        if urlsplit(origin).netloc.lower() != host:
            return "cross-origin requests cannot change anything here"
    return None


async def _form_token(scope: Scope, receive: Receive, headers: Headers,
                      ) -> tuple[str | None, Receive]:
    """The ``csrf`` field of a form body, and a ``receive`` that replays the body to the
    application (which reads it again for its own fields)."""
    kind = headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return None, receive
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None, receive  # the client went away
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    if kind == "application/x-www-form-urlencoded":
        fields: Mapping[str, str] = dict(parse_qsl(body.decode("utf-8", "replace"),
                                                  keep_blank_values=True))
        return fields.get(CSRF_FIELD), replay
    probe_done = False

    async def probe() -> Message:
        nonlocal probe_done
        if not probe_done:
            probe_done = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    request = Request(scope, probe)
    try:
        form = await request.form()
    except Exception:  # a malformed multipart body: no token; the application answers it
        return None, replay
    value = form.get(CSRF_FIELD)
    await form.close()
    return (value if isinstance(value, str) else None), replay
