"""Screening, the audit log and the mail log (docs/screening.md, docs/operations.md).

- ``/screening``: the blocked addresses and networks (made by hand or by the server after
  repeated offences) with block and unblock (services/admin/screening.py).
- ``/audit``: the audit log, newest first, filtered by who, action and target (prefixes) and
  since a date, paged back with ``before`` (the id of the last record shown).
- ``/maillog``: search by address, queue id or Message-ID (services/maillog_search.py); each
  result is one message's trail (its acceptance and what became of each recipient) or one
  refusal.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from postroom.core.errors import MailError, invalid
from postroom.services.maillog_search import KINDS, QueryKind
from postroom.web.forms import back, read_form, status_of
from postroom.web.identity import WebUser, require_user
from postroom.web.pages.ops_common import ops_config, page, refused

if TYPE_CHECKING:
    from postroom.web.context import WebServices, WebSettings

KIND_LABELS = {"auto": "anything", "address": "address", "queue": "queue id",
               "msgid": "Message-ID"}
DURATIONS = {"": None, "3600": 3600, "86400": 86400, "604800": 604800}
MAX_FILTER = 320


def _since(text: str) -> int | None:
    """A day (YYYY-MM-DD, UTC) as the Unix time of its start."""
    if not text:
        return None
    try:
        day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise invalid(f"{text!r}: give a day as YYYY-MM-DD") from None
    return int(day.timestamp())


def routes(services: WebServices, settings: WebSettings) -> list[BaseRoute]:
    admin = services.admin
    screening = admin.screening
    maillog = services.maillog

    # -- screening ----------------------------------------------------------------------------
    async def blocks(request: Request, user: WebUser, status: int = 200,
                     **extra: Any) -> Response:
        context: dict[str, Any] = {"blocks": [], "form": {}, **extra}
        try:
            context["blocks"] = await screening.list(user.actor)
        except MailError as exc:
            return refused(request, "ops/screening.html", context, exc)
        return page(request, "ops/screening.html", context, status)

    async def screening_page(request: Request) -> Response:
        return await blocks(request, require_user(request, "global"))

    async def block(request: Request) -> Response:
        user = require_user(request, "global")
        form = await read_form(request)
        duration = form.get("duration")
        try:
            if duration not in DURATIONS:
                raise invalid("duration: one hour, one day, one week, or until unblocked")
            rec = await screening.block(user.actor, form.get("network"), DURATIONS[duration],
                                        form.get("reason")[:200])
        except MailError as exc:
            return await blocks(request, user, status_of(exc), error=exc.text, form=form.values())
        return back("/screening", f"{rec.network} blocked.")

    async def unblock(request: Request) -> Response:
        user = require_user(request, "global")
        form = await read_form(request)
        try:
            lifted = await screening.unblock(user.actor, form.get("network"))
        except MailError as exc:
            return await blocks(request, user, status_of(exc), error=exc.text)
        return back("/screening", f"Unblocked: {', '.join(lifted)}.")

    # -- audit log ----------------------------------------------------------------------------
    async def audit(request: Request) -> Response:
        user = require_user(request, "global")
        size = ops_config(settings).page_size  # per request: a reload changes it in place
        q = request.query_params
        filters = {k: q.get(k, "").strip()[:MAX_FILTER] for k in ("who", "action", "target",
                                                                  "since")}
        before_text = q.get("before", "")
        context: dict[str, Any] = {"filters": filters, "records": [], "older": "",
                                   "first_page": True}
        try:
            before = int(before_text) if before_text.isdigit() and len(before_text) < 19 \
                else None
            rows = await admin.audit(user.actor, limit=size + 1, since=_since(filters["since"]),
                                     who=filters["who"] or None,
                                     action=filters["action"] or None,
                                     target=filters["target"] or None, before=before)
        except MailError as exc:
            return refused(request, "ops/audit.html", context, exc)
        context["records"] = rows[:size]
        if len(rows) > size:
            context["older"] = "/audit?" + urlencode(
                {**{k: v for k, v in filters.items() if v}, "before": rows[size - 1].id})
        context["first_page"] = before is None
        return page(request, "ops/audit.html", context)

    # -- mail log -----------------------------------------------------------------------------
    async def search(request: Request) -> Response:
        user = require_user(request, "global")
        query = request.query_params.get("q", "")
        kind_text = request.query_params.get("kind", "auto")
        kind: QueryKind = kind_text if kind_text in KINDS else "auto"
        if kind_text not in KINDS:
            return refused(request, "ops/maillog.html", {
                "q": query[:1000], "kind": kind, "kinds": KIND_LABELS, "result": None},
                invalid(f"search for one of: {', '.join(KINDS)}"))
        context: dict[str, Any] = {"q": query[:1000], "kind": kind, "kinds": KIND_LABELS,
                                   "result": None}
        if maillog is None:
            context["error"] = "the mail log cannot be searched from this process"
            return page(request, "ops/maillog.html", context, 503)
        if query.strip():
            try:
                context["result"] = await maillog.search(user.actor, query, kind)
            except MailError as exc:
                return refused(request, "ops/maillog.html", context, exc)
        return page(request, "ops/maillog.html", context)

    return [Route("/screening", screening_page, methods=["GET"]),
            Route("/screening/block", block, methods=["POST"]),
            Route("/screening/unblock", unblock, methods=["POST"]),
            Route("/audit", audit, methods=["GET"]),
            Route("/maillog", search, methods=["GET"])]
