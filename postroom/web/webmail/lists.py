"""A folder's message list: pages, sort, threads, search, and actions on selected messages.

The pages only read the request and render: which messages, in what order, what an action
may do, all is decided by ``services.webmail.lists`` (through the access gate). Every screen
works without JavaScript (links and form posts, post/redirect/get); list.js adds keyboard
shortcuts, drag-and-drop and live refresh on top, posting the same forms with
``Accept: application/json``. URLs are the webmail URL contract's (docs/webmail/lists.md).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from postroom.core.errors import Kind, MailError
from postroom.services.webmail import Webmail
from postroom.services.webmail.lists import Listing, Query
from postroom.web.flash import redirect
from postroom.web.forms import Form, FormLimits, limits_of, read_form, status_of
from postroom.web.problems import PROBLEM_TYPE
from postroom.web.templating import render
from postroom.web.webmail.shell import MAX_ID, folder_param, folder_url, page, user_of

if TYPE_CHECKING:
    from postroom.web.context import WebServices, WebSettings

_NUMBER = re.compile(r"[0-9]{1,9}")
_DIGITS = re.compile(r"[0-9]{1,19}")  # ASCII only: "²".isdigit() holds, int("²") fails
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_NEXT = re.compile(r"/webmail/[A-Za-z0-9/_\-.?=&%+:;,]*")
CONFIRMED = ("delete-trash", "expunge")
DONE = {"read": "marked read", "unread": "marked unread", "flag": "flagged",
        "unflag": "unflagged", "delete": "deleted", "move": "moved", "copy": "copied",
        "spam": "moved to Junk", "ham": "moved to the Inbox", "expunge": "deleted for good"}


def parse_query(request: Request) -> Query:
    """The list's query parameters (the URL contract's); anything malformed is 400."""
    params = request.query_params

    def one(name: str) -> str:
        values = params.getlist(name)
        if len(values) > 1:
            raise HTTPException(400, f"{name} given twice")
        return values[0].strip() if values else ""

    def number(name: str, default: int) -> int:
        raw = one(name)
        if not raw:
            return default
        if not _NUMBER.fullmatch(raw):
            raise HTTPException(400, f"{name} must be a number")
        return int(raw)

    def day(name: str) -> dt.date | None:
        raw = one(name)
        if not raw:
            return None
        try:
            if not _DAY.fullmatch(raw):
                raise ValueError(raw)
            return dt.date.fromisoformat(raw)
        except ValueError:
            raise HTTPException(400, f"{name} must be a date as YYYY-MM-DD") from None

    def switch(name: str) -> bool | None:
        """1/on, 0, or None when not given."""
        raw = one(name)
        if raw not in ("", "0", "1", "on"):
            raise HTTPException(400, f"{name} must be 0 or 1")
        return None if raw == "" else raw in ("1", "on")

    try:
        return Query(page=number("page", 1), size=number("size", 0),
                     sort=one("sort") or "date", order=one("order") or "desc",
                     thread=switch("thread"), q=one("q"), sender=one("from"), to=one("to"),
                     subject=one("subject"), body=one("body"), since=day("since"),
                     before=day("before"), flag=one("flag"), attach=bool(switch("attach")))
    except MailError as exc:
        raise HTTPException(400, exc.text) from None


def human_size(octets: int) -> str:
    """1,234 octets as "1.2 kB": decimal units, what people read (IEC 80000-13 aside)."""
    value = float(octets)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" or value >= 100 else \
                f"{value:.1f} {unit}"
        value /= 1000
    return f"{octets} B"


def short_date(when: dt.datetime, now: dt.datetime) -> str:
    """Today: the time; this year: day and month; before: the whole date."""
    local_now = now.astimezone(when.tzinfo)
    if when.date() == local_now.date():
        return when.strftime("%H:%M")
    if when.year == local_now.year:
        return when.strftime("%d %b").lstrip("0")
    return when.strftime("%Y-%m-%d")


def list_url(folder_id: int, query: Query, **changes: object) -> str:
    params = query.params(**changes)
    return folder_url(folder_id) + (f"?{urlencode(params)}" if params else "")


def _safe_next(raw: str, fallback: str) -> str:
    """Only a path of webmail's own: never another site (an open redirect)."""
    if raw and _NEXT.fullmatch(raw) and "//" not in raw and len(raw) < 2000:
        return raw
    return fallback


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


def _problem(exc: MailError) -> Response:
    """RFC 9457 problem details for a script's request. NOT_FOUND says nothing more than
    the status: an id of a folder the user may not see reads like one that never existed."""
    status = status_of(exc)
    body: dict[str, object] = {"type": "about:blank", "title": HTTPStatus(status).phrase,
                               "status": status}
    if exc.kind is not Kind.NOT_FOUND:
        body["detail"] = exc.text
    return Response(json.dumps(body), status, media_type=PROBLEM_TYPE)


def _hidden(handler: Callable[[Request], Awaitable[Response]],
            ) -> Callable[[Request], Awaitable[Response]]:
    """A folder or message that is not there, or not the user's to see, is the plain 404
    every junk id gets (shell.folder_param): the same status and the same text."""
    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except MailError as exc:
            if exc.kind is Kind.NOT_FOUND:
                raise HTTPException(404) from None
            raise
    return wrapped


