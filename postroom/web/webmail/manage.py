"""Managing folders (create, rename, move, delete) and the sharing screen.

Folders are named by their store id in forms and URLs, as everywhere in webmail; the pages call
``wm.folders`` (services/webmail/folders.py), which resolves an id through the gate and then
uses the names and rights of IMAP CREATE/RENAME/DELETE (RFC 4314 §4: ``k`` on the parent,
``x`` on the folder). A refusal is drawn as a message on the folders page with its status
(web/forms.py ``status_of``: 403, 409, 422); an id the user may not see is the same 404 as one
that never existed.

The sharing screen (``/webmail/f/{fid}/sharing``) is WebAdmin's ACL editor logic
(web/pages/dir_acl.py: the picker, presets, custom rights, the change flow) over ``AclService``
called with the user's own principal and origin, so a change is the same call, the same gate
and the same audit record as IMAP SETACL/DELETEACL (RFC 4314 §3.1, §3.2). It is drawn in
webmail's frame with one labelled checkbox per right instead of letters to type. Whom to
share with is typed; suggestions come only once characters are typed, from the compose page's
address completion (``/webmail/addresses?q=``: own domain, ``completion_min_chars``), never
as a list of the domain drawn into the page (manage.js makes the field a combobox). A user
without ``a`` gets their own rights (RFC 4314 §3.8 MYRIGHTS) read-only, in words. "Apply to
subfolders" is offered to administrators of the folder's domain only; the service checks it
again on every request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from postroom.access import presets
from postroom.access.ops import Op
from postroom.core.actor import Actor
from postroom.core.errors import Kind, MailError
from postroom.core.rights import ANYONE, AUTHENTICATED
from postroom.services.webmail import Webmail
from postroom.services.webmail.folders import Folder, Sharing
from postroom.web.forms import Form, back, read_form, status_of, text
from postroom.web.pages import dir_acl
from postroom.web.pages.dir_common import field_for
from postroom.web.webmail.shell import MAX_ID, folder_param, page, user_of

if TYPE_CHECKING:
    from postroom.web.context import WebServices, WebSettings

FOLDERS = "/webmail/folders"
TOP = ""  # the parent field's value for "at the top of my folders"


def sharing_url(folder_id: int) -> str:
    return f"/webmail/f/{folder_id}/sharing"


def _folder_field(form: Form, name: str = "folder") -> int:
    """A folder id from a form field: anything that cannot be one is 404, as junk in the
    path is (shell.folder_param); a plausible id is then resolved by the services, which
    answer the same 404 for a folder the user may not see as for a missing one."""
    raw = text(form, name)
    if not raw.isdigit() or len(raw) > 19 or not 0 < int(raw) <= MAX_ID:
        raise HTTPException(404)
    return int(raw)


def move_targets(row: Folder, parents: list[Folder]) -> list[Folder]:
    """Where ``row`` may be moved: folders of the same owner that take subfolders, not
    itself nor one below it (MailboxService.rename keeps a folder in its namespace, and a
    folder cannot go inside itself). The services decide again; this only keeps impossible
    choices out of the list."""
    owner = row.name.split("/")[:2] if row.namespace == "other" else None
    return [p for p in parents if p.id != row.id and p.namespace == row.namespace
            and not p.name.startswith(row.name + "/")
            and (owner is None or p.name.split("/")[:2] == owner)]


def _parent_field(form: Form) -> int | None:
    """The ``parent`` field: "" for the top of one's own folders, else a folder id."""
    return None if text(form, "parent") == TOP else _folder_field(form, "parent")


def _entry_values(identifier: str, rights: str) -> dict[str, str]:
    """The grant form filled in to change one entry (``?edit=IDENTIFIER``)."""
    negative = identifier.startswith("-")
    bare = identifier.removeprefix("-")
    kind = bare if bare in (ANYONE, AUTHENTICATED) else \
        "group" if bare.startswith("$") else "user"
    return {"kind": kind, "who": bare if kind in ("user", "group") else "",
            "preset": presets.preset_of(rights) or "custom", "custom": rights,
            "deny": "on" if negative else "", "apply": ""}


