"""The queue viewer: the entries with recipient, state, next attempt and last error; one entry
in full; hold, release, retry now, delete and bounce (services/admin/mail.py ``QueueAdmin``).

Delete and bounce cannot be undone, so they take two steps: the entry's page (or a form
posted without ``confirm=yes``) shows a confirmation page whose form posts again with it.
Hold, release and retry act at once. Every action redirects back with a message.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.policy
from email.parser import BytesHeaderParser
from typing import TYPE_CHECKING

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from postroom.core.errors import MailError
from postroom.web.forms import back, read_form
from postroom.web.identity import require_user
from postroom.web.pages.ops_common import Confirm, confirm_page, ops_config, page, refused

if TYPE_CHECKING:
    from postroom.web.context import WebServices, WebSettings

STATES = ("ready", "active", "hold", "atrn")
SHOWN_FIELDS = ("From", "To", "Cc", "Subject", "Date", "Message-ID")
MAX_HEAD = 65536  # octets of a queued message read to find its header section
ACTIONS = {"hold": "held", "release": "released", "retry": "due now",
           "delete": "deleted", "bounce": "returned to its sender"}
DESTRUCTIVE = {"delete": "Delete", "bounce": "Bounce"}


def _headers(head: bytes) -> list[tuple[str, str]]:
    """The header fields a person identifies a message by, decoded (RFC 2047 encoded words
    too) for display only. The stdlib's structured parser has raised on malformed address
    fields in some Python releases; then the fields are shown as they are (compat32)."""
    if not head:
        return []
    data = head + b"\r\n\r\n"
    for policy in (email.policy.default, email.policy.compat32):
        try:
            message = BytesHeaderParser(policy=policy).parsebytes(data)
            return [(name, str(value)[:500]) for name in SHOWN_FIELDS
                    for value in message.get_all(name, [])]
        except Exception:  # anything the parser raises: try the plain way
            continue
    return []


def _entry_id(request: Request) -> int:
    text = str(request.path_params["entry"])
    if not text.isdigit() or len(text) > 18:
        raise HTTPException(404)
    return int(text)


def routes(services: WebServices, settings: WebSettings) -> list[BaseRoute]:
    queue = services.admin.queue

    async def listing(request: Request) -> Response:
        user = require_user(request, "global")
        size = ops_config(settings).page_size  # per request: a reload changes it in place
        q = request.query_params
        state = q.get("state", "") if q.get("state", "") in STATES else ""
        text = q.get("q", "")[:200].strip()
        number = int(q["page"]) if q.get("page", "").isdigit() and \
            len(q["page"]) < 10 else 1
        context: dict[str, object] = {"state": state, "q": text, "states": STATES,
                                      "entries": [], "page_no": 1, "pages": 1, "total": 0}
        try:
            total, _ = await queue.page(user.actor, state=state, text=text, limit=0)
            pages = max(1, -(-total // size))
            number = min(max(1, number), pages)
            _, entries = await queue.page(user.actor, state=state, text=text,
                                          offset=(number - 1) * size, limit=size)
        except MailError as exc:
            return refused(request, "ops/queue.html", context, exc)
        context.update(entries=entries, page_no=number, pages=pages, total=total)
        return page(request, "ops/queue.html", context)

    async def show(request: Request) -> Response:
        user = require_user(request, "global")
        entry_id = _entry_id(request)
        try:
            rec = await queue.get(user.actor, entry_id)
        except MailError as exc:
            return refused(request, "ops/queue_entry.html", {"rec": None}, exc)
        params = {k: v for k, v in rec.param_dict().items() if k != "auth"}
        try:
            head = await asyncio.to_thread(queue.header_section, user.actor, rec, MAX_HEAD)
        except OSError:  # the blob is gone (a store fault): the rest of the page still helps
            head = b""
        return page(request, "ops/queue_entry.html", {"rec": rec, "params": params,
                                                      "headers": _headers(head)})

    async def ask(request: Request) -> Response:
        require_user(request, "global")
        entry_id = _entry_id(request)
        action = str(request.path_params["action"])
        if action not in DESTRUCTIVE:
            raise HTTPException(404)
        return _confirm(request, entry_id, action)

    def _confirm(request: Request, entry_id: int, action: str) -> Response:
        what = ("delete it for good; nobody is told" if action == "delete" else
                "return it to its sender with a delivery status notification")
        return confirm_page(request, Confirm(
            f"{DESTRUCTIVE[action]} queue entry {entry_id}",
            f"This will {what}. It cannot be undone.",
            f"/queue/{entry_id}/{action}", f"/queue/{entry_id}",
            f"{DESTRUCTIVE[action]} entry {entry_id}"))

    async def act(request: Request) -> Response:
        user = require_user(request, "global")
        entry_id = _entry_id(request)
        action = str(request.path_params["action"])
        if action not in ACTIONS:
            raise HTTPException(404)
        form = await read_form(request)
        if action in DESTRUCTIVE and form.get("confirm") != "yes":
            return _confirm(request, entry_id, action)
        try:
            if action == "hold":
                await queue.hold(user.actor, entry_id)
            elif action in ("release", "retry"):
                await queue.release(user.actor, entry_id, retry=action == "retry")
            elif action == "delete":
                await queue.delete(user.actor, entry_id)
            else:
                await queue.bounce(user.actor, entry_id)
        except MailError as exc:
            rec = None
            with contextlib.suppress(MailError):  # gone: the page says what went wrong
                rec = await queue.get(user.actor, entry_id)
            return refused(request, "ops/queue_entry.html",
                           {"rec": rec, "params": {}, "headers": []}, exc)
        target = "/queue" if action == "delete" else f"/queue/{entry_id}"
        return back(target, f"Queue entry {entry_id} {ACTIONS[action]}.")

    return [Route("/queue", listing, methods=["GET"]),
            Route("/queue/{entry}", show, methods=["GET"]),
            Route("/queue/{entry}/{action}", ask, methods=["GET"]),
            Route("/queue/{entry}/{action}", act, methods=["POST"])]
