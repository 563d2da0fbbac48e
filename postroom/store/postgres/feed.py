"""The change feed across nodes: PostgreSQL NOTIFY out, LISTEN in (docs/cluster.md).

Out: a write transaction that produced change events sends them with ``pg_notify`` *inside*
the transaction, just before COMMIT (``PostgresEngine``). PostgreSQL delivers a notification
only when its transaction commits, and delivers the notifications of different transactions to
a listener in commit order (PostgreSQL documentation, NOTIFY); so every node sees one mailbox's
changes in the order they were committed, and never a change that was rolled back.

Payload: compact JSON, ``[sender, chunk, [[kind, mailbox, …], …]]``, UID lists as ranges.
A payload must stay under 8,000 bytes (NOTIFY's limit): events are packed into as many chunks
as needed, and one event with too many UIDs is split into events with fewer (an expunge or a
flag change of UIDs 1-5000 told as several of the same MODSEQ means the same to a listener).
The chunk number keeps the payloads of one transaction different: PostgreSQL folds identical
payloads sent in one transaction into one.

In: ``FeedRelay`` holds one dedicated connection per node that LISTENs, decodes other senders'
events and publishes them into the node's ``ChangeFeed`` (its own were published locally at
commit). Every ``heartbeat`` seconds it sends a NOTIFY to itself and measures the echo: that is
the feed's lag as ``postroom cluster status`` shows it. No echo within ``timeout`` (a silent
partition), or any error, and the connection is taken as lost: it is reopened with backoff, and
then every subscription is told to resynchronise from the store (``ChangeFeed.resync_all``),
because notifications sent while a listener was away are gone for good. An IMAP session then
reads what it missed by MODSEQ (expunges, flag changes, new UIDs); webmail and ActiveSync
rebuild their view. So nothing is missed, whatever happened to the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import psycopg

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

log = logging.getLogger("postroom.cluster.feed")

CHANNEL = "postroom_changes"
MAX_PAYLOAD = 7900  # NOTIFY's limit is 8,000 bytes in the default build
RANGE_BYTES = 6000  # UID ranges per event: one event always fits a payload
HEARTBEAT = "hb"

# Keepalives on every connection to PostgreSQL: a silent partition (no FIN, no RST) is noticed
# by the kernel in about 10 s instead of the default two hours (libpq connection parameters).
KEEPALIVE: dict[str, Any] = {"keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2,
                             "keepalives_count": 3, "tcp_user_timeout": 10000}


def _ranges(uids: Iterable[int]) -> list[list[int]]:
    out: list[list[int]] = []
    for uid in sorted(uids):
        if out and uid == out[-1][1] + 1:
            out[-1][1] = uid
        elif not out or uid > out[-1][1]:
            out.append([uid, uid])
    return out


def _uids(ranges: list[list[int]]) -> tuple[int, ...]:
    return tuple(u for lo, hi in ranges for u in range(int(lo), int(hi) + 1))


def _split(uids: tuple[int, ...]) -> Iterator[list[list[int]]]:
    """The UIDs as range lists, each small enough for one payload with room to spare."""
    part: list[list[int]] = []
    size = 0
    for lo, hi in _ranges(uids):
        size += len(f"[{lo},{hi}],")
        if part and size > RANGE_BYTES:
            yield part
            part, size = [], len(f"[{lo},{hi}],")
        part.append([lo, hi])
    yield part


def _encode_one(change: Change) -> Iterator[list[Any]]:
    if isinstance(change, MessageAdded):
        yield ["A", change.mailbox_id, change.modseq, change.uid]
    elif isinstance(change, MessagesExpunged):
        for part in _split(change.uids):
            yield ["X", change.mailbox_id, change.modseq, part]
    elif isinstance(change, FlagsChanged):
        for part in _split(change.uids):
            yield ["F", change.mailbox_id, change.modseq, part, change.private_to]
    elif isinstance(change, MailboxCreated):
        yield ["C", change.mailbox_id]
    elif isinstance(change, MailboxDeleted):
        yield ["D", change.mailbox_id]
    elif isinstance(change, MailboxRenamed):
        item: list[Any] = ["R", change.mailbox_id, change.old_name, change.new_name]
        if len(json.dumps(item, ensure_ascii=False).encode()) > RANGE_BYTES:
            # Two 1,000-character names in 4-octet UTF-8 could pass NOTIFY's limit, which
            # would fail the rename itself; listeners re-read names from the store anyway.
            item = ["R", change.mailbox_id, "", ""]
        yield item
    elif isinstance(change, AclChanged):
        yield ["L", change.mailbox_id]


def encode(sender: str, changes: Iterable[Change]) -> list[str]:
    """The payloads that carry ``changes`` (in order), each under ``MAX_PAYLOAD`` bytes."""
    payloads: list[str] = []
    batch: list[list[Any]] = []
    size = 0
    overhead = len(json.dumps([sender, 0, []], ensure_ascii=False).encode()) + 12
    for change in changes:
        for item in _encode_one(change):
            octets = len(json.dumps(item, separators=(",", ":"),
                                    ensure_ascii=False).encode()) + 1
            if batch and size + octets + overhead > MAX_PAYLOAD:
                payloads.append(_payload(sender, len(payloads), batch))
                batch, size = [], 0
            batch.append(item)
            size += octets
    if batch:
        payloads.append(_payload(sender, len(payloads), batch))
    return payloads


def _payload(sender: str, chunk: int, items: list[list[Any]]) -> str:
    return json.dumps([sender, chunk, items], separators=(",", ":"), ensure_ascii=False)


def decode(payload: str) -> tuple[str, list[Change]]:
    """(sender, changes) of one payload. Raises ValueError on anything malformed."""
    try:
        sender, _chunk, items = json.loads(payload)
        out: list[Change] = []
        for item in items:
            kind = item[0]
            if kind == "A":
                out.append(MessageAdded(int(item[1]), int(item[3]), int(item[2])))
            elif kind == "X":
                out.append(MessagesExpunged(int(item[1]), _uids(item[3]), int(item[2])))
            elif kind == "F":
                private = None if item[4] is None else int(item[4])
                out.append(FlagsChanged(int(item[1]), _uids(item[3]), int(item[2]), private))
            elif kind == "C":
                out.append(MailboxCreated(int(item[1])))
            elif kind == "D":
                out.append(MailboxDeleted(int(item[1])))
            elif kind == "R":
                out.append(MailboxRenamed(int(item[1]), str(item[2]), str(item[3])))
            elif kind == "L":
                out.append(AclChanged(int(item[1])))
            else:
                raise ValueError(f"unknown event kind {kind!r}")
        return str(sender), out
    except (TypeError, IndexError, KeyError, json.JSONDecodeError) as exc:
        raise ValueError(f"malformed change notification: {exc}") from None


NOTIFY_SQL = "SELECT pg_notify(%s, p) FROM unnest(%s::text[]) AS p"


EVENTS = "postroom_events"  # core/broadcast.py's messages between nodes


class PgBroadcast:
    """core/broadcast.py over NOTIFY: sent through the engine's pool (fire and forget),
    received by the node's ``FeedRelay`` on the ``EVENTS`` channel."""

    def __init__(self, engine: Any, sender: str, channel: str = EVENTS) -> None:
        self.engine = engine
        self.sender = sender
        self.channel = channel
        self.handlers: dict[str, list[Callable[[list[str]], None]]] = {}
        self._sending: set[asyncio.Task[None]] = set()
        self.sent = self.received = 0

    def send(self, topic: str, fields: list[str]) -> None:
        payload = json.dumps([self.sender, topic, [f[:500] for f in fields]],
                             separators=(",", ":"), ensure_ascii=False)
        try:
            task = asyncio.get_running_loop().create_task(self._send(payload))
        except RuntimeError:
            return  # no loop (a CLI tool): nothing to tell
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self, payload: str) -> None:
        try:
            await self.engine.write(lambda tx: tx.execute("SELECT pg_notify(?, ?)",
                                                          (self.channel, payload)))
            self.sent += 1
        except Exception as exc:  # a looser limit for a while, never a failed login
            log.debug("cluster event not sent: %s", exc)

    def subscribe(self, topic: str, handler: Callable[[list[str]], None]) -> None:
        self.handlers.setdefault(topic, []).append(handler)

    def deliver(self, payload: str) -> None:
        """A message from the channel (the relay calls this on the loop)."""
        try:
            sender, topic, fields = json.loads(payload)
            if sender == self.sender:
                return
            values = [str(f) for f in fields]
        except (ValueError, TypeError):
            log.error("malformed cluster event: %.200s", payload)
            return
        self.received += 1
        for handler in self.handlers.get(str(topic), ()):
            try:
                handler(values)
            except Exception:
                log.exception("cluster event handler failed (%s)", topic)


