"""A stream's queue on its own (services/webmail/live.py ``Stream``): one pending event per
(type, folder), so a slow reader costs no more than a fast one; ``close`` and ``put`` wake a
waiting handler; a closed stream takes nothing more."""

from __future__ import annotations

import asyncio
from typing import Any

from postroom.core.principal import Principal
from postroom.services.webmail.live import Event, Stream, Viewer


def _viewer() -> Viewer:
    return Viewer(Principal(1, "a@example.test", 1), 1)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_one_pending_event_per_kind_and_folder_the_latest_last() -> None:
    async def go() -> list[Event]:
        stream = Stream(_viewer())
        for total in range(1000):
            stream.put(("mail", 7), Event("mail", {"folder": 7, "total": total, "unseen": 0}))
        stream.put(("folders", 0), Event("folders", {}))
        stream.put(("mail", 8), Event("mail", {"folder": 8, "total": 1, "unseen": 1}))
        stream.put(("mail", 7), Event("mail", {"folder": 7, "total": 1000, "unseen": 0}))
        return stream.take()
    events = run(go())
    assert [(e.type, e.data.get("folder"), e.data.get("total")) for e in events] == [
        ("folders", None, None), ("mail", 8, 1), ("mail", 7, 1000)]


def test_put_and_close_wake_the_handler_and_wait_times_out() -> None:
    async def go() -> tuple[float, float, float, bool]:
        loop = asyncio.get_running_loop()
        stream = Stream(_viewer())
        start = loop.time()
        await stream.wait(0.05)  # nothing: the timeout
        timed_out = loop.time() - start
        loop.call_later(0.01, stream.put, ("folders", 0), Event("folders", {}))
        start = loop.time()
        await stream.wait(5)
        woken = loop.time() - start
        stream.take()
        loop.call_later(0.01, stream.close, "shutdown")
        start = loop.time()
        await stream.wait(5)
        closed = loop.time() - start
        stream.put(("folders", 0), Event("folders", {}))
        return timed_out, woken, closed, stream.take() == [] and stream.reason == "shutdown"
    timed_out, woken, closed, empty = run(go())
    assert timed_out >= 0.04 and woken < 1 and closed < 1 and empty


def test_a_viewer_tells_every_stream_of_the_user() -> None:
    async def go() -> list[list[Event]]:
        viewer = _viewer()
        viewer.streams = [Stream(viewer), Stream(viewer)]
        viewer.emit(("gone", 3), Event("gone", {"folder": 3}))
        return [s.take() for s in viewer.streams]
    assert run(go()) == [[Event("gone", {"folder": 3})]] * 2
