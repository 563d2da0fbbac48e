"""Gateways, ATRN providers and Minger (services/admin/relay.py, docs/odmr.md).

- ``/gateways``: the gateway domains (mail we accept and hold or pass on for someone else's
  domain) with a form to add one; the ATRN providers we collect our own mail from, with a form
  to add one; and Minger's configured state, read-only (it lives in the configuration file).
- ``/gateways/{domain}`` and ``/atrn/{name}``: one of each, its edit form and its removal
  (after a confirmation page).

Secrets (a gateway's Minger secret, a provider's password) are never shown: a form leaves an
empty secret field as "keep the current one". The rules are the services'; a refusal is shown
with the form again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from postroom.core.errors import MailError, invalid
from postroom.services.atrn import MIN_INTERVAL
from postroom.services.atrn import TLS_MODES as ATRN_TLS
from postroom.services.gateways import UNVERIFIABLE, VERIFY_MODES
from postroom.web.forms import Form, back, read_form, status_of
from postroom.web.identity import WebUser, require_user
from postroom.web.pages.ops_common import Confirm, confirm_page, page, refused

if TYPE_CHECKING:
    from postroom.web.context import WebServices, WebSettings

MAX_NAME = 253


def _lines(text: str) -> list[str]:
    """Addresses or names typed one per line, or separated by commas or spaces."""
    return [item for item in text.replace(",", " ").split() if item]


def _number(form: Form, name: str, what: str) -> int | None:
    text = form.get(name)
    if not text:
        return None
    if not text.isdigit() or len(text) > 9:
        raise invalid(f"{what}: a whole number")
    return int(text)


def _default(value: int | None, default: int) -> int:
    return default if value is None else value  # 0 is a value (refused by the service)


def _name(request: Request, key: str) -> str:
    value = str(request.path_params[key])
    if not value or len(value) > MAX_NAME:
        raise HTTPException(404)
    return value


def routes(services: WebServices, settings: WebSettings) -> list[BaseRoute]:
    gateways = services.admin.gateways
    atrn = services.admin.atrn
    minger = settings.minger
    choices = {"verify_modes": VERIFY_MODES, "unverifiable_modes": UNVERIFIABLE,
               "tls_modes": ATRN_TLS, "min_interval": MIN_INTERVAL}

    async def overview(request: Request, user: WebUser, status: int = 200,
                       **extra: Any) -> Response:
        context: dict[str, Any] = {**choices, "minger": minger, "gateways": [],
                                   "providers": [], "gw_form": {}, "atrn_form": {}, **extra}
        try:
            context["gateways"] = await gateways.list(user.actor)
            context["providers"] = await atrn.list(user.actor)
        except MailError as exc:
            return refused(request, "ops/gateways.html", context, exc)
        return page(request, "ops/gateways.html", context, status)

    async def listing(request: Request) -> Response:
        return await overview(request, require_user(request, "global"))

    async def add_gateway(request: Request) -> Response:
        user = require_user(request, "global")
        form = await read_form(request)
        try:
            rec = await gateways.add(
                user.actor, form.get("domain"), deliver_to=form.get("deliver_to"),
                verify=form.get("verify", "none"), minger_host=form.get("minger_host"),
                minger_secret=form.raw("minger_secret") or None,
                unverifiable=form.get("unverifiable", "defer"),
                recipients=_lines(form.get("recipients")),
                atrn_users=_lines(form.get("atrn_users")))
        except MailError as exc:
            return await overview(request, user, status_of(exc), error=exc.text,
                                  gw_form=_keep(form, "minger_secret"))
        return back(f"/gateways/{rec.domain}", f"Gateway {rec.domain} added.")

    async def add_provider(request: Request) -> Response:
        user = require_user(request, "global")
        form = await read_form(request)
        try:
            rec = await atrn.add(
                user.actor, form.get("name"), host=form.get("host"),
                username=form.get("username"), password=form.raw("password"),
                domains=_lines(form.get("domains")), tls=form.get("tls", "starttls"),
                port=_number(form, "port", "port"),
                tls_verify=not form.checked("no_verify_tls"),
                interval=_default(_number(form, "interval", "interval"), 600),
                enabled=not form.checked("disabled"))
        except MailError as exc:
            return await overview(request, user, status_of(exc), error=exc.text,
                                  atrn_form=_keep(form, "password"))
        return back(f"/atrn/{rec.name}", f"ATRN provider {rec.name} added.")

    async def gateway(request: Request, error: str = "", status: int = 200) -> Response:
        user = require_user(request, "global")
        domain = _name(request, "domain")
        try:
            rec, waiting = await gateways.show(user.actor, domain)
        except MailError as exc:
            return refused(request, "ops/gateway.html", {**choices, "rec": None}, exc)
        return page(request, "ops/gateway.html", {**choices, "rec": rec, "waiting": waiting,
                                                  "error": error}, status)

    async def show_gateway(request: Request) -> Response:
        return await gateway(request)

    async def edit_gateway(request: Request) -> Response:
        user = require_user(request, "global")
        domain = _name(request, "domain")
        form = await read_form(request)
        secret: str | None = form.raw("minger_secret") or None
        if form.checked("clear_secret"):
            secret = ""
        fields: dict[str, str | None] = {
            "deliver_to": "" if form.checked("hold") else form.get("deliver_to"),
            "verify": form.get("verify") or None, "minger_host": form.get("minger_host"),
            "unverifiable": form.get("unverifiable") or None, "minger_secret": secret}
        try:
            rec = await gateways.update(
                user.actor, domain, fields=fields,
                add_recipients=_lines(form.get("add_recipients")),
                drop_recipients=form.all("drop_recipient"),
                add_users=_lines(form.get("add_users")), drop_users=form.all("drop_user"))
        except MailError as exc:
            return await gateway(request, exc.text, status_of(exc))
        return back(f"/gateways/{rec.domain}", f"Gateway {rec.domain} updated.")

    async def remove_gateway(request: Request) -> Response:
        user = require_user(request, "global")
        domain = _name(request, "domain")
        form = await read_form(request) if request.method == "POST" else Form([])
        if form.get("confirm") != "yes":
            return confirm_page(request, Confirm(
                f"Remove gateway {domain}",
                f"Mail for {domain} will no longer be accepted for the gateway. Mail still "
                "waiting for it is handed to normal MX delivery.",
                f"/gateways/{domain}/remove", f"/gateways/{domain}",
                f"Remove gateway {domain}"))
        try:
            waiting = await gateways.remove(user.actor, domain, force=True)
        except MailError as exc:
            return await gateway(request, exc.text, status_of(exc))
        note = f"; {waiting} waiting messages go to normal MX delivery" if waiting else ""
        return back("/gateways", f"Gateway {domain} removed{note}.")

    async def provider(request: Request, error: str = "", status: int = 200) -> Response:
        user = require_user(request, "global")
        name = _name(request, "name")
        try:
            rec = await atrn.show(user.actor, name)
        except MailError as exc:
            return refused(request, "ops/provider.html", {**choices, "rec": None}, exc)
        return page(request, "ops/provider.html", {**choices, "rec": rec, "error": error},
                    status)

    async def show_provider(request: Request) -> Response:
        return await provider(request)

    async def edit_provider(request: Request) -> Response:
        user = require_user(request, "global")
        name = _name(request, "name")
        form = await read_form(request)
        try:
            await atrn.update(
                user.actor, name, password=form.raw("password") or None,
                host=form.get("host") or None, username=form.get("username") or None,
                tls=form.get("tls") or None, port=_number(form, "port", "port"),
                interval=_number(form, "interval", "interval"),
                domains=_lines(form.get("domains")),
                tls_verify=not form.checked("no_verify_tls"),
                enabled=not form.checked("disabled"))
        except MailError as exc:
            return await provider(request, exc.text, status_of(exc))
        return back(f"/atrn/{name}", f"ATRN provider {name} updated.")

    async def remove_provider(request: Request) -> Response:
        user = require_user(request, "global")
        name = _name(request, "name")
        form = await read_form(request) if request.method == "POST" else Form([])
        if form.get("confirm") != "yes":
            return confirm_page(request, Confirm(
                f"Remove ATRN provider {name}",
                f"Mail held for us at {name} will no longer be collected.",
                f"/atrn/{name}/remove", f"/atrn/{name}", f"Remove provider {name}"))
        try:
            await atrn.remove(user.actor, name)
        except MailError as exc:
            return await provider(request, exc.text, status_of(exc))
        return back("/gateways", f"ATRN provider {name} removed.")

    return [Route("/gateways", listing, methods=["GET"]),
            Route("/gateways", add_gateway, methods=["POST"]),
            Route("/atrn", add_provider, methods=["POST"]),
            Route("/gateways/{domain}", show_gateway, methods=["GET"]),
            Route("/gateways/{domain}", edit_gateway, methods=["POST"]),
            Route("/gateways/{domain}/remove", remove_gateway, methods=["GET", "POST"]),
            Route("/atrn/{name}", show_provider, methods=["GET"]),
            Route("/atrn/{name}", edit_provider, methods=["POST"]),
            Route("/atrn/{name}/remove", remove_provider, methods=["GET", "POST"])]


def _keep(form: Form, secret: str) -> dict[str, str]:
    """What the form shows again after a refusal: what was typed, except the secret."""
    values = form.values()
    values.pop(secret, None)
    values.pop("csrf", None)
    return values
