"""Push: a device waits for changes in its folders (Ping, Sync with Wait/HeartbeatInterval).

A wait is a subscription to the change feed (services/notify.py) on the gate's handles of the
watched folders, as IMAP IDLE's, plus one future and one timer: no task, no queue, no copy of
the folder list beyond the subscription's frozenset (measured in
tests/unit/test_eas_push.py: well under the 30 KB per waiting device of issue 25).

Bounds (``[web.eas]``): a device holds at most one wait (a new Ping or Sync wait from it ends
the old one, which answers as an expired heartbeat, MS-ASCMD §2.2.3.177.10 Status 1); a user
at most ``max_pings_per_user`` at once (beyond, ``wait`` raises ``TooManyWaits``: the
front-end answers 503 with Retry-After, so that devices of one user cannot evict each other
in a loop). ``close`` (server shutdown) ends every wait at once. In cluster mode (``share``)
a new wait tells the other nodes, which end the device's older wait there too.

Ping's parameters are kept per device in memory (MS-ASCMD §3.1.5.8: the server caches the
folders and the heartbeat, an empty Ping reuses them), with the highest MODSEQ of each watched
folder when the device's last wait ended: a change that happened between two Pings (while the
device was syncing) wakes the next Ping at once instead of a heartbeat later.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field

from postroom.access.eas import offered
from postroom.access.gate import MailboxHandle
from postroom.core.broadcast import Broadcast
from postroom.core.changes import (
    AclChanged,
    Change,
    FlagsChanged,
    MailboxDeleted,
    MailboxRenamed,
    MessageAdded,
    MessagesExpunged,
)
from postroom.core.principal import Principal
from postroom.services.eas.context import EasContext
from postroom.services.eas.model import Device
from postroom.services.notify import Subscription

DeviceKey = tuple[int, str]  # (account id, DeviceId): a device id is unique per user


class TooManyWaits(Exception):
    """The user already holds ``max_pings_per_user`` waits from other devices."""


@dataclass(slots=True)
class PingParams:
    """What a device's last valid Ping asked for (reused by an empty Ping)."""

    heartbeat: int
    folders: tuple[tuple[str, str], ...]  # (ServerId, Class)
    seen: dict[int, int] = field(default_factory=dict)  # mailbox id -> MODSEQ at last end


@dataclass(frozen=True, slots=True)
class WaitResult:
    changed: tuple[int, ...]  # mailbox ids with changes, in the order they came
    hierarchy: bool  # a watched folder was deleted, renamed or its sharing changed
    ended: bool  # superseded by a newer wait of the device, or the server is stopping
    modseqs: dict[int, int] = field(default_factory=dict)  # highest MODSEQ seen per folder

    @property
    def expired(self) -> bool:
        return not self.changed and not self.hierarchy


class _Wait:
    __slots__ = ("account", "future", "reason")

    def __init__(self, account: int, future: asyncio.Future[None]) -> None:
        self.account = account
        self.future = future
        self.reason = ""  # why it ended: "expired", "superseded", "closed"

    def end(self, reason: str = "expired") -> None:
        if not self.reason:
            self.reason = reason
        if not self.future.done():
            self.future.set_result(None)


