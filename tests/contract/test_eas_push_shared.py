"""A device holds one wait on the whole cluster (services/eas/push.py ``share``): its new Ping
on node B ends its older wait on node A, told over PostgreSQL NOTIFY by two real relays
(store/postgres/feed.py), as two nodes do."""

from __future__ import annotations

import asyncio
import time

import pytest

from postroom.access.ops import Op
from postroom.app import Services
from postroom.services.eas.model import Device
from postroom.services.eas.push import Push
from postroom.store.postgres.feed import FeedRelay, PgBroadcast
from tests.support.factory import account


async def test_a_new_wait_on_one_node_ends_the_old_one_on_the_other(services: Services,
                                                                     ) -> None:
    if services.store.engine.dialect != "postgresql":
        pytest.skip("NOTIFY between nodes: PostgreSQL only (one SQLite process is one node)")
    assert services.eas is not None
    alice = await account(services, "alice@example.com")
    assert alice.account_id is not None and alice.address is not None
    ctx = services.eas.compose._ctx
    dsn = services.store.engine.dsn  # type: ignore[attr-defined]
    relays = []
    pushes = []
    for name in ("a", "b"):
        events = PgBroadcast(services.store.engine, f"{name}/1")
        relay = FeedRelay(dsn, f"{name}/1", lambda _c: None, lambda: None, heartbeat=0.5,
                          timeout=3, events=events)
        await relay.start()
        relays.append(relay)
        push = Push(ctx)
        push.share(events)
        pushes.append(push)
    try:
        on_a, on_b = pushes
        inbox = await services.mailboxes.open(alice, "INBOX", Op.READ)
        phone = Device(1, alice.account_id, alice.address, "phone", "iPhone")
        other = Device(2, alice.account_id, alice.address, "tablet", "iPad")
        old = asyncio.ensure_future(on_a.wait_handles(alice, phone, [inbox], 30))
        calm = asyncio.ensure_future(on_a.wait_handles(alice, other, [inbox], 2))
        await asyncio.sleep(0.2)
        assert on_a.waiting() == 2
        started = time.monotonic()
        new = on_b.begin(alice, phone, [inbox], 30)  # the phone's next Ping reached B
        result = await asyncio.wait_for(old, 5)
        assert result.ended and not result.changed  # answered as superseded
        assert time.monotonic() - started < 1.0
        assert on_a.waiting() == 1  # the tablet's wait is not the phone's
        assert on_b.waiting() == 1
        new.close()
        assert not (await asyncio.wait_for(calm, 5)).ended  # its own heartbeat
    finally:
        for relay in relays:
            await relay.close()
        for push in pushes:
            await push.close()