def routes(wm: Webmail, services: WebServices, web: WebSettings) -> list[BaseRoute]:
    folders = wm.folders

    # -- folders ---------------------------------------------------------------------------
    async def folders_page(request: Request, values: dict[str, str] | None = None,
                           exc: MailError | None = None, field: str = "name") -> Response:
        user = user_of(request)
        tree = await folders.tree(user.actor.principal)
        errors = {field: exc.text} if exc is not None else {}
        return await page(request, wm, "webmail/folders.html", {
            "rows": tree, "parents": [f for f in tree if f.id is not None and f.may_create],
            "values": values or {"name": "", "parent": TOP}, "errors": errors,
            "sharing_url": sharing_url},
            status=status_of(exc) if exc is not None else 200, tree=tree)

    async def index(request: Request) -> Response:
        return await folders_page(request)

    async def create(request: Request) -> Response:
        user = user_of(request)
        form = await read_form(request)
        values = {"name": text(form, "name"), "parent": text(form, "parent")}
        try:
            await folders.create(user.actor.principal, _parent_field(form), values["name"])
        except MailError as exc:
            return await folders_page(request, values, exc, "name")
        return back(FOLDERS, f"Folder {values['name']} created.")

    async def rename(request: Request) -> Response:
        """A new name, a new parent (``parent``: an id, "" for the top), or both; without a
        ``parent`` field (the rename-only form) the parent stays."""
        user = user_of(request)
        form = await read_form(request)
        folder_id = _folder_field(form)
        label = text(form, "name")
        try:
            # no ``parent`` field (the rename form): the parent stays (FolderTree.rename)
            parent: int | bool | None = False if "parent" not in form.values() \
                else _parent_field(form)
            await folders.rename(user.actor.principal, folder_id, label, parent)
        except MailError as exc:
            if exc.kind is Kind.NOT_FOUND:
                raise
            return await folders_page(request, None, exc, f"rename-{folder_id}")
        return back(FOLDERS, f"Folder renamed to {label}.")

    async def move(request: Request) -> Response:
        """GET: where the folder may go (``move_targets``); the form posts to ``rename``."""
        user = user_of(request)
        principal = user.actor.principal
        folder_id = _folder_field(Form([("folder", request.query_params.get("folder", ""))]))
        row = await folders.describe(principal, await folders.open(principal, folder_id,
                                                                   Op.LIST))
        tree = await folders.tree(principal)
        targets = move_targets(row, [f for f in tree if f.id is not None and f.may_create])
        parent_name = row.name.rpartition("/")[0]
        current = next((f.id for f in tree if f.id is not None and f.name == parent_name),
                       None)
        return await page(request, wm, "webmail/folders_move.html", {
            "row": row, "targets": targets, "current_parent": current}, tree=tree)

    async def delete(request: Request) -> Response:
        """GET: the confirmation page; POST: delete (``x`` on the folder; INBOX and a folder
        with subfolders are refused, RFC 9051 §6.3.4)."""
        user = user_of(request)
        principal = user.actor.principal
        if request.method == "GET":
            raw = request.query_params.get("folder", "")
            folder_id = _folder_field(Form([("folder", raw)]))
            handle = await folders.open(principal, folder_id, Op.LIST)
            row = await folders.describe(principal, handle)
            return await page(request, wm, "webmail/folders_delete.html", {"row": row})
        form = await read_form(request)
        folder_id = _folder_field(form)
        try:
            await folders.delete(principal, folder_id)
        except MailError as exc:
            if exc.kind is Kind.NOT_FOUND:
                raise
            return await folders_page(request, None, exc, f"delete-{folder_id}")
        return back(FOLDERS, "Folder deleted.")

    # -- sharing ---------------------------------------------------------------------------
    def target(view: Sharing, folder_id: int) -> dir_acl.AclTarget:
        name = view.name
        acl = wm.acl

        async def set_entry(actor: Actor, ident: str, rights: str) -> tuple[str, str]:
            stored = await acl.set(actor.principal, name, ident, rights, actor.origin)
            return await acl.canonical_identifier(actor.principal, ident), stored

        return dir_acl.AclTarget(
            title=view.folder.name, url=sharing_url(folder_id), back_url=FOLDERS,
            get=lambda actor: acl.get(actor.principal, name),
            set=set_entry,
            delete=lambda actor, ident: acl.delete(actor.principal, name, ident, actor.origin),
            # always the service call: it refuses a non-administrator itself (NO_PERM)
            apply=lambda actor: acl.apply_to_subfolders(actor.principal, name, actor.origin),
            # no list drawn into the page: the picker asks address completion as the user
            # types (GET /webmail/addresses?q=, own domain, completion_min_chars), so the
            # screen cannot be used to list one's whole domain
            suggest=None)

    async def sharing_page(request: Request, folder_id: int, view: Sharing,
                           values: dict[str, str] | None = None,
                           exc: MailError | None = None) -> Response:
        user = user_of(request)
        context: dict[str, Any] = {"view": view, "row": view.folder, "errors": {},
                                   "explain": presets.explain,
                                   "sharing_url": sharing_url(folder_id),
                                   "min_chars": wm.config.completion_min_chars}
        status = 200
        if view.folder.may_share:
            if values is None and "edit" in request.query_params:
                wanted = request.query_params.get("edit", "")
                found = next((e for e in view.entries if e.identifier == wanted), None)
                values = _entry_values(found.identifier, found.rights) if found else None
            context.update(await dir_acl.editor_context(user, target(view, folder_id),
                                                        values))
            chosen = context["values"]
            custom = chosen.get("custom", "") if chosen.get("preset") == "custom" else ""
            try:
                context["checklist"] = presets.checklist(custom)
            except MailError:
                context["checklist"] = presets.checklist("")
            if exc is not None:
                field = field_for(exc, dir_acl.ERROR_FIELDS, "who")
                # custom rights are checkboxes here: their errors go to that fieldset
                context["errors"] = {"rights" if field == "custom" else field: exc.text}
                status = status_of(exc)
        return await page(request, wm, "webmail/sharing.html", context,
                          folder=folder_id, status=status)

    async def sharing(request: Request) -> Response:
        user = user_of(request)
        folder_id = folder_param(request)
        view = await folders.sharing(user.actor.principal, folder_id)
        if request.method == "GET":
            return await sharing_page(request, folder_id, view)
        if not view.folder.may_share:
            # the service says no (NO_PERM, 403) exactly as it does to IMAP SETACL
            await wm.acl.get(user.actor.principal, view.name)
        form = await read_form(request)
        if not view.may_apply:  # the checkbox is not offered; never half-done
            form = Form([(k, v) for k, v in form.pairs if k != "apply"])
        if text(form, "preset") == "custom" and not text(form, "custom"):
            # the ticked rights as letters, so a form drawn again keeps them ticked
            form = Form([*form.pairs, ("custom", "".join(form.all("right")))])
        try:
            message = await dir_acl.perform(user, target(view, folder_id), form)
        except MailError as exc:
            if not dir_acl.about_the_form(form, exc):
                raise
            values = {k: text(form, k) for k in dir_acl.FIELDS}
            return await sharing_page(request, folder_id, view, values, exc)
        return back(sharing_url(folder_id), message)

    return [Route(FOLDERS, index, methods=["GET"]),
            Route(FOLDERS + "/create", create, methods=["POST"]),
            Route(FOLDERS + "/rename", rename, methods=["POST"]),
            Route(FOLDERS + "/move", move, methods=["GET"]),
            Route(FOLDERS + "/delete", delete, methods=["GET", "POST"]),
            Route("/webmail/f/{fid}/sharing", sharing, methods=["GET", "POST"])]

