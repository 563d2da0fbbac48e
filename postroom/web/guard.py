"""The outermost layer of every web application: security headers, body limit, no tracebacks.

A pure ASGI middleware around the whole Starlette application (outside Starlette's own error
middleware, so that its 500 page gets the headers too):

- every response carries the security headers: a Content-Security-Policy that allows no inline
  script, no plugins, no framing and no foreign form targets; ``nosniff``; no Referer; and on
  TLS listeners Strict-Transport-Security (RFC 6797 §6.1);
- a response may ask for a stricter policy of its own with the private header
  ``x-postroom-csp`` (removed before sending): webmail's message frames use it to forbid
  everything but inline styles and allowed images, and to be framed by our own pages only
  (``frame-ancestors 'self'``, so X-Frame-Options becomes SAMEORIGIN for them);
- a request body larger than ``web.max_body_size`` is refused with 413 before the application
  reads it when Content-Length announces it, or as soon as the streamed body passes the limit
  (chunked transfer coding); a path under one of ``body_limits``' prefixes has that limit
  instead (webmail's attachment uploads, which are streamed to disk);
- an exception that escapes the application is logged once with its traceback and answered 500
  in the error format of the path (web/problems.py), or the connection is closed when the
  response had already begun.

Header size and idle keep-alive limits are uvicorn's (net/http.py passes them from config).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.exceptions import HTTPException

from postroom.web.problems import error_bytes

log = logging.getLogger("postroom.web")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

CSP = ("default-src 'self'; script-src 'self'; object-src 'none'; frame-ancestors 'none'; "
       "base-uri 'none'; form-action 'self'")
OWN_CSP = b"x-postroom-csp"  # a response's own (stricter) policy; see the module docstring


class TooLarge(HTTPException):
    """The streamed request body passed the limit. An HTTPException, so that inside Starlette
    the route's exception handling answers 413 (web/app.py) rather than its error middleware
    answering 500; a bare ASGI application lets it reach ``Guard``, which answers 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than {limit} octets")


class Guard:
    def __init__(self, app: App, *, tls: bool, hsts_max_age: int, max_body: int,
                 body_limits: tuple[tuple[str, int], ...] = ()) -> None:
        self.app = app
        self.max_body = max_body
        self.body_limits = body_limits
        headers = [(b"content-security-policy", CSP.encode()),
                   (b"x-content-type-options", b"nosniff"),
                   (b"referrer-policy", b"no-referrer"),
                   (b"x-frame-options", b"DENY")]
        if tls and hsts_max_age:
            headers.append((b"strict-transport-security",
                            f"max-age={hsts_max_age}; includeSubDomains".encode()))
        self.headers = headers
        self.names = {name for name, _ in headers}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", "/"))
        started = False
        limit = next((most for prefix, most in self.body_limits if path.startswith(prefix)),
                     self.max_body)

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                own = None
                kept = []
                for k, v in message.get("headers", []):
                    if k.lower() == OWN_CSP:
                        own = v
                    elif k.lower() not in self.names:
                        kept.append((k, v))
                headers = self.headers
                if own is not None:
                    headers = [(b"content-security-policy", own) if k ==
                               b"content-security-policy" else (k, b"SAMEORIGIN")
                               if k == b"x-frame-options" else (k, v) for k, v in headers]
                message["headers"] = kept + headers
            await send(message)

        length = _content_length(scope)
        if length is not None and length > limit:
            await self._error(guarded_send, path, 413,
                              f"the request body is larger than {limit} octets")
            return
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise TooLarge(limit)
            return message

        try:
            await self.app(scope, limited_receive, guarded_send)
        except TooLarge:
            if not started:
                await self._error(guarded_send, path, 413,
                                  f"the request body is larger than {limit} octets")
        except Exception:
            # logged here, once; Starlette's error middleware may already have answered (its
            # handler is web/problems.py's) before re-raising
            log.exception("request failed", extra={"path": path})
            if not started:
                await self._error(guarded_send, path, 500)

    @staticmethod
    async def _error(send: Send, path: str, status: int, detail: str = "") -> None:
        headers, body = error_bytes(path, status, detail)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
