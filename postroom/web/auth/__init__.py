"""Logging in to the web: the login page, two-factor authentication, logging out, and the
self-service pages for one's own password, second factor and app passwords (docs/web.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.routing import BaseRoute

from postroom.web.auth import login, selfservice

if TYPE_CHECKING:
    from postroom.web.context import WebServices, WebSettings


def routes(services: WebServices, settings: WebSettings) -> list[BaseRoute]:
    return login.routes(services, settings) + selfservice.routes(services, settings)
