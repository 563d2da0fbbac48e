"""What the latency metrics cost on the hot paths (obs/metrics.py, store/engine.py ``Latency``).

Three figures, all on loopback with the embedded store:

1. the cost of one observation, per kind (store transaction, protocol command, HTTP request),
   including the two ``perf_counter`` calls around the timed work;
2. store reads and writes per second through the engine, with the engine's timing on and
   replaced by a no-op, interleaved (ABAB...) so that drift hits both equally;
3. IMAP NOOP round trips on a real server, against which the per-command cost is set.

The target (docs/performance.md): the timing costs under ~1% of the timed work. Run:
``.venv/bin/python -m bench.metrics_overhead [--reads N] [--rounds N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import imaplib
import json
import statistics
import tempfile
import time
import timeit
from pathlib import Path
from typing import Any

from bench.postroom_server import Postroom
from postroom.app import Services, build_services
from postroom.obs.histogram import Latency
from postroom.obs.metrics import Metrics
from postroom.store.engine import LATENCY_BOUNDS, TxLatency
from tests.conftest import make_config


class _Off(Latency):
    """The engine's timing switched off (the perf_counter calls remain: an upper bound on
    what is left of the cost is what the A/B shows)."""

    __slots__ = ()

    def observe(self, seconds: float) -> None:
        return None


def micro() -> dict[str, float]:
    """Nanoseconds per observation, perf_counter pair included."""
    lat = Latency(LATENCY_BOUNDS)
    m = Metrics()
    m.command("imap", "NOOP", 0.0)
    m.http_request("webadmin", 200, 0.0)
    pc = time.perf_counter
    n = 200_000

    def each(stmt: Any) -> float:
        return min(timeit.repeat(stmt, number=n, repeat=5)) / n * 1e9
    return {
        "store_observe_ns": round(each(lambda: lat.observe(pc() - pc())), 1),
        "command_observe_ns": round(each(lambda: m.command("imap", "NOOP", pc() - pc())), 1),
        "http_observe_ns": round(each(lambda: m.http_request("webadmin", 200, pc() - pc())),
                                 1),
    }


async def store_ab(reads: int, writes: int, rounds: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        s = build_services(make_config(Path(tmp)))
        try:
            await s.directory.add_domain("example.com")
            engine = s.store.engine
            on, off = TxLatency(), TxLatency(_Off(LATENCY_BOUNDS), _Off(LATENCY_BOUNDS))
            times: dict[str, dict[str, list[float]]] = {
                "read": {"on": [], "off": []}, "write": {"on": [], "off": []}}
            for i in range(rounds * 2):
                mode = "on" if i % 2 == 0 else "off"
                engine.latency = on if mode == "on" else off
                start = time.perf_counter()
                for _ in range(reads):
                    await s.store.directory.get_domain("example.com")
                times["read"][mode].append((time.perf_counter() - start) / reads)
                start = time.perf_counter()
                # concurrent writers, as sessions are: group commit shares the fsyncs
                await asyncio.gather(*(engine.write(lambda tx: tx.execute("SELECT 1"))
                                       for _ in range(writes)))
                times["write"][mode].append((time.perf_counter() - start) / writes)
            out: dict[str, Any] = {}
            for kind, modes in times.items():
                t_on, t_off = statistics.median(modes["on"]), statistics.median(modes["off"])
                out[kind] = {"us_per_tx_on": round(t_on * 1e6, 2),
                             "us_per_tx_off": round(t_off * 1e6, 2),
                             "overhead_pct": round((t_on - t_off) / t_off * 100, 2)}
            return out
        finally:
            await s.close()


def imap_noop(count: int) -> float:
    """Microseconds per NOOP round trip: ``postroom serve`` as the bench runs it, plain IMAP
    on loopback, logged in."""
    with tempfile.TemporaryDirectory() as tmp:
        server = Postroom(Path(tmp))

        async def fill(s: Services) -> None:
            await s.directory.add_domain("bench.test")
            await s.directory.add_account("noop@bench.test", "noop-password-1")
        server.populate(fill)
        server.start()
        try:
            imap = imaplib.IMAP4("127.0.0.1", server.imap_port)
            imap.login("noop@bench.test", "noop-password-1")
            for _ in range(200):  # warm up
                imap.noop()
            start = time.perf_counter()
            for _ in range(count):
                imap.noop()
            elapsed = time.perf_counter() - start
            imap.logout()
            return elapsed / count * 1e6
        finally:
            server.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reads", type=int, default=5000, help="reads per round")
    ap.add_argument("--writes", type=int, default=500, help="concurrent writes per round")
    ap.add_argument("--rounds", type=int, default=6, help="rounds per mode (A and B)")
    ap.add_argument("--noops", type=int, default=5000)
    args = ap.parse_args()
    cost = micro()
    store = asyncio.run(store_ab(args.reads, args.writes, args.rounds))
    noop_us = imap_noop(args.noops)
    out = {
        "observation_cost": cost,
        "store": store,
        "store_read_cost_pct": round(cost["store_observe_ns"] / 1e3
                                     / store["read"]["us_per_tx_off"] * 100, 2),
        "imap_noop_us": round(noop_us, 1),
        "imap_command_cost_pct": round(cost["command_observe_ns"] / 1e3 / noop_us * 100, 2),
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
