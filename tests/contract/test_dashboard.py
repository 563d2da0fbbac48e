"""WebAdmin's dashboard service (services/dashboard.py) and the store aggregates it reads, on
both backends: per-minute buckets fed by the metrics events, storage per domain summed from
the mailbox counters, the queue's size, and who may see what. Also the audit log's paging
(``before``), which the audit page uses."""

from __future__ import annotations

import asyncio

import pytest

from postroom.app import Services
from postroom.core.actor import Actor, Origin
from postroom.core.errors import Kind, MailError
from postroom.core.records import NewEntry
from postroom.services.dashboard import Dashboard
from tests.support.factory import account, message

WEB = Origin("webadmin", "198.51.100.4")


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


async def test_minutes_fill_and_age_out(services: Services) -> None:
    clock = Clock()
    board = Dashboard(services.store, services.metrics, minutes=5, storage_interval=0,
                      clock=clock)
    board.open_connections_from(lambda: {"smtp": 2, "imap": 1})
    m = services.metrics
    for _ in range(3):
        m.connection("smtp")
    m.smtp_accepted()
    m.outcome("delivered")
    m.outcome("sent")
    m.smtp_rejected("rcpt", "550 5.1.1")
    clock.now += 60  # next minute
    m.connection("imap")
    m.outcome("deferred")
    snap = await board.snapshot(Actor.operator())
    assert snap.server_wide and snap.minutes == 5
    series = {s.name: s for s in (*snap.connections, *snap.traffic)}
    assert series["smtp"].values == (0, 0, 0, 3, 0)
    assert series["imap"].values == (0, 0, 0, 0, 1)
    assert series["smtp"].last_complete == 3 and series["imap"].now == 1
    assert series["accepted"].values[-2:] == (1, 0)
    assert series["delivered"].values[-2:] == (2, 0)
    assert series["rejected"].values[-2:] == (1, 0)
    assert series["deferred"].values[-2:] == (0, 1)
    assert snap.open_connections == {"smtp": 2, "imap": 1}
    # five minutes later the old minutes are gone, and a reused slot starts from zero
    clock.now += 5 * 60
    m.connection("smtp")
    snap = await board.snapshot(Actor.operator())
    series = {s.name: s for s in snap.connections}
    assert series["smtp"].values == (0, 0, 0, 0, 1)
    assert series["imap"].total == 0
    assert snap.as_dict()["minutes"] == 5
    # grouped by protocol once the server names each listener's front-end
    board.name_protocols({"smtp": "smtp-mx", "submission": "smtp-submission",
                          "imap": "imap"})
    m.connection("submission")
    snap = await board.snapshot(Actor.operator())
    series = {s.name: s for s in snap.connections}
    assert sorted(series) == ["IMAP", "SMTP"] and series["SMTP"].now == 2
    assert series["SMTP"].label == "SMTP connections"
    rows = {f.label: f for f in snap.listeners}
    assert (rows["submission"].protocol, rows["submission"].total) == ("SMTP", 1)
    assert rows["smtp"].open_now == 2 and rows["imap"].open_now == 1
    assert snap.as_dict()["listeners"][0]["listener"] == "imap"


async def test_storage_and_queue_figures(services: Services) -> None:
    board = Dashboard(services.store, services.metrics, storage_interval=0)
    ann = await account(services, "ann@a.example")
    await account(services, "bob@b.example")
    await services.messages.append(ann, "INBOX", [(message("one", size=2000), [], None),
                                                  (message("two"), [], None)])
    snap = await board.snapshot(Actor.operator())
    usage = {d.domain: (d.octets, d.messages) for d in snap.storage}
    assert usage["a.example"][1] == 2 and usage["a.example"][0] >= 2000
    assert usage.get("b.example", (0, 0)) == (0, 0)
    assert snap.storage_messages == 2 and snap.queue_entries == 0
    blob = await asyncio.get_running_loop().run_in_executor(
        None, services.store.blobs.put_bytes, message("queued"))
    await services.queue.enqueue([NewEntry("a@a.example", ["x@remote.example"], blob, b"")])
    snap = await board.snapshot(Actor.operator())
    assert snap.queue_entries == 1 and snap.queue_octets == blob.size
    assert await services.store.queue.totals() == (1, blob.size)


async def test_domain_administrators_see_their_storage_only(services: Services) -> None:
    board = Dashboard(services.store, services.metrics, storage_interval=0)
    op = Actor.operator()
    ann = await account(services, "ann@a.example")
    await account(services, "bob@b.example")
    await services.admin.roles.set(op, "ann@a.example", "a.example", True)
    boss = await services.directory.principal_for(
        await services.directory.require_account("ann@a.example"))
    services.metrics.connection("smtp")
    await services.messages.append(ann, "INBOX", [(message("one"), [], None)])
    snap = await board.snapshot(Actor(boss, WEB))
    assert not snap.server_wide
    assert [d.domain for d in snap.storage] == ["a.example"]
    assert snap.connections == () and snap.traffic == () and snap.open_connections == {}
    plain = await account(services, "pleb@a.example")
    with pytest.raises(MailError) as exc:
        await board.snapshot(Actor(plain, WEB))
    assert exc.value.kind is Kind.NO_PERM


async def test_the_storage_figure_is_reused_for_its_interval(services: Services) -> None:
    clock = Clock()
    board = Dashboard(services.store, services.metrics, storage_interval=30, clock=clock)
    ann = await account(services, "ann@a.example")
    first = (await board.snapshot(Actor.operator())).storage_messages
    await services.messages.append(ann, "INBOX", [(message("one"), [], None)])
    assert (await board.snapshot(Actor.operator())).storage_messages == first
    clock.now += 31
    assert (await board.snapshot(Actor.operator())).storage_messages == first + 1


async def test_audit_pages_back_with_before(services: Services) -> None:
    op = Actor.operator()
    for n in range(5):
        await services.admin.domains.add(op, f"d{n}.example")
    first = await services.admin.audit(op, limit=2)
    assert [r.target for r in first] == ["d4.example", "d3.example"]
    second = await services.admin.audit(op, limit=2, before=first[-1].id)
    assert [r.target for r in second] == ["d2.example", "d1.example"]
    third = await services.admin.audit(op, limit=2, before=second[-1].id, action="domain.")
    assert [r.target for r in third] == ["d0.example"]


async def test_queue_pages_filter_in_the_store(services: Services) -> None:
    op = Actor.operator()
    blob = await asyncio.get_running_loop().run_in_executor(
        None, services.store.blobs.put_bytes, message("queued"))
    ids = await services.queue.enqueue(
        [NewEntry(f"s{n}@a.example", [f"R{n}_x@Remote.example"], blob, b"") for n in range(7)])
    await services.admin.queue.hold(op, ids[3])
    total, rows = await services.admin.queue.page(op, limit=3)
    assert total == 7 and [r.id for r in rows] == ids[:3]
    total, rows = await services.admin.queue.page(op, offset=6, limit=3)
    assert [r.id for r in rows] == ids[6:]
    assert (await services.admin.queue.page(op, state="hold"))[1][0].id == ids[3]
    total, rows = await services.admin.queue.page(op, text="r5_X@remote")  # any case
    assert total == 1 and rows[0].id == ids[5]
    assert (await services.admin.queue.page(op, text="r_"))[0] == 0  # "_" is no wildcard
    assert (await services.admin.queue.page(op, text="%"))[0] == 0
    plain = Actor(await account(services, "pleb@a.example"), WEB)
    with pytest.raises(MailError) as exc:
        await services.admin.queue.page(plain)
    assert exc.value.kind is Kind.NO_PERM
