"""The ACL editor, one page for three owners of folders: public folders and any account's
folders (administrators, through ``FoldersAdmin``), and a user's own folders (``/me/sharing``,
through ``OwnSharing`` with the user's own principal, so the gate decides with ``a``).

An entry is chosen with a picker (a user, a group as ``$group@domain``, ``anyone``,
``authenticated``; "deny" makes it a negative entry, RFC 4314 §2) and rights as a preset
(read, read-write, full) or custom letters (access/presets.py). "Apply to subfolders" copies
the folder's whole ACL onto every folder below it (docs/sharing.md); it is an administrator's
action, so ``/me/sharing`` does not offer it. Suggestions for the picker come from the
directory through the admin services (a ``datalist``: typing any address works too).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from postroom.access import presets
from postroom.core.actor import Actor
from postroom.core.errors import Kind, MailError, invalid
from postroom.core.records import AclEntry
from postroom.core.rights import ANYONE, AUTHENTICATED
from postroom.web.forms import Form, back, checked, read_form, text
from postroom.web.identity import WebUser
from postroom.web.pages.dir_common import form_again, view

KINDS = (("user", "A user"), ("group", "A group"), (ANYONE, "Anyone, even anonymous"),
         (AUTHENTICATED, "Anyone logged in"))
SUGGESTIONS = 100  # at most this many accounts offered by the picker


@dataclass(frozen=True, slots=True)
class AclTarget:
    """Where a folder's ACL is read and written, for one page."""

    title: str  # "Public folder Sales", "Folder Projects of ann@a.example", "Projects"
    url: str  # this editor's own URL (GET shows, POST changes)
    back_url: str  # the folder list the editor belongs to
    get: Callable[[Actor], Awaitable[list[AclEntry]]]
    set: Callable[[Actor, str, str], Awaitable[tuple[str, str]]]
    delete: Callable[[Actor, str], Awaitable[None]]
    apply: Callable[[Actor], Awaitable[int]] | None  # None: not offered
    suggest: Callable[[Actor], Awaitable[tuple[list[str], list[str]]]] | None = None


def editor_url(base: str, **params: str) -> str:
    return f"{base}?{urlencode({k: v for k, v in params.items() if v})}"


def identifier_from(form: Form) -> str:
    """The ACL identifier the picker names: ``user@d``, ``$group@d``, ``anyone``,
    ``authenticated``, with ``-`` in front for a negative (deny) entry."""
    kind = text(form, "kind") or "user"
    who = text(form, "who")
    if kind in (ANYONE, AUTHENTICATED):
        ident = kind
    elif kind == "group":
        if not who.removeprefix("$"):
            raise invalid("who: give the group's address")
        ident = "$" + who.removeprefix("$")
    elif kind == "user":
        if not who:
            raise invalid("who: give the user's address")
        ident = who
    else:
        raise invalid("who: choose a user, a group, anyone or authenticated")
    return ("-" if checked(form, "deny") else "") + ident


def rights_from(form: Form) -> str:
    """The letters a form asks for: a preset, or custom letters typed (``custom``) or
    ticked one checkbox per right (``right``, repeated: webmail's sharing screen)."""
    custom = text(form, "custom") or "".join(form.all("right"))
    letters = presets.rights_for(text(form, "preset"), custom)
    if not letters:
        raise invalid("rights: choose a preset or give at least one letter")
    return letters


def rows(entries: list[AclEntry]) -> list[dict[str, Any]]:
    out = []
    for entry in entries:
        ident = entry.identifier
        negative = ident.startswith("-")
        bare = ident.removeprefix("-")
        who = ("anyone, even anonymous" if bare == ANYONE else
               "anyone logged in" if bare == AUTHENTICATED else
               f"group {bare[1:]}" if bare.startswith("$") else bare)
        out.append({"identifier": ident, "who": who, "negative": negative,
                    "rights": entry.rights, "preset": presets.preset_of(entry.rights),
                    "words": presets.explain(entry.rights)})
    return out


FIELDS = ("kind", "who", "preset", "custom", "deny", "apply")
ERROR_FIELDS = ("who", "rights", "custom")  # which field a refusal is about (form_again)
DEFAULTS = {"kind": "user", "who": "", "preset": "read", "custom": "", "deny": "", "apply": ""}


async def editor_context(user: WebUser, target: AclTarget,
                         values: dict[str, str] | None = None) -> dict[str, Any]:
    """What an ACL editor page shows (WebAdmin's and webmail's sharing screen)."""
    users: list[str] = []
    groups: list[str] = []
    if target.suggest is not None:
        users, groups = await target.suggest(user.actor)
    return {"target": target, "entries": rows(await target.get(user.actor)),
            "kinds": KINDS, "presets": presets.PRESETS, "users": users,
            "explain": presets.explain, "meanings": presets.MEANINGS,
            "groups": groups, "values": values or dict(DEFAULTS)}


async def show(request: Request, user: WebUser, target: AclTarget,
               values: dict[str, str] | None = None, exc: MailError | None = None,
               ) -> Response:
    context = await editor_context(user, target, values)
    if exc is not None:
        return form_again(request, "admin/acl.html", context, exc, ERROR_FIELDS, "who")
    return view(request, "admin/acl.html", context)


async def change(request: Request, user: WebUser, target: AclTarget) -> Response:
    """POST: ``action`` = set (add or change an entry), delete, or apply (to subfolders)."""
    form = await read_form(request)
    try:
        message = await perform(user, target, form)
    except MailError as exc:
        if not about_the_form(form, exc):
            raise  # the folder itself: its status page (dir_common.pages)
        return await show(request, user, target, {k: text(form, k) for k in FIELDS}, exc)
    return back(target.url, message)


def about_the_form(form: Form, exc: MailError) -> bool:
    """Whether a refusal is about what was typed (draw the form again with it), rather than
    about the folder itself (missing or not the user's to change: its status page)."""
    return not (text(form, "action") in ("delete", "apply", "change")
                and exc.kind in (Kind.NOT_FOUND, Kind.NO_PERM))


async def perform(user: WebUser, target: AclTarget, form: Form) -> str:
    """Carry out a posted change (``action`` = change, delete, apply; anything else sets
    the entry the picker names); the flash message saying what was done. A refusal is the
    service's ``MailError``."""
    action = text(form, "action")
    if action == "delete":
        ident = text(form, "identifier")
        await target.delete(user.actor, ident)
        return f"Entry {ident} removed."
    if action == "apply":
        if target.apply is None:
            raise invalid("apply to subfolders is for administrators")
        count = await target.apply(user.actor)
        return f"Permissions copied to {count} subfolders."
    ident = text(form, "identifier") if action == "change" else identifier_from(form)
    ident, stored = await target.set(user.actor, ident, rights_from(form))
    message = f"{ident} may now: {presets.explain(stored)}." if stored else \
        f"Entry {ident} removed."
    if checked(form, "apply") and target.apply is not None:
        count = await target.apply(user.actor)
        message += f" Copied to {count} subfolders."
    return message
