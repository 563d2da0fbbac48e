"""Compose sessions in the database (services/webmail/compose_shared.py, store/repo/compose.py):
two "nodes" (two stagings with their own cache directories; on PostgreSQL also their own
engine) see the same sessions, attachments and sends, on both stores."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
import pytest_asyncio

from postroom.app import Services, open_store
from postroom.config import Config
from postroom.core.errors import Kind, MailError
from postroom.services.eas.compose import AlreadySent, Compose
from postroom.services.webmail.compose_shared import SharedStaging
from postroom.services.webmail.compose_staging import Fields, State
from postroom.store.repo.compose import CHUNK, ComposeRepo
from postroom.store.sqlstore import SqlStore


@pytest_asyncio.fixture
async def other_store(services: Services, backend_config: Config,
                      ) -> AsyncIterator[SqlStore]:
    """A second node's store: its own engine on PostgreSQL, the same one on SQLite (one
    process owns an SQLite file)."""
    if services.store.engine.dialect != "postgresql":
        yield services.store
        return
    store = open_store(backend_config)
    try:
        yield store
    finally:
        await store.close()


async def _account(services: Services, name: str) -> int:
    if not await services.directory.is_local_domain("example.com"):
        await services.directory.add_domain("example.com")
    rec = await services.directory.add_account(f"{name}@example.com", "Pass-word-1234")
    return rec.id


def _nodes(services: Services, other: SqlStore, tmp_path: Path,
           ) -> tuple[SharedStaging, SharedStaging]:
    a = SharedStaging(tmp_path / "a", 3600, 2, ComposeRepo(services.store.engine))
    b = SharedStaging(tmp_path / "b", 3600, 2, ComposeRepo(other.engine))
    return a, b


def _upload(node: SharedStaging, account: int, cid: str, data: bytes, name: str) -> str:
    aid, part = node.new_part(account, cid)
    part.write_bytes(data)
    staged = node.finish_part(account, cid, aid, name, "application/octet-stream", len(data))
    assert staged.path.read_bytes() == data
    return aid


async def test_a_session_opened_on_one_node_is_written_on_another(
        services: Services, other_store: SqlStore, tmp_path: Path) -> None:
    alice = await _account(services, "alice")
    a, b = _nodes(services, other_store, tmp_path)
    cid = await asyncio.to_thread(a.create, alice, State(fields=Fields(subject="hello")))

    state = await asyncio.to_thread(b.load, alice, cid)
    assert state.fields.subject == "hello" and state.created > 0
    state.fields.body = "typed on B"
    await asyncio.to_thread(b.save, alice, cid, state)
    assert (await asyncio.to_thread(a.load, alice, cid)).fields.body == "typed on B"

    # an attachment bigger than one row, uploaded through B, is listed and read on A
    big = os.urandom(CHUNK * 2 + 1234)
    aid = await asyncio.to_thread(_upload, b, alice, cid, big, "big.bin")
    small = await asyncio.to_thread(_upload, a, alice, cid, b"tiny", "tiny.txt")
    listed = await asyncio.to_thread(a.attachments, alice, cid)
    assert [(s.id, s.name, s.size) for s in listed] == [
        (aid, "big.bin", len(big)), (small, "tiny.txt", 4)]
    assert listed[0].path.read_bytes() == big  # fetched into A's cache
    assert listed[0].path.is_relative_to(tmp_path / "a")
    assert (await asyncio.to_thread(b.attachments, alice, cid))[1].path.read_bytes() == b"tiny"
    assert await asyncio.to_thread(b.pending, alice, cid) == 2
    assert await asyncio.to_thread(a.usage, alice) >= len(big) + 4

    # removed on A: gone from B's listing too
    assert await asyncio.to_thread(a.drop_part, alice, cid, aid)
    assert not await asyncio.to_thread(a.drop_part, alice, cid, aid)
    assert [s.id for s in await asyncio.to_thread(b.attachments, alice, cid)] == [small]

    await asyncio.to_thread(b.remove, alice, cid)
    for node in (a, b):
        with pytest.raises(MailError) as caught:
            await asyncio.to_thread(node.load, alice, cid)
        assert caught.value.kind is Kind.NOT_FOUND
        with pytest.raises(MailError):
            await asyncio.to_thread(node.attachments, alice, cid)
    assert await asyncio.to_thread(a.usage, alice) == 0


async def test_sessions_belong_to_their_account(services: Services, other_store: SqlStore,
                                                tmp_path: Path) -> None:
    alice, bob = await _account(services, "alice"), await _account(services, "bob")
    a, b = _nodes(services, other_store, tmp_path)
    cid = await asyncio.to_thread(a.create, alice, State())
    for call in (lambda: b.load(bob, cid), lambda: b.attachments(bob, cid),
                 lambda: b.new_part(bob, cid), lambda: b.save(bob, cid, State()),
                 lambda: b.load(alice, "../" + cid[3:])):
        with pytest.raises(MailError) as caught:
            await asyncio.to_thread(call)
        assert caught.value.kind is Kind.NOT_FOUND
    await asyncio.to_thread(b.remove, bob, cid)  # not bob's: nothing happens
    assert await asyncio.to_thread(a.load, alice, cid)


async def test_an_upload_is_listed_only_once_complete_and_lost_with_its_session(
        services: Services, other_store: SqlStore, tmp_path: Path) -> None:
    alice = await _account(services, "alice")
    a, b = _nodes(services, other_store, tmp_path)
    cid = await asyncio.to_thread(a.create, alice, State())
    aid, part = await asyncio.to_thread(a.new_part, alice, cid)
    part.write_bytes(b"half")
    assert await asyncio.to_thread(b.attachments, alice, cid) == []
    assert await asyncio.to_thread(a.pending, alice, cid) == 1  # arriving here
    assert await asyncio.to_thread(b.pending, alice, cid) == 0
    await asyncio.to_thread(b.remove, alice, cid)  # discarded on B meanwhile
    with pytest.raises(MailError):
        await asyncio.to_thread(a.finish_part, alice, cid, aid, "x", "text/plain", 4)
    assert not part.exists()


async def test_one_send_at_a_time_across_nodes(services: Services, other_store: SqlStore,
                                               tmp_path: Path) -> None:
    alice = await _account(services, "alice")
    a, b = _nodes(services, other_store, tmp_path)
    cid = await asyncio.to_thread(a.create, alice, State())
    await asyncio.to_thread(a.claim_send, alice, cid)
    with pytest.raises(MailError) as caught:
        await asyncio.to_thread(b.claim_send, alice, cid)
    assert caught.value.kind is Kind.IN_USE
    await asyncio.to_thread(a.release_send, alice, cid)  # A's send failed
    await asyncio.to_thread(b.claim_send, alice, cid)  # so B may try
    await asyncio.to_thread(b.remove, alice, cid)  # sent
    with pytest.raises(MailError) as caught:
        await asyncio.to_thread(a.claim_send, alice, cid)
    assert caught.value.kind is Kind.NOT_FOUND


async def test_claims_race(services: Services, other_store: SqlStore, tmp_path: Path) -> None:
    """Many threads on two engines claim one send: exactly one wins."""
    alice = await _account(services, "alice")
    a, b = _nodes(services, other_store, tmp_path)
    cid = await asyncio.to_thread(a.create, alice, State())
    wins: list[str] = []
    start = threading.Barrier(8)

    def claim(node: SharedStaging, name: str) -> None:
        start.wait()
        try:
            node.claim_send(alice, cid)
            wins.append(name)
        except MailError as exc:
            assert exc.kind is Kind.IN_USE

    # threads of their own: the loop's default executor may have fewer than eight workers
    threads = [threading.Thread(target=claim, args=(node, f"{i}"))
               for i, node in enumerate([a, b] * 4)]
    for t in threads:
        t.start()
    def join() -> None:
        for t in threads:
            t.join(30)
    await asyncio.to_thread(join)
    assert len(wins) == 1


async def test_eviction_and_sweep(services: Services, other_store: SqlStore,
                                  tmp_path: Path) -> None:
    alice = await _account(services, "alice")
    a, b = _nodes(services, other_store, tmp_path)
    cids = []
    for _ in range(3):  # at most 2 per account: the least recently touched goes
        cids.append(await asyncio.to_thread(a.create, alice, State()))
        await asyncio.sleep(1.05)  # touched is in whole seconds
    with pytest.raises(MailError):
        await asyncio.to_thread(b.load, alice, cids[0])
    for cid in cids[1:]:
        await asyncio.to_thread(b.load, alice, cid)
    await asyncio.to_thread(_upload, a, alice, cids[1], b"data", "d.txt")
    await asyncio.to_thread(b.attachments, alice, cids[1])  # cached on B too
    assert await asyncio.to_thread(b.sweep) == 0  # nothing stale yet
    later = time.time() + 3600 + 5
    assert await asyncio.to_thread(b.sweep, later) == 2  # every node may sweep: rows go once
    assert await asyncio.to_thread(a.sweep, later) == 0
    assert not (tmp_path / "a").exists() or not any((tmp_path / "a").iterdir())
    assert not any((tmp_path / "b").iterdir())


async def test_eas_client_ids(services: Services, other_store: SqlStore) -> None:
    alice = await _account(services, "alice")
    one, two = ComposeRepo(services.store.engine), ComposeRepo(other_store.engine)
    assert await one.claim_client_id(alice, "dev1", "c1", 1000, 3600)
    assert not await two.claim_client_id(alice, "dev1", "c1", 1001, 3600)
    assert await two.claim_client_id(alice, "dev2", "c1", 1001, 3600)  # another device
    assert await two.claim_client_id(alice, "dev1", "c1", 1000 + 3600, 3600)  # an hour on
    await two.unclaim_client_id(alice, "dev1", "c1")  # that send failed
    assert await one.claim_client_id(alice, "dev1", "c1", 5000, 3600)
    assert await one.sweep_client_ids(10_000) == 2
    results = await asyncio.gather(*(repo.claim_client_id(alice, "dev9", "race", 20_000, 3600)
                                     for repo in [one, two] * 4))
    assert sorted(results) == [False] * 7 + [True]


async def test_an_activesync_resend_reaching_another_node_is_not_sent_twice(
        services: Services, other_store: SqlStore) -> None:
    """SendMail's ClientId (Status 118) holds across nodes: node B refuses the retry of a
    message node A sent; a send that was refused gives its ClientId back."""
    assert services.eas is not None
    await _account(services, "alice")
    rec = await services.directory.require_account("alice@example.com")
    alice = await services.directory.principal_for(rec)
    base = services.eas.compose._ctx
    node_a = Compose(replace(base, shared=True), services.eas.folders)
    node_b = Compose(replace(base, store=other_store, shared=True), services.eas.folders)
    mime = (b"From: alice@example.com\r\nTo: alice@example.com\r\nSubject: once\r\n"
            b"Message-ID: <once@example.com>\r\n\r\nbody\r\n")
    await node_a.send(alice, "phone", mime, client_id="c-1", save_in_sent=False)
    with pytest.raises(AlreadySent):
        await node_b.send(alice, "phone", mime, client_id="c-1", save_in_sent=False)
    forged = mime.replace(b"From: alice@", b"From: mallory@")
    with pytest.raises(MailError):
        await node_a.send(alice, "phone", forged, client_id="c-2", save_in_sent=False)
    await node_b.send(alice, "phone", mime, client_id="c-2", save_in_sent=False)  # given back
    assert await services.store.queue.count() == 2  # c-1 once, c-2 once
