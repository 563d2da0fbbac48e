"""WebAdmin's operations pages (docs/web.md): the dashboard, the queue viewer, gateways with
ATRN providers and Minger, DKIM keys with the DNS records, screening, the audit log and the
mail log. One module per family (``ops_*.py``); their templates are under templates/ops/.

Each page calls the administration services with the logged-in user's ``Actor``; the services
decide who may do what (global administrators for everything here but the dashboard, which a
domain administrator sees for their own domains).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.routing import BaseRoute

from postroom.web.pages import ops_dashboard, ops_logs, ops_queue, ops_relay, ops_signing

if TYPE_CHECKING:
    from postroom.web.context import WebServices, WebSettings


def routes(services: WebServices, settings: WebSettings) -> list[BaseRoute]:
    out: list[BaseRoute] = []
    for family in (ops_dashboard, ops_queue, ops_relay, ops_signing, ops_logs):
        out += family.routes(services, settings)
    return out
