"""``/api/v1`` Sieve scripts: the API's face of ``postroom sieve …`` (docs/sieve.md).

    GET    /users/{address}/sieve/scripts               the account's scripts
    GET    /users/{address}/sieve/scripts/{name}        one, with its source
    PUT    /users/{address}/sieve/scripts/{name}        store it (compiled first)
    DELETE /users/{address}/sieve/scripts/{name}        delete it (not the active one)
    PUT    /users/{address}/sieve/active                which script runs ("" for none)
    POST   /users/{address}/sieve/rename                rename one
    POST   /users/{address}/sieve/check                 compile without storing
    …and the same under /me/sieve/ for the caller's own scripts;
    GET/PUT/DELETE /sieve/admin-scripts/{scope}/{phase} the administrators' scripts.

services/sieve/scripts.py decides who may: the owner, an administrator of the owner's
domain, a global administrator; for anyone else the account has no scripts to show (404).
A script that does not compile is a 422 problem whose ``detail`` names the line and column
("line 3, column 5: …") and which carries them as the members ``line`` and ``column``
(RFC 9457 §3.2 extension members), so an editor can put the cursor there, and every error
found as ``errors`` (``[{line, column, message}]``).

Script names may hold any character RFC 5804 §1.6 allows, ``/`` included: the name is the
rest of the path (percent-encoded as needed), which is why the actions on one script
(activate, rename) are not path suffixes but bodies naming it.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Literal

from starlette.responses import Response

from postroom.services.sieve.scripts import ScriptInfo, SieveScripts
from postroom.sieve.errors import SieveSyntaxError
from postroom.web.api.framework import Api, Call, In, Out, Problem
from postroom.web.problems import PROBLEM_TYPE

USERS, ME, ADMIN = "users", "self-service", "sieve"


class ScriptOut(Out):
    name: str
    active: bool
    size: int  # octets
    updated: int  # Unix time


class ScriptSourceOut(Out):
    name: str
    active: bool
    size: int
    updated: int
    source: str


class ScriptIn(In):
    source: str  # the Sieve script (RFC 5228), UTF-8
    activate: bool = False  # also make it the active script


class StoredOut(Out):
    name: str
    active: bool
    warnings: list[str]  # what the compiler noticed but accepted


class ActiveIn(In):
    name: str  # the script to run at delivery; "" for none


class RenameIn(In):
    name: str
    new_name: str


class CheckIn(In):
    source: str


class CheckOut(Out):
    warnings: list[str]


class AdminScriptOut(Out):
    scope: str  # "global" or a domain
    phase: Literal["before", "after"]
    source: str


class AdminScriptIn(In):
    source: str


def _scripts(api: Api) -> SieveScripts:
    scripts = getattr(api.services, "sieve_scripts", None)
    if scripts is None:
        raise Problem(404, "Sieve is not enabled on this server")
    assert isinstance(scripts, SieveScripts)
    return scripts


def bad_script(c: Call, exc: SieveSyntaxError) -> Response:
    """422 problem details with the (first) error's line and column as extension members,
    and every error the compiler found in ``errors`` (an editor marks them all)."""
    status = HTTPStatus.UNPROCESSABLE_ENTITY
    body = {"type": "about:blank", "title": status.phrase, "status": int(status),
            "detail": str(exc), "line": exc.line, "column": exc.column,
            "errors": [{"line": e.line, "column": e.column, "message": e.message}
                       for e in exc.errors]}
    return Response(json.dumps(body), int(status), media_type=PROBLEM_TYPE)


def _out(i: ScriptInfo) -> ScriptOut:
    return ScriptOut(name=i.name, active=i.active, size=i.size, updated=i.updated)


def _phase(c: Call) -> Literal["before", "after"]:
    phase = c.param("phase")
    if phase == "before":
        return "before"
    if phase == "after":
        return "after"
    raise Problem(404, "the phase is 'before' or 'after'")


def _me(c: Call) -> str:
    address = c.actor.principal.address
    if address is None:
        raise Problem(404, "the operator has no scripts of its own")
    return address


def register(api: Api) -> None:
    for prefix, tag, owner, suffix, cli_user in (
            ("/users/{address}/sieve", USERS, lambda c: c.param("address"), "", " --user"),
            ("/me/sieve", ME, _me, "_own", " --user")):
        _register_user(api, prefix, tag, owner, suffix, cli_user)
    _register_admin(api)


def _register_user(api: Api, prefix: str, tag: str, owner: object, suffix: str,
                   cli_user: str) -> None:
    assert callable(owner)
    who = "the caller's" if suffix else "the account's"

    async def list_scripts(c: Call) -> list[ScriptOut]:
        return [_out(i) for i in await _scripts(api).list(c.actor.principal, owner(c))]

    async def get_script(c: Call) -> ScriptSourceOut:
        scripts = _scripts(api)
        name = c.param("name")
        source = await scripts.get(c.actor.principal, name, owner(c))
        info = next((i for i in await scripts.list(c.actor.principal, owner(c))
                     if i.name == name), None)
        return ScriptSourceOut(name=name, active=bool(info and info.active),
                               size=info.size if info else len(source.encode()),
                               updated=info.updated if info else 0, source=source)

    async def put_script(c: Call) -> StoredOut | Response:
        scripts = _scripts(api)
        body = c.body_as(ScriptIn)
        name = c.param("name")
        try:
            warnings = await scripts.put(c.actor.principal, name, body.source, owner(c),
                                        origin=c.actor.origin)
        except SieveSyntaxError as exc:
            return bad_script(c, exc)
        if body.activate:
            await scripts.activate(c.actor.principal, name, owner(c), origin=c.actor.origin)
        active = any(i.active and i.name == name
                     for i in await scripts.list(c.actor.principal, owner(c)))
        return StoredOut(name=name, active=active, warnings=list(warnings))

    async def delete_script(c: Call) -> None:
        await _scripts(api).delete(c.actor.principal, c.param("name"), owner(c),
                                   origin=c.actor.origin)

    async def set_active(c: Call) -> list[ScriptOut]:
        scripts = _scripts(api)
        await scripts.activate(c.actor.principal, c.body_as(ActiveIn).name, owner(c),
                               origin=c.actor.origin)
        return [_out(i) for i in await scripts.list(c.actor.principal, owner(c))]

    async def rename_script(c: Call) -> list[ScriptOut]:
        scripts = _scripts(api)
        body = c.body_as(RenameIn)
        await scripts.rename(c.actor.principal, body.name, body.new_name, owner(c),
                             origin=c.actor.origin)
        return [_out(i) for i in await scripts.list(c.actor.principal, owner(c))]

    async def check_script(c: Call) -> CheckOut | Response:
        try:
            warnings = await _scripts(api).check(c.actor.principal, c.body_as(CheckIn).source,
                                                 owner(c))
        except SieveSyntaxError as exc:
            return bad_script(c, exc)
        return CheckOut(warnings=list(warnings))

    one = prefix + "/scripts/{name:path}"
    for method, path, fn, summary, cli, kw in (
            ("GET", prefix + "/scripts", list_scripts, f"List {who} Sieve scripts", "list",
             {"out": list[ScriptOut]}),
            ("GET", one, get_script, "One Sieve script with its source", "get",
             {"out": ScriptSourceOut}),
            ("PUT", one, put_script, "Store a Sieve script (compiled first; a bad one is 422 "
             "with its line and column)", "put", {"body": ScriptIn, "out": StoredOut}),
            ("DELETE", one, delete_script, "Delete a Sieve script (not the active one: 409)",
             "delete", {}),
            ("PUT", prefix + "/active", set_active, "Choose the script that runs at delivery "
             "(\"\" for none)", "activate", {"body": ActiveIn, "out": list[ScriptOut]}),
            ("POST", prefix + "/rename", rename_script, "Rename a Sieve script (the active "
             "one stays active)", "rename", {"body": RenameIn, "out": list[ScriptOut]}),
            ("POST", prefix + "/check", check_script, "Compile a Sieve script without storing "
             "it", "check", {"body": CheckIn, "out": CheckOut})):
        fn.__name__ = f"{fn.__name__}{suffix}"
        api.add(method, path, summary=summary, tag=tag, cli=f"postroom sieve {cli}{cli_user}",
                **kw)(fn)


def _register_admin(api: Api) -> None:
    base = "/sieve/admin-scripts/{scope}/{phase}"

    @api.add("GET", base, summary="An administrators' Sieve script (scope 'global' or a "
             "domain; phase 'before' or 'after' the user's)", tag=ADMIN,
             cli="postroom sieve admin get", out=AdminScriptOut)
    async def get_admin_script(c: Call) -> AdminScriptOut:
        phase = _phase(c)
        source = await _scripts(api).admin_get(c.actor.principal, c.param("scope"), phase)
        if source is None:
            raise Problem(404, f"no {phase} script for {c.param('scope')}")
        return AdminScriptOut(scope=c.param("scope"), phase=phase, source=source)

    @api.add("PUT", base, summary="Store an administrators' Sieve script (compiled first)",
             tag=ADMIN, cli="postroom sieve admin put", body=AdminScriptIn, out=CheckOut)
    async def put_admin_script(c: Call) -> CheckOut | Response:
        phase = _phase(c)
        try:
            warnings = await _scripts(api).admin_put(c.actor.principal, c.param("scope"),
                                                     phase, c.body_as(AdminScriptIn).source,
                                                     origin=c.actor.origin)
        except SieveSyntaxError as exc:
            return bad_script(c, exc)
        return CheckOut(warnings=list(warnings))

    @api.add("DELETE", base, summary="Remove an administrators' Sieve script", tag=ADMIN,
             cli="postroom sieve admin remove")
    async def delete_admin_script(c: Call) -> None:
        await _scripts(api).admin_put(c.actor.principal, c.param("scope"), _phase(c), None,
                                      origin=c.actor.origin)
