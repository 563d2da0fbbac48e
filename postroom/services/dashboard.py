"""The figures WebAdmin's dashboard draws: recent activity per minute, and what is stored now.

Design:
- **Activity** comes from the metrics events (obs/metrics.py ``Metrics.listen``): the same
  calls that count a connection, an accepted message, a refusal or a delivery outcome for
  Prometheus also drop it into the current one-minute bucket here. So the dashboard and
  ``/metrics`` can never disagree, and nothing parses the exposition or reads the mail log.
- **Buckets** are a ring of ``minutes`` one-minute slots keyed by the minute number
  (``int(now // 60)``): an event finds its slot in O(1); a slot whose minute is stale is
  reset when reused; a snapshot reads the last ``minutes`` minutes, zero where nothing
  happened. Memory is fixed: ``minutes`` slots of a few small dicts (label sets are bounded:
  listener labels, SMTP stages, delivery outcomes, the same bound the metrics labels have).
- **Connections** are drawn per protocol (the listeners of one protocol summed: SMTP on 25,
  587 and 465 is one chart) and listed per listener.
- **Open connections now** are sampled from the listeners' own per-address counts at snapshot
  time (``open_connections_from``, set by the server), not counted here twice.
- **Storage and queue** are read from the store with aggregates (per-mailbox counters, queue
  size), never rows of messages; the storage figure is reused for ``storage_interval``
  seconds, so a dashboard left open by many administrators costs one aggregate per interval.
- **Who sees what** is decided here, not by the page: global administrators get everything;
  a domain administrator gets the storage of their own domains and no server-wide figures
  (traffic and queue span every domain); anybody else gets NO_PERM.

Everything runs on the server's event loop; the event callback is synchronous and cheap.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from postroom.core.actor import Actor
from postroom.core.errors import Kind, MailError
from postroom.obs.metrics import Metrics
from postroom.store.sqlstore import SqlStore

SECONDS = 60
# How the charts group listeners: by the protocol their front-end speaks (postroom/registry.py
# names each listener's front-end); a listener of an unknown front-end is drawn on its own
PROTOCOLS = {"smtp-mx": "SMTP", "smtp-submission": "SMTP", "imap": "IMAP", "pop3": "POP3",
             "odmr": "ODMR", "managesieve": "ManageSieve", "web-admin": "HTTP", "web": "HTTP",
             "web-plain": "HTTP"}
# Series the dashboard draws: name -> (metrics event, label or "" for every label)
DELIVERED = ("delivered", "sent")
REFUSED = ("bounced",)


@dataclass(slots=True)
class _Minute:
    minute: int = -1
    connections: dict[str, int] = field(default_factory=dict)  # per listener label
    accepted: int = 0
    rejected: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)  # delivered, sent, deferred, …

    def reset(self, minute: int) -> None:
        self.minute = minute
        self.connections = {}
        self.accepted = self.rejected = 0
        self.outcomes = {}


@dataclass(frozen=True, slots=True)
class Series:
    """One chart: a value per minute, oldest first; ``now`` is the current (partial) minute."""

    name: str
    label: str
    values: tuple[int, ...]

    @property
    def now(self) -> int:
        return self.values[-1] if self.values else 0

    @property
    def last_complete(self) -> int:
        """The last full minute: what 'per minute' means on the dashboard."""
        return self.values[-2] if len(self.values) > 1 else self.now

    @property
    def total(self) -> int:
        return sum(self.values)


@dataclass(frozen=True, slots=True)
class ListenerFigures:
    """One listener's connections: open now, in the last full minute, in the whole window."""

    label: str
    protocol: str
    open_now: int
    last_minute: int
    total: int


@dataclass(frozen=True, slots=True)
class DomainUsage:
    domain: str
    octets: int
    messages: int


@dataclass(frozen=True, slots=True)
class Snapshot:
    at: int  # Unix time of the snapshot
    minutes: int  # how many minutes each series covers
    server_wide: bool  # False for a domain administrator: no traffic, queue or connections
    open_connections: Mapping[str, int]  # listener label -> connections open now
    connections: tuple[Series, ...]  # per protocol (SMTP, IMAP, POP3, HTTP, …), per minute
    listeners: tuple[ListenerFigures, ...]  # per listener label
    traffic: tuple[Series, ...]  # accepted, delivered, rejected, deferred, bounced
    queue_entries: int
    queue_octets: int
    storage: tuple[DomainUsage, ...]  # per domain (and "(public folders)")

    @property
    def storage_octets(self) -> int:
        return sum(d.octets for d in self.storage)

    @property
    def storage_messages(self) -> int:
        return sum(d.messages for d in self.storage)

    def as_dict(self) -> dict[str, object]:
        """The JSON form (``/dashboard.json``)."""
        def series(items: tuple[Series, ...]) -> list[dict[str, object]]:
            return [{"name": s.name, "label": s.label, "per_minute": list(s.values)}
                    for s in items]
        return {"at": self.at, "minutes": self.minutes, "server_wide": self.server_wide,
                "open_connections": dict(self.open_connections),
                "connections": series(self.connections), "traffic": series(self.traffic),
                "listeners": [{"listener": f.label, "protocol": f.protocol,
                               "open": f.open_now, "last_minute": f.last_minute,
                               "total": f.total} for f in self.listeners],
                "queue": {"entries": self.queue_entries, "octets": self.queue_octets},
                "storage": {"octets": self.storage_octets, "messages": self.storage_messages,
                            "domains": [{"domain": d.domain, "octets": d.octets,
                                         "messages": d.messages} for d in self.storage]}}


