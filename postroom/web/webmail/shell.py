"""Webmail's frame: the layout every screen renders into, the folder tree, and /webmail/.

``page`` is how every webmail screen renders: it adds the folder tree (as IMAP LIST shows it
to the user, with unread counts), the user's settings (density, language) and the open
folder, so no screen can forget them. ``folder_param`` and ``uid_param`` read ids from the
path: anything that is not a plausible id is 404, the same answer an id of a folder the user
may not see gets from the services, so a probe learns nothing (specs.md §2 "Visibility").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from postroom.services.webmail import Webmail
from postroom.services.webmail.folders import Folder
from postroom.web.flash import redirect
from postroom.web.identity import WebUser, require_user
from postroom.web.templating import render

if TYPE_CHECKING:
    from postroom.web.context import WebServices, WebSettings

HOME = "/webmail/"
MAX_ID = (1 << 62) - 1  # store ids and UIDs fit a signed 64-bit column; larger is junk


def user_of(request: Request) -> WebUser:
    """The logged-in user (any role: administrators read their own mail here too)."""
    return require_user(request)


def _id(request: Request, name: str) -> int:
    raw = request.path_params.get(name)
    value = raw if isinstance(raw, int) else None
    # ASCII digits only: str.isdigit() also holds for "²", which int() refuses (a 500)
    if value is None and isinstance(raw, str) and raw.isascii() and raw.isdigit() \
            and len(raw) < 20:
        value = int(raw)
    if value is None or not 0 < value <= MAX_ID:
        raise HTTPException(404)
    return value


def folder_param(request: Request, name: str = "fid") -> int:
    """The folder id in the path ({fid}); 404 for anything that cannot be one."""
    return _id(request, name)


def uid_param(request: Request, name: str = "uid") -> int:
    """The message UID in the path ({uid}); 404 for anything that cannot be one."""
    value = _id(request, name)
    if value > 0xFFFFFFFF:  # RFC 3501 §2.3.1.1: a UID is a 32-bit number
        raise HTTPException(404)
    return value


def folder_url(folder_id: int) -> str:
    return f"/webmail/f/{folder_id}"


def message_url(folder_id: int, uid: int) -> str:
    return f"/webmail/f/{folder_id}/m/{uid}"


async def page(request: Request, wm: Webmail, template: str,
               context: Mapping[str, Any] | None = None, *, folder: int | None = None,
               status: int = 200, headers: Mapping[str, str] | None = None,
               tree: list[Folder] | None = None) -> HTMLResponse:
    """A webmail screen: ``template`` (extending webmail/layout.html) with the folder tree,
    the user's settings and ``folder`` (the id of the open folder, or None). A handler that
    read the tree itself passes it as ``tree``: reading it costs a count per folder."""
    user = user_of(request)
    principal = user.actor.principal
    if tree is None:
        tree = await wm.folders.tree(principal)
    prefs = await wm.prefs.get(principal)
    values: dict[str, Any] = {"tree": tree, "prefs": prefs, "folder_id": folder,
                              "current": next((f for f in tree if f.id == folder), None),
                              "inbox_id": next((f.id for f in tree if f.name == "INBOX"), None),
                              "folder_url": folder_url, "message_url": message_url,
                              "config": wm.config, **(context or {})}
    return render(request, template, values, status=status, headers=headers)


def routes(wm: Webmail, services: WebServices, web: WebSettings) -> list[BaseRoute]:
    async def root(request: Request) -> Response:
        return RedirectResponse(HOME, 303)

    async def home(request: Request) -> Response:
        """The inbox; after the live stream closed a folder that was taken away (``gone``),
        with a note saying so (a fixed text: nothing from the URL is shown)."""
        user = user_of(request)
        inbox = await wm.folders.inbox(user.actor.principal)
        target = folder_url(inbox.id)
        if "gone" in request.query_params:
            return redirect(target, "The folder you had open is no longer available to you.")
        return RedirectResponse(target, 303)

    async def tree(request: Request) -> Response:
        """The folder tree alone, for the page to refresh it when the live stream says the
        folders or their counts changed."""
        user = user_of(request)
        principal = user.actor.principal
        rows: list[Folder] = await wm.folders.tree(principal)
        current = request.query_params.get("current", "")
        return render(request, "webmail/tree.html", {
            "tree": rows, "folder_id": int(current) if current.isascii() and current.isdigit() and
            len(current) < 19 else None, "folder_url": folder_url},
            headers={"Cache-Control": "no-store"})

    return [Route("/", root, methods=["GET"]),
            Route("/webmail", root, methods=["GET"]),
            Route(HOME, home, methods=["GET"]),
            Route("/webmail/tree", tree, methods=["GET"])]


__all__ = ["HOME", "HTMLResponse", "folder_param", "folder_url", "message_url", "page",
           "uid_param", "user_of"]
