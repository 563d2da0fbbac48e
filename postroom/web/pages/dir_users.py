"""Users: the searched, paged list, add, edit, password, disable/enable, send-as, remove.

The list asks the store for one page and a count (``UsersAdmin.search``), never for every
account, so the page costs the same at 10,000 accounts as at 100 (docs/web.md gives the
measurement). Page sizes are a menu up to ``web.users_page_max`` rows, so no request can ask
for all of them at once.

Removing an account asks for confirmation on a page that says what goes with it (folders,
messages, octets), as ``postroom user remove`` does before ``--yes``.
"""

from __future__ import annotations

from types import EllipsisType
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from postroom.core.errors import MailError
from postroom.directory.quota import format_size, parse_size
from postroom.directory.service import ACCOUNT_STATES
from postroom.services.admin import Admin
from postroom.services.admin.directory import NewAccount
from postroom.web.forms import back, checked, read_form, status_of, text
from postroom.web.identity import WebUser
from postroom.web.pages.dir_common import admin as require_admin
from postroom.web.pages.dir_common import field_for, form_again, on_field, pages, path_param, view

PAGE_SIZES = (25, 50, 100, 200, 500, 1000)  # the menu, cut at web.users_page_max


def page_sizes(default: int, most: int) -> tuple[int, ...]:
    """The page-size menu: the usual sizes up to ``most``, with ``default`` and ``most``."""
    return tuple(sorted({n for n in PAGE_SIZES if n <= most} | {min(default, most), most}))


def _int(value: str | None, default: int, low: int, high: int) -> int:
    try:
        number = int(value or "")
    except ValueError:
        return default
    return min(max(number, low), high)


def user_url(address: str, tail: str = "") -> str:
    return f"/users/{quote(address, safe='@')}{tail}"


