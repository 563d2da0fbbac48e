"""Domains (global administrators): list with their counts, add, show, remove.

Removing a domain asks for confirmation on its own page (a GET shows what will go, the POST
does it); the store refuses while accounts, aliases or groups remain, and the page says so.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from postroom.core.errors import MailError
from postroom.services.admin import Admin
from postroom.web.forms import back, read_form, text
from postroom.web.pages.dir_common import form_again, global_admin, pages, path_param, view


def routes(admin: Admin) -> list[BaseRoute]:
    @pages
    async def index(request: Request) -> Response:
        user = global_admin(request)
        return view(request, "admin/domains.html",
                      {"domains": await admin.domains.list(user.actor), "name": ""})

    @pages
    async def add(request: Request) -> Response:
        user = global_admin(request)
        form = await read_form(request)
        name = text(form, "name")
        try:
            domain = await admin.domains.add(user.actor, name)
        except MailError as exc:
            context = {"domains": await admin.domains.list(user.actor), "name": name}
            return form_again(request, "admin/domains.html", context, exc, (), "name")
        return back(f"/domains/{domain}", f"Domain {domain} added.")

    @pages
    async def show(request: Request) -> Response:
        user = global_admin(request)
        info = await admin.domains.show(user.actor, path_param(request, "name"))
        return view(request, "admin/domain.html", {"info": info, "confirm": False})

    @pages
    async def remove(request: Request) -> Response:
        user = global_admin(request)
        name = path_param(request, "name")
        if request.method == "GET":
            info = await admin.domains.show(user.actor, name)
            return view(request, "admin/domain.html", {"info": info, "confirm": True})
        try:
            await admin.domains.remove(user.actor, name)
        except MailError as exc:
            info = await admin.domains.show(user.actor, name)
            return form_again(request, "admin/domain.html", {"info": info, "confirm": True},
                              exc, (), "remove")
        return back("/domains", f"Domain {name} removed.")

    return [Route("/domains", index, methods=["GET"]),
            Route("/domains", add, methods=["POST"]),
            Route("/domains/{name}", show, methods=["GET"]),
            Route("/domains/{name}/remove", remove, methods=["GET", "POST"])]
