"""Placeholder: filled by its part of issue 22."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.routing import BaseRoute

if TYPE_CHECKING:
    from postroom.web.app import WebServices, WebSettings


def routes(services: WebServices, settings: WebSettings) -> list[BaseRoute]:
    return []
