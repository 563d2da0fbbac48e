"""Writing mail: compose, reply, forward, drafts, uploads, address completion.

The page is one ``multipart/form-data`` form that works without JavaScript: its default
button sends (``/webmail/compose/{cid}/send``), "Save draft" and "Discard" post to their own
URLs (``formaction``), "Attach" and each "Remove" post to ``/webmail/upload/{cid}`` (the path
with the larger body limit, web/guard.py), which keeps what was typed and shows the page again.
compose.js adds the rich-text editor, autosave, uploads by drag-and-drop with progress (the
raw file as the body, ``X-File-Name`` percent-encoded: streamed to disk with
``request.stream()``, never whole in memory) and address completion.

Everything is decided by the Composer (services/webmail/compose.py); this module reads the
request and renders. A refusal keeps the form as typed and answers with its status (403 for a
sender that is not the user's, 409 for a limit, 422 for input to correct); a cid that is not
the user's is 404, like any id the user may not see. JSON callers (compose.js, with ``Accept:
application/json``) get ``{"error": text}`` with the same status.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from markupsafe import Markup
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from postroom.core.errors import Kind, MailError
from postroom.core.principal import Principal
from postroom.mime import richtext
from postroom.services.webmail import Webmail
from postroom.services.webmail.compose import UploadTooLarge, encoded_size
from postroom.services.webmail.compose_staging import CID, Fields
from postroom.web.flash import redirect
from postroom.web.forms import MULTIPART, URLENCODED, Form, FormLimits, read_form, status_of
from postroom.web.webmail.shell import MAX_ID, folder_url, page, user_of

if TYPE_CHECKING:
    from postroom.web.context import WebServices, WebSettings

UPLOAD_PREFIX = "/webmail/upload"  # attachments are posted here (the larger body limit)
COMPOSE = "/webmail/compose"
CHUNK = 64 * 1024
MAX_FORM_FIELDS = 200
FIELD_NAMES = ("identity", "from_name", "to", "cc", "bcc", "subject", "body")
NO_STORE = {"Cache-Control": "no-store"}


def compose_url(cid: str) -> str:
    return f"{COMPOSE}?cid={cid}"


def _cid(request: Request) -> str:
    value = str(request.path_params.get("cid", ""))
    if not CID.match(value):
        raise HTTPException(404)
    return value


def _ref(value: str) -> tuple[int, int]:
    """``FID:UID`` from the query; 404 for anything that cannot be one (like an id the
    user may not see)."""
    folder, sep, uid = value.partition(":")
    if not (sep and folder.isdigit() and uid.isdigit() and len(folder) < 20 and len(uid) < 11):
        raise HTTPException(404)
    fid, num = int(folder), int(uid)
    if not (0 < fid <= MAX_ID and 0 < num <= 0xFFFFFFFF):  # RFC 3501 §2.3.1.1
        raise HTTPException(404)
    return fid, num


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


def _json_error(status: int, text: str) -> JSONResponse:
    return JSONResponse({"error": text}, status, headers=NO_STORE)


def _fields(form: Form) -> Fields:
    values = {name: form.raw(name) for name in FIELD_NAMES}
    return Fields(identity=values["identity"].strip(), from_name=values["from_name"].strip(),
                  to=values["to"], cc=values["cc"], bcc=values["bcc"],
                  subject=values["subject"], body=values["body"].replace("\r\n", "\n"),
                  rich=form.get("rich") == "1")


async def _read(request: Request, wm: Webmail, *, files: bool,
                ) -> tuple[Form, list[UploadFile]]:
    """The posted form (text fields up to ``max_text_size`` characters) and, when
    ``files``, the files of a multipart one (spooled to disk by Starlette)."""
    limits = FormLimits(max_field=wm.config.max_text_size, max_fields=MAX_FORM_FIELDS)
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != MULTIPART:
        if ctype != URLENCODED:
            raise HTTPException(415, f"send the form as {URLENCODED} or {MULTIPART}")
        return await read_form(request, limits), []
    try:
        data = await request.form(max_fields=MAX_FORM_FIELDS,
                                  max_files=wm.config.max_attachments,
                                  max_part_size=wm.config.max_text_size * 4 + 1024)
    except (HTTPException, MultiPartException, ClientDisconnect):
        raise HTTPException(400, "the form could not be read (too many fields or files, "
                            "or malformed)") from None
    pairs: list[tuple[str, str]] = []
    uploads: list[UploadFile] = []
    for key, value in data.multi_items():
        if isinstance(value, UploadFile):
            if files and key == "files" and value.filename:
                uploads.append(value)
        else:
            pairs.append((key, value))
    if any(len(v) > limits.max_field for _, v in pairs):
        raise HTTPException(413, "a form field is longer than "
                            f"{limits.max_field} characters")
    return Form(pairs), uploads


async def _file_chunks(upload: UploadFile) -> AsyncIterator[bytes]:
    while True:
        chunk = await upload.read(CHUNK)
        if not chunk:
            return
        yield chunk


async def _stage_files(wm: Webmail, principal: Principal, cid: str,
                       uploads: list[UploadFile]) -> None:
    try:
        for upload in uploads:
            await wm.compose.upload(principal, cid, upload.filename or "",
                                    upload.content_type or "", _file_chunks(upload))
    finally:
        for upload in uploads:  # Starlette's spooled files: gone with the request
            await upload.close()


def routes(wm: Webmail, services: WebServices, web: WebSettings) -> list[BaseRoute]:
    composer = wm.compose

    async def show(request: Request, cid: str, *, error: str = "", status: int = 200,
                   fields: Fields | None = None) -> Response:
        principal = user_of(request).actor.principal
        view = await composer.view(principal, cid)
        if fields is not None:
            view = dataclasses.replace(view, fields=fields)
        editor, plain = _editor(view.fields)
        sizes = {s.id: encoded_size(s.size) for s in view.attachments}
        addresses = {i.address for i in view.identities}
        titles = {"new": "New message", "reply": "Reply", "forward": "Forward"}
        return await page(request, wm, "webmail/compose.html", {
            "view": view, "fields": view.fields, "error": error, "sizes": sizes,
            "addresses": addresses, "title": titles[view.kind], "human": human,
            "editor": Markup(editor), "plain": plain}, status=status, headers=NO_STORE)

    async def compose(request: Request) -> Response:
        """GET /webmail/compose: a new session (then 303 to it, so a reload does not open
        another), or ``?cid=`` an open one."""
        principal = user_of(request).actor.principal
        query = request.query_params
        if "cid" in query:
            cid = query["cid"]
            if not CID.match(cid):
                raise HTTPException(404)
            return await show(request, cid)
        options: dict[str, Any] = {}
        if "draft" in query:
            options["draft"] = _ref(query["draft"])
        elif "reply" in query:
            options["reply"] = _ref(query["reply"])
            options["reply_all"] = query.get("all") == "1"
        elif "forward" in query:
            options["forward"] = _ref(query["forward"])
            options["forward_attach"] = query.get("attach") == "1"
        else:
            options["to"] = query.get("to", "")[:2000]
        cid = await composer.start(principal, **options)
        return RedirectResponse(compose_url(cid), 303)

    async def refused(request: Request, cid: str, exc: MailError, fields: Fields | None,
                      ) -> Response:
        status = 413 if isinstance(exc, UploadTooLarge) else status_of(exc)
        if _wants_json(request):
            return _json_error(status, exc.text)
        try:  # the form again, as typed, with the refusal ("No such user here: <x>", ...)
            return await show(request, cid, error=exc.text, status=status, fields=fields)
        except MailError as gone:
            if gone.kind is Kind.NOT_FOUND:  # the session itself is not (or no longer) there
                raise gone from None
            raise

    async def save(request: Request) -> Response:
        cid = _cid(request)
        principal = user_of(request).actor.principal
        form, uploads = await _read(request, wm, files=True)
        fields = _fields(form)
        try:
            await _stage_files(wm, principal, cid, uploads)
            saved = await composer.save_draft(principal, cid, fields)
        except MailError as exc:
            return await refused(request, cid, exc, fields)
        at = await _clock(wm, principal, saved.at)
        if _wants_json(request):
            return JSONResponse({"ok": True, "saved": at, "uid": saved.uid,
                                 "folder": saved.folder_id}, headers=NO_STORE)
        return redirect(compose_url(cid), f"Draft saved at {at}.")

    async def send(request: Request) -> Response:
        cid = _cid(request)
        user = user_of(request)
        principal = user.actor.principal
        form, uploads = await _read(request, wm, files=True)
        fields = _fields(form)
        peer = request.client.host if request.client else ""
        try:
            await _stage_files(wm, principal, cid, uploads)
            result = await composer.send(principal, cid, fields, peer)
        except MailError as exc:
            return await refused(request, cid, exc, fields)
        note = "Your message was sent." + (f" {result.warning}" if result.warning else "")
        inbox = await wm.folders.inbox(principal)
        if _wants_json(request):
            return JSONResponse({"ok": True, "recipients": result.recipients,
                                 "warning": result.warning, "next": folder_url(inbox.id)},
                                headers=NO_STORE)
        return redirect(folder_url(inbox.id), note)

    async def discard(request: Request) -> Response:
        cid = _cid(request)
        principal = user_of(request).actor.principal
        await composer.discard(principal, cid)
        inbox = await wm.folders.inbox(principal)
        if _wants_json(request):
            return JSONResponse({"ok": True, "next": folder_url(inbox.id)}, headers=NO_STORE)
        return redirect(folder_url(inbox.id), "The message was discarded.")

    async def upload(request: Request) -> Response:
        """One attachment as the raw body (compose.js), or the form itself (the "Attach"
        and "Remove" buttons without JavaScript)."""
        cid = _cid(request)
        principal = user_of(request).actor.principal
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype in (MULTIPART, URLENCODED):
            form, uploads = await _read(request, wm, files=True)
            fields = _fields(form)
            try:
                await composer.update(principal, cid, fields, form.all("remove"))
                await _stage_files(wm, principal, cid, uploads)
            except MailError as exc:
                return await refused(request, cid, exc, fields)
            return RedirectResponse(compose_url(cid), 303)
        name = unquote(request.headers.get("x-file-name", ""), errors="replace")
        body = _body(request)
        try:
            staged = await composer.upload(principal, cid, name, ctype, body)
        except MailError as exc:
            await _drain(body)
            status = 413 if isinstance(exc, UploadTooLarge) else status_of(exc)
            return _json_error(status, exc.text)
        except ClientDisconnect:
            return Response(status_code=400)
        return JSONResponse({"id": staged.id, "name": staged.name, "size": staged.size,
                             "type": staged.content_type, "human": human(staged.size),
                             "encoded": encoded_size(staged.size)}, 201, headers=NO_STORE)

    async def remove(request: Request) -> Response:
        cid = _cid(request)
        principal = user_of(request).actor.principal
        aid = str(request.path_params.get("aid", ""))
        try:
            await composer.remove_attachment(principal, cid, aid)
        except MailError as exc:
            return _json_error(status_of(exc), exc.text)
        return Response(status_code=204)

    async def addresses(request: Request) -> Response:
        """Address completion: ``[{"address", "name"}]`` (JSON)."""
        principal = user_of(request).actor.principal
        query = request.query_params.get("q", "")
        found = await composer.complete(principal, query[:200])
        return JSONResponse([{"address": a, "name": n} for a, n in found], headers=NO_STORE)

    return [Route(COMPOSE, compose, methods=["GET"]),
            Route(COMPOSE + "/{cid}/save", save, methods=["POST"]),
            Route(COMPOSE + "/{cid}/send", send, methods=["POST"]),
            Route(COMPOSE + "/{cid}/discard", discard, methods=["POST"]),
            Route(UPLOAD_PREFIX + "/{cid}", upload, methods=["POST"]),
            Route(UPLOAD_PREFIX + "/{cid}/{aid}", remove, methods=["DELETE"]),
            Route("/webmail/addresses", addresses, methods=["GET"])]


async def _body(request: Request) -> AsyncIterator[bytes]:
    async for chunk in request.stream():
        if chunk:
            yield chunk


async def _clock(wm: Webmail, principal: Principal, when: float) -> str:
    """``when`` as HH:MM in the user's time zone (their setting)."""
    prefs = await wm.prefs.get(principal)
    try:
        zone: tzinfo = ZoneInfo(prefs.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = UTC
    return datetime.fromtimestamp(when, zone).strftime("%H:%M")


async def _drain(body: AsyncIterator[bytes]) -> None:
    """Read what is left of a refused upload (at most web/guard.py's limit for the path)
    before answering: a server that answers and closes while the browser is still sending
    makes it report a network error instead of the refusal."""
    try:
        async for _ in body:
            pass
    except (HTTPException, ClientDisconnect, RuntimeError):
        pass


def human(octets: int) -> str:
    if octets >= 1 << 20:
        return f"{octets / (1 << 20):.1f} MB"
    if octets >= 1 << 10:
        return f"{octets / (1 << 10):.0f} KB"
    return f"{octets} bytes"


def _editor(fields: Fields) -> tuple[str, str]:
    """(what the rich editor starts with: the sanitised HTML, the services sanitise it again
    when it is used; what the plain text area holds: without JavaScript a rich message is
    edited as its plain reading)."""
    if not fields.rich:
        return "", fields.body
    fragment = richtext.sanitize(fields.body)
    return fragment, richtext.to_text(fragment)
