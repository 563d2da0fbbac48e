"""obs/metrics.py histograms and scrape-time gauges, and the store's cheap latency counts
(store/engine.py ``Latency``), read with Prometheus' own text parser."""

from __future__ import annotations

import asyncio

from prometheus_client.parser import text_string_to_metric_families

from postroom.obs.histogram import Latency
from postroom.obs.metrics import Metrics, status_class
from postroom.store.engine import LATENCY_BOUNDS, TxLatency


def samples(m: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = asyncio.run(m.render()).decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(text) for s in f.samples}


def test_status_classes_are_a_bounded_set() -> None:
    assert [status_class(c) for c in (101, 200, 308, 404, 503)] == \
        ["1xx", "2xx", "3xx", "4xx", "5xx"]
    assert status_class(0) == status_class(999) == "other"


def test_latency_counts_per_bucket() -> None:
    lat = Latency((0.001, 0.01))
    for seconds in (0.0005, 0.001, 0.002, 0.5):
        lat.observe(seconds)
    # le semantics: 0.001 falls in the 0.001 bucket (Prometheus buckets are "<= bound")
    assert lat.counts == [2, 1, 1]
    assert abs(lat.total - 0.5035) < 1e-9
    assert len(TxLatency().read.counts) == len(LATENCY_BOUNDS) + 1
    assert lat.cumulative() == [(0.001, 2), (0.01, 3), (float("inf"), 4)]


def test_command_http_open_and_store_families() -> None:
    m = Metrics()
    m.command("imap", "NOOP", 0.0002)
    m.command("imap", "NOOP", 0.003)
    m.command("smtp", "other", 0.0)
    m.http_request("webadmin", 200, 0.004)
    m.http_request("webadmin", 404, 0.001)
    m.http_request("webadmin", 201, 0.002)
    m.open_connections_from(lambda: {"imaps": 3, "webadmin": 1})
    m.connection_closed("imaps", 0.05)
    m.connection_closed("imaps", 7200.0)
    tx = TxLatency()
    tx.read.observe(0.00005)
    tx.write.observe(0.002)
    tx.write.observe(7.0)
    m.store_latency_from(tx.read, tx.write)
    s = samples(m)
    noop = (("command", "NOOP"), ("protocol", "imap"))
    assert s[("postroom_command_duration_seconds_count", noop)] == 2
    assert s[("postroom_command_duration_seconds_bucket", (*noop[:1], ("le", "0.0005"),
                                                           noop[1]))] == 1
    assert s[("postroom_command_duration_seconds_count",
              (("command", "other"), ("protocol", "smtp")))] == 1
    assert s[("postroom_http_requests_total", (("listener", "webadmin"), ("status", "2xx")))] == 2
    assert s[("postroom_http_requests_total", (("listener", "webadmin"), ("status", "4xx")))] == 1
    assert s[("postroom_http_request_duration_seconds_count", (("listener", "webadmin"),))] == 3
    assert s[("postroom_open_connections", (("listener", "imaps"),))] == 3
    conn = "postroom_connection_duration_seconds"
    assert s[(f"{conn}_count", (("listener", "imaps"),))] == 2
    assert s[(f"{conn}_bucket", (("le", "0.1"), ("listener", "imaps")))] == 1
    assert s[(f"{conn}_bucket", (("le", "3600.0"), ("listener", "imaps")))] == 1
    assert s[(f"{conn}_bucket", (("le", "14400.0"), ("listener", "imaps")))] == 2
    write = "postroom_store_transaction_duration_seconds"
    assert s[(f"{write}_count", (("kind", "write"),))] == 2
    assert s[(f"{write}_bucket", (("kind", "write"), ("le", "0.0025")))] == 1
    assert s[(f"{write}_bucket", (("kind", "write"), ("le", "5.0")))] == 1
    assert s[(f"{write}_bucket", (("kind", "write"), ("le", "+Inf")))] == 2
    assert abs(s[(f"{write}_sum", (("kind", "write"),))] - 7.002) < 1e-9
    assert s[(f"{write}_count", (("kind", "read"),))] == 1


def test_the_store_family_exists_before_any_source() -> None:
    """A scrape of a Metrics without a store (unit tests, tools) still parses."""
    s = samples(Metrics())
    assert not any(name.startswith("postroom_store_") for name, _ in s)
