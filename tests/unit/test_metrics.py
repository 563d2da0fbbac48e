"""obs/metrics.py: the exposition parses with Prometheus' own text parser and counts events."""

from __future__ import annotations

import asyncio

from prometheus_client.parser import text_string_to_metric_families

from postroom.obs.metrics import Metrics


def test_counters_and_the_queue_gauge() -> None:
    m = Metrics()
    m.connection("imaps")
    m.login("imap", True)
    m.login("imap", False)
    m.smtp_rejected("rcpt", "550 5.1.1")
    m.outcome("delivered")

    async def four() -> int:
        return 4
    m.queue_size_from(four)
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in text_string_to_metric_families(asyncio.run(m.render()).decode())
               for s in f.samples}
    assert samples[("postroom_connections_total", (("listener", "imaps"),))] == 1
    assert samples[("postroom_logins_total", (("protocol", "imap"), ("result", "failed")))] == 1
    assert samples[("postroom_smtp_rejections_total",
                    (("reason", "550 5.1.1"), ("stage", "rcpt")))] == 1
    assert samples[("postroom_deliveries_total", (("outcome", "delivered"),))] == 1
    assert samples[("postroom_queue_entries", ())] == 4


def test_two_servers_keep_their_own_figures() -> None:
    a, b = Metrics(), Metrics()
    a.smtp_accepted()
    text = asyncio.run(b.render()).decode()
    assert "postroom_smtp_accepted_messages_total 0.0" in text
