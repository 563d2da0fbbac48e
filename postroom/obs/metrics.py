"""Prometheus metrics: one registry per server, fed where the events already happen.

The events are the ones the mail log and the auth log already record (obs/maillog.py,
services/auth.py) and the listeners' accepted connections (net/listener.py, net/http.py); each
of those places calls one method here next to its log line, so a figure and a log line can
never disagree about what happened. Nothing here reads the store: the queue-size gauge asks a
callback (a service) at scrape time.

The registry is an instance, not prometheus_client's process-wide default, so two servers in
one test process keep their own figures. Label values are bounded sets (protocol names,
listener labels, SMTP stages and enhanced status codes, delivery outcomes), never addresses:
a label per client would grow without limit.

The exposition is the Prometheus text format 0.0.4 (prometheus_client's ``generate_latest``).

Listeners (``listen``) are told of the same events as they happen, so that a service can keep
its own view of recent activity (services/dashboard.py keeps per-minute figures for WebAdmin)
without parsing the exposition. A listener must be cheap and must not raise.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4  # our names and labels are all legacy-safe


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self._connections = Counter(
            "postroom_connections", "Connections accepted, per listener.",
            ["listener"], registry=r)
        self._logins = Counter(
            "postroom_logins", "Login attempts, per protocol and result (ok, failed).",
            ["protocol", "result"], registry=r)
        self._accepted = Counter(
            "postroom_smtp_accepted_messages", "Messages SMTP accepted into the queue.",
            registry=r)
        self._rejected = Counter(
            "postroom_smtp_rejections",
            "SMTP refusals, per stage (connect, mail, rcpt, data) and reply code with its "
            "enhanced status (RFC 3463), e.g. '550 5.1.1'.", ["stage", "reason"], registry=r)
        self._outcomes = Counter(
            "postroom_deliveries",
            "Recipients settled by the queue: delivered (a local mailbox), sent (a remote "
            "host took it), deferred, bounced.", ["outcome"], registry=r)
        self._queue = Gauge("postroom_queue_entries", "Entries in the mail queue (as of the "
                            "last scrape).", registry=r)
        self._queue_size: Callable[[], Awaitable[int]] | None = None
        self._listeners: list[Callable[[str, str], None]] = []

    def listen(self, listener: Callable[[str, str], None]) -> None:
        """Also tell ``listener(event, label)`` of every event: ``connection`` (listener
        label), ``accepted`` (""), ``rejected`` (stage), ``outcome`` (delivered, sent, …)."""
        self._listeners.append(listener)

    def _tell(self, event: str, label: str) -> None:
        for listener in self._listeners:
            listener(event, label)

    # -- events -----------------------------------------------------------------------------
    def connection(self, listener: str) -> None:
        self._connections.labels(listener).inc()
        self._tell("connection", listener)

    def login(self, protocol: str, ok: bool) -> None:
        self._logins.labels(protocol, "ok" if ok else "failed").inc()

    def smtp_accepted(self) -> None:
        self._accepted.inc()
        self._tell("accepted", "")

    def smtp_rejected(self, stage: str, reason: str) -> None:
        self._rejected.labels(stage, reason).inc()
        self._tell("rejected", stage)

    def outcome(self, event: str) -> None:
        self._outcomes.labels(event).inc()
        self._tell("outcome", event)

    # -- exposition -------------------------------------------------------------------------
    def queue_size_from(self, source: Callable[[], Awaitable[int]]) -> None:
        """Where the queue gauge reads its figure at scrape time (a service call)."""
        self._queue_size = source

    async def render(self) -> bytes:
        """The text exposition, with the gauges read now."""
        if self._queue_size is not None:
            self._queue.set(await self._queue_size())
        return bytes(generate_latest(self.registry))
