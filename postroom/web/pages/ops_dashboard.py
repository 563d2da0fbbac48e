"""The dashboard at ``/``: live figures drawn as small server-rendered SVG charts.

The figures come from services/dashboard.py (which decides who sees which). The page is
complete without script: it shows the figures of its loading. static/dashboard.js fetches
``/dashboard/figures`` (the same fragment, rendered by the same template) every
``web.operations.dashboard_refresh`` seconds while the tab is visible and swaps it in, so
there is one way to draw a chart, on the server. ``/dashboard.json`` gives the same figures
to a script or a monitoring probe.

Charts are SVG polylines with presentation attributes (no style attribute, so the CSP needs
no 'unsafe-inline'); each chart is ``role="img"`` with a text summary, and the numbers are in
a table with headers, so nothing is only visible as a drawing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from postroom.core.errors import MailError
from postroom.services.dashboard import Series, Snapshot
from postroom.web.forms import status_of
from postroom.web.identity import LoginRequired, WebUser, current_user
from postroom.web.pages.ops_common import ops_config, page

if TYPE_CHECKING:
    from postroom.web.context import WebServices, WebSettings

WIDTH, HEIGHT, PAD = 240, 56, 4


@dataclass(frozen=True, slots=True)
class Chart:
    """One series ready to draw: the polyline's points and its summary."""

    id: str
    label: str
    points: str
    peak: int
    now: int
    last_minute: int
    total: int
    width: int = WIDTH
    height: int = HEIGHT


def chart(series: Series, prefix: str) -> Chart:
    values = series.values or (0,)
    peak = max(values)
    step = (WIDTH - 2 * PAD) / max(1, len(values) - 1)
    scale = (HEIGHT - 2 * PAD) / peak if peak else 0.0
    points = " ".join(f"{PAD + i * step:.1f},{HEIGHT - PAD - v * scale:.1f}"
                      for i, v in enumerate(values))
    ident = f"{prefix}-{''.join(c if c.isalnum() else '-' for c in series.name)}"
    return Chart(ident, series.label, points, peak, series.now, series.last_complete,
                 series.total)


def _admin(request: Request) -> WebUser | Response:
    """Global and domain administrators; a plain user goes to their own page."""
    user = current_user(request)
    if user is None:
        raise LoginRequired()
    if user.role == "user":
        return RedirectResponse("/me", 303)
    return user


def routes(services: WebServices, settings: WebSettings) -> list[BaseRoute]:
    board = services.dashboard

    async def figures(request: Request, fragment: bool) -> Response:
        user = _admin(request)
        if not isinstance(user, WebUser):
            return user
        # read per request: a reload changes the configuration in place
        context: dict[str, object] = {"refresh": ops_config(settings).dashboard_refresh,
                                      "snap": None}
        if board is None:
            context["error"] = "the dashboard's figures are not collected by this process"
        else:
            try:
                snap = await board.snapshot(user.actor)
            except MailError as exc:
                return page(request, "ops/dashboard.html", {**context, "error": exc.text},
                            status_of(exc))
            context.update(snap=snap, connections=[chart(s, "conn") for s in snap.connections],
                           traffic=[chart(s, "traffic") for s in snap.traffic])
        template = "ops/dashboard_figures.html" if fragment else "ops/dashboard.html"
        return page(request, template, context)

    async def dashboard(request: Request) -> Response:
        return await figures(request, False)

    async def fragment(request: Request) -> Response:
        response = await figures(request, True)
        response.headers["Cache-Control"] = "no-store"
        return response

    async def as_json(request: Request) -> Response:
        user = _admin(request)
        if not isinstance(user, WebUser):
            return user
        if board is None:
            return JSONResponse({"error": "no figures in this process"}, 503)
        try:
            snap: Snapshot = await board.snapshot(user.actor)
        except MailError as exc:
            return JSONResponse({"error": exc.text}, status_of(exc))
        return JSONResponse(snap.as_dict(), headers={"Cache-Control": "no-store"})

    return [Route("/", dashboard, methods=["GET"]),
            Route("/dashboard/figures", fragment, methods=["GET"]),
            Route("/dashboard.json", as_json, methods=["GET"])]
