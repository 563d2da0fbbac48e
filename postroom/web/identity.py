"""Who is behind a web request: the contract between the session layer and the pages.

The session layer (web/session.py) sets ``request.state.user`` on every request of an
application it wraps: a ``WebUser`` for a logged-in session (or an API bearer token), ``None``
otherwise. Pages and API endpoints read it through ``current_user``/``require_user`` and hand
``user.actor`` to the services, which decide (a front-end never tests rights itself; the role
here only chooses what to show and where to send a visitor).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from starlette.exceptions import HTTPException
from starlette.requests import Request

from postroom.core.actor import Actor
from postroom.core.principal import Principal

Role = Literal["global", "domain", "user"]


def role_of(principal: Principal) -> Role:
    """The widest role of a principal: global administrator, domain administrator, user."""
    if principal.global_admin or principal.system:
        return "global"
    if principal.admin_domain_ids:
        return "domain"
    return "user"


@dataclass(frozen=True, slots=True)
class WebUser:
    actor: Actor  # the principal and where the request came from (Origin "webadmin"/"api"/...)
    session_id: str  # the session's public id ("" for a bearer token)
    csrf: str  # the session's CSRF token, for forms ("" for a bearer token: no cookie, no CSRF)

    @property
    def role(self) -> Role:
        return role_of(self.actor.principal)

    @property
    def address(self) -> str:
        return self.actor.principal.address or ""


def current_user(request: Request) -> WebUser | None:
    user = getattr(request.state, "user", None)
    return user if isinstance(user, WebUser) else None


class LoginRequired(HTTPException):
    """No session: pages answer with a redirect to the login page, the API with 401."""

    def __init__(self) -> None:
        super().__init__(401, "log in first")


def require_user(request: Request, *roles: Role) -> WebUser:
    """The logged-in user, or ``LoginRequired``; with ``roles``, a user of another role gets
    404, as if the page did not exist (roles are enforced again by the services)."""
    user = current_user(request)
    if user is None:
        raise LoginRequired()
    if roles and user.role not in roles:
        raise HTTPException(404)
    return user
