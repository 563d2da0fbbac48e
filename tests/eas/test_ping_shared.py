"""Ping when the device's last Sync was answered by another node (or before a restart):
this process has no mark of what the device has, so it takes the durable sync state's
MODSEQ (web/eas/ping.py). A change made after that Sync answers the Ping at once instead of
being missed; a device that has everything waits for its heartbeat."""

from __future__ import annotations

import asyncio
import itertools
import time
from concurrent.futures import Future
from typing import Any, cast

import pytest

from postroom.protocols.eas.element import Element
from postroom.protocols.eas.request import CommandLine
from postroom.services.eas.model import Device, SyncState
from postroom.web.eas import ping
from postroom.web.eas.common import CommandContext
from tests.eas.test_ping import changed, folder_ids, request, status
from tests.support.dav import Dav
from tests.support.eas import eas_of, principal
from tests.support.server import RunningServer

_names = itertools.count(1)


@pytest.fixture(scope="module")
def eas_extra() -> list[str]:
    return ["web.eas.require_provisioning=false", "web.eas.min_heartbeat=1"]


def _device(srv: RunningServer, address: str, device_id: str) -> Device:
    who = principal(srv, address)
    admission = srv.call(eas_of(srv).devices.admit(who, device_id, "iPhone", "Sync", "14.1",
                                                   None, "test"))
    assert admission.device is not None
    return admission.device


def _ping(srv: RunningServer, address: str, body: Element, device: Device) -> Future[Any]:
    """The device's Ping on the server's loop, as app.py would call it (tests/eas/test_ping.py
    does the same with a device that has no row)."""
    who = principal(srv, address)
    ctx = CommandContext(
        request=cast(Any, None), line=CommandLine("Ping", address, device.device_id, "iPhone"),
        version="14.1", principal=who, device=device, eas=eas_of(srv),
        services=cast(Any, None), settings=cast(Any, None), raw=b"")
    return asyncio.run_coroutine_threadsafe(ping.handle(ctx, body), srv.loop)


def _highest(srv: RunningServer, address: str) -> int:
    async def read() -> int:
        rec = await srv.services.store.directory.get_account(address)
        assert rec is not None
        box = await srv.services.store.mailboxes.by_name(rec.id, "INBOX")
        assert box is not None
        return int(box.highestmodseq)
    return srv.call(read())


def test_a_change_after_a_sync_elsewhere_answers_the_first_ping_here(
        srv: RunningServer, dav: Dav) -> None:
    me = dav.account(f"roam{next(_names)}@example.test")
    inbox = folder_ids(srv, me)["INBOX"]
    device = _device(srv, me, "roamer")
    # the device's last Sync (on "another node") gave it the Inbox up to now
    synced = _highest(srv, me)
    srv.call(eas_of(srv).states.save(device, inbox, SyncState(1, {"modseq": synced})))
    before = synced
    dav.deliver(me, subject="arrived after that Sync")
    deadline = time.monotonic() + 10
    while _highest(srv, me) == before:
        assert time.monotonic() < deadline, "the message was never delivered"
        time.sleep(0.05)
    started = time.monotonic()
    answer = _ping(srv, me, request(60, (inbox, "Email")), device).result(10)
    assert status(answer) == 2 and changed(answer) == [inbox]
    assert time.monotonic() - started < 1.0


def test_a_device_that_has_everything_waits(srv: RunningServer, dav: Dav) -> None:
    me = dav.account(f"calm{next(_names)}@example.test")
    inbox = folder_ids(srv, me)["INBOX"]
    device = _device(srv, me, "calm")
    srv.call(eas_of(srv).states.save(device, inbox, SyncState(1, {"modseq": _highest(srv, me)})))
    started = time.monotonic()
    answer = _ping(srv, me, request(1, (inbox, "Email")), device).result(10)
    assert status(answer) == 1  # the heartbeat expired: nothing new
    assert time.monotonic() - started >= 0.9
