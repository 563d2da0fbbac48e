"""Self-service under ``/me`` for any logged-in user (docs/web.md "Self-service"): one's own
password, second factor, recovery codes, app passwords, sessions, and a configuration profile
for Apple devices.

Every change is a service call with the user's ``Actor`` (the services check that it is the
user's own account and write the audit record); these handlers read forms and render.

The changes that would let a stolen session cookie outlast the session (turning the second
factor off, new recovery codes, a new app password: lasting IMAP/SMTP access) first ask again
for the current password, and for a code where the second factor is on (``reauthenticate``).
Each guess there is treated as a login is: the auth service's throttle wait before, a failed
login (log line, screening offence, throttle) after a wrong one, and a count on the session;
after ``web.login_code_attempts`` wrong ones the session ends and the user logs in again. After a
change the browser is sent on with 303 (post/redirect/get), except where a secret is shown
once (new recovery codes, a new app password): that page is the POST's answer and is never
stored (``Cache-Control: no-store``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from postroom.core.errors import Kind, MailError
from postroom.directory.passwords import MAX_PASSWORD
from postroom.services.apppasswords import clean_name
from postroom.services.twofactor import Enrolment, wrong_code
from postroom.web.auth.login import NO_STORE, client_ip, qr_response
from postroom.web.flash import redirect
from postroom.web.forms import status_of, when
from postroom.web.identity import WebUser, require_user
from postroom.web.mobileconfig import MEDIA_TYPE, profile
from postroom.web.session import end_session, session_token
from postroom.web.templating import render

if TYPE_CHECKING:
    from postroom.web.context import WebServices, WebSettings

T = TypeVar("T")
WRONG_PASSWORD = "your current password is not right"
TOO_MANY = "Too many wrong passwords or codes; log in again."


def _text(form: FormData, name: str, most: int = 200) -> str:
    value = form.get(name)
    return value[:most] if isinstance(value, str) else ""


def _account_id(user: WebUser) -> int:
    account_id = user.actor.principal.account_id
    assert account_id is not None  # web sessions belong to accounts (services/websessions.py)
    return account_id


def routes(services: WebServices, settings: WebSettings) -> list[BaseRoute]:
    two_factor, sessions = services.two_factor, services.sessions
    apps, own = services.app_passwords, services.own_account

    async def me(request: Request) -> Response:
        user = require_user(request)
        account_id = _account_id(user)
        return render(request, "me.html", {
            "status": await two_factor.status(account_id),
            "policy": two_factor.policy(user.actor.principal),
            "sessions": await sessions.list(account_id),
            "apps": await apps.list(user.actor)})

    # -- password --------------------------------------------------------------------------
    async def password_page(request: Request) -> Response:
        require_user(request)
        return render(request, "me_password.html", {"error": ""})

    async def password(request: Request) -> Response:
        user = require_user(request)
        form = await request.form()
        current = _text(form, "current", MAX_PASSWORD + 1)
        new, again = _text(form, "new", MAX_PASSWORD + 1), _text(form, "again",
                                                                   MAX_PASSWORD + 1)
        token = session_token(request) or ""
        error, status = "", 200
        if new != again:
            error, status = "The new password and its repetition differ.", 422
        else:
            ip, address = client_ip(request), user.address
            await services.auth.before(ip, address)
            try:
                await own.change_password(user.actor, current, new, token)
            except MailError as exc:
                if exc.kind is Kind.AUTH_FAILED:  # a guess at the password: throttled
                    await services.auth.failed(str(request.state.realm), ip, address)
                error = exc.text[:1].upper() + exc.text[1:] + "."
                status = status_of(exc)
        if error:
            return render(request, "me_password.html", {"error": error}, status=status)
        return redirect("/me", "Your password is changed; your other sessions have ended.")

    # -- proving it is still the account's owner ------------------------------------------
    async def reauthenticated(request: Request, user: WebUser, form: FormData,
                              action: Callable[[], Awaitable[T]],
                              code_too: bool = False) -> T | Response:
        """``action`` after the current password (and, with ``code_too``, a second-factor
        code) proves that the owner is at the keyboard, not someone with a copied cookie.

        Each try is a login attempt: the throttle's wait first (``auth.before``); a wrong
        password or code (AUTH_FAILED, from here or from ``action``) is a failed login
        (``auth.failed``: log line, screening, throttle) and one more on the session's count.
        At ``web.login_code_attempts`` the session ends and the answer is the redirect to
        log in again; otherwise the MailError goes to the caller to show."""
        ip, address = client_ip(request), user.address
        await services.auth.before(ip, address)
        try:
            if not await password_ok(user, _text(form, "password", MAX_PASSWORD + 1)):
                raise MailError(Kind.AUTH_FAILED, WRONG_PASSWORD)
            if code_too and await two_factor.verify(_account_id(user),
                                                    _text(form, "code", 64)) is None:
                raise wrong_code()
            return await action()
        except MailError as exc:
            if exc.kind is not Kind.AUTH_FAILED:
                raise
            await services.auth.failed(str(request.state.realm), ip, address)
            token = session_token(request)
            if token is not None and \
                    await sessions.count_attempt(token) >= sessions.code_attempts:
                await sessions.end(token)
                response = redirect("/login", TOO_MANY)
                end_session(request, response)
                return response
            raise

    async def password_ok(user: WebUser, password: str) -> bool:
        if not password:
            return False
        try:
            found = await services.auth.web_password(user.address, password)
        except MailError:  # disabled or frozen meanwhile: no proof
            return False
        return found is not None and found.account_id == _account_id(user)

    # -- second factor ---------------------------------------------------------------------
    async def twofactor_page(request: Request) -> Response:
        user = require_user(request)
        status = await two_factor.status(_account_id(user))
        policy = two_factor.policy(user.actor.principal)
        enrolment = None if status.enabled or policy == "off" else await enrolling(user)
        return render(request, "me_2fa.html", {
            "status": status, "policy": policy, "enrolment": enrolment, "error": "",
            "qr": "/me/2fa/qr.svg", "action": "/me/2fa/enrol", "next": "", "required": False},
            headers=NO_STORE)

    async def enrolling(user: WebUser) -> Enrolment | None:
        """The enrolment to show; None when another tab finished it a moment ago (the page
        then shows the second factor as on)."""
        try:
            return await two_factor.begin(user.actor.principal)
        except MailError:
            return None

    async def twofactor_qr(request: Request) -> Response:
        user = require_user(request)
        try:
            enrolment = await two_factor.begin(user.actor.principal)
        except MailError:
            return Response(status_code=404)
        return qr_response(enrolment.uri)

    async def coded(request: Request) -> tuple[WebUser, str]:
        user = require_user(request)
        form = await request.form()
        return user, _text(form, "code", 64)

    async def twofactor_error(request: Request, user: WebUser, exc: MailError) -> Response:
        error = exc.text
        status = await two_factor.status(_account_id(user))
        policy = two_factor.policy(user.actor.principal)
        enrolment = None if status.enabled or policy == "off" else await enrolling(user)
        return render(request, "me_2fa.html", {
            "status": status, "policy": policy, "enrolment": enrolment, "error": error,
            "qr": "/me/2fa/qr.svg", "action": "/me/2fa/enrol", "next": "", "required": False},
            status=status_of(exc), headers=NO_STORE)

    async def twofactor_enrol(request: Request) -> Response:
        user, code = await coded(request)
        try:
            codes = await two_factor.confirm(user.actor, code)
        except MailError as exc:
            return await twofactor_error(request, user, exc)
        return render(request, "recovery_codes.html", {"codes": codes, "continue": "/me"},
                      headers=NO_STORE)

    async def twofactor_disable(request: Request) -> Response:
        user = require_user(request)
        form = await request.form()
        try:
            done = await reauthenticated(request, user, form, lambda: two_factor.disable(
                user.actor, _text(form, "code", 64)))
        except MailError as exc:
            return await twofactor_error(request, user, exc)
        if isinstance(done, Response):
            return done
        return redirect("/me", "Two-factor authentication is off.")

    async def recovery_codes(request: Request) -> Response:
        user = require_user(request)
        form = await request.form()
        try:
            codes = await reauthenticated(request, user, form, lambda: two_factor.regenerate(
                user.actor, _text(form, "code", 64)))
        except MailError as exc:
            return await twofactor_error(request, user, exc)
        if isinstance(codes, Response):
            return codes
        return render(request, "recovery_codes.html", {"codes": codes, "continue": "/me"},
                      headers=NO_STORE)

    # -- app passwords ---------------------------------------------------------------------
    async def apps_page(request: Request, error: str = "", status: int = 200) -> Response:
        user = require_user(request)
        return render(request, "me_apps.html", {
            "apps": await apps.list(user.actor), "error": error, "created": None,
            "password": "", "most": apps.most, "when": when,
            "two_factor": (await two_factor.status(_account_id(user))).enabled},
            status=status)

    async def apps_create(request: Request) -> Response:
        user = require_user(request)
        form = await request.form()
        enabled = await two_factor.enabled(_account_id(user))
        try:
            clean_name(_text(form, "name", 200))  # a bad name costs no code, no attempt
            made = await reauthenticated(request, user, form, lambda: apps.create(
                user.actor, _text(form, "name", 200)), code_too=enabled)
        except MailError as exc:
            return await apps_page(request, exc.text, status_of(exc))
        if isinstance(made, Response):
            return made
        rec, secret = made
        return render(request, "me_apps.html", {
            "apps": await apps.list(user.actor), "error": "", "created": rec,
            "password": secret, "most": apps.most, "when": when,
            "two_factor": (await two_factor.status(_account_id(user))).enabled},
            headers=NO_STORE)

    async def apps_revoke(request: Request) -> Response:
        user = require_user(request)
        try:
            await apps.revoke(user.actor, int(request.path_params["app_id"]))
        except MailError as exc:
            return await apps_page(request, exc.text, 404)
        return redirect("/me/app-passwords", "The app password is revoked.")

    # -- sessions --------------------------------------------------------------------------
    async def sessions_page(request: Request) -> Response:
        user = require_user(request)
        return render(request, "me_sessions.html", {
            "sessions": await sessions.list(_account_id(user)),
            "current": user.session_id, "when": when})

    async def sessions_end(request: Request) -> Response:
        user = require_user(request)
        public_id = str(request.path_params["public_id"])
        if public_id == user.session_id:
            return RedirectResponse("/me/sessions", 303)  # "log out" ends this one
        try:
            await sessions.end_other(user.actor, public_id)
        except MailError:
            return RedirectResponse("/me/sessions", 303)  # already gone
        return redirect("/me/sessions", "The session has ended.")

    # -- Apple profile ---------------------------------------------------------------------
    async def mobileconfig(request: Request) -> Response:
        user = require_user(request)
        found = await services.client_config.for_address(user.address)
        document = profile(found, user.address) if found is not None else None
        if document is None:
            return redirect("/me", "This server offers no IMAP and SMTP with TLS to configure.")
        local = user.address.split("@", 1)[0]
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in local) or "mail"
        return Response(document, media_type=MEDIA_TYPE, headers={
            "Content-Disposition": f'attachment; filename="{safe}.mobileconfig"',
            **NO_STORE})

    return [Route("/me", me, methods=["GET"]),
            Route("/me/password", password_page, methods=["GET"]),
            Route("/me/password", password, methods=["POST"]),
            Route("/me/2fa", twofactor_page, methods=["GET"]),
            Route("/me/2fa/qr.svg", twofactor_qr, methods=["GET"]),
            Route("/me/2fa/enrol", twofactor_enrol, methods=["POST"]),
            Route("/me/2fa/disable", twofactor_disable, methods=["POST"]),
            Route("/me/2fa/recovery-codes", recovery_codes, methods=["POST"]),
            Route("/me/app-passwords", apps_page, methods=["GET"]),
            Route("/me/app-passwords", apps_create, methods=["POST"]),
            Route("/me/app-passwords/{app_id:int}/revoke", apps_revoke, methods=["POST"]),
            Route("/me/sessions", sessions_page, methods=["GET"]),
            Route("/me/sessions/{public_id:str}/end", sessions_end, methods=["POST"]),
            Route("/me/apple.mobileconfig", mobileconfig, methods=["GET"])]
