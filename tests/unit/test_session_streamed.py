"""The session layer never reads the body of a request under a streamed prefix (webmail's
uploads): a 25 MB upload must not be held in memory to look for its CSRF field (found by the
webmail security review). The token comes from the header or the ``csrf`` query parameter."""

from __future__ import annotations

import asyncio
from typing import Any

from postroom.web.session import SessionLayer, csrf_cookie

TOKEN = "t" * 43  # a pre-session token's length (secrets.token_urlsafe(32))


def _run(path: str, query: str, body: bytes) -> tuple[int, bool, int]:
    """(status, whether the application ran, how often the layer itself called receive)."""
    reads = 0
    reached = False

    async def receive() -> dict[str, Any]:
        nonlocal reads
        reads += 1
        return {"type": "http.request", "body": body, "more_body": False}

    async def app(scope: Any, receive_: Any, send: Any) -> None:
        nonlocal reached
        reached = True
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    layer = SessionLayer(app, None, "webmail", streamed=("/webmail/upload",))  # type: ignore[arg-type]
    scope = {"type": "http", "method": "POST", "path": path,
             "query_string": query.encode(), "client": ("127.0.0.1", 1),
             "headers": [(b"cookie", f"{csrf_cookie('webmail')}={TOKEN}".encode()),
                         (b"content-type", b"application/x-www-form-urlencoded")]}
    asyncio.run(layer(scope, receive, send))
    return sent[0]["status"], reached, reads


def test_the_token_in_the_query_lets_the_body_stream_to_the_application() -> None:
    status, reached, reads = _run("/webmail/upload/abc", f"csrf={TOKEN}", b"x=1")
    assert (status, reached, reads) == (204, True, 0)


def test_a_token_only_in_the_body_is_not_looked_for() -> None:
    status, reached, reads = _run("/webmail/upload/abc", "", f"csrf={TOKEN}".encode())
    assert (status, reached, reads) == (403, False, 0)


def test_elsewhere_the_form_field_still_counts() -> None:
    status, reached, reads = _run("/webmail/compose/abc/save", "", f"csrf={TOKEN}".encode())
    assert (status, reached) == (204, True) and reads == 1
