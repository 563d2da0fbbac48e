"""Logging in and out (docs/web.md "Logging in").

Steps, each a session of its own (services/websessions.py; a new cookie at every step, so a
session id planted before the login is worth nothing):

1. ``/login``: user name and password, checked by the auth service exactly as IMAP's LOGIN
   is (the same throttle wait before, the same failed-login punishment, screening offence and
   log line after, protocol name = the realm). Right password → a session in stage "code"
   (the account has TOTP), "enrol" (policy requires TOTP and it has none: nothing but the
   enrolment is reachable), or "full".
2. ``/login/code``: a TOTP code or a recovery code (services/twofactor.py). A wrong one is a
   failed login for the throttle and screening; after ``web.login_code_attempts`` the login
   starts over.
3. ``/login/enrol``: the secret, its otpauth URI and a QR code (an SVG image from
   ``/login/enrol/qr.svg``, no script), confirmed by a first code; the ten recovery codes are
   shown once.

``next`` (where to go after logging in) is kept through the steps and accepted only as a path
on this site (``safe_next``): never another host, so the login page is not an open redirect.
``/logout`` ends this session, ``/logout-everywhere`` every session of the account.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING
from urllib.parse import urlencode

import segno
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from postroom.core.actor import Actor, Origin
from postroom.core.errors import MailError
from postroom.core.logins import Stage
from postroom.core.principal import Principal
from postroom.directory.passwords import MAX_PASSWORD
from postroom.services.websessions import Resolved
from postroom.web.flash import redirect, set_flash
from postroom.web.identity import current_user, role_of
from postroom.web.session import end_session, pending, session_token, start_session
from postroom.web.templating import render

if TYPE_CHECKING:
    from postroom.web.context import WebServices, WebSettings

MAX_NEXT = 2000
MAX_USERNAME = 320  # RFC 5321 §4.5.3.1: 64 + 1 + 255, with room for a login name
WRONG_PASSWORD = "Wrong user name or password."
WRONG_CODE = "That code is not right. Codes change every 30 seconds; try the current one."
# Wrong credentials re-render the form with 403: RFC 9110 §15.5.4 ("the server considers
# them insufficient"); 401 would need a WWW-Authenticate challenge (§15.5.2), which a form
# login has none of.
DENIED = 403
NO_STORE = {"Cache-Control": "no-store"}  # pages that show a secret: never kept by a cache


def safe_next(value: object, default: str = "/") -> str:
    """A redirect target after login: a path on this site, else ``default``. Refuses
    anything a browser could read as another host (``//host``, ``/\\host``, ``https:``),
    control characters and over-long values."""
    if not isinstance(value, str) or not value or len(value) > MAX_NEXT:
        return default
    if not value.startswith("/") or value.startswith("//") or "\\" in value:
        return default
    if any(ord(c) < 33 or ord(c) == 127 for c in value):
        return default
    return value


WEBMAIL_HOME = "/webmail/"


def home(principal: Principal, realm: str = "webadmin") -> str:
    """Where a user lands without ``next``: in webmail, the inbox; in WebAdmin, the dashboard,
    or one's own account page."""
    if realm == "webmail":
        return WEBMAIL_HOME
    return "/" if role_of(principal) in ("global", "domain") else "/me"


def client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


def _text(form: FormData, name: str, most: int) -> str:
    value = form.get(name)
    return value[:most] if isinstance(value, str) else ""


def _step_url(stage: str, next_path: str) -> str:
    return f"/login/{stage}?" + urlencode({"next": next_path})


def routes(services: WebServices, settings: WebSettings) -> list[BaseRoute]:
    auth, sessions, two_factor = services.auth, services.sessions, services.two_factor

    async def login_page(request: Request) -> Response:
        user = current_user(request)
        wanted = request.query_params.get("next")
        if user is not None:
            target = safe_next(wanted, home(user.actor.principal, str(request.state.realm)))
            return RedirectResponse(target, 303)
        half = pending(request)
        if half is not None:
            return RedirectResponse(_step_url(half.stage, safe_next(wanted)), 303)
        return render(request, "login.html", {"next": safe_next(wanted, ""), "error": "",
                                              "username": ""})

    async def login(request: Request) -> Response:
        form = await request.form()
        username = _text(form, "username", MAX_USERNAME + 1).strip()
        password = _text(form, "password", MAX_PASSWORD + 1)
        wanted = safe_next(form.get("next"), "")
        ip = client_ip(request)
        if not username or not password or len(username) > MAX_USERNAME or \
                len(password) > MAX_PASSWORD:
            return render(request, "login.html", {"next": wanted, "username": username,
                                                  "error": "Enter your user name (your "
                                                           "address) and your password."},
                          status=400)
        realm = str(request.state.realm)
        await auth.before(ip, username)
        try:
            principal = await auth.web_password(username, password)
        except MailError:  # disabled or frozen: answered exactly as a wrong password is
            principal = None
        if principal is None or principal.account_id is None:
            await auth.failed(realm, ip, username)
            return render(request, "login.html", {"next": wanted, "username": username,
                                                  "error": WRONG_PASSWORD}, status=DENIED)
        stage: Stage
        if await two_factor.enabled(principal.account_id):
            stage = "code"
        elif two_factor.policy(principal) == "required":
            stage = "enrol"
        else:
            stage = "full"
            auth.succeeded(realm, ip, principal)
        token, _ = await sessions.start(principal, realm, stage, ip,
                                        request.headers.get("user-agent", ""),
                                        replaces=session_token(request))
        target = safe_next(wanted, home(principal, realm)) if stage == "full" else \
            _step_url(stage, wanted)
        response = RedirectResponse(target, 303)
        start_session(request, response, token)
        return response

    async def finish(request: Request, half: Resolved, target: str,
                     response: Response | None = None) -> Response:
        """The second step is done: the session becomes a full one, under a new id."""
        realm = str(request.state.realm)
        auth.succeeded(realm, client_ip(request), half.principal)
        token, _ = await sessions.start(half.principal, realm, "full", client_ip(request),
                                        request.headers.get("user-agent", ""),
                                        replaces=session_token(request))
        response = response or RedirectResponse(target, 303)
        start_session(request, response, token)
        return response

    async def restart(request: Request) -> Response:
        """End the half-finished login and send the browser back to the password step."""
        token = session_token(request)
        if token is not None:
            await sessions.end(token)
        response = RedirectResponse("/login", 303)
        end_session(request, response)
        return response

    def half_login(request: Request, stage: str) -> Resolved | None:
        half = pending(request)
        return half if half is not None and half.stage == stage else None

    async def code_page(request: Request) -> Response:
        if half_login(request, "code") is None:
            return RedirectResponse("/login", 303)
        return render(request, "login_code.html", {
            "next": safe_next(request.query_params.get("next"), ""), "error": ""})

    async def code(request: Request) -> Response:
        half = half_login(request, "code")
        token = session_token(request)
        if half is None or token is None or half.principal.account_id is None:
            return RedirectResponse("/login", 303)
        form = await request.form()
        wanted = safe_next(form.get("next"), "")
        address = half.principal.address or ""
        ip, realm = client_ip(request), str(request.state.realm)
        await auth.before(ip, address)
        factor = await two_factor.verify(half.principal.account_id,
                                         _text(form, "code", 64))
        if factor is None:
            await auth.failed(realm, ip, address)
            if await sessions.count_attempt(token) >= sessions.code_attempts:
                response = await restart(request)
                set_flash(response, "Too many wrong codes; log in again.")
                return response
            return render(request, "login_code.html", {"next": wanted, "error": WRONG_CODE},
                          status=DENIED)
        target = safe_next(wanted, home(half.principal, str(request.state.realm)))
        response = RedirectResponse(target, 303)
        if factor == "recovery":
            left = (await two_factor.status(half.principal.account_id)).recovery_left
            set_flash(response, f"You used a recovery code; {left} left. Make new ones on the "
                                "My account page if you are running out.")
        return await finish(request, half, target, response)

    async def enrol_page(request: Request) -> Response:
        half = half_login(request, "enrol")
        if half is None:
            return RedirectResponse("/login", 303)
        try:
            enrolment = await two_factor.begin(half.principal)
        except MailError:  # enrolled meanwhile (another tab): log in again, with the code
            return await restart(request)
        return render(request, "enrol.html", {
            "enrolment": enrolment, "qr": "/login/enrol/qr.svg", "action": "/login/enrol",
            "next": safe_next(request.query_params.get("next"), ""), "error": "",
            "required": True}, headers=NO_STORE)

    async def enrol_qr(request: Request) -> Response:
        half = half_login(request, "enrol")
        if half is None:
            return Response(status_code=404)
        try:
            return qr_response((await two_factor.begin(half.principal)).uri)
        except MailError:
            return Response(status_code=404)

    async def enrol(request: Request) -> Response:
        half = half_login(request, "enrol")
        if half is None:
            return RedirectResponse("/login", 303)
        form = await request.form()
        wanted = safe_next(form.get("next"), "")
        actor = Actor(half.principal, Origin(str(request.state.realm), client_ip(request)))
        try:
            codes = await two_factor.confirm(actor, _text(form, "code", 64))
        except MailError as exc:
            await auth.failed(str(request.state.realm), client_ip(request),
                              half.principal.address or "")
            try:
                enrolment = await two_factor.begin(half.principal)
            except MailError:
                return await restart(request)
            return render(request, "enrol.html", {
                "enrolment": enrolment, "qr": "/login/enrol/qr.svg", "action": "/login/enrol",
                "next": wanted, "error": exc.text, "required": True}, status=400,
                headers=NO_STORE)
        target = safe_next(wanted, home(half.principal, str(request.state.realm)))
        page = render(request, "recovery_codes.html", {"codes": codes, "continue": target},
                      headers=NO_STORE)
        return await finish(request, half, target, page)

    async def logout(request: Request) -> Response:
        token = session_token(request)
        if token is not None:
            await sessions.end(token)
        response = redirect("/login", "You are logged out.")
        end_session(request, response)
        return response

    async def logout_everywhere(request: Request) -> Response:
        user = current_user(request)
        if user is None or user.actor.principal.account_id is None:
            return RedirectResponse("/login", 303)
        ended = await sessions.end_all(user.actor.principal.account_id)
        response = redirect("/login",
                            f"You are logged out everywhere ({ended} sessions ended).")
        end_session(request, response)
        return response

    return [Route("/login", login_page, methods=["GET"]),
            Route("/login", login, methods=["POST"]),
            Route("/login/code", code_page, methods=["GET"]),
            Route("/login/code", code, methods=["POST"]),
            Route("/login/enrol", enrol_page, methods=["GET"]),
            Route("/login/enrol/qr.svg", enrol_qr, methods=["GET"]),
            Route("/login/enrol", enrol, methods=["POST"]),
            Route("/logout", logout, methods=["POST"]),
            Route("/logout-everywhere", logout_everywhere, methods=["POST"])]


def qr_response(uri: str) -> Response:
    """The otpauth URI as a QR code in SVG, an image (no script, nothing inline to allow)."""
    out = io.BytesIO()
    segno.make(uri, error="m").save(out, kind="svg", scale=5, border=4, xmldecl=False,
                                    svgns=True, title="QR code for the authenticator app")
    return Response(out.getvalue(), media_type="image/svg+xml",
                    headers={"Cache-Control": "no-store"})
