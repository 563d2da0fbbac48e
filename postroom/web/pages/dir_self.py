"""A user's own MultiPOP accounts (``/me/multipop``): remote POP3 mailboxes the server
collects from into the user's folders.

The page acts as the logged-in user on their own address; ``MultipopAdmin`` lets an account
manage its own remote accounts (and administrators those of their domains), so the page
decides nothing. The remote password is sealed at rest by the service and never shown again.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from postroom.core.errors import MailError, invalid
from postroom.services.admin import Admin
from postroom.services.multipop import MIN_INTERVAL, TLS_MODES
from postroom.web.identity import WebUser, require_user
from postroom.web.pages.dir_common import back, checked, form_again, form_of, pages, text, view

FIELDS = ("host", "port", "username", "tls", "interval", "folder", "delete_after_days")


def _number(value: str, name: str) -> int | None:
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise invalid(f"{name}: give a whole number") from None


def routes(admin: Admin) -> list[BaseRoute]:
    multipop = admin.multipop

    async def page(request: Request, user: WebUser, values: dict[str, str],
                   exc: MailError | None = None) -> Response:
        context = {"remotes": await multipop.list(user.actor, user.address),
                   "values": values, "tls_modes": TLS_MODES, "min_interval": MIN_INTERVAL}
        if exc is not None:
            return form_again(request, "admin/multipop.html", context, exc,
                              ("host", "port", "user:username", "tls", "interval",
                               "folder", "delete-after-days:delete_after_days",
                               "password"), "host")
        return view(request, "admin/multipop.html", context)

    @pages
    async def index(request: Request) -> Response:
        user = require_user(request)
        values = {"host": "", "port": "", "username": "", "tls": "implicit",
                  "interval": "600", "folder": "INBOX", "delete_after_days": "",
                  "leave_on_server": ""}
        if request.method == "GET":
            return await page(request, user, values)
        form = await form_of(request)
        values = {**values, **{k: text(form, k) for k in FIELDS},
                  "leave_on_server": "on" if checked(form, "leave_on_server") else ""}
        try:
            interval = _number(values["interval"], "interval")
            await multipop.add(
                user.actor, user.address, host=values["host"],
                username=values["username"], password=str(form.get("password") or ""),
                tls=values["tls"], port=_number(values["port"], "port"),
                leave_on_server=bool(values["leave_on_server"]),
                delete_after_days=_number(values["delete_after_days"], "delete-after-days"),
                interval=interval if interval is not None else 600,
                folder=values["folder"] or "INBOX")
        except MailError as exc:
            return await page(request, user, values, exc)
        return back("/me/multipop", f"Collecting from {values['host']} added.")

    def remote_id(form_value: str) -> int:
        number = _number(form_value, "id")
        if number is None:
            raise invalid("which remote account?")
        return number

    @pages
    async def toggle(request: Request) -> Response:
        user = require_user(request)
        form = await form_of(request)
        on = text(form, "enabled") == "1"
        await multipop.update(user.actor, user.address, remote_id(text(form, "id")),
                              enabled=on)
        return back("/me/multipop", "Collection switched " + ("on." if on else "off."))

    async def edit_page(request: Request, user: WebUser, rid: int, values: dict[str, str],
                        exc: MailError | None = None) -> Response:
        remote = await multipop.one(user.actor, user.address, rid)
        context = {"remote": remote, "values": values, "min_interval": MIN_INTERVAL}
        if exc is not None:
            return form_again(request, "admin/multipop_edit.html", context, exc,
                              ("interval", "folder", "delete-after-days:delete_after_days",
                               "password"), "interval")
        return view(request, "admin/multipop_edit.html", context)

    @pages
    async def edit(request: Request) -> Response:
        """One remote account: a new password, the interval, the folder, what is left on
        the server (host, user and TLS identify it: remove it and add another to change
        them)."""
        user = require_user(request)
        rid = remote_id(str(request.path_params["rid"]))
        remote = await multipop.one(user.actor, user.address, rid)
        values = {"interval": str(remote.interval_s), "folder": remote.folder,
                  "leave_on_server": "on" if remote.leave_on_server else "",
                  "delete_after_days": str(remote.delete_after_days or "")}
        if request.method == "GET":
            return await edit_page(request, user, rid, values)
        form = await form_of(request)
        values = {**{k: text(form, k) for k in ("interval", "folder", "delete_after_days")},
                  "leave_on_server": "on" if checked(form, "leave_on_server") else ""}
        password = str(form.get("password") or "")
        try:
            await multipop.update(
                user.actor, user.address, rid, password=password or None,
                interval=_number(values["interval"], "interval"),
                folder=values["folder"] or None,
                leave_on_server=bool(values["leave_on_server"]),
                delete_after_days=_number(values["delete_after_days"] or "0",
                                          "delete-after-days"))
        except MailError as exc:
            return await edit_page(request, user, rid, values, exc)
        return back("/me/multipop", f"Collecting from {remote.host} changed.")

    @pages
    async def remove(request: Request) -> Response:
        user = require_user(request)
        form = await form_of(request)
        await multipop.remove(user.actor, user.address, remote_id(text(form, "id")))
        return back("/me/multipop", "Remote account removed.")

    return [Route("/me/multipop", index, methods=["GET", "POST"]),
            Route("/me/multipop/enable", toggle, methods=["POST"]),
            Route("/me/multipop/remove", remove, methods=["POST"]),
            Route("/me/multipop/{rid}", edit, methods=["GET", "POST"])]  # after the verbs
