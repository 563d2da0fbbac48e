"""Push waits (services/eas/push.py) over a real change feed: woken by a change, expired by
the heartbeat, one wait per device, the per-user bound, close(), another reader's private
\\Seen ignored, and the memory a waiting device costs (1,000 waits under tracemalloc)."""

from __future__ import annotations

import asyncio
import gc
import time
import tracemalloc
from types import SimpleNamespace
from typing import Any, cast

import pytest

from postroom.access.gate import AccessGate, MailboxHandle
from postroom.config_eas import EasConfig
from postroom.core.changes import FlagsChanged, MailboxDeleted, MessageAdded
from postroom.core.principal import Principal
from postroom.core.records import AclEntry, MailboxRec
from postroom.services.eas.context import EasContext
from postroom.services.eas.model import Device
from postroom.services.eas.push import Push, TooManyWaits
from postroom.services.notify import ChangeFeed

OWNER = Principal(1, "owner@example.test", 1)


class _NoAcls:
    async def get_acl(self, mailbox_id: int) -> list[AclEntry]:
        return []

    async def get_acls(self, mailbox_ids: list[int]) -> dict[int, list[AclEntry]]:
        return {}


async def handles(*ids: int) -> list[MailboxHandle]:
    gate = AccessGate(_NoAcls())
    return [await gate.handle(OWNER, MailboxRec(i, 1, 1, f"box{i}", None, "mail", "", None,
                                                1, 1, 1, 0, 0), f"box{i}") for i in ids]


def push(**config: Any) -> tuple[Push, ChangeFeed]:
    feed = ChangeFeed()
    ctx = SimpleNamespace(feed=feed, config=EasConfig(**config))
    return Push(cast(EasContext, ctx)), feed


def device(name: str = "dev1") -> Device:
    return Device(0, 1, "owner@example.test", name, "iPhone")


def test_a_change_wakes_the_wait_at_once() -> None:
    async def run() -> None:
        p, feed = push()
        task = asyncio.create_task(p.wait_handles(OWNER, device(), await handles(1, 2), 30))
        await asyncio.sleep(0.01)
        assert p.waiting() == 1
        started = time.monotonic()
        feed.publish([MessageAdded(2, 5, 17)])
        result = await asyncio.wait_for(task, 1)
        assert time.monotonic() - started < 0.5
        assert result.changed == (2,) and result.modseqs == {2: 17}
        assert not result.ended and not result.expired
        assert p.waiting() == 0 and feed.subscribers() == 0
    asyncio.run(run())


def test_the_heartbeat_expires() -> None:
    async def run() -> None:
        p, feed = push()
        started = time.monotonic()
        result = await p.wait_handles(OWNER, device(), await handles(1), 0.2)
        assert 0.15 < time.monotonic() - started < 2
        assert result.expired and not result.ended
        assert feed.subscribers() == 0
    asyncio.run(run())


def test_another_readers_private_seen_does_not_wake_but_a_deleted_folder_does() -> None:
    async def run() -> None:
        p, feed = push()
        task = asyncio.create_task(p.wait_handles(OWNER, device(), await handles(1), 30))
        await asyncio.sleep(0.01)
        feed.publish([FlagsChanged(1, (3,), 9, private_to=99)])
        await asyncio.sleep(0.05)
        assert not task.done()
        feed.publish([MailboxDeleted(1)])
        result = await asyncio.wait_for(task, 1)
        assert result.hierarchy and not result.changed
    asyncio.run(run())


