"""Message store contract: UIDs, MODSEQs, flags, per-user seen, quota, blobs, on both backends."""

from __future__ import annotations

import asyncio

import pytest

from postroom.access.ops import Op
from postroom.app import Services
from postroom.core import flags as F
from postroom.core.changes import FlagsChanged, MessageAdded, MessagesExpunged
from postroom.core.errors import Kind, MailError
from tests.support.factory import account, message


async def test_append_fetch_roundtrip(services: Services) -> None:
    alice = await account(services, "alice@example.com")
    data = message("one")
    res = await services.messages.append(alice, "INBOX", [(data, ["\\Flagged", "work"], None)])
    assert res.uids == (1,)
    handle = await services.mailboxes.open(alice, "INBOX", Op.READ)
    assert await services.messages.content(handle, 1) == data
    [row] = await services.messages.view(alice, handle)
    assert row.flags == F.FLAGGED and row.keywords == "work"
    mb = await services.store.mailboxes.get(handle.mailbox.id)
    assert mb is not None and mb.uidnext == 2 and mb.message_count == 1
    assert mb.total_size == len(data)
    rec = await services.store.messages.get(mb.id, 1)
    assert rec is not None and '"hello"' not in rec.meta and '"one"' in rec.meta


async def test_uids_unique_under_concurrency(services: Services) -> None:
    alice = await account(services, "alice@example.com")
    results = await asyncio.gather(*(
        services.messages.append(alice, "INBOX", [(message(f"m{i}"), [], None)])
        for i in range(60)))
    uids = sorted(u for r in results for u in r.uids)
    assert uids == list(range(1, 61))
    handle = await services.mailboxes.open(alice, "INBOX", Op.READ)
    assert [r.uid for r in await services.messages.view(alice, handle)] == uids


async def test_store_modes_and_modseq(services: Services) -> None:
    alice = await account(services, "alice@example.com")
    await services.messages.append(alice, "INBOX", [(message("a"), [], None),
                                                    (message("b"), [], None)])
    h = await services.mailboxes.open(alice, "INBOX", Op.READ)
    changed, _ = await services.messages.store_flags(alice, h, [1, 2], "add",
                                                     ["\\Seen", "$Label"])
    assert {r.uid for r in changed} == {1, 2}
    m1 = changed[0].modseq
    changed, _ = await services.messages.store_flags(alice, h, [1], "remove", ["\\Seen"])
    assert changed[0].flags == 0 and changed[0].modseq > m1
    changed, _ = await services.messages.store_flags(alice, h, [2], "set", ["\\Answered"])
    assert changed[0].flags == F.ANSWERED and changed[0].keywords == ""
    # No-op changes bump nothing.
    changed, _ = await services.messages.store_flags(alice, h, [2], "add", ["\\Answered"])
    assert changed == []
    # UNCHANGEDSINCE (RFC 7162 §3.1.3).
    _, failed = await services.messages.store_flags(alice, h, [1, 2], "add", ["\\Flagged"],
                                                    unchanged_since=m1)
    assert failed == [1, 2] or failed == [2] or failed == [1]
    with pytest.raises(MailError):
        await services.messages.store_flags(alice, h, [1], "add", ["\\Bogus"])


async def test_expunge_copy_move_and_quota(services: Services) -> None:
    alice = await account(services, "alice@example.com", quota=10_000)
    data = message("q", size=3000)
    await services.messages.append(alice, "INBOX", [(data, ["\\Deleted"], None),
                                                    (data, [], None)])
    with pytest.raises(MailError) as exc:
        await services.messages.append(alice, "INBOX", [(data, [], None), (data, [], None)])
    assert exc.value.kind is Kind.OVER_QUOTA
    acct = await services.directory.require_account("alice@example.com")
    assert acct.used_bytes == 2 * len(data)  # the failed MULTIAPPEND left nothing behind
    h = await services.mailboxes.open(alice, "INBOX", Op.READ)
    assert await services.messages.expunge(h) == [1]
    acct = await services.directory.require_account("alice@example.com")
    assert acct.used_bytes == len(data)
    res = await services.messages.copy(alice, h, [2], "Archive")
    assert res.pairs == ((2, 1),)
    res = await services.messages.copy(alice, h, [2], "Trash", move=True)
    assert res.pairs == ((2, 1),)
    assert await services.messages.view(alice, h) == []
    trash = await services.mailboxes.open(alice, "Trash", Op.READ)
    assert await services.messages.content(trash, 1) == data
    assert await services.store.messages.expunged_since(h.mailbox.id, 0) == [1, 2]


