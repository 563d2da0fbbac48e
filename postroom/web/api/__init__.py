"""The JSON API, ``/api/v1`` (docs/api.md): the admin services' second face, next to the CLI."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.routing import BaseRoute

if TYPE_CHECKING:
    from postroom.web.app import WebServices, WebSettings


def routes(services: WebServices, settings: WebSettings) -> list[BaseRoute]:
    return []
