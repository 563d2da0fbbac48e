"""Folders: the public folder manager (global administrators), an account's folders (the
administrators of its domain), their ACL editors (web/pages/dir_acl.py), and a user's own
folders' sharing under ``/me/sharing``.

Folder names travel in the query string (``?folder=Projects/2024``), never in the path: a
folder name may hold any character, slashes included. ``account`` names whose folders they are
(absent: public folders).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from postroom.core.actor import Actor
from postroom.core.errors import MailError, invalid
from postroom.services.admin import Admin
from postroom.services.names import PUBLIC
from postroom.web.forms import back, read_form, text
from postroom.web.identity import WebUser, require_user
from postroom.web.pages import dir_acl
from postroom.web.pages.dir_acl import AclTarget, editor_url
from postroom.web.pages.dir_common import admin as require_admin
from postroom.web.pages.dir_common import form_again, global_admin, pages, view
from postroom.web.pages.dir_users import user_url


def _folder(request: Request) -> str:
    folder = (request.query_params.get("folder") or "").strip()
    if not folder:
        raise invalid("which folder? (folder=NAME)")
    return folder


def routes(admin: Admin) -> list[BaseRoute]:
    folders = admin.folders

    async def suggestions(actor: Actor, domain: str | None) -> tuple[list[str], list[str]]:
        """Accounts and groups the picker offers (a bounded few; any address can be typed)."""
        page = await admin.users.search(actor, domain=domain, limit=dir_acl.SUGGESTIONS)
        try:
            groups = await admin.groups.list(actor, domain)
        except MailError:  # a domain administrator has no every-domain listing
            groups = []
        return [a.address for a in page.items], [g.address for g in groups]

    def admin_target(account: str | None, folder: str) -> AclTarget:
        url = editor_url("/folders/acl", account=account or "", folder=folder)
        domain = account.rsplit("@", 1)[1] if account else None
        return AclTarget(
            title=f"folder {folder} of {account}" if account else f"public folder {folder}",
            url=url, back_url=editor_url("/folders", account=account) if account
            else "/public-folders",
            get=lambda actor: folders.acl(actor, account, folder),
            set=lambda actor, ident, rights: folders.set_acl(actor, account, folder, ident,
                                                             rights),
            delete=lambda actor, ident: folders.delete_acl(actor, account, folder, ident),
            apply=lambda actor: folders.apply_to_subfolders(actor, account, folder),
            suggest=lambda actor: suggestions(actor, domain))

    def account_of(request: Request) -> str | None:
        return (request.query_params.get("account") or "").strip() or None

    # -- public folders --------------------------------------------------------------------------
    async def public_page(request: Request, user: WebUser, values: dict[str, str],
                          exc: MailError | None = None) -> Response:
        context: dict[str, Any] = {"folders": await folders.list(user.actor, None),
                                   "values": values, "editor_url": editor_url,
                                   "PUBLIC": PUBLIC}
        if exc is not None:
            return form_again(request, "admin/public_folders.html", context, exc,
                              ("address", "new"), "name")
        return view(request, "admin/public_folders.html", context)

    @pages
    async def public(request: Request) -> Response:
        user = global_admin(request)
        values = {"name": "", "address": ""}
        if request.method == "GET":
            return await public_page(request, user, values)
        form = await read_form(request)
        values = {k: text(form, k) for k in values}
        try:
            rec = await folders.create(user.actor, None, values["name"],
                                       folder_address=values["address"] or None)
        except MailError as exc:
            return await public_page(request, user, values, exc)
        return back("/public-folders", f"Public folder {rec.name} created.")

    # -- an account's folders, or public ones: rename and delete --------------------------------
    async def account_page(request: Request, user: WebUser, account: str,
                           values: dict[str, str], exc: MailError | None = None) -> Response:
        context: dict[str, Any] = {
            "account": account, "folders": await folders.list(user.actor, account),
            "editor_url": editor_url, "user_url": user_url, "values": values}
        if exc is not None:
            return form_again(request, "admin/folders.html", context, exc, ("new",), "name")
        return view(request, "admin/folders.html", context)

    @pages
    async def account_folders(request: Request) -> Response:
        user = require_admin(request)
        account = account_of(request)
        if account is None:
            return back("/public-folders")
        values = {"name": ""}
        if request.method == "GET":
            return await account_page(request, user, account, values)
        form = await read_form(request)
        values = {"name": text(form, "name")}
        try:
            rec = await folders.create(user.actor, account, values["name"])
        except MailError as exc:
            return await account_page(request, user, account, values, exc)
        return back(list_url(account), f"Folder {rec.name} created.")

    def list_url(account: str | None) -> str:
        return editor_url("/folders", account=account) if account else "/public-folders"

    @pages
    async def rename(request: Request) -> Response:
        user = require_admin(request)
        account = account_of(request)
        form = await read_form(request)
        old, new = text(form, "folder"), text(form, "new")
        try:
            await folders.rename(user.actor, account, old, new)
        except MailError as exc:
            if account is None:
                return await public_page(request, user, {"name": "", "address": ""}, exc)
            return await account_page(request, user, account, {"name": ""}, exc)
        return back(list_url(account), f"Folder {old} renamed to {new}.")

    @pages
    async def delete(request: Request) -> Response:
        user = require_admin(request)
        account = account_of(request)
        form = await read_form(request)
        folder = text(form, "folder")
        await folders.delete(user.actor, account, folder)
        return back(list_url(account), f"Folder {folder} deleted.")

    @pages
    async def acl(request: Request) -> Response:
        user = require_admin(request)
        target = admin_target(account_of(request), _folder(request))
        if request.method == "GET":
            return await dir_acl.show(request, user, target)
        return await dir_acl.change(request, user, target)

    # -- a user's own folders ------------------------------------------------------------------
    def own_target(address: str, folder: str) -> AclTarget:
        """The user's own folder: ``FoldersAdmin`` acts as the user themself on their own
        account (self-service), so the gate decides with ``a`` exactly as for IMAP SETACL."""
        return AclTarget(
            title=f"your folder {folder}", url=editor_url("/me/sharing/acl", folder=folder),
            back_url="/me/sharing",
            get=lambda actor: folders.acl(actor, address, folder),
            set=lambda actor, ident, rights: folders.set_acl(actor, address, folder, ident,
                                                             rights),
            delete=lambda actor, ident: folders.delete_acl(actor, address, folder, ident),
            apply=None)  # an administrator's action (services/acl.py)

    @pages
    async def my_folders(request: Request) -> Response:
        user = require_user(request)
        if not user.address:
            raise invalid("the operator has no folders of its own")
        return view(request, "admin/sharing.html", {
            "folders": await folders.list(user.actor, user.address),
            "editor_url": editor_url})

    @pages
    async def my_acl(request: Request) -> Response:
        user = require_user(request)
        target = own_target(user.address, _folder(request))
        if request.method == "GET":
            return await dir_acl.show(request, user, target)
        return await dir_acl.change(request, user, target)

    return [Route("/public-folders", public, methods=["GET", "POST"]),
            Route("/folders", account_folders, methods=["GET", "POST"]),
            Route("/folders/rename", rename, methods=["POST"]),
            Route("/folders/delete", delete, methods=["POST"]),
            Route("/folders/acl", acl, methods=["GET", "POST"]),
            Route("/me/sharing", my_folders, methods=["GET"]),
            Route("/me/sharing/acl", my_acl, methods=["GET", "POST"])]
