"""Web sessions (placeholder until the session layer lands): sets ``request.state.user`` to
None on every request, so pages see nobody logged in."""

from __future__ import annotations

from typing import TYPE_CHECKING

from postroom.web.guard import App, Receive, Scope, Send

if TYPE_CHECKING:
    from postroom.web.app import WebServices, WebSettings


def wrap(app: App, services: WebServices, settings: WebSettings, realm: str) -> App:
    """``app`` behind the session layer of ``realm`` ("webadmin"; "webmail" later)."""
    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope.setdefault("state", {})["user"] = None
        await app(scope, receive, send)
    return wrapped
