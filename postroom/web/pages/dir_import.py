"""Bulk import of accounts from CSV, with progress.

The upload (a file, or text pasted into the form, for the keyboard user without a file at
hand) is parsed and checked at once (services/admin/imports.py: the CLI's format and rules),
so a mistake comes back with its line number before anything is created. The import then runs
in the background (``ImportJobs``); the progress page polls a small JSON status with a script
of ours (static/import.js), and without JavaScript it reloads itself every few seconds.
The upload's size is bounded by ``web.max_body_size``.
"""

from __future__ import annotations

import asyncio

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from postroom.core.errors import MailError, invalid
from postroom.services.admin import Admin
from postroom.services.admin.imports import MAX_IMPORT, parse_accounts_csv
from postroom.web.forms import back
from postroom.web.pages.dir_common import admin as require_admin
from postroom.web.pages.dir_common import form_again, pages, path_param, view

REFRESH_SECONDS = 2  # how often the page reloads itself without JavaScript


def routes(admin: Admin) -> list[BaseRoute]:
    @pages
    async def upload(request: Request) -> Response:
        user = require_admin(request)
        if request.method == "GET":
            return view(request, "admin/import.html", {"pasted": ""})
        pasted = ""
        try:
            # the form as a whole is bounded by the guard's body limit; a file part may be
            # as large as that, unlike dir_common.form_of's short-field limit
            form = await request.form()
            file = form.get("file")
            pasted = str(form.get("text") or "")
            content = ""
            if isinstance(file, UploadFile) and file.filename:
                try:
                    content = (await file.read()).decode("utf-8-sig")
                except UnicodeDecodeError:
                    raise invalid("the file is not UTF-8 text") from None
            text = content or pasted
            if not text.strip():
                raise invalid("choose a CSV file or paste its lines")
            source = file.filename if isinstance(file, UploadFile) and file.filename else ""
            # parsed off the event loop: a large upload must not stall every connection
            items = await asyncio.to_thread(parse_accounts_csv, text, source, MAX_IMPORT)
            job = await admin.imports.start(user.actor, items)
        except MailError as exc:
            return form_again(request, "admin/import.html", {"pasted": pasted[:20000]}, exc,
                              ("text",), "file")
        return back(f"/users/import/{job.id}", f"Importing {job.total} accounts.")

    @pages
    async def progress(request: Request) -> Response:
        user = require_admin(request)
        job = admin.imports.get(user.actor, path_param(request, "job"))
        return view(request, "admin/import_job.html",
                    {"job": job, "refresh": REFRESH_SECONDS})

    @pages
    async def status(request: Request) -> Response:
        user = require_admin(request)
        job = admin.imports.get(user.actor, path_param(request, "job"))
        return JSONResponse(job.as_dict(), headers={"Cache-Control": "no-store"})

    return [Route("/users/import", upload, methods=["GET", "POST"]),
            Route("/users/import/{job}.json", status, methods=["GET"]),
            Route("/users/import/{job}", progress, methods=["GET"])]
