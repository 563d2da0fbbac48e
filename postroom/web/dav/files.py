"""The WebDAV file area on the wire (RFC 4918): ``/dav/files/<owner>/<path>``.

web/dav/app.py authenticates and hands every request under /dav/files/ to ``handle``. This
module parses (paths, Destination, Depth, Overwrite, If, bodies) and renders; what a path is,
who may do what and which locks stand in the way are services/dav/files.py's and
services/dav/locks.py's decisions. OPTIONS is answered by app.py (``DAV: 1, 2, 3``: class 2,
locking, is implemented here).

Errors: a path the viewer may not see is 404 with the one fixed body (common.py), whatever
the reason; 409 when a parent collection is missing (RFC 4918 §9.3.1, §9.7.1, §9.8.5); 423
with DAV:lock-token-submitted when a lock is not held (§16); 412 when the If header or
If-Match fails (§10.4, RFC 7232).
"""

from __future__ import annotations

import mimetypes
from urllib.parse import unquote, urlsplit

from starlette.responses import Response

from postroom.core.errors import Kind, MailError
from postroom.services.dav.files import Node, check_names
from postroom.services.dav.locks import Locked
from postroom.web.dav import DAV_PREFIX
from postroom.web.dav import locks as L
from postroom.web.dav.common import DavError, DavRequest, xml_response
from postroom.web.dav.webdav_props import file_href, http_date, node_href, propfind, proppatch
from postroom.web.dav.xml import elem

FILES_PREFIX = DAV_PREFIX + "files/"
HTML_TYPE = "text/html; charset=utf-8"
# A stored file is the uploader's content served from this origin: a shared HTML or SVG file
# must not run script here (it could reach webmail as the viewer). The guard's private header
# (web/guard.py) gives file answers a sandbox with no script and no same-origin access, and
# active types are offered as downloads rather than rendered.
FILE_CSP = ("sandbox; default-src 'none'; img-src 'self' data:; media-src 'self'; "
            "style-src 'unsafe-inline'; frame-ancestors 'self'")
ACTIVE_TYPES = frozenset({"text/html", "application/xhtml+xml", "image/svg+xml", "text/xml",
                          "application/xml", "text/javascript", "application/javascript",
                          "application/x-shockwave-flash"})


def _served(content_type: str) -> dict[str, str]:
    """The headers every file answer carries (see FILE_CSP)."""
    headers = {"x-postroom-csp": FILE_CSP}
    if content_type.split(";", 1)[0].strip().lower() in ACTIVE_TYPES:
        headers["Content-Disposition"] = "attachment"
    return headers


def split_path(path: str) -> tuple[str, str] | None:
    """(area, path inside it) of a decoded /dav/files/ path; None when it is not one."""
    if not path.startswith(FILES_PREFIX):
        return None
    parts = path[len(FILES_PREFIX):].split("/")
    if parts and parts[-1] == "":
        parts.pop()
    if not parts or not parts[0]:
        return None
    try:
        inner = check_names(parts[1:])
    except MailError:
        return None
    return parts[0].lower(), inner


class FileRequest:
    """One request on the file area: the node, the If header and its submitted tokens."""

    def __init__(self, req: DavRequest, area: str, path: str) -> None:
        self.req = req
        self.area = area
        self.path = path
        self.files = req.dav.files
        raw_if = req.header("if")
        self.if_lists = L.parse_if(raw_if) if raw_if is not None else []
        self.tokens = L.submitted_tokens(self.if_lists)

    async def node(self, area: str | None = None, path: str | None = None) -> Node | None:
        return await self.files.resolve(self.req.principal, area or self.area,
                                        self.path if path is None else path)

    async def existing(self) -> Node:
        node = await self.node()
        if node is None or not node.exists:
            raise DavError(404)
        return node

    async def check_if(self, node: Node | None) -> None:
        """RFC 4918 §10.4: 412 unless the If header (when there is one) evaluates true."""
        if not self.if_lists:
            return

        async def state_of(tag: str | None) -> L.State | None:
            target = node
            if tag is not None:
                where = split_path(unquote(urlsplit(tag).path))
                if where is None:
                    return None
                try:
                    target = await self.node(*where)
                except MailError:
                    return None
                area, path = where
            else:
                area, path = self.area, self.path
            locks = await self.files.locks.covering(area, path)
            etag = target.ref.etag if target is not None and target.ref else None
            return L.State(frozenset(lk.token for lk in locks), etag)

        if not await L.evaluate(self.if_lists, state_of):
            raise DavError(412, text="the If header's conditions do not hold")