class Dashboard:
    def __init__(self, store: SqlStore, metrics: Metrics, *, minutes: int = 60,
                 storage_interval: float = 30.0,
                 clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock
        self.minutes = minutes
        self.storage_interval = storage_interval
        self._ring = [_Minute() for _ in range(minutes)]
        self._labels: set[str] = set()  # listener labels seen (bounded by the registry)
        self._open: Callable[[], Mapping[str, int]] | None = None
        self._protocols: dict[str, str] = {}  # listener label -> protocol name
        self._storage: tuple[float, dict[int | None, tuple[int, int]]] | None = None
        metrics.listen(self.event)

    def open_connections_from(self, source: Callable[[], Mapping[str, int]]) -> None:
        """Where the open-connection counts come from (the server's listeners)."""
        self._open = source
        self._labels.update(source())

    def name_protocols(self, frontends: Mapping[str, str]) -> None:
        """Which front-end serves each listener label (from the registry), to group the
        connection charts by protocol."""
        self._protocols = {label: PROTOCOLS.get(frontend, label)
                           for label, frontend in frontends.items()}

    def protocol(self, label: str) -> str:
        return self._protocols.get(label, label)

    # -- events (obs/metrics.py) --------------------------------------------------------------
    def _slot(self) -> _Minute:
        minute = int(self._clock() // SECONDS)
        slot = self._ring[minute % self.minutes]
        if slot.minute != minute:
            slot.reset(minute)
        return slot

    def event(self, kind: str, label: str) -> None:
        slot = self._slot()
        if kind == "connection":
            self._labels.add(label)
            slot.connections[label] = slot.connections.get(label, 0) + 1
        elif kind == "accepted":
            slot.accepted += 1
        elif kind == "rejected":
            slot.rejected += 1
        elif kind == "outcome":
            slot.outcomes[label] = slot.outcomes.get(label, 0) + 1

    # -- reading ------------------------------------------------------------------------------
    def _window(self) -> list[_Minute | None]:
        """The last ``minutes`` minutes, oldest first; None where nothing was recorded."""
        now = int(self._clock() // SECONDS)
        out: list[_Minute | None] = []
        for minute in range(now - self.minutes + 1, now + 1):
            slot = self._ring[minute % self.minutes]
            out.append(slot if slot.minute == minute else None)
        return out

    async def _usage(self) -> dict[int | None, tuple[int, int]]:
        now = self._clock()
        if self._storage is None or now - self._storage[0] >= self.storage_interval:
            self._storage = (now, await self._store.mailboxes.usage_by_domain())
        return self._storage[1]

    async def snapshot(self, actor: Actor) -> Snapshot:
        p = actor.principal
        server_wide = p.system or p.global_admin
        if not server_wide and not p.admin_domain_ids:
            raise MailError(Kind.NO_PERM, "the dashboard is for administrators")
        names = {d.id: d.name for d in await self._store.directory.list_domains()}
        storage = [DomainUsage(names.get(did, "(gone)") if did is not None
                               else "(public folders)", octets, messages)
                   for did, (octets, messages) in (await self._usage()).items()
                   if server_wide or (did is not None and p.administers(did))]
        storage.sort(key=lambda d: (-d.octets, d.domain))
        at = int(self._clock())
        if not server_wide:
            return Snapshot(at, self.minutes, False, {}, (), (), (), 0, 0, tuple(storage))
        window = self._window()

        def per_minute(read: Callable[[_Minute], int]) -> tuple[int, ...]:
            return tuple(0 if slot is None else read(slot) for slot in window)

        def opened(labels: frozenset[str]) -> Callable[[_Minute], int]:
            return lambda s: sum(s.connections.get(label, 0) for label in labels)

        groups: dict[str, set[str]] = {}
        for label in self._labels:
            groups.setdefault(self.protocol(label), set()).add(label)
        connections = tuple(Series(name, f"{name} connections",
                                   per_minute(opened(frozenset(groups[name]))))
                            for name in sorted(groups))
        open_now = dict(self._open()) if self._open is not None else {}
        listeners = []
        for label in sorted(self._labels):
            values = per_minute(opened(frozenset({label})))
            listeners.append(ListenerFigures(label, self.protocol(label),
                                             open_now.get(label, 0),
                                             values[-2] if len(values) > 1 else values[-1],
                                             sum(values)))
        traffic = (
            Series("accepted", "Messages accepted", per_minute(lambda s: s.accepted)),
            Series("delivered", "Recipients delivered or sent",
                   per_minute(lambda s: sum(s.outcomes.get(k, 0) for k in DELIVERED))),
            Series("rejected", "SMTP refusals", per_minute(lambda s: s.rejected)),
            Series("deferred", "Deferred", per_minute(lambda s: s.outcomes.get("deferred", 0))),
            Series("bounced", "Bounced",
                   per_minute(lambda s: sum(s.outcomes.get(k, 0) for k in REFUSED))))
        entries, octets = await self._store.queue.totals()
        return Snapshot(at, self.minutes, True, open_now, connections, tuple(listeners),
                        traffic, entries, octets, tuple(storage))
