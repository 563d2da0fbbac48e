"""Operations endpoints on the admin listener: ``/healthz``, ``/readyz`` and ``/metrics``.

Only clients in ``web.metrics_networks`` (loopback by default) may read them; anyone else gets
404, as if they did not exist, since queue sizes and login counts are not for the public.
Readiness and the queue gauge are service calls (services/health.py); the web layer renders.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from postroom.net.listener import Network, in_networks
from postroom.obs.metrics import CONTENT_TYPE, Metrics
from postroom.services.health import Health
from postroom.web.problems import error_response


def ops_routes(health: Health, metrics: Metrics, networks: Sequence[Network]) -> list[Route]:
    def allowed(request: Request) -> bool:
        client = request.client
        return client is not None and in_networks(client.host, networks)

    async def healthz(request: Request) -> Response:
        if not allowed(request):
            return error_response(request.url.path, 404)
        return PlainTextResponse("ok\n")

    async def readyz(request: Request) -> Response:
        if not allowed(request):
            return error_response(request.url.path, 404)
        ok, why = await health.ready()
        return JSONResponse({"ready": ok, "detail": why}, 200 if ok else 503)

    async def metrics_page(request: Request) -> Response:
        if not allowed(request):
            return error_response(request.url.path, 404)
        return Response(await metrics.render(), media_type=CONTENT_TYPE)

    return [Route("/healthz", healthz, methods=["GET", "HEAD"]),
            Route("/readyz", readyz, methods=["GET", "HEAD"]),
            Route("/metrics", metrics_page, methods=["GET"])]
