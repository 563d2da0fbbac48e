"""The DAV application: one ASGI callable for /dav/ and the two well-known paths.

Dispatches by method and URL family (see the package docstring for the layout)."""

from __future__ import annotations

from starlette.responses import Response

from postroom.web.context import WebServices, WebSettings
from postroom.web.guard import App


def build(services: WebServices, settings: WebSettings) -> App:
    async def app(scope: dict[str, object], receive: object, send: object) -> None:
        await Response(status_code=404)(scope, receive, send)  # type: ignore[arg-type]
    return app  # type: ignore[return-value]
