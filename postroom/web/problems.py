"""Error responses: RFC 9457 problem details under /api, short plain pages elsewhere.

One place decides how an error looks, so that no route, handler or middleware can leak a
traceback or an exception's text: the body says what the status means (and, for a client's
mistake, what was wrong), never how the server failed.
"""

from __future__ import annotations

import json
from http import HTTPStatus

from starlette.responses import Response

PROBLEM_TYPE = "application/problem+json"  # RFC 9457 §3


def wants_problem(path: str) -> bool:
    """The JSON API speaks problem+json; pages get text."""
    return path == "/api" or path.startswith("/api/")


def error_response(path: str, status: int, detail: str = "",
                   headers: dict[str, str] | None = None) -> Response:
    title = HTTPStatus(status).phrase
    if wants_problem(path):
        # RFC 9457 §3.1: "type" defaults to about:blank, whose title is the status phrase
        body: dict[str, object] = {"type": "about:blank", "title": title, "status": status}
        if detail:
            body["detail"] = detail
        return Response(json.dumps(body), status, headers=headers, media_type=PROBLEM_TYPE)
    text = f"{status} {title}\n" + (f"{detail}\n" if detail else "")
    return Response(text, status, headers=headers, media_type="text/plain; charset=utf-8")


def error_bytes(path: str, status: int, detail: str = "") -> tuple[list[tuple[bytes, bytes]],
                                                                   bytes]:
    """The same response as raw ASGI headers and body, for middleware below Starlette."""
    response = error_response(path, status, detail)
    return list(response.raw_headers), bytes(response.body)
