"""net/http.py ``_timed``: every HTTP request an application answers is told to the metrics
with its status and duration; a failure before the response starts counts as the 500 the
server then sends, and the exception still reaches the server."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from postroom.net.http import _timed


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


def run(app: Any, scope: dict[str, Any], seen: list[tuple[str, int, float]] | None = None,
        ) -> tuple[list[tuple[str, int, float]], list[Any]]:
    seen = [] if seen is None else seen
    sent: list[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)
    timed = _timed(app, "webadmin", lambda label, status, s: seen.append((label, status, s)))
    asyncio.run(timed(scope, _receive, send))
    return seen, sent


def test_the_status_sent_is_counted() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b"no"})
    seen, sent = run(app, {"type": "http", "path": "/x"})
    assert [(label, status) for label, status, _ in seen] == [("webadmin", 404)]
    assert seen[0][2] >= 0
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]


def test_a_failure_counts_as_500_and_is_raised() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("boom")
    seen: list[tuple[str, int, float]] = []
    with pytest.raises(RuntimeError):
        run(app, {"type": "http", "path": "/x"}, seen)
    assert [(label, status) for label, status, _ in seen] == [("webadmin", 500)]


def test_non_http_scopes_are_not_counted() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        return None
    seen, _ = run(app, {"type": "lifespan"})
    assert seen == []
