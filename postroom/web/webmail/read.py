"""Reading one message: the page, its sanitised frame, parts, attachments, raw source.

URLs (docs/webmail/read.md has the whole contract):

    GET  /webmail/f/{fid}/m/{uid}              the reading page (?images=1, ?text=1)
    GET  /webmail/f/{fid}/m/{uid}/body         the sanitised HTML, loaded by a sandboxed frame
    GET  /webmail/f/{fid}/m/{uid}/part/{part}  an attachment (?inline=1: preview)
    GET  /webmail/f/{fid}/m/{uid}/cid/{cid}    an inline part by Content-ID (RFC 2392)
    GET  /webmail/f/{fid}/m/{uid}/raw          the raw source as text/plain
    POST /webmail/f/{fid}/m/{uid}/images       remote images: for=message|sender

Security (two walls, each enough alone): the HTML is sanitised (mime/html.py) and the frame's
response carries its own CSP through ``x-postroom-csp`` (web/guard.py): no script at all, no
load but our own images (and remote ones once allowed), ``sandbox`` without scripts or same
origin, framed only by our pages. The page's ``<iframe sandbox>`` says the same again.
Everything served from a message (parts, cid images, raw source) gets ``nosniff`` (Guard), a
type from a safe list, and a ``sandbox`` CSP, so nothing from a mail runs as our origin even
when opened directly. Downloads carry one ``Content-Disposition`` built from a cleaned name
(RFC 6266 §4.3, RFC 8187).

Path values that cannot be ids, part numbers or Content-IDs are 404, the same answer as an id
of a folder the user may not see (shell.folder_param).
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from postroom.mime.reading import content_disposition
from postroom.services.webmail import Webmail
from postroom.services.webmail.reader import PartData
from postroom.web.flash import redirect
from postroom.web.forms import read_form
from postroom.web.webmail.shell import (
    folder_param,
    folder_url,
    message_url,
    page,
    uid_param,
    user_of,
)

if TYPE_CHECKING:
    from postroom.web.context import WebServices, WebSettings

BASE = "/webmail/f/{fid}/m/{uid}"
_PART = re.compile(r"^[1-9][0-9]{0,4}(?:\.[1-9][0-9]{0,4}){0,31}$")
MAX_CID = 998  # RFC 5322 §2.1.1: no header line is longer, so no Content-ID is
# The frame: inline styles and our own images; remote ones only once allowed. No script, no
# fonts, no forms, no base; sandboxed (scripts off, opaque origin), framed by our pages only.
FRAME_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:{remote}; "
             "frame-ancestors 'self'; base-uri 'none'; form-action 'none'; "
             "sandbox allow-popups allow-popups-to-escape-sandbox")
# Parts opened directly (previews, downloads, raw source): nothing runs, nothing loads.
PART_CSP = ("default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; "
            "frame-ancestors 'self'; base-uri 'none'; form-action 'none'; sandbox")


# http(s) URLs in plain text; trailing punctuation is the sentence's, not the URL's
_URL = re.compile(r"\bhttps?://[^\s<>\"'`]{1,2000}", re.I)
_TRAILING = ".,;:!?)]}'\""
MAX_LINKS = 2000  # links made in one text; the rest stays text


def linkify(text: str) -> list[tuple[bool, str]]:
    """The text as (is_url, piece) pieces for the template, which escapes every piece and
    makes an ``<a>`` of the URL ones: only http and https, so a link can never be a
    ``javascript:`` one, and nothing of the text becomes markup."""
    out: list[tuple[bool, str]] = []
    pos = 0
    for count, match in enumerate(_URL.finditer(text)):
        if count >= MAX_LINKS:
            break
        url = match.group(0)
        while url and url[-1] in _TRAILING:
            if url[-1] == ")" and url.count("(") >= url.count(")"):
                break  # "https://x.test/a_(b)": the parenthesis is the URL's
            url = url[:-1]
        if url.endswith("://") or len(url) < 10:
            continue
        out.append((False, text[pos:match.start()]))
        out.append((True, url))
        pos = match.start() + len(url)
    out.append((False, text[pos:]))
    return out


def _timing(started: float) -> str:
    return f"app;dur={(time.perf_counter() - started) * 1000:.1f}"


def _flag(request: Request, name: str) -> bool:
    return request.query_params.get(name) == "1"


def _part_response(data: PartData, inline: bool) -> Response:
    inline = inline and bool(data.preview)
    media = data.ctype
    if media == "text/plain" or (inline and data.preview == "text"):
        media = "text/plain; charset=utf-8"
    headers = {"Content-Type": media,
               "Content-Disposition": content_disposition(data.filename, inline=inline),
               "Cache-Control": "private, no-store", "x-postroom-csp": PART_CSP}
    if data.chunks is not None:  # a large part, decoded as it is sent
        return StreamingResponse(data.chunks, headers=headers)
    return Response(data.data, headers=headers)


def routes(wm: Webmail, services: WebServices, web: WebSettings) -> list[BaseRoute]:
    reader = wm.reader

    def ids(request: Request) -> tuple[int, int]:
        return folder_param(request), uid_param(request)

    async def reading(request: Request) -> Response:
        started = time.perf_counter()
        user = user_of(request)
        fid, uid = ids(request)
        images = _flag(request, "images")
        as_text = _flag(request, "text")
        msg = await reader.open(user.actor.principal, fid, uid, images=images,
                                prefer_text=as_text)
        base = message_url(fid, uid)
        context = {"m": msg, "base": base, "list_url": folder_url(fid),
                   "body_url": base + "/body" + ("?images=1" if msg.images_shown and images
                                                 else ""),
                   "as_text": as_text,
                   "pieces": linkify(msg.text) if msg.text is not None else []}
        response = await page(request, wm, "webmail/message.html", context, folder=fid,
                              headers={"Cache-Control": "no-store"})
        response.headers["Server-Timing"] = _timing(started)
        return response

    async def body(request: Request) -> Response:
        started = time.perf_counter()
        user = user_of(request)
        fid, uid = ids(request)
        document, remote = await reader.html_document(user.actor.principal, fid, uid,
                                                      images=_flag(request, "images"))
        csp = FRAME_CSP.format(remote=" https: http:" if remote else "")
        return Response(document, headers={
            "Content-Type": "text/html; charset=utf-8", "Cache-Control": "private, no-store",
            "x-postroom-csp": csp, "Server-Timing": _timing(started)})

    async def part(request: Request) -> Response:
        user = user_of(request)
        fid, uid = ids(request)
        path = str(request.path_params.get("part", ""))
        if not _PART.match(path):
            raise HTTPException(404)
        data = await reader.part(user.actor.principal, fid, uid, path)
        return _part_response(data, _flag(request, "inline"))

    async def cid(request: Request) -> Response:
        user = user_of(request)
        fid, uid = ids(request)
        value = str(request.path_params.get("cid", ""))
        if not value or len(value) > MAX_CID:
            raise HTTPException(404)
        data = await reader.inline_part(user.actor.principal, fid, uid, value)
        return _part_response(data, inline=data.preview == "image")

    async def raw(request: Request) -> Response:
        user = user_of(request)
        fid, uid = ids(request)
        size, chunks = await reader.raw(user.actor.principal, fid, uid)
        return StreamingResponse(chunks, headers={
            "Content-Type": "text/plain; charset=utf-8", "Content-Length": str(size),
            "Content-Disposition": content_disposition(f"message-{uid}.eml", inline=True),
            "Cache-Control": "private, no-store", "x-postroom-csp": PART_CSP})

    async def images(request: Request) -> Response:
        user = user_of(request)
        fid, uid = ids(request)
        form = await read_form(request)
        choice = form.get("for")
        target = message_url(fid, uid)
        if choice == "message":
            await reader.open(user.actor.principal, fid, uid)  # 404 as the page would be
            return RedirectResponse(target + "?images=1", 303)
        if choice == "sender":
            address = await reader.allow_sender_images(user.actor.principal, fid, uid)
            return redirect(target, f"Remote images from {address} are now shown.")
        raise HTTPException(422, "say for=message or for=sender")

    return [Route(BASE, reading, methods=["GET"]),
            Route(BASE + "/body", body, methods=["GET"]),
            Route(BASE + "/part/{part}", part, methods=["GET"]),
            Route(BASE + "/cid/{cid:path}", cid, methods=["GET"]),
            Route(BASE + "/raw", raw, methods=["GET"]),
            Route(BASE + "/images", images, methods=["POST"])]
