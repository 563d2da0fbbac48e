"""\\Recent bookkeeping (RFC 3501 §2.3.2) on both backends: each new message goes to exactly one
claiming session, concurrent claims split the messages and never share one, and the mark
survives in the store (``mailboxes.recent_uid``, migration 0011)."""

from __future__ import annotations

import asyncio

from postroom.access.ops import Op
from postroom.app import Services
from tests.support.factory import account, message


async def test_claims_hand_out_each_message_once(services: Services) -> None:
    alice = await account(services, "alice@example.com")
    repo = services.store.mailboxes
    inbox = await services.mailboxes.open(alice, "INBOX", Op.SELECT)
    mid = inbox.mailbox.id
    assert await repo.recent_mark(mid) == 0 and await repo.recent_count(mid) == 0
    await services.messages.append(alice, "INBOX", [(message(f"m{i}"), [], None)
                                                    for i in range(3)])
    assert await repo.recent_count(mid) == 3
    assert await repo.claim_recent(mid, 2) == (0, 2)  # UIDs 1 and 2 are the caller's
    assert await repo.recent_count(mid) == 1 and await repo.recent_mark(mid) == 2
    assert await repo.claim_recent(mid, 2) == (2, 2)  # nothing new for a second claimer
    assert await repo.claim_recent(mid, 1) == (2, 2)  # the mark never goes back
    assert await repo.claim_recent(mid, 3) == (2, 3)
    assert await repo.recent_count(mid) == 0


async def test_concurrent_claims_never_share_a_message(services: Services) -> None:
    alice = await account(services, "alice@example.com")
    repo = services.store.mailboxes
    inbox = await services.mailboxes.open(alice, "INBOX", Op.SELECT)
    mid = inbox.mailbox.id
    await services.messages.append(alice, "INBOX", [(message(f"m{i}"), [], None)
                                                    for i in range(40)])
    claims = await asyncio.gather(*(repo.claim_recent(mid, up_to)
                                    for up_to in [5, 40, 12, 40, 33, 1, 40, 20] * 4))
    got = [uid for old, new in claims for uid in range(old + 1, new + 1)]
    assert sorted(got) == list(range(1, 41))  # every UID exactly once


async def test_new_mailbox_starts_with_nothing_claimed(services: Services) -> None:
    alice = await account(services, "alice@example.com")
    await services.mailboxes.create(alice, "Fresh")
    handle = await services.mailboxes.open(alice, "Fresh", Op.SELECT)
    await services.messages.append(alice, "Fresh", [(message("x"), [], None)])
    assert await services.messages.recent_count(handle) == 1
    assert await services.messages.claim_recent(handle, 1) == (0, 1)
    assert await services.messages.recent_count(handle) == 0