def test_a_new_wait_of_the_device_ends_the_old_and_users_are_bounded() -> None:
    async def run() -> None:
        p, _ = push(max_pings_per_user=2)
        first = asyncio.create_task(p.wait_handles(OWNER, device("a"), await handles(1), 30))
        await asyncio.sleep(0.01)
        again = asyncio.create_task(p.wait_handles(OWNER, device("a"), await handles(1), 30))
        result = await asyncio.wait_for(first, 1)
        assert result.ended and result.expired
        other = asyncio.create_task(p.wait_handles(OWNER, device("b"), await handles(1), 30))
        await asyncio.sleep(0.01)
        assert p.waiting() == 2
        with pytest.raises(TooManyWaits):
            await p.wait_handles(OWNER, device("c"), await handles(1), 30)
        await p.close()
        for task in (again, other):
            assert (await asyncio.wait_for(task, 1)).ended
        assert p.waiting() == 0
        # after close, a wait returns at once
        assert (await asyncio.wait_for(
            p.wait_handles(OWNER, device("d"), await handles(1), 30), 1)).ended
    asyncio.run(run())


def test_memory_per_waiting_device() -> None:
    """1,000 devices waiting on 5 folders each: the Push service's and the feed's share per
    device (the subscription, the future, the timer, the index entries)."""
    count = 1000

    async def run() -> float:
        p, feed = push(max_pings_per_user=count)
        hs = await handles(1, 2, 3, 4, 5)
        devices = [device(f"dev{i}") for i in range(count)]
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.take_snapshot()
        tasks = [asyncio.create_task(p.wait_handles(OWNER, d, hs, 60)) for d in devices]
        await asyncio.sleep(0.05)
        assert p.waiting() == count
        after = tracemalloc.take_snapshot()
        tracemalloc.stop()
        size = sum(s.size_diff for s in after.compare_to(before, "filename"))
        await p.close()
        await asyncio.gather(*tasks)
        assert feed.subscribers() == 0
        return size / count

    per_device = asyncio.run(run())
    print(f"\nmemory per waiting device: {per_device:.0f} octets")
    assert per_device < 30_000


def test_a_sync_moves_the_mark_the_next_ping_compares_with() -> None:
    p, _ = push()
    me = device()
    params = p.remember(OWNER, me, 60, (("1", "Email"),))
    params.seen[1] = 5
    p.synced(OWNER, me, 1, 9)
    p.synced(OWNER, me, 1, 7)  # never backwards
    p.synced(OWNER, me, 2, 9)  # a folder the Ping does not watch: nothing to remember
    assert p.params(OWNER, me) is params and params.seen == {1: 9}
    p.forget(OWNER, me)
    assert p.params(OWNER, me) is None
    p.synced(OWNER, me, 1, 10)  # no Ping cached: nothing happens


def test_a_begun_wait_keeps_a_change_until_finished_and_close_releases_it() -> None:
    """``begin`` subscribes at once (a change before ``finish`` is not lost), keeps no handle,
    and ``close`` of a wait that is never finished (its request failed) releases the device's
    slot, the subscription and the timer, as often as it is called."""
    async def run() -> None:
        p, feed = push(max_pings_per_user=1)
        began = p.begin(OWNER, device(), await handles(1, 2), 30)
        assert p.waiting() == 1 and feed.subscribers() == 1
        assert not any(isinstance(ref, MailboxHandle) for ref in gc.get_referents(began))
        feed.publish([MessageAdded(2, 5, 17)])
        result = await asyncio.wait_for(p.finish(began), 1)
        assert result.changed == (2,) and result.modseqs == {2: 17}
        assert p.waiting() == 0 and feed.subscribers() == 0
        dropped = p.begin(OWNER, device("other"), await handles(1), 30)
        with pytest.raises(TooManyWaits):  # the user's one slot is taken
            p.begin(OWNER, device("third"), await handles(1), 30)
        dropped.close()
        dropped.close()
        assert p.waiting() == 0 and feed.subscribers() == 0
        assert dropped.timer is None
        again = p.begin(OWNER, device("third"), await handles(1), 0.01)  # the slot is free
        assert (await asyncio.wait_for(p.finish(again), 1)).expired
        # nothing to wait on: an expired answer at once, nothing registered
        assert (await p.finish(p.begin(OWNER, device(), [], 30))).expired
        assert p.waiting() == 0
    asyncio.run(run())
