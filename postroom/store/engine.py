"""The engine seam: run a transaction function, publish its change events after commit."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from postroom.core.changes import Change
from postroom.obs.histogram import Latency

T = TypeVar("T")
Row = tuple[Any, ...]
Params = Sequence[Any]


class Tx(Protocol):
    """What repository code may do inside one transaction. SQL uses ``?`` placeholders."""

    dialect: str
    events: list[Change]

    def execute(self, sql: str, params: Params = ()) -> int:
        """Run a statement; return the number of rows it changed."""

    def one(self, sql: str, params: Params = ()) -> Row | None: ...

    def all(self, sql: str, params: Params = ()) -> list[Row]: ...

    def many(self, sql: str, rows: Sequence[Params]) -> None: ...


TxFn = Callable[[Tx], T]
CommitListener = Callable[[list[Change]], None]

_log = logging.getLogger("postroom.store")


def publish(listeners: list[CommitListener], events: list[Change]) -> None:
    """Hand committed events to every listener; one failing listener does not stop the rest."""
    if not events:
        return
    for listener in listeners:
        try:
            listener(events)
        except Exception:
            _log.exception("change listener failed")


@dataclass(slots=True)
class CommitStats:
    """Group-commit observations: how many transactions each fsync carried."""

    commits: int = 0
    transactions: int = 0
    max_batch: int = 0
    histogram: dict[int, int] = field(default_factory=dict)

    def record(self, batch: int) -> None:
        self.commits += 1
        self.transactions += batch
        self.max_batch = max(self.max_batch, batch)
        bucket = 1
        while bucket < batch:
            bucket *= 2
        self.histogram[bucket] = self.histogram.get(bucket, 0) + 1

    def summary(self) -> dict[str, Any]:
        mean = self.transactions / self.commits if self.commits else 0.0
        return {"commits": self.commits, "transactions": self.transactions,
                "mean_batch": round(mean, 2), "max_batch": self.max_batch,
                "histogram_pow2": dict(sorted(self.histogram.items()))}


# Seconds: a cached read takes tens of microseconds, a write waits for an fsync (a
# millisecond or more), a slow disk or a long scan reaches the upper buckets.
LATENCY_BOUNDS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                  0.5, 1.0, 2.5, 5.0)


def _latency() -> Latency:
    return Latency(LATENCY_BOUNDS)


@dataclass(slots=True)
class TxLatency:
    """The engine's two histograms (obs/histogram.py: cheap, fed on the event loop only):
    reads, and writes until durably committed. obs/metrics.py exports them."""

    read: Latency = field(default_factory=_latency)
    write: Latency = field(default_factory=_latency)


class Engine(Protocol):
    dialect: str
    stats: CommitStats
    latency: TxLatency

    async def write(self, fn: TxFn[T]) -> T:
        """Run ``fn`` in a write transaction; return after it is durably committed."""

    async def read(self, fn: TxFn[T]) -> T:
        """Run ``fn`` in a read-only snapshot."""

    def add_commit_listener(self, listener: CommitListener) -> None: ...

    def run_sync(self, fn: TxFn[T]) -> T:
        """Run a write transaction from a thread that has no event loop (migrations, tools)."""

    async def close(self) -> None: ...
