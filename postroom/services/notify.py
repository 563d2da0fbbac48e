"""The change feed: committed changes, in commit order, to every interested subscriber.

The engines call ``publish`` on the event loop thread after each commit (SQLite resolves its
group commit in job order; PostgreSQL publishes when each transaction's commit returns). A
subscriber keeps a list of changes for the mailboxes it watches; a slow subscriber whose list
fills is marked ``overflowed`` instead of blocking delivery, and must resynchronise from the
store (an IMAP session does a full refresh of its view at its next command).

Built for many idle subscribers (every IMAP session in IDLE holds one): subscriptions are
indexed by mailbox, so a commit touches only the sessions watching that mailbox, and a
subscription is a list and an optional waiter future rather than an ``asyncio.Queue`` with its
three deques and an event (measured: about 3 KB less per idle IMAP connection). A waiter may be
shared with the connection's own read waiter, so IDLE needs no task per source of events.

Subscribing needs a ``MailboxHandle``: a change stream tells what happens in a mailbox, so it is
given only to a principal the access gate let see that mailbox. Server-internal consumers with
no principal (the cross-node relay of a cluster, tests of the feed itself) use ``watch_all``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from postroom.access.gate import MailboxHandle
from postroom.core.changes import Change

QUEUE_LIMIT = 10000


class Subscription:
    __slots__ = ("_changes", "_waiter", "feed", "mailbox_ids", "overflowed")

    def __init__(self, feed: ChangeFeed, mailbox_ids: Iterable[int] | None) -> None:
        self.feed = feed
        self.mailbox_ids: frozenset[int] | None = (
            frozenset(mailbox_ids) if mailbox_ids is not None else None)
        self.overflowed = False
        self._changes: list[Change] = []
        self._waiter: asyncio.Future[None] | None = None

    def push(self, change: Change) -> None:
        if len(self._changes) >= QUEUE_LIMIT:
            self.overflowed = True
        else:
            self._changes.append(change)
        self._wake()

    def has_pending(self) -> bool:
        return bool(self._changes) or self.overflowed

    def pending(self) -> list[Change]:
        """Everything received since the last call, oldest first."""
        out, self._changes = self._changes, []
        return out

    def arm(self, waiter: asyncio.Future[None]) -> None:
        """Resolve ``waiter`` when a change arrives (at once if one is waiting)."""
        self._waiter = waiter
        if self.has_pending():
            self._wake()

    def disarm(self) -> None:
        self._waiter = None

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def close(self) -> None:
        self.feed.unsubscribe(self)


class ChangeFeed:
    def __init__(self) -> None:
        self._by_mailbox: dict[int, set[Subscription]] = {}
        self._everything: set[Subscription] = set()

    def subscribe(self, handles: Iterable[MailboxHandle]) -> Subscription:
        """Changes in the mailboxes of ``handles`` (each checked by the gate)."""
        return self._subscribe([h.id for h in handles])

    def watch_all(self) -> Subscription:
        """Every change in every mailbox: for server-internal consumers only."""
        return self._subscribe(None)

    def _subscribe(self, mailbox_ids: Iterable[int] | None) -> Subscription:
        sub = Subscription(self, mailbox_ids)
        if sub.mailbox_ids is None:
            self._everything.add(sub)
        else:
            for mid in sub.mailbox_ids:
                self._by_mailbox.setdefault(mid, set()).add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        if sub.mailbox_ids is None:
            self._everything.discard(sub)
            return
        for mid in sub.mailbox_ids:
            subs = self._by_mailbox.get(mid)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self._by_mailbox[mid]

    def subscribers(self) -> int:
        """Live subscriptions (each selected IMAP session holds one)."""
        return len(self._everything) + len({s for v in self._by_mailbox.values() for s in v})

    def resync_all(self) -> None:
        """Tell every subscriber that changes may have been missed (the cluster's feed
        connection was lost and reopened): each resynchronises from the store, as after an
        overflow. Woken at once, so a session in IDLE catches up without waiting for a
        command."""
        subs = set(self._everything)
        for by in self._by_mailbox.values():
            subs.update(by)
        for sub in subs:
            sub.overflowed = True
            sub._wake()

    def publish(self, changes: list[Change]) -> None:
        # push() only appends and schedules wake-ups, so the sets cannot change underneath.
        for change in changes:
            for sub in self._by_mailbox.get(change.mailbox_id, ()):
                sub.push(change)
            for sub in self._everything:
                sub.push(change)
