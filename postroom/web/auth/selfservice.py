"""Self-service under ``/me`` for any logged-in user (docs/web.md "Self-service"): one's own
password, second factor, recovery codes, app passwords, sessions, and a configuration profile
for Apple devices.

Every change is a service call with the user's ``Actor`` (the services check that it is the
user's own account and write the audit record); these handlers only read forms and render.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from postroom.web.identity import require_user
from postroom.web.templating import render

if TYPE_CHECKING:
    from postroom.web.app import WebServices, WebSettings


def routes(services: WebServices, settings: WebSettings) -> list[BaseRoute]:
    two_factor, sessions = services.two_factor, services.sessions

    async def me(request: Request) -> Response:
        user = require_user(request)
        account_id = user.actor.principal.account_id
        status = await two_factor.status(account_id) if account_id is not None else None
        listed = await sessions.list(account_id) if account_id is not None else []
        return render(request, "me.html", {"status": status, "sessions": listed,
                                           "policy": two_factor.policy(user.actor.principal)})

    return [Route("/me", me, methods=["GET"])]
