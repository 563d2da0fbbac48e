"""Server-Sent Events that keep open webmail pages current (the change feed, gated).

``GET /webmail/events`` is an event stream (HTML Living Standard §9.2 "Server-sent events",
``text/event-stream``): the events of ``services.webmail.live`` (``mail``, ``folders``,
``rights``, ``gone``), each with an ``id`` so a browser reconnecting on its own sends
``Last-Event-ID`` (§9.2.4) and is then told to refresh what it shows. Query:

- ``folder=FID``: the folder the page shows; if the user may not read it the stream starts
  with ``gone`` for it (a folder that never existed gets the same answer);
- ``resume=1``: the page reconnects after a break (as ``Last-Event-ID`` says for browsers);
- ``poll=FID``: no stream: the folder's ``mail`` event as JSON, for a page whose stream was
  refused (live.js falls back to polling).

The stream begins with ``retry:`` (``live_retry``), carries a comment every ``live_heartbeat``
seconds so proxies keep it open, and at each heartbeat checks the session again
(``services.sessions.resolve``): a session ended by logout, expiry, a disabled account or a
password change ends the stream with ``event: end``. So do the per-user cap (the user's oldest
stream, reason "replaced") and server stop ("shutdown"); live.js does not reconnect after an
``end`` whose reason is not "shutdown". Past ``live_max_streams`` the answer is 503 with
``Retry-After``.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Message, Receive, Scope, Send

from postroom.services.webmail import Webmail
from postroom.services.webmail.live import Event, LiveRefused, Stream
from postroom.services.websessions import WebSessions
from postroom.web.problems import error_response
from postroom.web.session import session_token
from postroom.web.webmail.shell import MAX_ID, user_of

if TYPE_CHECKING:
    from postroom.web.context import WebServices, WebSettings

EVENTS = "/webmail/events"
RECHECK_EVENTS = 1.0  # seconds: a batch of events older than this after a check re-checks


def frame(event_id: int, event: Event) -> bytes:
    """One event in the stream's syntax (§9.2.6): JSON data on one ``data`` line."""
    data = json.dumps(event.data, separators=(",", ":"), ensure_ascii=True)
    return f"id: {event_id}\nevent: {event.type}\ndata: {data}\n\n".encode()


def _folder(raw: str | None) -> int | None:
    """A folder id from the query: None when absent, 404 when it cannot be one."""
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or len(raw) > 19 or not 0 < int(raw) <= MAX_ID:
        raise HTTPException(404)
    return int(raw)


class EventStream(Response):
    """The response that writes one ``Stream`` until it closes, the client goes away or the
    session ends."""

    media_type = "text/event-stream"

    def __init__(self, wm: Webmail, sessions: WebSessions, stream: Stream, token: str,
                 realm: str) -> None:
        # No Content-Length: the body is chunked and open-ended (so no Response.__init__).
        self.status_code = 200
        self.background = None
        self.raw_headers = [(b"content-type", b"text/event-stream"),
                            (b"cache-control", b"no-store"), (b"x-accel-buffering", b"no")]
        self.wm = wm
        self.sessions = sessions
        self.stream = stream
        self.token = token
        self.realm = realm
        self.event_id = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        stream = self.stream
        watcher = asyncio.get_running_loop().create_task(self._watch(receive))
        try:
            await send({"type": "http.response.start", "status": self.status_code,
                        "headers": self.raw_headers})
            await self._run(send)
            if stream.reason != "disconnected":
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            watcher.cancel()
            self.wm.live.release(stream)

    async def _run(self, send: Send) -> None:
        cfg = self.wm.config
        stream = self.stream
        loop = asyncio.get_running_loop()
        retry = round(cfg.live_retry * 1000)
        await self._body(send, f"retry: {retry}\n: postroom live\n\n".encode())
        checked = loop.time()
        beat = checked + cfg.live_heartbeat
        while not stream.closed:
            events = stream.take()
            now = loop.time()
            if events:
                if now - checked >= RECHECK_EVENTS:
                    checked = now
                    if not await self._alive():
                        break
                out = bytearray()
                for event in events:
                    self.event_id += 1
                    out += frame(self.event_id, event)
                await self._body(send, bytes(out))
                continue
            if now >= beat:
                checked = now
                beat = now + cfg.live_heartbeat
                if not await self._alive():
                    break
                await self._body(send, b": ping\n\n")
                continue
            await stream.wait(beat - now)
        if stream.reason in ("replaced", "session", "shutdown"):
            self.event_id += 1
            await self._body(send, frame(self.event_id, Event("end", {"reason": stream.reason})))

    async def _alive(self) -> bool:
        """Is the stream's session still a logged-in session (not logged out, expired, of a
        disabled account, from before a password change)?"""
        resolved = await self.sessions.resolve(self.token, self.realm)
        if resolved is None or resolved.stage != "full":
            self.stream.close("session")
            return False
        self.wm.live.refresh(self.stream, resolved.principal)
        return True

    @staticmethod
    async def _body(send: Send, data: bytes) -> None:
        await send({"type": "http.response.body", "body": data, "more_body": True})

    async def _watch(self, receive: Receive) -> None:
        """Close the stream when the client goes away (ASGI ``http.disconnect``)."""
        while True:
            message: Message = await receive()
            if message["type"] == "http.disconnect":
                self.stream.close("disconnected")
                return


def routes(wm: Webmail, services: WebServices, web: WebSettings) -> list[BaseRoute]:
    async def events(request: Request) -> Response:
        user = user_of(request)
        principal = user.actor.principal
        query = request.query_params
        if "poll" in query:
            polled = _folder(query.get("poll"))
            if polled is None:
                raise HTTPException(404)
            event = await wm.live.current(principal, polled)
            return JSONResponse(event.data, headers={"Cache-Control": "no-store"})
        folder = _folder(query.get("folder"))
        resume = query.get("resume") == "1" or "last-event-id" in request.headers
        token = session_token(request)
        if token is None:  # pragma: no cover - a user always comes with a session cookie
            raise HTTPException(401)
        if request.method == "HEAD":
            return Response(None, 200, media_type="text/event-stream",
                            headers={"Cache-Control": "no-store"})
        try:
            stream = await wm.live.open(principal, folder, resume=resume)
        except LiveRefused as refused:
            return error_response(request.url.path, 503, "too many live streams; try later",
                                  {"Retry-After": str(refused.retry_after)})
        return EventStream(wm, services.sessions, stream, token, str(request.state.realm))

    return [Route(EVENTS, events, methods=["GET"])]
