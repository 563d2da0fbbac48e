"""Live updates for webmail: the change feed, through the gate, as events for one user.

What a webmail page learns without reloading (docs/webmail/live.md), as events of the stream
``GET /webmail/events`` (web/webmail/live.py writes them as Server-Sent Events):

- ``mail`` {folder, total, unseen}: messages were added, expunged or had their flags changed
  in a folder the user may read (its counts as the user sees them: private \\Seen included);
- ``folders`` {}: the user's folder tree changed (created, deleted, renamed, shared with or
  unshared from them, or a folder became readable or unreadable);
- ``rights`` {folder, rights}: the user's rights on a folder they still see changed (IMAP
  letters, as MYRIGHTS says them);
- ``gone`` {folder}: a folder the user could read is no longer readable or visible.

Why it is built this way:

- **One subscription per process.** Every page holding a stream would otherwise hold its own
  feed subscription over all its folders; instead ``LiveUpdates`` takes one server-internal
  subscription (``ChangeFeed.watch_all``) and fans each change out through an index from
  mailbox id to the users who see that mailbox, so a change costs work only for the users it
  concerns and 200+ open pages cost one dict entry per visible folder.
- **Through the gate.** What a user may see is decided by the access gate, not here: each user
  (a ``Viewer``, shared by all that user's open pages) keeps the set of folders the gate lists
  for them (``MailboxService.list``, as IMAP LIST and the webmail tree show them), with the
  rights it granted. The set is decided again, folder by folder, when that folder's ACL
  changes or it is created (one read of the folder and its ACL, then ``AccessGate.decide`` for
  each user the ACL names or who owns it, exactly the users LIST would consider), and from
  scratch when the feed overflowed or the user's principal changed (new group membership).
  Message events reach only users for whom the folder is readable; another reader's private
  \\Seen change (``FlagsChanged.private_to``) reaches that reader only.
- **Coalesced.** A burst of changes (a client moving 500 messages) becomes at most one
  ``mail`` event per folder per ``live_coalesce`` seconds for each user; the counts are read
  when the event is sent, so the last one is always current. A stream's own queue keeps at
  most one pending event per (type, folder): a slow reader costs no more memory than a fast.
- **Limits.** ``live_max_streams`` streams per process (past it ``open`` refuses with
  ``LiveRefused``, 503 on HTTP); ``live_max_per_user`` per user (the oldest is ended when
  another opens). ``close`` ends every stream at server stop, before the listeners drain.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from postroom.access.gate import MailboxHandle
from postroom.access.ops import Op
from postroom.access.rights_eval import candidate_identifiers
from postroom.core.changes import (
    AclChanged,
    Change,
    FlagsChanged,
    MailboxCreated,
    MailboxDeleted,
    MailboxRenamed,
    MessageAdded,
    MessagesExpunged,
)
from postroom.core.errors import Kind, MailError
from postroom.core.principal import Principal
from postroom.services.notify import Subscription
from postroom.services.webmail.context import WebmailContext
from postroom.services.webmail.folders import MAIL_KIND, FolderTree

# Folders whose changes open pages hear of: mail, and the calendars, task lists and address
# books webmail's calendar and contacts show (they reload when one of theirs changes).
LIVE_KINDS = frozenset({MAIL_KIND, "calendar", "tasks", "contacts"})

log = logging.getLogger("postroom.webmail.live")

CLOSE_WAIT = 3.0  # seconds ``close`` waits for the streams' responses to end


@dataclass(frozen=True, slots=True)
class Event:
    """One event of a stream: its type ("mail", "folders", "rights", "gone", or "end", the
    stream's own last word) and its JSON data."""

    type: str
    data: dict[str, int | str]


@dataclass(frozen=True, slots=True)
class Seen:
    """What one user sees of one folder: their rights (IMAP letters) and whether they may
    open it (SELECT)."""

    rights: str
    readable: bool


def _seen(handle: MailboxHandle) -> Seen | None:
    """The user's view of the folder of ``handle``: None when it is not in their tree."""
    if not handle.allows(Op.LIST):
        return None
    return Seen(str(handle.rights), handle.allows(Op.SELECT))


class LiveRefused(Exception):
    """No stream now: the process holds ``live_max_streams`` (or is stopping). The client
    should come back after ``retry_after`` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("too many live streams")
        self.retry_after = retry_after


class Stream:
    """One open page's stream: the events waiting to be written, and whether it is over.

    The page's handler (web/webmail/live.py) takes events with ``take`` and waits with
    ``wait``; anything may ``close`` it (the per-user cap, server stop, the client going away),
    which wakes the handler so it ends the response."""

    __slots__ = ("_outbox", "_waiter", "closed", "reason", "viewer")

    def __init__(self, viewer: Viewer) -> None:
        self.viewer = viewer
        self._outbox: dict[tuple[str, int], Event] = {}
        self._waiter: asyncio.Future[None] | None = None
        self.closed = False
        self.reason = ""  # why it was closed: "replaced", "shutdown", "disconnected", ...

    def put(self, key: tuple[str, int], event: Event) -> None:
        """Queue ``event``, replacing (and moving last) one of the same key not yet sent."""
        if self.closed:
            return
        self._outbox.pop(key, None)
        self._outbox[key] = event
        self._wake()

    def take(self) -> list[Event]:
        """The events waiting, oldest first."""
        if not self._outbox:
            return []
        out = list(self._outbox.values())
        self._outbox.clear()
        return out

    async def wait(self, timeout: float) -> None:
        """Until an event waits, the stream is closed, or ``timeout`` seconds pass."""
        if self._outbox or self.closed:
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiter = waiter
        try:
            await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            pass
        finally:
            self._waiter = None

    def close(self, reason: str) -> None:
        if not self.closed:
            self.closed = True
            self.reason = reason
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


class Viewer:
    """One user with open streams: what the gate lets them see, and their pending ``mail``
    events. Shared by all the user's streams (tabs, devices), so a change is judged once per
    user, not once per page."""

    __slots__ = ("account_id", "dirty", "flushing", "last_flush", "principal", "ready", "seen",
                 "streams")

    def __init__(self, principal: Principal, account_id: int) -> None:
        self.principal = principal
        self.account_id = account_id
        self.streams: list[Stream] = []  # oldest first
        self.seen: dict[int, Seen] = {}  # mail folders in the user's tree, by id
        self.dirty: set[int] = set()  # folders whose ``mail`` event is due
        self.flushing = False
        self.last_flush = 0.0
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def emit(self, key: tuple[str, int], event: Event) -> None:
        for stream in self.streams:
            stream.put(key, event)


class LiveUpdates:
    def __init__(self, ctx: WebmailContext, folders: FolderTree) -> None:
        self._ctx = ctx
        self._folders = folders
        self._viewers: dict[int, Viewer] = {}  # by account id
        self._index: dict[int, set[Viewer]] = {}  # mailbox id -> users who see it
        self._count = 0  # streams opened and not yet released
        self._sub: Subscription | None = None
        self._pump: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._recheck: dict[int, None] = {}  # folders whose visibility is to be decided again
        self._resync: dict[int, bool] = {}  # account id -> also send ``mail`` for every folder
        self._working = False
        self._tree_changes = 0  # folder/ACL changes routed so far (see ``_new_viewer``)
        self._closed = False
        self._drained: asyncio.Event | None = None

    # -- streams -----------------------------------------------------------------------------
    @property
    def streams(self) -> int:
        """Streams open in this process (each counts against ``live_max_streams``)."""
        return self._count

    @property
    def retry_after(self) -> int:
        """Seconds a refused client should wait before asking again."""
        return max(1, round(self._ctx.config.live_poll))

    async def open(self, principal: Principal, folder: int | None = None, *,
                   resume: bool = False) -> Stream:
        """A new stream for ``principal``. ``folder`` is the folder the page shows: if the
        user may not read it (any more, or never: the same answer for a folder that does not
        exist) the stream starts with ``gone`` for it. ``resume``: the page reconnects after
        a break, so it is told to refresh (``folders``, and ``mail`` for ``folder``).

        Raises ``LiveRefused`` past ``live_max_streams``; a user past ``live_max_per_user``
        has their oldest stream ended."""
        cfg = self._ctx.config
        if self._closed or self._count >= cfg.live_max_streams:
            raise LiveRefused(self.retry_after)
        if principal.account_id is None:
            raise MailError(Kind.NOT_FOUND, "no mailbox of one's own")
        self._count += 1  # reserved now: the awaits below must not let others past the cap
        try:
            viewer = await self._viewer(principal, principal.account_id)
        except BaseException:
            self._release_count()
            raise
        stream = Stream(viewer)
        viewer.streams.append(stream)
        while len(viewer.streams) > cfg.live_max_per_user:
            viewer.streams.pop(0).close("replaced")
        if folder is not None:
            seen = viewer.seen.get(folder)
            if seen is None or not seen.readable:
                stream.put(("gone", folder), Event("gone", {"folder": folder}))
            elif resume:
                self._mark(viewer, folder)
        if resume:
            stream.put(("folders", 0), Event("folders", {}))
        return stream

    async def current(self, principal: Principal, folder: int) -> Event:
        """The ``mail`` event of ``folder`` as it stands: what a page whose stream was refused
        polls for. NOT_FOUND for a folder the user may not see, as everywhere."""
        handle = await self._folders.open(principal, folder)
        counts = await self._ctx.messages.counts(principal, handle)
        return Event("mail", {"folder": folder, "total": handle.mailbox.message_count,
                              "unseen": counts.unseen})

    def release(self, stream: Stream) -> None:
        """The stream's response ended (whatever the reason): forget it."""
        stream.close(stream.reason or "ended")
        viewer = stream.viewer
        if stream in viewer.streams:
            viewer.streams.remove(stream)
        if not viewer.streams and self._viewers.get(viewer.account_id) is viewer:
            self._drop(viewer)
        self._release_count()

    def refresh(self, stream: Stream, principal: Principal) -> None:
        """The session of ``stream`` was checked again and now resolves to ``principal``: if
        it changed (groups, administration), decide the user's whole tree again."""
        viewer = stream.viewer
        if principal != viewer.principal and principal.account_id == viewer.account_id:
            self._reprincipal(viewer, principal)

    async def close(self) -> None:
        """End every open stream (server shutdown), and wait a little for their responses to
        finish, so that the listeners find them done when they drain."""
        self._closed = True
        self._drained = asyncio.Event()
        for viewer in list(self._viewers.values()):
            for stream in list(viewer.streams):
                stream.close("shutdown")
        if self._count > 0:
            try:
                await asyncio.wait_for(self._drained.wait(), CLOSE_WAIT)
            except TimeoutError:
                log.warning("%d live streams still open at shutdown", self._count)
        for task in [*self._tasks, *([self._pump] if self._pump else [])]:
            task.cancel()
        if self._sub is not None:
            self._sub.close()
            self._sub = None

    def _release_count(self) -> None:
        self._count -= 1
        if self._count <= 0 and self._drained is not None:
            self._drained.set()

    # -- users -------------------------------------------------------------------------------
    async def _viewer(self, principal: Principal, account_id: int) -> Viewer:
        """The user's ``Viewer``: a new one (their tree read now) or the one their other
        streams share (waiting until its tree is read)."""
        self._start()
        while True:
            viewer = self._viewers.get(account_id)
            if viewer is None:
                return await self._new_viewer(principal, account_id)
            try:
                await asyncio.shield(viewer.ready)
            except Exception:
                continue  # reading its tree failed (that request's error): try anew
            if self._viewers.get(account_id) is not viewer:
                continue  # its last stream ended meanwhile: it is gone
            if principal != viewer.principal:
                self._reprincipal(viewer, principal)
            return viewer

    async def _new_viewer(self, principal: Principal, account_id: int) -> Viewer:
        """A viewer for the user, with their tree as the gate lists it now."""
        viewer = Viewer(principal, account_id)
        self._viewers[account_id] = viewer
        changes = self._tree_changes
        try:
            seen = await self._snapshot(principal)
        except BaseException as exc:
            if self._viewers.get(account_id) is viewer:
                del self._viewers[account_id]
            viewer.ready.set_exception(exc if isinstance(exc, Exception) else
                                       MailError(Kind.TEMPORARY, "stopped"))
            viewer.ready.exception()  # retrieved: no "never retrieved" warning
            raise
        for mid, one in seen.items():
            self._set(viewer, mid, one)
        if self._tree_changes != changes:
            # a folder or an ACL changed while the tree was read: the reading may predate it
            self._resync[account_id] = False
            self._work()
        viewer.ready.set_result(None)
        return viewer

    def _reprincipal(self, viewer: Viewer, principal: Principal) -> None:
        viewer.principal = principal
        self._resync[viewer.account_id] = False
        self._work()

    def _drop(self, viewer: Viewer) -> None:
        del self._viewers[viewer.account_id]
        for mid in viewer.seen:
            self._unindex(viewer, mid)
        viewer.seen.clear()
        viewer.dirty.clear()

    async def _snapshot(self, principal: Principal) -> dict[int, Seen]:
        """The user's tree as the gate lists it (IMAP LIST; the webmail tree)."""
        out: dict[int, Seen] = {}
        for item in await self._ctx.mailboxes.list(principal):
            if item.mailbox.kind in LIVE_KINDS:
                one = _seen(item.handle)
                if one is not None:
                    out[item.mailbox.id] = one
        return out

    def _set(self, viewer: Viewer, mid: int, seen: Seen | None) -> None:
        if seen is None:
            if viewer.seen.pop(mid, None) is not None:
                self._unindex(viewer, mid)
            viewer.dirty.discard(mid)
        else:
            viewer.seen[mid] = seen
            self._index.setdefault(mid, set()).add(viewer)

    def _unindex(self, viewer: Viewer, mid: int) -> None:
        watchers = self._index.get(mid)
        if watchers is not None:
            watchers.discard(viewer)
            if not watchers:
                del self._index[mid]

    def _apply(self, viewer: Viewer, mid: int, new: Seen | None) -> None:
        """The gate's new answer for ``viewer`` on folder ``mid``: tell their pages what
        changed."""
        old = viewer.seen.get(mid)
        if old == new:
            return
        self._set(viewer, mid, new)
        if old is not None and new is not None and old.rights != new.rights:
            viewer.emit(("rights", mid), Event("rights", {"folder": mid, "rights": new.rights}))
        if (old is None) != (new is None) or (old is not None and new is not None
                                               and old.readable != new.readable):
            viewer.emit(("folders", 0), Event("folders", {}))
        if old is not None and old.readable and (new is None or not new.readable):
            viewer.emit(("gone", mid), Event("gone", {"folder": mid}))

    # -- the feed ----------------------------------------------------------------------------
    def _start(self) -> None:
        if self._sub is None and not self._closed:
            self._sub = self._ctx.feed.watch_all()
            self._pump = asyncio.get_running_loop().create_task(self._run(self._sub))

    async def _run(self, sub: Subscription) -> None:
        """Take the feed's changes as they come and route them (never blocks the feed: it only
        appends to this subscription)."""
        loop = asyncio.get_running_loop()
        while True:
            waiter = loop.create_future()
            sub.arm(waiter)
            try:
                await waiter
            finally:
                sub.disarm()
            overflowed = sub.overflowed
            changes = sub.pending()
            sub.overflowed = False
            try:
                if overflowed:
                    # Changes were lost: decide every user's tree again and send fresh counts.
                    for account_id in self._viewers:
                        self._resync[account_id] = True
                    self._work()
                    continue
                for change in changes:
                    self._route(change)
            except Exception:  # a bug here must not end live updates for everyone
                log.exception("live updates: routing changes failed")

    def _route(self, change: Change) -> None:
        mid = change.mailbox_id
        if isinstance(change, (MessageAdded, MessagesExpunged, FlagsChanged)):
            private = change.private_to if isinstance(change, FlagsChanged) else None
            for viewer in self._index.get(mid, ()):
                if private is not None and viewer.account_id != private:
                    continue  # another reader's own \Seen: theirs alone (PD 6)
                seen = viewer.seen.get(mid)
                if seen is not None and seen.readable:
                    self._mark(viewer, mid)
            return
        self._tree_changes += 1
        if isinstance(change, MailboxDeleted):
            for viewer in list(self._index.get(mid, ())):
                self._apply(viewer, mid, None)
        elif isinstance(change, MailboxRenamed):
            for viewer in self._index.get(mid, ()):
                viewer.emit(("folders", 0), Event("folders", {}))
        elif isinstance(change, (MailboxCreated, AclChanged)):
            self._recheck[mid] = None
            self._work()

    # -- background work: visibility decided again, counts for ``mail`` --------------------
    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _work(self) -> None:
        if not self._working and not self._closed:
            self._working = True
            self._spawn(self._worker())

    async def _worker(self) -> None:
        """Decide visibility again, one folder or user at a time, in the order asked (so two
        ACL changes in a row are judged in that order)."""
        try:
            while self._recheck or self._resync:
                try:
                    if self._recheck:
                        mid = next(iter(self._recheck))
                        del self._recheck[mid]
                        await self._decide_folder(mid)
                    else:
                        account_id, counts = next(iter(self._resync.items()))
                        del self._resync[account_id]
                        await self._decide_user(account_id, counts)
                except Exception:
                    log.exception("live updates: deciding visibility again failed")
        finally:
            self._working = False

    async def _decide_folder(self, mid: int) -> None:
        """Folder ``mid`` was created or its ACL changed: who sees it now? One read of the
        folder and its ACL; the gate decides for its owner and for each user its ACL names
        (the users IMAP LIST would consider: ``MailboxService.list``)."""
        if not self._viewers:
            return
        rec = await self._ctx.store.mailboxes.get(mid)
        if rec is None or rec.kind not in LIVE_KINDS:
            for viewer in list(self._index.get(mid, ())):
                self._apply(viewer, mid, None)
            return
        acl = await self._ctx.store.mailboxes.get_acl(mid)
        named = {entry.identifier for entry in acl}
        label = f"#{mid}"
        for viewer in list(self._viewers.values()):
            principal = viewer.principal
            new: Seen | None = None
            if rec.owner_id == viewer.account_id or \
                    named.intersection(candidate_identifiers(principal)):
                try:
                    new = _seen(self._ctx.gate.decide(principal, rec, acl, label))
                except MailError:
                    new = None
            self._apply(viewer, mid, new)

    async def _decide_user(self, account_id: int, counts: bool) -> None:
        viewer = self._viewers.get(account_id)
        if viewer is None:
            return
        seen = await self._snapshot(viewer.principal)
        if self._viewers.get(account_id) is not viewer:
            return
        for mid in [m for m in viewer.seen if m not in seen]:
            self._apply(viewer, mid, None)
        for mid, one in seen.items():
            self._apply(viewer, mid, one)
        if counts:
            for mid, one in seen.items():
                if one.readable:
                    self._mark(viewer, mid)

    def _mark(self, viewer: Viewer, mid: int) -> None:
        viewer.dirty.add(mid)
        if not viewer.flushing:
            viewer.flushing = True
            self._spawn(self._flush(viewer))

    async def _flush(self, viewer: Viewer) -> None:
        """Send the user's due ``mail`` events, at most once per ``live_coalesce`` seconds,
        with the counts read now (so the last event of a burst is current)."""
        try:
            while viewer.dirty and viewer.streams:
                delay = viewer.last_flush + self._ctx.config.live_coalesce - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                viewer.last_flush = time.monotonic()
                due, viewer.dirty = viewer.dirty, set()
                for mid in sorted(due):
                    seen = viewer.seen.get(mid)
                    if seen is None or not seen.readable:
                        continue
                    try:
                        handle = await self._ctx.mailboxes.open_id(
                            viewer.principal, mid, f"#{mid}", Op.SELECT)
                        counts = await self._ctx.messages.counts(viewer.principal, handle)
                    except MailError:
                        continue  # taken away meanwhile: its ACL or delete event tells
                    viewer.emit(("mail", mid), Event("mail", {
                        "folder": mid, "total": handle.mailbox.message_count,
                        "unseen": counts.unseen}))
        except Exception:
            log.exception("live updates: counting for a mail event failed")
        finally:
            viewer.flushing = False
            if not viewer.streams:
                viewer.dirty.clear()
