"""Reading one message: the page, its sanitised frame, parts, attachments, raw source.

(Built by its part of issue 23; this is the contract.)"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.routing import BaseRoute

from postroom.services.webmail import Webmail

if TYPE_CHECKING:
    from postroom.web.context import WebServices, WebSettings


def routes(wm: Webmail, services: WebServices, web: WebSettings) -> list[BaseRoute]:
    return []