async def handle(req: DavRequest) -> Response:
    """The one entry point app.py calls for /dav/files/..."""
    where = split_path(req.path)
    if where is None:
        raise DavError(404)
    fr = FileRequest(req, *where)
    try:
        return await _METHODS.get(req.method, _not_allowed)(fr)
    except Locked as exc:
        root = await fr.node(exc.area, exc.path)  # to write a collection's href with its "/"
        raise L.locked_error(file_href(exc.area, exc.path, root is not None and
                                       root.collection), exc.conflict) from None


async def _not_allowed(fr: FileRequest) -> Response:
    raise DavError(405, headers={"Allow": ALLOW})


ALLOW = ("OPTIONS, GET, HEAD, PUT, DELETE, MKCOL, COPY, MOVE, PROPFIND, PROPPATCH, LOCK, "
         "UNLOCK")


# -- reading ---------------------------------------------------------------------------------------

async def _get(fr: FileRequest) -> Response:
    node = await fr.existing()
    if node.collection:
        return _listing(node, await fr.files.children(fr.req.principal, node),
                        fr.req.method == "HEAD")
    assert node.ref is not None
    ref = node.ref
    headers = {"ETag": ref.etag, "Last-Modified": http_date(ref.modified),
               "Accept-Ranges": "bytes", **_served(ref.content_type)}
    inm = fr.req.header("if-none-match")
    if inm is not None and (inm.strip() == "*" or ref.etag in _etags(inm)):
        return Response(status_code=304, headers=headers)
    im = fr.req.header("if-match")
    if im is not None and im.strip() != "*" and ref.etag not in _etags(im):
        raise DavError(412, text="If-Match does not hold")
    if fr.req.method == "HEAD":
        headers["Content-Length"] = str(ref.size)
        return Response(status_code=200, media_type=ref.content_type, headers=headers)
    data = await fr.files.read(fr.req.principal, node)
    span = _range(fr.req.header("range"), len(data)) if fr.req.header("if-range") in (
        None, ref.etag) else None
    if span == (-1, -1):
        return Response(status_code=416, headers={"Content-Range": f"bytes */{len(data)}"})
    if span is not None:
        start, end = span
        headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
        return Response(data[start:end + 1], status_code=206, media_type=ref.content_type,
                        headers=headers)
    return Response(data, media_type=ref.content_type, headers=headers)


def _range(value: str | None, size: int) -> tuple[int, int] | None:
    """RFC 7233 §2.1: one byte range (several are served whole); (-1, -1) unsatisfiable."""
    if not value or not value.strip().lower().startswith("bytes=") or "," in value:
        return None
    first, sep, last = value.strip()[6:].partition("-")
    first, last = first.strip(), last.strip()
    if not sep or (first and not first.isdigit()) or (last and not last.isdigit()):
        return None
    if not first:
        if not last or int(last) == 0:
            return (-1, -1)
        return max(size - int(last), 0), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or (last and int(last) < start):
        return (-1, -1)
    return start, end


def _etags(value: str) -> list[str]:
    return [t.strip().removeprefix("W/") for t in value.split(",")]