async def test_blob_dedup_refcount_and_gc(services: Services) -> None:
    alice = await account(services, "alice@example.com")
    data = message("same")
    await services.messages.append(alice, "INBOX", [(data, [], None)])
    await services.messages.append(alice, "Archive", [(data, ["\\Deleted"], None)])
    h = await services.mailboxes.open(alice, "INBOX", Op.READ)
    rec = await services.store.messages.get(h.mailbox.id, 1)
    assert rec is not None
    names = list(services.store.blobs.all_names())
    assert names == [rec.blob]
    arch = await services.mailboxes.open(alice, "Archive", Op.READ)
    await services.messages.expunge(arch)
    await services.store.collect_garbage(grace=0)
    assert services.store.blobs.exists(rec.blob)  # still referenced by INBOX
    await services.store.messages.expunge(h.mailbox.id, None)  # nothing \Deleted: no-op
    await services.messages.store_flags(alice, h, [1], "add", ["\\Deleted"])
    await services.messages.expunge(h)
    await services.store.collect_garbage(grace=0)
    assert not services.store.blobs.exists(rec.blob)


async def test_change_feed_in_commit_order(services: Services) -> None:
    alice = await account(services, "alice@example.com")
    h = await services.mailboxes.open(alice, "INBOX", Op.READ)
    sub = services.feed.subscribe([h])
    await services.messages.append(alice, "INBOX", [(message("x"), [], None)])
    await services.messages.store_flags(alice, h, [1], "add", ["\\Deleted"])
    await services.messages.expunge(h)
    await asyncio.sleep(0)
    events = sub.pending()
    assert [type(e) for e in events] == [MessageAdded, FlagsChanged, MessagesExpunged]
    modseqs = [e.modseq for e in events]  # type: ignore[union-attr]
    assert modseqs == sorted(modseqs)
    sub.close()


async def test_queue_roundtrip(services: Services) -> None:
    blob = services.store.blobs.put_bytes(message("queued"))
    qid = await services.store.queue.enqueue("a@example.com", ["b@example.net"], blob, b"X: 1\r\n")
    [due] = await services.store.queue.claim_due()
    assert due.id == qid and due.recipients == ("b@example.net",) and due.state == "ready"
    await services.store.queue.finish(qid, ["b@example.net"], error="4.4.1 timeout")
    rec = await services.store.queue.get(qid)
    assert rec.attempts == 1 and rec.last_error == "4.4.1 timeout"
    await services.store.queue.finish(qid)
    assert await services.store.queue.list() == []


async def test_duplicates_index_on_both_backends(services: Services) -> None:
    """The Message-ID picked out of the stored ENVELOPE by each database (issue 19: an import
    run twice skips what the folder holds)."""
    alice = await account(services, "alice@example.com")
    with_id = b"Message-ID: <dup-1@example.net>\r\nSubject: a\r\n\r\nbody\r\n"
    without = b"Subject: b\r\n\r\nno id here\r\n"
    await services.messages.append(alice, "INBOX", [(with_id, [], None), (without, [], None)])
    handle = await services.mailboxes.open(alice, "INBOX", Op.READ)
    index = await services.messages.duplicates(handle)
    assert await index.holds(with_id) and await index.holds(without)
    assert not await index.holds(with_id.replace(b"body", b"b0dy!"))
    assert not await index.holds(b"Message-ID: <dup-2@example.net>\r\nSubject: a\r\n\r\nbody\r\n")