class Waiting:
    """A wait ``Push.begin`` started and ``Push.finish`` completes: the device's key, its
    ``_Wait``, the subscription and the heartbeat's timer (all None when there was nothing to
    wait on). ``close`` releases them and may be called more than once, so that a wait begun
    but never finished (its request failed in between) is not left registered."""

    __slots__ = ("key", "push", "sub", "timer", "wait")

    def __init__(self, push: Push, key: DeviceKey, wait: _Wait | None,
                 sub: Subscription | None, timer: asyncio.TimerHandle | None) -> None:
        self.push, self.key, self.wait, self.sub, self.timer = push, key, wait, sub, timer

    def close(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.sub is not None:
            self.sub.close()
            self.sub = None
        if self.wait is not None:
            self.push._release(self.key, self.wait)


class Push:
    def __init__(self, ctx: EasContext) -> None:
        self._ctx = ctx
        self._waits: dict[DeviceKey, _Wait] = {}
        self._per_user: dict[int, int] = {}
        self._params: dict[DeviceKey, PingParams] = {}
        self._closed = False
        self._broadcast: Broadcast | None = None

    def share(self, broadcast: Broadcast) -> None:
        """Cluster mode (core/broadcast.py): a device's new wait on any node ends its old
        wait on this one, so a device holds one wait on the whole cluster (the per-user bound
        stays per node: each node counts the waits it holds)."""
        self._broadcast = broadcast
        broadcast.subscribe("eas-wait", self._superseded)

    def _superseded(self, fields: list[str]) -> None:
        if len(fields) != 2 or not fields[0].isdigit():
            return
        key = (int(fields[0]), fields[1])
        old = self._waits.get(key)
        if old is not None:
            old.end("superseded")
            self._release(key, old)

    # -- Ping's cached parameters ------------------------------------------------------------
    @staticmethod
    def key(principal: Principal, device: Device) -> DeviceKey:
        return (principal.account_id or 0, device.device_id)

    def params(self, principal: Principal, device: Device) -> PingParams | None:
        return self._params.get(self.key(principal, device))

    def remember(self, principal: Principal, device: Device, heartbeat: int,
                 folders: tuple[tuple[str, str], ...]) -> PingParams:
        """Keep a valid Ping's parameters; the MODSEQs seen survive when the folders do."""
        key = self.key(principal, device)
        old = self._params.get(key)
        seen = {} if old is None else old.seen
        params = PingParams(heartbeat, folders, seen)
        self._params[key] = params
        return params

    def synced(self, principal: Principal, device: Device, mailbox_id: int,
               modseq: int) -> None:
        """A Sync gave the device a folder's changes up to ``modseq`` (part 4 calls it): the
        next Ping is not woken at once for changes the device already has."""
        params = self._params.get(self.key(principal, device))
        if params is not None and mailbox_id in params.seen:
            params.seen[mailbox_id] = max(params.seen[mailbox_id], modseq)

    async def handles(self, principal: Principal, mailbox_ids: Iterable[int],
                      ) -> dict[int, MailboxHandle]:
        """The gate's handles of the offered folders among ``mailbox_ids`` (one listing): a
        folder missing from the answer is missing or no longer offered (lost ``l`` or ``r``)."""
        wanted = set(mailbox_ids)
        return {item.mailbox.id: item.handle
                for item in await self._ctx.mailboxes.list(principal, shared=True)
                if item.mailbox.id in wanted and offered(item.rights)}

    # -- waiting -----------------------------------------------------------------------------
    async def wait(self, principal: Principal, device: Device, mailbox_ids: Iterable[int],
                   seconds: float) -> WaitResult:
        """For Sync's Wait/HeartbeatInterval (part 4): wait until one of the folders changes
        or ``seconds`` pass. Folders not offered any more are left out (Sync finds them
        missing itself). Raises TooManyWaits past the per-user bound."""
        handles = await self.handles(principal, mailbox_ids)
        return await self.wait_handles(principal, device, list(handles.values()), seconds)

    async def wait_handles(self, principal: Principal, device: Device,
                           handles: list[MailboxHandle], seconds: float) -> WaitResult:
        """Wait on folders already opened through the gate (Ping opens them to check them)."""
        return await self.finish(self.begin(principal, device, handles, seconds))

    def begin(self, principal: Principal, device: Device, handles: list[MailboxHandle],
              seconds: float) -> Waiting:
        """Start a wait on folders opened through the gate, without waiting yet: the device's
        older wait ends, the per-user bound is checked (TooManyWaits), the folders are
        subscribed to and the heartbeat's timer runs. ``finish`` waits; until then a change
        is kept by the subscription, so nothing falls between the two. The handles are not
        kept (the subscription has their ids): a Ping's long wait holds only this object."""
        key = self.key(principal, device)
        account = key[0]
        old = self._waits.get(key)
        if old is not None:
            old.end("superseded")  # the device gave up on it: a newer request replaces it
            self._release(key, old)
        if self._per_user.get(account, 0) >= self._ctx.config.max_pings_per_user:
            raise TooManyWaits(f"at most {self._ctx.config.max_pings_per_user} devices of "
                               "one user may wait at once")
        if self._closed or not handles:
            return Waiting(self, key, None, None, None)
        loop = asyncio.get_running_loop()
        wait = _Wait(account, loop.create_future())
        self._waits[key] = wait
        if self._broadcast is not None:  # fire and forget: one NOTIFY per wait
            self._broadcast.send("eas-wait", [str(account), key[1]])
        self._per_user[account] = self._per_user.get(account, 0) + 1
        sub = self._ctx.feed.subscribe(handles)
        timer = loop.call_later(max(0.0, seconds), wait.end)
        return Waiting(self, key, wait, sub, timer)

    async def finish(self, waiting: Waiting) -> WaitResult:
        """Wait until a change in the folders ``begin`` subscribed to, the heartbeat, a newer
        wait of the device or shutdown; then release the subscription and the timer."""
        wait, sub = waiting.wait, waiting.sub
        if wait is None or sub is None:
            return WaitResult((), False, self._closed)
        loop = asyncio.get_running_loop()
        changed: dict[int, int] = {}
        hierarchy = False
        try:
            while True:
                sub.arm(wait.future)
                await wait.future
                sub.disarm()
                if sub.overflowed:
                    changed.update({mid: changed.get(mid, 0)
                                    for mid in sorted(sub.mailbox_ids or ())})
                for change in sub.pending():
                    kind = _classify(change, wait.account)
                    if kind == "hierarchy":
                        hierarchy = True
                    elif isinstance(change, MessageAdded | MessagesExpunged | FlagsChanged) \
                            and kind == "items":
                        changed[change.mailbox_id] = max(changed.get(change.mailbox_id, 0),
                                                         change.modseq)
                if changed or hierarchy or wait.reason:
                    break
                wait.future = loop.create_future()  # only others' private \Seen: wait on
        finally:
            waiting.close()
        return WaitResult(tuple(changed), hierarchy, wait.reason in ("superseded", "closed"),
                          changed)

    def _release(self, key: DeviceKey, wait: _Wait) -> None:
        if self._waits.get(key) is wait:
            del self._waits[key]
            left = self._per_user.get(wait.account, 1) - 1
            if left > 0:
                self._per_user[wait.account] = left
            else:
                self._per_user.pop(wait.account, None)

    def waiting(self) -> int:
        """Devices waiting now (for tests and the status page)."""
        return len(self._waits)

    def forget(self, principal: Principal, device: Device) -> None:
        """Drop a device's cached Ping (its states were reset or it was removed)."""
        self._params.pop(self.key(principal, device), None)

    async def close(self) -> None:
        """Wake every waiting Ping/Sync so that shutdown does not wait for heartbeats."""
        self._closed = True
        for wait in list(self._waits.values()):
            wait.end("closed")


def _classify(change: Change, account: int) -> str:
    """"items" (the device should Sync the folder), "hierarchy" (it should FolderSync) or
    "" (not this user's business: another reader's private \\Seen, Product decision 6)."""
    if isinstance(change, MailboxDeleted | MailboxRenamed | AclChanged):
        return "hierarchy"
    if isinstance(change, FlagsChanged) and change.private_to is not None \
            and change.private_to != account:
        return ""
    return "items"