def _listing(node: Node, members: list[Node], head: bool) -> Response:
    """GET on a collection: a small HTML index (RFC 4918 §9.4 leaves it to the server)."""
    from html import escape
    rows = "".join(f'<li><a href="{escape(node_href(m))}">{escape(m.name)}'
                   f'{"/" if m.collection else ""}</a></li>' for m in members)
    body = (f"<!doctype html><title>{escape(node.name or node.area)}</title>"
            f"<ul>{rows}</ul>\n").encode()
    if head:
        return Response(status_code=200, media_type=HTML_TYPE,
                        headers={"Content-Length": str(len(body)), "x-postroom-csp": FILE_CSP})
    return Response(body, media_type=HTML_TYPE, headers={"x-postroom-csp": FILE_CSP})


# -- writing ---------------------------------------------------------------------------------------

async def _put(fr: FileRequest) -> Response:
    if fr.req.header("content-range") is not None:
        raise DavError(400, text="PUT with Content-Range is not supported (RFC 7231 §4.3.4)")
    node = await fr.node()
    if node is None:
        raise DavError(409, text="the parent collection does not exist")
    if node.collection:
        raise DavError(405, headers={"Allow": ALLOW}, text="a collection has no content")
    length = fr.req.header("content-length")
    most = fr.files.max_file_size
    if length is not None and length.isdigit() and int(length) > most:
        raise DavError(413, text=f"files are at most {most} octets")
    await fr.check_if(node)
    await fr.files.may_put(fr.req.principal, node, fr.tokens)
    im = fr.req.header("if-match")
    # a client that names no type gets one guessed from the name (GET then serves it so)
    media = fr.req.header("content-type") or mimetypes.guess_type(node.name)[0] or ""
    try:
        result = await fr.files.put(
            fr.req.principal, node, fr.req.request.stream(), media, fr.tokens,
            if_match=im.strip().removeprefix("W/") if im else None,
            if_none_match=(fr.req.header("if-none-match") or "").strip() == "*")
    except MailError as exc:
        if exc.kind is Kind.LIMIT:  # the streamed body passed max_file_size: nothing stored
            raise DavError(413, text=exc.text) from None
        raise
    return Response(status_code=201 if result.created else 204,
                    headers={"ETag": result.ref.etag})


async def _mkcol(fr: FileRequest) -> Response:
    body = await fr.req.body(fr.req.config.max_xml_size)
    if body:
        # RFC 4918 §9.3: a body we do not understand; extended MKCOL is for calendars
        raise DavError(415, text="MKCOL takes no body here")
    node = await fr.node()
    if node is None:
        raise DavError(409, text="the parent collection does not exist")
    if node.exists:
        raise DavError(405, headers={"Allow": ALLOW}, text="the name is taken")
    await fr.check_if(node)
    try:
        await fr.files.mkcol(fr.req.principal, node, fr.tokens)
    except MailError as exc:
        if exc.kind is Kind.INVALID:
            raise DavError(403, text=exc.text) from None
        raise
    return Response(status_code=201)


async def _delete(fr: FileRequest) -> Response:
    node = await fr.existing()
    await fr.check_if(node)
    if node.collection and fr.req.header("depth") not in (None, "infinity", "Infinity"):
        raise DavError(400, text="DELETE of a collection is Depth infinity (RFC 4918 §9.6.1)")
    im = fr.req.header("if-match")
    await fr.files.delete(fr.req.principal, node, fr.tokens,
                          if_match=im.strip() if im else None)
    return Response(status_code=204)


async def _copy_move(fr: FileRequest) -> Response:
    move = fr.req.method == "MOVE"
    src = await fr.existing()
    raw = fr.req.header("destination")
    if not raw:
        raise DavError(400, text="COPY and MOVE need a Destination header")
    dest = urlsplit(raw.strip())
    host = fr.req.header("host") or ""
    if dest.netloc and dest.netloc.lower() != host.lower():
        raise DavError(502, text="the destination is on another server")
    where = split_path(unquote(dest.path))
    if where is None:
        raise DavError(403, text="the destination is outside the file area")
    depth = fr.req.depth("infinity")
    if depth == "1" or (move and src.collection and depth != "infinity"):
        raise DavError(400, text="Depth is 0 or infinity for COPY, infinity for MOVE")
    overwrite = (fr.req.header("overwrite") or "T").strip().upper()
    if overwrite not in ("T", "F"):
        raise DavError(400, text="Overwrite is T or F")
    dst = await fr.node(*where)
    if dst is None:
        raise DavError(409, text="the destination's parent collection does not exist")
    await fr.check_if(src)
    try:
        existed = await fr.files.copy(fr.req.principal, src, dst, fr.tokens,
                                      infinite=depth == "infinity", overwrite=overwrite == "T",
                                      move=move)
    except MailError as exc:
        if exc.kind is Kind.EXISTS and dst.exists:
            raise DavError(412, text="the destination exists (Overwrite: F)") from None
        if exc.kind is Kind.NO_PERM and "source" in exc.text:
            raise DavError(403, text=exc.text) from None
        raise
    return Response(status_code=204 if existed else 201,
                    headers={} if existed else {"Location": node_href(dst)})


