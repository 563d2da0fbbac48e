"""WebAdmin's pages (docs/web.md): dashboard, domains, users, aliases, groups, public folders
and their ACLs, queue, gateways, DKIM and DNS, the audit log and the mail log."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.routing import BaseRoute

if TYPE_CHECKING:
    from postroom.web.app import WebServices, WebSettings


def routes(services: WebServices, settings: WebSettings) -> list[BaseRoute]:
    return []