def routes(admin: Admin, page_size: int, page_max: int) -> list[BaseRoute]:
    """``page_size``/``page_max``: web.users_page_size and web.users_page_max."""
    users = admin.users
    sizes = page_sizes(page_size, page_max)
    default_size = min(page_size, page_max)

    async def domains_of(user: WebUser) -> list[str]:
        return [i.domain.name for i in await admin.domains.list(user.actor)]

    @pages
    async def index(request: Request) -> Response:
        user = require_admin(request)
        q = request.query_params
        search = (q.get("q") or "").strip()[:200]
        domain = (q.get("domain") or "").strip() or None
        per = _int(q.get("per"), default_size, 1, page_max)
        if per not in sizes:
            per = default_size
        page = _int(q.get("page"), 1, 1, 1_000_000)
        result = await users.search(user.actor, text=search, domain=domain,
                                    offset=(page - 1) * per, limit=per)
        pages_total = max(1, -(-result.total // per))
        return view(request, "admin/users.html", {
            "page": result, "number": page, "pages": pages_total, "per": per,
            "sizes": sizes, "q": search, "domain": domain or "",
            "domains": await domains_of(user), "user_url": user_url})

    @pages
    async def new(request: Request) -> Response:
        user = require_admin(request)
        values = {"address": "", "display_name": "", "quota": ""}
        context = {"values": values, "domains": await domains_of(user)}
        if request.method == "GET":
            return view(request, "admin/user_new.html", context)
        form = await read_form(request)
        values.update({k: text(form, k) for k in values})
        password = form.raw("password")
        try:
            quota = on_field("quota", parse_size, values["quota"]) if values["quota"] else None
            rec = await users.add(user.actor, NewAccount(values["address"], password,
                                                         values["display_name"], quota))
        except MailError as exc:
            return form_again(request, "admin/user_new.html", context, exc,
                              ("password", "quota", "domain", "name"), "address")
        return back(user_url(rec.address), f"Account {rec.address} added.")

    async def detail(request: Request, user: WebUser, address: str,
                     errors: dict[str, str] | None = None, status: int = 200,
                     values: dict[str, str] | None = None) -> Response:
        info = await users.show(user.actor, address)
        acc = info.account
        context: dict[str, Any] = {
            "info": info, "acc": acc, "states": ACCOUNT_STATES,
            "spam": await users.spam_filter(user.actor, acc.address),
            "send_as": await users.send_as(user.actor, acc.address),
            "values": values or {"display_name": acc.display_name,
                                 "quota": format_size(acc.quota_bytes)
                                 if acc.quota_bytes is not None else "",
                                 "state": acc.state},
            "user_url": user_url, "errors": errors or {}}
        return view(request, "admin/user.html", context, status)

    @pages
    async def show(request: Request) -> Response:
        user = require_admin(request)
        return await detail(request, user, path_param(request, "address"))

    async def refused(request: Request, user: WebUser, address: str, exc: MailError,
                      fields: tuple[str, ...], default: str,
                      values: dict[str, str] | None = None) -> Response:
        return await detail(request, user, address,
                            {field_for(exc, fields, default): exc.text}, status_of(exc),
                            values)

    @pages
    async def edit(request: Request) -> Response:
        user = require_admin(request)
        address = path_param(request, "address")
        form = await read_form(request)
        values = {k: text(form, k) for k in ("display_name", "quota", "state")}
        try:
            quota: int | EllipsisType | None = (on_field("quota", parse_size, values["quota"])
                                                if values["quota"] else None)
            await users.update(user.actor, address, display_name=values["display_name"],
                               quota_bytes=quota, state=values["state"] or None)
            spam = checked(form, "spam_filter")
            if spam != await users.spam_filter(user.actor, address):
                await users.set_spam_filter(user.actor, address, spam)
        except MailError as exc:
            return await refused(request, user, address, exc, ("quota", "state", "spam"),
                                 "display_name", values)
        return back(user_url(address), "Account saved.")

    @pages
    async def password(request: Request) -> Response:
        user = require_admin(request)
        address = path_param(request, "address")
        form = await read_form(request)
        try:
            await users.set_password(user.actor, address, form.raw("password"))
        except MailError as exc:
            return await refused(request, user, address, exc, (), "password")
        return back(user_url(address), "Password changed.")

    @pages
    async def state(request: Request) -> Response:
        user = require_admin(request)
        address = path_param(request, "address")
        form = await read_form(request)
        wanted = "disabled" if text(form, "state") == "disabled" else "active"
        await users.update(user.actor, address, state=wanted)
        done = "disabled" if wanted == "disabled" else "enabled"
        return back(user_url(address), f"Account {done}.")

    @pages
    async def send_as(request: Request) -> Response:
        user = require_admin(request)
        address = path_param(request, "address")
        form = await read_form(request)
        target = text(form, "target")
        grant = text(form, "grant") != "0"
        try:
            await users.grant_send_as(user.actor, address, target, grant)
        except MailError as exc:
            return await refused(request, user, address, exc, (), "target")
        return back(user_url(address),
                    f"May {'now' if grant else 'no longer'} send as {target}.")

    @pages
    async def remove(request: Request) -> Response:
        user = require_admin(request)
        address = path_param(request, "address")
        if request.method == "POST":
            await users.remove(user.actor, address)
            return back("/users", f"Account {address} removed.")
        folders, messages, octets = await users.holdings(user.actor, address)
        info = await users.show(user.actor, address)
        return view(request, "admin/user_remove.html", {
            "acc": info.account, "folders": folders, "messages": messages,
            "octets": octets, "user_url": user_url})

    return [Route("/users", index, methods=["GET"]),
            Route("/users/new", new, methods=["GET", "POST"]),
            Route("/users/{address}", show, methods=["GET"]),
            Route("/users/{address}", edit, methods=["POST"]),
            Route("/users/{address}/password", password, methods=["POST"]),
            Route("/users/{address}/state", state, methods=["POST"]),
            Route("/users/{address}/send-as", send_as, methods=["POST"]),
            Route("/users/{address}/remove", remove, methods=["GET", "POST"])]