# -- properties ------------------------------------------------------------------------------------

async def _propfind(fr: FileRequest) -> Response:
    node = await fr.existing()

    async def walk(n: Node, depth: str) -> list[Node]:
        if depth == "1":
            return await fr.files.children(fr.req.principal, n)
        tree = await fr.files.tree(fr.req.principal, n)
        return sorted(tree.folders + tree.files, key=lambda m: m.path)

    return await propfind(fr.req, node, walk)


async def _proppatch(fr: FileRequest) -> Response:
    node = await fr.existing()
    await fr.check_if(node)
    return await proppatch(fr.req, node, fr.tokens)


# -- locks -----------------------------------------------------------------------------------------

async def _lock(fr: FileRequest) -> Response:
    body = await fr.req.xml()
    depth = fr.req.depth("infinity")
    if depth == "1":
        raise DavError(400, text="LOCK is Depth 0 or infinity (RFC 4918 §9.10.3)")
    timeout = L.parse_timeout(fr.req.header("timeout"))
    node = await fr.node()
    if node is None:
        raise DavError(409, text="the parent collection does not exist")
    if body is None:
        # RFC 4918 §9.10.2: a refresh names its lock in the If header
        if not node.exists or not fr.tokens:
            raise DavError(400, text="a LOCK refresh needs an If header with the lock token")
        await fr.check_if(node)
        try:
            lock = await fr.files.locks.refresh(fr.req.principal, fr.area, fr.path,
                                                fr.tokens, timeout)
        except MailError as exc:
            if exc.kind is Kind.INVALID:
                raise DavError(412, elem("{DAV:}lock-token-matches-request-uri")) \
                    from None
            raise
        # the lock's root is this resource, or a collection above it (Depth infinity)
        root = file_href(lock.area, lock.path, lock.path != fr.path or node.collection)
        return xml_response(L.lock_answer(lock, root, lock.timeout), 200)
    info = L.parse_lockinfo(body)
    await fr.check_if(node)
    lock, created = await fr.files.lock(fr.req.principal, node, exclusive=info.exclusive,
                                        infinite=depth == "infinity", owner=info.owner,
                                        timeout=timeout, tokens=fr.tokens)
    return xml_response(
        L.lock_answer(lock, node_href(node) if node.exists else file_href(
            fr.area, fr.path, False), lock.timeout),
        201 if created else 200, headers={"Lock-Token": f"<{lock.token}>"})


async def _unlock(fr: FileRequest) -> Response:
    token = L.parse_lock_token(fr.req.header("lock-token"))
    node = await fr.existing()
    try:
        await fr.files.unlock(fr.req.principal, node, token)
    except MailError as exc:
        if exc.kind is Kind.INVALID:
            raise DavError(409, elem("{DAV:}lock-token-matches-request-uri")) from None
        raise
    return Response(status_code=204)


_METHODS = {
    "GET": _get, "HEAD": _get, "PUT": _put, "MKCOL": _mkcol, "DELETE": _delete,
    "COPY": _copy_move, "MOVE": _copy_move, "PROPFIND": _propfind, "PROPPATCH": _proppatch,
    "LOCK": _lock, "UNLOCK": _unlock,
}
