"""Server-rendered pages: one Jinja2 environment (autoescape on) over web/templates.

Every page extends ``base.html``, which draws the skip link, the navigation for the user's
role, the main landmark and the flash message (web/flash.py: from a signed cookie, shown once,
never from the URL). ``render`` passes the request, the user and the
CSRF token (every form includes ``{{ csrf_field() }}``), so no page can forget them.
Scripts come only from /static (the CSP forbids inline script); pages work without them.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from postroom.web import flash
from postroom.web.identity import current_user

HERE = Path(__file__).parent
ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"),
    autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
    undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
    extensions=["jinja2.ext.i18n"])
# Strings in webmail's templates are marked with _() / {% trans %} so that a catalogue can
# translate them; English is the only language today, so the translations are the identity.
ENV.install_null_translations(newstyle=True)  # type: ignore[attr-defined]


def render(request: Request, template: str, context: Mapping[str, Any] | None = None,
           status: int = 200, headers: Mapping[str, str] | None = None) -> HTMLResponse:
    user = current_user(request)
    token = user.csrf if user is not None else str(getattr(request.state, "csrf", ""))

    def csrf_field() -> Markup:
        return Markup('<input type="hidden" name="csrf" value="{}">').format(token)

    message = flash.take(request)
    values = {"request": request, "user": user, "csrf": token, "csrf_field": csrf_field,
              "flash": message, **(context or {})}
    html = ENV.get_template(template).render(values)
    response = HTMLResponse(html, status, headers=dict(headers or {}))
    if flash.COOKIE in request.cookies:
        flash.clear(response)  # shown (or forged): once only
    return response


def static_mount() -> Mount:
    """/static: the stylesheet and the small scripts pages load (no inline code)."""
    return Mount("/static", StaticFiles(directory=HERE / "static"), name="static")