def _timed(handler: Callable[[Request], Awaitable[Response]],
           ) -> Callable[[Request], Awaitable[Response]]:
    """W3C Server Timing: ``app;dur=<ms>``, so the benches can read the server's time."""
    async def wrapped(request: Request) -> Response:
        start = time.perf_counter()
        response = await handler(request)
        response.headers["Server-Timing"] = \
            f"app;dur={(time.perf_counter() - start) * 1000:.1f}"
        return response
    return wrapped


def routes(wm: Webmail, services: WebServices, web: WebSettings) -> list[BaseRoute]:
    lists = wm.lists

    def values(listing: Listing, folder_id: int) -> dict[str, Any]:
        query = listing.query
        return {"listing": listing, "query": query, "human_size": human_size,
                "short_date": short_date, "fid": folder_id,
                "url": lambda **changes: list_url(folder_id, query, **changes),
                "rows_url": folder_url(folder_id) + "/rows" + (
                    f"?{urlencode(query.params())}" if query.params() else ""),
                "here": list_url(folder_id, query)}

    @_timed
    @_hidden
    async def show(request: Request) -> Response:
        folder_id = folder_param(request)
        query = parse_query(request)
        listing = await lists.listing(user_of(request).actor.principal, folder_id, query)
        return await page(request, wm, "webmail/list.html", values(listing, folder_id),
                          folder=folder_id, headers={"Cache-Control": "no-store"})

    @_timed
    @_hidden
    async def rows(request: Request) -> Response:
        folder_id = folder_param(request)
        query = parse_query(request)
        user = user_of(request)
        listing = await lists.listing(user.actor.principal, folder_id, query)
        return render(request, "webmail/list_rows.html", {
            **values(listing, folder_id), "folder_url": folder_url,
            "message_url": lambda f, u: f"{folder_url(f)}/m/{u}"},
            headers={"Cache-Control": "no-store"})

    async def form_of(request: Request) -> Form:
        base = limits_of(request)
        return await read_form(request, FormLimits(base.max_field,
                                                   wm.config.action_max + 20))

    @_hidden
    async def act(request: Request) -> Response:
        folder_id = folder_param(request)
        principal = user_of(request).actor.principal
        form = await form_of(request)
        raw_uids = form.all("uid")
        if len(raw_uids) > wm.config.action_max:
            raise HTTPException(413, f"at most {wm.config.action_max} messages at once")
        if any(not _DIGITS.fullmatch(u) for u in raw_uids):
            raise HTTPException(400, "uid must be a number")
        uids = [int(u) for u in raw_uids]
        action = form.get("action")
        target: int | None = None
        if form.get("target"):
            raw = form.get("target")
            if not _DIGITS.fullmatch(raw) or not 0 < int(raw) <= MAX_ID:
                raise HTTPException(404)
            target = int(raw)
        back = _safe_next(form.get("next"), folder_url(folder_id))
        json_reply = _wants_json(request)
        if not uids:
            exc = MailError(Kind.INVALID, "select at least one message")
            if json_reply:
                return _problem(exc)
            return redirect(back, "Select at least one message first.")
        try:
            if action in ("delete", "expunge") and not form.checked("confirm") and \
                    not json_reply:
                kind = await lists.confirm_needed(principal, folder_id, action)
                if kind:
                    return await page(request, wm, "webmail/list_confirm.html", {
                        "fid": folder_id, "uids": uids, "action": action, "next": back,
                        "count": len(uids)}, folder=folder_id)
            count = await lists.act(principal, folder_id, uids, action, target)
        except MailError as exc:
            if json_reply:
                return _problem(exc)
            raise
        if json_reply:
            return JSONResponse({"ok": True, "count": count})
        noun = "message" if count == 1 else "messages"
        return redirect(back, f"{count} {noun} {DONE.get(action, 'changed')}.")

    @_hidden
    async def empty_form(request: Request) -> Response:
        folder_id = folder_param(request)
        principal = user_of(request).actor.principal
        folder = await lists.emptiable(principal, folder_id)
        return await page(request, wm, "webmail/list_empty.html", {"fid": folder_id,
                          "target": folder}, folder=folder_id)

    @_hidden
    async def empty(request: Request) -> Response:
        folder_id = folder_param(request)
        principal = user_of(request).actor.principal
        await read_form(request)
        try:
            count = await lists.empty(principal, folder_id)
        except MailError as exc:
            if _wants_json(request):
                return _problem(exc)
            raise
        if _wants_json(request):
            return JSONResponse({"ok": True, "count": count})
        noun = "message" if count == 1 else "messages"
        return redirect(folder_url(folder_id), f"{count} {noun} deleted for good.")

    return [Route("/webmail/f/{fid}", show, methods=["GET"]),
            Route("/webmail/f/{fid}/rows", rows, methods=["GET"]),
            Route("/webmail/f/{fid}/act", act, methods=["POST"]),
            Route("/webmail/f/{fid}/empty", empty_form, methods=["GET"]),
            Route("/webmail/f/{fid}/empty", empty, methods=["POST"])]
