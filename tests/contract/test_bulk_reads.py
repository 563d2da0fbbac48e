"""The aggregated reads behind ``UID FETCH 1:* (FLAGS)`` and ``UID SEARCH UNSEEN``
(store/repo/bulkreads.py) on both backends: they answer exactly what the per-row queries
answer, keywords and a reader's private ``\\Seen`` included."""

from __future__ import annotations

from postroom.access.ops import Op
from postroom.app import Services
from postroom.core import flags as F
from postroom.core.records import FlagUpdate
from tests.support.factory import account, message


async def _mailbox(services: Services) -> tuple[int, int]:
    """A 30-message mailbox with mixed flags and keywords, and a second reader's account."""
    alice = await account(services, "alice@example.com")
    bob = await account(services, "bob@example.com")
    await services.messages.append(alice, "INBOX", [
        (message(f"m{i}"), (["\\Seen"] if i % 3 else []) + (["$Work", "x,y"] if i % 7 == 0
                                                            else []), None)
        for i in range(30)])
    handle = await services.mailboxes.open(alice, "INBOX", Op.READ)
    mid = handle.mailbox.id
    await services.store.messages.store(mid, [4, 5], FlagUpdate("add", F.DELETED, (),
                                                                 F.DELETED, True))
    await services.store.messages.expunge(mid, [5])  # a gap in the UIDs
    # Bob's private \Seen on a few messages (PD 6: the shared bit stays the owner's).
    assert bob.account_id is not None
    await services.store.messages.store(mid, [1, 2, 3, 9], FlagUpdate("add", F.SEEN, (),
                                                                       F.SEEN, False),
                                        seen_account=bob.account_id)
    return mid, bob.account_id


async def test_flag_run_matches_the_row_query(services: Services) -> None:
    mid, bob = await _mailbox(services)
    q = services.store.queries
    uids = await q.uids(mid)
    for reader in (None, bob):
        for lo, hi in ((1, 30), (2, 9), (6, 6), (5, 5), (31, 40)):
            rows = await q.flags(mid, [u for u in uids if lo <= u <= hi], reader)
            run = await q.flag_run(mid, lo, hi, reader, modseqs=True)
            assert run.count == len(rows) and run.uid_sum == sum(r.uid for r in rows)
            assert run.flags == [r.flags for r in rows]
            assert run.modseqs == [r.modseq for r in rows]
            assert run.keywords == {r.uid: r.keywords for r in rows if r.keywords}
            bare = await q.flag_run(mid, lo, hi, reader, modseqs=False)
            assert bare.modseqs == [] and bare.flags == run.flags
    run = await q.flag_run(mid, 1, 30, None, modseqs=False)
    assert run.keywords[1] == "$Work x,y"  # a comma inside a keyword stays inside it


async def test_unseen_uids_match_the_flags(services: Services) -> None:
    mid, bob = await _mailbox(services)
    q = services.store.queries
    uids = await q.uids(mid)
    for reader in (None, bob):
        rows = await q.flags(mid, uids, reader)
        unseen = [r.uid for r in rows if not r.flags & F.SEEN]
        assert await q.unseen_uids(mid, reader) == unseen
        assert await q.unseen_uids(mid, reader, up_to=10) == [u for u in unseen if u <= 10]
        assert await q.unseen_uids(mid, reader, up_to=0) == []
        counts = await q.counts(mid, reader)
        assert counts.unseen == len(unseen)
        assert counts.first_unseen_uid == unseen[0]
        assert await q.first_unseen(mid, reader) == unseen[0]