class FeedRelay:
    """Other nodes' changes into this node's feed (see the module docstring).

    ``publish`` and ``resync`` are the local ChangeFeed's ``publish`` and ``resync_all``;
    both are called on the event loop."""

    def __init__(self, dsn: str, node: str, publish: Callable[[list[Change]], None],
                 resync: Callable[[], None], *, heartbeat: float = 2.0, timeout: float = 6.0,
                 channel: str = CHANNEL, events: PgBroadcast | None = None) -> None:
        self.dsn = dsn
        self.node = node
        self.channel = channel
        self._publish = publish
        self._resync = resync
        self.events = events
        self.heartbeat = heartbeat
        self.timeout = timeout
        self.lag_ms: float | None = None  # the last heartbeat's round trip
        self.connected = False
        self.reconnects = 0  # connections lost and reopened since start
        self.received = 0  # notifications of other senders applied
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def start(self) -> None:
        """Listen; return once the first connection listens (or after ``timeout``)."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name="feed-relay")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), self.timeout)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        delay = 0.2
        first = True
        while True:
            conn: psycopg.AsyncConnection[Any] | None = None
            try:
                conn = await asyncio.wait_for(psycopg.AsyncConnection.connect(
                    self.dsn, autocommit=True, connect_timeout=max(2, int(self.timeout)),
                    **KEEPALIVE), self.timeout)
                await asyncio.wait_for(conn.execute(f'LISTEN "{self.channel}"'), self.timeout)
                if self.events is not None:
                    await asyncio.wait_for(conn.execute(f'LISTEN "{self.events.channel}"'),
                                           self.timeout)
                self.connected = True
                self._ready.set()
                if not first:
                    # Whatever was sent while we were away is lost: every session re-reads.
                    self.reconnects += 1
                    log.warning("change feed connection restored; sessions catch up from "
                                "the store")
                    self._resync()
                first = False
                delay = 0.2
                await self._listen(conn)
            except asyncio.CancelledError:
                raise
            except (psycopg.Error, OSError, TimeoutError) as exc:
                if self.connected:
                    log.warning("change feed connection lost (%s); reconnecting", exc)
                self.connected = False
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
            finally:
                self.connected = False
                if conn is not None:
                    await _close_quietly(conn)

    async def _listen(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """Apply notifications until the connection fails or the echo is late."""
        sent_at: float | None = None
        tag = ""
        last_echo = time.monotonic()
        seq = 0
        while True:
            async for note in conn.notifies(timeout=self.heartbeat):
                if self.events is not None and note.channel == self.events.channel:
                    self.events.deliver(note.payload)
                    continue
                if note.channel != self.channel:
                    continue
                if note.payload.startswith(HEARTBEAT + " "):
                    if sent_at is not None and note.payload == tag:
                        self.lag_ms = (time.monotonic() - sent_at) * 1000
                        last_echo = time.monotonic()
                        sent_at = None
                    continue
                self._apply(note.payload)
            now = time.monotonic()
            if now - last_echo > self.timeout:
                raise TimeoutError(f"no heartbeat echo for {now - last_echo:.1f} s")
            if sent_at is None:
                seq += 1
                tag = f"{HEARTBEAT} {self.node} {seq}"
                sent_at = time.monotonic()
                await asyncio.wait_for(
                    conn.execute("SELECT pg_notify(%s, %s)", (self.channel, tag)),
                    self.timeout)

    def _apply(self, payload: str) -> None:
        try:
            sender, changes = decode(payload)
        except ValueError as exc:
            log.error("%s", exc)
            return
        if sender == self.node:
            return  # published locally at commit
        self.received += 1
        self._publish(changes)


async def _close_quietly(conn: psycopg.AsyncConnection[Any]) -> None:
    with contextlib.suppress(Exception):
        await asyncio.wait_for(conn.close(), 2)
