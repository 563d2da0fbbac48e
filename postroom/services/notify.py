"""The change feed: committed changes, in commit order, to every interested subscriber.

The engines call ``publish`` on the event loop thread after each commit (SQLite resolves its
group commit in job order; PostgreSQL publishes when each transaction's commit returns). A
subscriber is an asyncio queue filtered by mailbox ids; a slow subscriber whose queue fills is
marked ``overflowed`` instead of blocking delivery, and must resynchronise from the store (an
IMAP session does a full refresh of its view at its next command).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from postroom.core.changes import Change

QUEUE_LIMIT = 10000


class Subscription:
    def __init__(self, feed: ChangeFeed, mailbox_ids: Iterable[int] | None) -> None:
        self.feed = feed
        self.mailbox_ids: set[int] | None = set(mailbox_ids) if mailbox_ids is not None else None
        self.queue: asyncio.Queue[Change] = asyncio.Queue(QUEUE_LIMIT)
        self.overflowed = False

    def wants(self, change: Change) -> bool:
        return self.mailbox_ids is None or change.mailbox_id in self.mailbox_ids

    def pending(self) -> list[Change]:
        out = []
        while not self.queue.empty():
            out.append(self.queue.get_nowait())
        return out

    async def next(self, timeout: float | None = None) -> Change | None:
        try:
            return await asyncio.wait_for(self.queue.get(), timeout)
        except TimeoutError:
            return None

    def close(self) -> None:
        self.feed.unsubscribe(self)


class ChangeFeed:
    def __init__(self) -> None:
        self._subs: set[Subscription] = set()

    def subscribe(self, mailbox_ids: Iterable[int] | None = None) -> Subscription:
        sub = Subscription(self, mailbox_ids)
        self._subs.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subs.discard(sub)

    def publish(self, changes: list[Change]) -> None:
        for sub in list(self._subs):
            for change in changes:
                if sub.wants(change):
                    try:
                        sub.queue.put_nowait(change)
                    except asyncio.QueueFull:
                        sub.overflowed = True
