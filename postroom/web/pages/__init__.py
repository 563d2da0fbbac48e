"""WebAdmin's pages (docs/web.md), in two modules: ``directory_ui`` (domains, users, aliases,
groups, public folders and the ACL editor, and a user's own sharing and MultiPOP accounts) and
``operations_ui`` (dashboard, queue, gateways/ATRN/Minger, DKIM and DNS, the audit log and the
mail log)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.routing import BaseRoute

from postroom.web.pages import directory_ui, operations_ui

if TYPE_CHECKING:
    from postroom.web.context import WebServices, WebSettings


def routes(services: WebServices, settings: WebSettings) -> list[BaseRoute]:
    return operations_ui.routes(services, settings) + directory_ui.routes(services, settings)
