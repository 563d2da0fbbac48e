"""Administrators (global administrators only): who administers what; grant and revoke the
global role or a domain's."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from postroom.core.errors import MailError
from postroom.services.admin import Admin
from postroom.web.forms import back, read_form, text
from postroom.web.identity import WebUser
from postroom.web.pages.dir_common import form_again, global_admin, pages, view

GLOBAL = "*"  # the scope the services name the global role by


def routes(admin: Admin) -> list[BaseRoute]:
    async def context(user: WebUser, values: dict[str, str]) -> dict[str, object]:
        return {"admins": await admin.roles.list(user.actor), "values": values,
                "domains": [i.domain.name for i in await admin.domains.list(user.actor)],
                "GLOBAL": GLOBAL}

    @pages
    async def index(request: Request) -> Response:
        user = global_admin(request)
        values = {"address": "", "scope": GLOBAL}
        if request.method == "GET":
            return view(request, "admin/admins.html", await context(user, values))
        form = await read_form(request)
        values = {"address": text(form, "address"), "scope": text(form, "scope") or GLOBAL}
        scope = None if values["scope"] == GLOBAL else values["scope"]
        try:
            await admin.roles.set(user.actor, values["address"], scope, True)
        except MailError as exc:
            return form_again(request, "admin/admins.html", await context(user, values), exc,
                              ("scope", "domain"), "address")
        what = "a global administrator" if scope is None else f"an administrator of {scope}"
        return back("/admins", f"{values['address']} is now {what}.")

    @pages
    async def revoke(request: Request) -> Response:
        user = global_admin(request)
        form = await read_form(request)
        address, scope = text(form, "address"), text(form, "scope")
        await admin.roles.set(user.actor, address, None if scope == GLOBAL else scope, False)
        return back("/admins", f"Role of {address} revoked.")

    return [Route("/admins", index, methods=["GET", "POST"]),
            Route("/admins/revoke", revoke, methods=["POST"])]
