"""Administrators' Sieve scripts (docs/sieve.md "Scripts and who may change them"): the script
run before and the one run after every user's script, for the whole server (global
administrators) and for each domain (its administrators and global administrators).

``/sieve`` lists the scopes the administrator may change and whether each has scripts;
``/sieve/{scope}`` ("global" or a domain name) edits both of a scope as text: "Check" compiles,
"Save" stores (compiled first: a refused script is not stored), "Remove" deletes. A refused
script comes back in its textarea as typed, with every error the compiler found (line and
column) next to it, announced and focused (422) — as on webmail's filters page.

Rights are decided by ``SieveScripts`` (services/sieve/scripts.py): a domain administrator
asking for another domain gets NOT_FOUND (404 here), and for the server's scripts NO_PERM
(403); the role check here only keeps plain users out (404).
"""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from postroom.core.errors import MailError
from postroom.services.admin import Admin
from postroom.services.sieve.scripts import PHASES, SieveScripts
from postroom.sieve.errors import SieveSyntaxError
from postroom.web.forms import FormLimits, back, limits_of, read_form, status_of, text
from postroom.web.identity import WebUser
from postroom.web.pages.dir_common import admin as admin_user
from postroom.web.pages.dir_common import pages, path_param, view

GLOBAL = "global"
HOME = "/sieve"


def routes(admin: Admin, scripts: SieveScripts | None) -> list[BaseRoute]:
    def service() -> SieveScripts:
        if scripts is None:
            raise HTTPException(404, "Sieve is not enabled on this server")
        return scripts

    async def scopes_of(user: WebUser) -> list[str]:
        domains = [i.domain.name for i in await admin.domains.list(user.actor)]
        return ([GLOBAL] if user.actor.principal.global_admin else []) + domains

    @pages
    async def index(request: Request) -> Response:
        sieve = service()
        user = admin_user(request)
        rows: list[dict[str, Any]] = []
        for scope in await scopes_of(user):
            present = {phase: await sieve.admin_get(user.actor.principal, scope, phase)
                       is not None for phase in PHASES}
            rows.append({"scope": scope, **present})
        return view(request, "admin/sieve.html", {"rows": rows, "GLOBAL": GLOBAL})

    async def scope_page(request: Request, user: WebUser, scope: str,
                         typed: dict[str, str] | None = None,
                         failed: dict[str, Any] | None = None, status: int = 200) -> Response:
        sieve = service()
        phases = []
        for phase in PHASES:
            stored = await sieve.admin_get(user.actor.principal, scope, phase)
            phases.append({"phase": phase, "stored": stored is not None,
                           "source": (typed or {}).get(phase, stored or "")})
        return view(request, "admin/sieve_scope.html", {
            "scope": scope, "phases": phases, "GLOBAL": GLOBAL,
            "failed": failed or {}}, status)

    @pages
    async def show(request: Request) -> Response:
        user = admin_user(request)
        return await scope_page(request, user, path_param(request, "scope"))

    @pages
    async def post(request: Request) -> Response:
        sieve = service()
        user = admin_user(request)
        scope, phase = path_param(request, "scope"), path_param(request, "phase")
        if phase not in PHASES:
            raise HTTPException(404)
        base = limits_of(request)
        form = await read_form(request, FormLimits(
            max(base.max_field, sieve.limits.max_script_size + 1024), base.max_fields))
        source = form.raw("source").replace("\r\n", "\n")
        action = text(form, "do")
        where = "the whole server" if scope == GLOBAL else scope
        principal, origin = user.actor.principal, user.actor.origin
        try:
            if action == "check":
                await sieve.admin_get(principal, scope, phase)  # the rights, first
                sieve.compile(source, phase)
                return await scope_page(request, user, scope, {phase: source},
                                        {"phase": phase, "ok": True})
            if action == "remove":
                await sieve.admin_put(principal, scope, phase, None, origin=origin)
                return back(f"{HOME}/{scope}", f"The {phase} script of {where} is removed.")
            if action != "save":
                raise HTTPException(404)
            await sieve.admin_put(principal, scope, phase, source, origin=origin)
        except SieveSyntaxError as exc:
            found = [{"line": e.line, "column": e.column, "message": e.message}
                     for e in (exc.errors or [exc])]
            return await scope_page(request, user, scope, {phase: source},
                                    {"phase": phase, "errors": found}, 422)
        except MailError as exc:
            if status_of(exc) in (403, 404):
                raise
            return await scope_page(request, user, scope, {phase: source},
                                    {"phase": phase, "message": exc.text}, status_of(exc))
        return back(f"{HOME}/{scope}", f"The {phase} script of {where} is saved.")

    return [Route(HOME, index, methods=["GET"]),
            Route(HOME + "/{scope}", show, methods=["GET"]),
            Route(HOME + "/{scope}/{phase}", post, methods=["POST"])]
