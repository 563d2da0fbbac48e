"""MultiPOP accounts: remote POP3 mailboxes the server collects from into a user's folders.

The same pages serve a user's own (``/me/multipop``, acting on their own address), for
administrators any account's they administer (``/users/ADDRESS/multipop``), and webmail's
settings (``/webmail/settings/multipop``, drawn in webmail's frame: ``Face``).
``MultipopAdmin`` lets an account manage its own remote accounts and administrators those of
their domains, so the page decides nothing. The remote password is sealed at rest by the
service and never shown again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from postroom.core.errors import MailError, invalid
from postroom.services.admin import Admin
from postroom.services.multipop import MIN_INTERVAL, TLS_MODES
from postroom.web.forms import back, checked, read_form, status_of, text
from postroom.web.identity import WebUser, require_user
from postroom.web.pages.dir_common import HELPERS, field_for, pages, view
from postroom.web.pages.dir_common import admin as require_admin
from postroom.web.pages.dir_users import user_url

FIELDS = ("host", "port", "username", "tls", "interval", "folder", "delete_after_days")


def _number(value: str, name: str) -> int | None:
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise invalid(f"{name}: give a whole number") from None


@dataclass(frozen=True, slots=True)
class Whose:
    """Whose remote accounts a request is about, and where their pages are."""

    user: WebUser
    address: str
    base: str  # "/me/multipop" or "/users/ADDRESS/multipop"
    own: bool


def whose(request: Request) -> Whose:
    if "address" in request.path_params:
        user = require_admin(request)
        address = str(request.path_params["address"])
        return Whose(user, address, user_url(address, "/multipop"), False)
    user = require_user(request)
    return Whose(user, user.address, "/me/multipop", True)


Draw = Callable[[Request, str, Mapping[str, Any], int], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class Face:
    """How one web face shows these pages: whose accounts a request is about, how a page
    is drawn (its frame), and the two templates (which include admin/_multipop*.html)."""

    whose: Callable[[Request], Whose]
    draw: Draw
    index: str = "admin/multipop.html"
    edit: str = "admin/multipop_edit.html"


async def _draw_admin(request: Request, template: str, context: Mapping[str, Any],
                      status: int) -> Response:
    return view(request, template, context, status)


ADMIN_FACE = Face(whose, _draw_admin)


def routes(admin: Admin) -> list[BaseRoute]:
    out: list[BaseRoute] = []
    for base in ("/me/multipop", "/users/{address}/multipop"):
        out += face_routes(admin, ADMIN_FACE, base)
    return out


def face_routes(admin: Admin, face: Face, base: str) -> list[BaseRoute]:
    """The MultiPOP pages under ``base`` for one face."""
    multipop = admin.multipop
    whose = face.whose

    async def form_again(request: Request, template: str, context: Mapping[str, Any],
                         exc: MailError, fields: tuple[str, ...], default: str) -> Response:
        errors = {field_for(exc, fields, default): exc.text}
        return await face.draw(request, template, {**HELPERS, **context, "errors": errors},
                               status_of(exc))

    async def draw(request: Request, template: str, context: Mapping[str, Any]) -> Response:
        return await face.draw(request, template, {**HELPERS, "errors": {}, **context}, 200)

    async def page(request: Request, who: Whose, values: dict[str, str],
                   exc: MailError | None = None) -> Response:
        context = {"remotes": await multipop.list(who.user.actor, who.address),
                   "values": values, "tls_modes": TLS_MODES, "min_interval": MIN_INTERVAL,
                   "who": who}
        if exc is not None:
            return await form_again(request, face.index, context, exc,
                                    ("host", "port", "user:username", "tls", "interval",
                                     "folder", "delete-after-days:delete_after_days",
                                     "password"), "host")
        return await draw(request, face.index, context)

    @pages
    async def index(request: Request) -> Response:
        who = whose(request)
        values = {"host": "", "port": "", "username": "", "tls": "implicit",
                  "interval": "600", "folder": "INBOX", "delete_after_days": "",
                  "leave_on_server": ""}
        if request.method == "GET":
            return await page(request, who, values)
        form = await read_form(request)
        values = {**values, **{k: text(form, k) for k in FIELDS},
                  "leave_on_server": "on" if checked(form, "leave_on_server") else ""}
        try:
            interval = _number(values["interval"], "interval")
            await multipop.add(
                who.user.actor, who.address, host=values["host"],
                username=values["username"], password=form.raw("password"),
                tls=values["tls"], port=_number(values["port"], "port"),
                leave_on_server=bool(values["leave_on_server"]),
                delete_after_days=_number(values["delete_after_days"], "delete-after-days"),
                interval=interval if interval is not None else 600,
                folder=values["folder"] or "INBOX")
        except MailError as exc:
            return await page(request, who, values, exc)
        return back(who.base, f"Collecting from {values['host']} added.")

    def remote_id(form_value: str) -> int:
        number = _number(form_value, "id")
        if number is None:
            raise invalid("which remote account?")
        return number

    @pages
    async def toggle(request: Request) -> Response:
        who = whose(request)
        form = await read_form(request)
        on = text(form, "enabled") == "1"
        await multipop.update(who.user.actor, who.address, remote_id(text(form, "id")),
                              enabled=on)
        return back(who.base, "Collection switched " + ("on." if on else "off."))

    async def edit_page(request: Request, who: Whose, rid: int, values: dict[str, str],
                        exc: MailError | None = None) -> Response:
        remote = await multipop.one(who.user.actor, who.address, rid)
        context = {"remote": remote, "values": values, "min_interval": MIN_INTERVAL,
                   "who": who}
        if exc is not None:
            return await form_again(request, face.edit, context, exc,
                                    ("interval", "folder",
                                     "delete-after-days:delete_after_days", "password"),
                                    "interval")
        return await draw(request, face.edit, context)

    @pages
    async def edit(request: Request) -> Response:
        """One remote account: a new password, the interval, the folder, what is left on
        the server (host, user and TLS identify it: remove it and add another to change
        them)."""
        who = whose(request)
        rid = remote_id(str(request.path_params["rid"]))
        remote = await multipop.one(who.user.actor, who.address, rid)
        values = {"interval": str(remote.interval_s), "folder": remote.folder,
                  "leave_on_server": "on" if remote.leave_on_server else "",
                  "delete_after_days": str(remote.delete_after_days or "")}
        if request.method == "GET":
            return await edit_page(request, who, rid, values)
        form = await read_form(request)
        values = {**{k: text(form, k) for k in ("interval", "folder", "delete_after_days")},
                  "leave_on_server": "on" if checked(form, "leave_on_server") else ""}
        password = form.raw("password")
        try:
            await multipop.update(
                who.user.actor, who.address, rid, password=password or None,
                interval=_number(values["interval"], "interval"),
                folder=values["folder"] or None,
                leave_on_server=bool(values["leave_on_server"]),
                delete_after_days=_number(values["delete_after_days"] or "0",
                                          "delete-after-days"))
        except MailError as exc:
            return await edit_page(request, who, rid, values, exc)
        return back(who.base, f"Collecting from {remote.host} changed.")

    @pages
    async def remove(request: Request) -> Response:
        who = whose(request)
        form = await read_form(request)
        await multipop.remove(who.user.actor, who.address, remote_id(text(form, "id")))
        return back(who.base, "Remote account removed.")

    return [Route(base, index, methods=["GET", "POST"]),
            Route(base + "/enable", toggle, methods=["POST"]),
            Route(base + "/remove", remove, methods=["POST"]),
            Route(base + "/{rid}", edit, methods=["GET", "POST"])]  # after the verbs
