"""Aliases and groups: list per domain, add, remove; a group's members added and removed.

A domain administrator sees the aliases and groups of the domains they administer (one
listing per domain, as the services offer it); a global administrator sees every domain's.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from postroom.core.errors import MailError, not_found
from postroom.services.admin import Admin
from postroom.web.forms import back, read_form, text
from postroom.web.identity import WebUser
from postroom.web.pages.dir_common import admin as require_admin
from postroom.web.pages.dir_common import form_again, pages, path_param, view

_SPLIT = re.compile(r"[\s,;]+")


def addresses(value: str) -> list[str]:
    """A list typed into one field: commas, semicolons, spaces or new lines between."""
    return [part for part in _SPLIT.split(value) if part]


def group_url(address: str, tail: str = "") -> str:
    return f"/groups/{quote(address, safe='@')}{tail}"


def routes(admin: Admin) -> list[BaseRoute]:
    async def listing(user: WebUser, domain: str | None, what: str) -> list[Any]:
        """Aliases or groups of one domain, or of every domain the user may see."""
        service: Any = admin.aliases if what == "aliases" else admin.groups
        if domain:
            return list(await service.list(user.actor, domain))
        if user.role == "global":
            return list(await service.list(user.actor, None))
        out: list[Any] = []
        for info in await admin.domains.list(user.actor):
            out += await service.list(user.actor, info.domain.name)
        return out

    def domain_of(request: Request) -> str | None:
        return (request.query_params.get("domain") or "").strip() or None

    # -- aliases ---------------------------------------------------------------------------------
    async def aliases_page(request: Request, user: WebUser, values: dict[str, str],
                           exc: MailError | None = None) -> Response:
        domain = domain_of(request)
        context = {"aliases": await listing(user, domain, "aliases"), "domain": domain or "",
                   "values": values}
        if exc is not None:
            return form_again(request, "admin/aliases.html", context, exc, ("targets",),
                              "alias")
        return view(request, "admin/aliases.html", context)

    @pages
    async def aliases(request: Request) -> Response:
        user = require_admin(request)
        if request.method == "GET":
            return await aliases_page(request, user, {"alias": "", "targets": ""})
        form = await read_form(request)
        values = {"alias": text(form, "alias"), "targets": text(form, "targets")}
        try:
            rec = await admin.aliases.add(user.actor, values["alias"],
                                          addresses(values["targets"]))
        except MailError as exc:
            return await aliases_page(request, user, values, exc)
        return back("/aliases", f"Alias {rec.address} added.")

    @pages
    async def alias_edit(request: Request) -> Response:
        """One alias's targets, replaced as a whole (its own page, so a mistake comes back
        next to the field)."""
        user = require_admin(request)
        address = path_param(request, "address")
        rec = next((a for a in await listing(user, address.rpartition("@")[2], "aliases")
                    if a.address == address), None)
        if rec is None:
            raise not_found(f"no alias {address}")
        values = {"targets": ", ".join(rec.targets)}
        if request.method == "GET":
            return view(request, "admin/alias.html", {"alias": rec, "values": values})
        form = await read_form(request)
        values = {"targets": text(form, "targets")}
        try:
            await admin.aliases.set_targets(user.actor, address, addresses(values["targets"]))
        except MailError as exc:
            return form_again(request, "admin/alias.html", {"alias": rec, "values": values},
                              exc, (), "targets")
        return back("/aliases", f"Alias {address} changed.")

    @pages
    async def alias_remove(request: Request) -> Response:
        user = require_admin(request)
        form = await read_form(request)
        alias = text(form, "alias")
        await admin.aliases.remove(user.actor, alias)
        return back("/aliases", f"Alias {alias} removed.")

    # -- groups ----------------------------------------------------------------------------------
    @pages
    async def groups(request: Request) -> Response:
        user = require_admin(request)
        domain = domain_of(request)
        values = {"address": "", "display_name": "", "members": ""}
        if request.method == "POST":
            form = await read_form(request)
            values = {k: text(form, k) for k in values}
            try:
                rec = await admin.groups.add(user.actor, values["address"],
                                             addresses(values["members"]),
                                             values["display_name"])
            except MailError as exc:
                context = {"groups": await listing(user, domain, "groups"),
                           "domain": domain or "", "values": values,
                           "group_url": group_url}
                return form_again(request, "admin/groups.html", context, exc,
                                  ("members", "member"), "address")
            return back(group_url(rec.address), f"Group {rec.address} added.")
        return view(request, "admin/groups.html", {
            "groups": await listing(user, domain, "groups"), "domain": domain or "",
            "values": values, "group_url": group_url})

    async def group_page(request: Request, user: WebUser, address: str,
                         exc: MailError | None = None, member: str = "") -> Response:
        rec = await admin.groups.show(user.actor, address)
        context = {"group": rec, "group_url": group_url, "member": member}
        if exc is not None:
            return form_again(request, "admin/group.html", context, exc, (), "member")
        return view(request, "admin/group.html", context)

    @pages
    async def group(request: Request) -> Response:
        user = require_admin(request)
        return await group_page(request, user, path_param(request, "address"))

    @pages
    async def group_member(request: Request) -> Response:
        user = require_admin(request)
        address = path_param(request, "address")
        form = await read_form(request)
        member = text(form, "member")
        present = text(form, "present") != "0"
        try:
            await admin.groups.member(user.actor, address, member, present)
        except MailError as exc:
            if not present:
                raise
            return await group_page(request, user, address, exc, member)
        return back(group_url(address),
                    f"{member} {'added to' if present else 'removed from'} the group.")

    @pages
    async def group_remove(request: Request) -> Response:
        user = require_admin(request)
        address = path_param(request, "address")
        await admin.groups.remove(user.actor, address)
        return back("/groups", f"Group {address} removed.")

    return [Route("/aliases", aliases, methods=["GET", "POST"]),
            Route("/aliases/remove", alias_remove, methods=["POST"]),
            Route("/aliases/{address}", alias_edit, methods=["GET", "POST"]),
            Route("/groups", groups, methods=["GET", "POST"]),
            Route("/groups/{address}", group, methods=["GET"]),
            Route("/groups/{address}/members", group_member, methods=["POST"]),
            Route("/groups/{address}/remove", group_remove, methods=["POST"])]
