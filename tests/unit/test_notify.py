"""The change feed: each commit reaches only the subscriptions watching its mailbox, in commit
order; an overflowing subscriber is flagged, never blocks; a shared waiter is woken."""

from __future__ import annotations

import asyncio

from postroom.access.gate import AccessGate, MailboxHandle
from postroom.core.changes import MessageAdded
from postroom.core.principal import Principal
from postroom.core.records import AclEntry, MailboxRec
from postroom.services import notify
from postroom.services.notify import ChangeFeed

OWNER = Principal(1, "owner@example.test", 1)


class _NoAcls:
    """The owner's rights never need the ACL: the gate must not ask."""

    async def get_acl(self, mailbox_id: int) -> list[AclEntry]:
        raise AssertionError("the owner's rights need no ACL")

    async def get_acls(self, mailbox_ids: list[int]) -> dict[int, list[AclEntry]]:
        raise AssertionError("the owner's rights need no ACL")


def handles(*ids: int) -> list[MailboxHandle]:
    """Real handles from the gate, for the owner of mailboxes ``ids``."""
    gate = AccessGate(_NoAcls())

    async def make() -> list[MailboxHandle]:
        return [await gate.handle(OWNER, MailboxRec(i, 1, 1, f"box{i}", None, "mail", "", None,
                                                    1, 1, 1, 0, 0), f"box{i}")
                for i in ids]
    return asyncio.run(make())


def added(mailbox: int, uid: int) -> MessageAdded:
    return MessageAdded(mailbox, uid, uid)


def test_changes_reach_only_the_mailboxes_watched_in_order() -> None:
    feed = ChangeFeed()
    one, two, both, every = (feed.subscribe(handles(1)), feed.subscribe(handles(2)),
                             feed.subscribe(handles(1, 2)), feed.watch_all())
    feed.publish([added(1, 1), added(2, 1), added(3, 1), added(1, 2)])
    assert one.pending() == [added(1, 1), added(1, 2)]
    assert two.pending() == [added(2, 1)]
    assert both.pending() == [added(1, 1), added(2, 1), added(1, 2)]
    assert every.pending() == [added(1, 1), added(2, 1), added(3, 1), added(1, 2)]
    assert one.pending() == []


def test_unsubscribe_forgets_the_mailbox_index() -> None:
    feed = ChangeFeed()
    subs = [feed.subscribe(handles(7)) for _ in range(3)] + [feed.watch_all()]
    assert feed.subscribers() == 4
    for sub in subs:
        sub.close()
    assert feed.subscribers() == 0
    feed.publish([added(7, 1)])
    assert all(sub.pending() == [] for sub in subs)


def test_overflow_flags_instead_of_blocking() -> None:
    feed = ChangeFeed()
    sub = feed.subscribe(handles(1))
    feed.publish([added(1, n) for n in range(1, notify.QUEUE_LIMIT + 5)])
    assert sub.overflowed
    assert len(sub.pending()) == notify.QUEUE_LIMIT
    assert sub.has_pending()  # still: the overflow asks for a resynchronisation


def test_a_shared_waiter_is_woken_by_a_publish() -> None:
    watched = handles(1)

    async def scenario() -> None:
        feed = ChangeFeed()
        sub = feed.subscribe(watched)
        waiter = asyncio.get_running_loop().create_future()
        sub.arm(waiter)
        assert not waiter.done()
        feed.publish([added(2, 1)])
        assert not waiter.done()
        feed.publish([added(1, 1)])
        assert waiter.done()
        sub.disarm()
        late = asyncio.get_running_loop().create_future()
        sub.arm(late)  # a change already waiting resolves at once
        assert late.done()
        await waiter
        assert sub.pending() == [added(1, 1)]
        assert not sub.has_pending()
    asyncio.run(scenario())
