"""A histogram cheap enough for every command and every store transaction.

prometheus_client's ``Histogram.observe`` takes a lock per bucket and costs about half a
microsecond on a cached child (a microsecond with ``labels()``); on an IMAP NOOP round trip
of ~45 µs that is over 1%. ``Latency`` is one ``bisect`` and two additions (~0.2 µs with the
two ``perf_counter`` calls around the timed work; ``python -m bench.metrics_overhead``).

It takes no lock, so it must be fed from one thread: the engines and the protocol sessions
call ``observe`` on the event loop only. obs/metrics.py reads it at scrape time (on the same
loop); it copies ``counts`` once, and may see a sum one observation ahead of the counts, which
a rate over minutes does not notice.

No dependency beyond the standard library, so store/ can keep one without importing the
metrics exposition.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence


class Latency:
    """Counts per bucket (``le`` semantics: an observation equal to a bound falls in it) plus
    one above every bound (+Inf), and the sum, in seconds."""

    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = tuple(bounds)
        self.counts = [0] * (len(self.bounds) + 1)
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, seconds)] += 1
        self.total += seconds

    def cumulative(self) -> list[tuple[float, int]]:
        """(upper bound, observations at or below it), ending with (inf, count)."""
        out: list[tuple[float, int]] = []
        running = 0
        for bound, count in zip([*self.bounds, float("inf")], list(self.counts), strict=True):
            running += count
            out.append((bound, running))
        return out
