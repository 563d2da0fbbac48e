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

Latency is measured where the work is done, in seconds, into histograms with fixed buckets:

- ``command``: one protocol command, from its dispatch to its reply (IMAP, SMTP, POP3, ODMR;
  the front-end passes the name from its own dispatch table, or ``other``, so the label is
  a bounded set whatever a client sends). IMAP IDLE, SMTP DATA/BDAT and ODMR ATRN include
  time that is not the server's (waiting for changes, receiving the message, the whole
  turned-around delivery): they are their own series.
- ``http_request``: one HTTP request on a web listener, from the request head to the last
  body byte handed to the transport, with the status as its class (2xx, 4xx, ...).
- store transactions (reads; writes until durably committed): the engine keeps its own
  counts (store/engine.py ``TxLatency``), which this module reads at scrape time.
- ``connection_closed``: how long a served connection lasted, per listener (net/listener.py,
  net/http.py tell it when the connection ends).

The first three sit on hot paths, so they (and the fourth, alike) are kept in
obs/histogram.py's ``Latency`` (no lock, ~0.2 µs an observation, fed on the event loop only)
rather than in prometheus_client's histograms (~0.5-1 µs), and exported by one custom
collector at scrape time. Measured with
``python -m bench.metrics_overhead`` (docs/performance.md).

Gauges that are a state rather than an event (queue entries, open connections per listener)
are read from a callback at scrape time, so they can never drift from what they count.

The exposition is the Prometheus text format 0.0.4 (prometheus_client's ``generate_latest``).

Listeners (``listen``) are told of the same events as they happen, so that a service can keep
its own view of recent activity (services/dashboard.py keeps per-minute figures for WebAdmin)
without parsing the exposition. A listener must be cheap and must not raise.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from postroom.obs.histogram import Latency

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4  # our names and labels are all legacy-safe

# Seconds. Commands and HTTP requests: from well under a millisecond (NOOP, a cached page) to
# the long tail of a big FETCH or an upload; IDLE and DATA land in the last buckets.
COMMAND_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                   5.0, 10.0, 30.0, 60.0)
HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Connections: a refused or one-shot connection (well under a second) to a mail client's IMAP
# session kept open all day.
CONNECTION_BUCKETS = (0.01, 0.1, 1.0, 10.0, 60.0, 300.0, 1800.0, 3600.0, 4 * 3600.0, 86400.0)


def status_class(status: int) -> str:
    """``2xx`` and so on: five values, never the code itself (a label per code would let a
    client create series by answering oddly-coded proxies)."""
    return f"{status // 100}xx" if 100 <= status <= 599 else "other"


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
        self._open = Gauge(
            "postroom_open_connections", "Connections open now, per listener (as of the last "
            "scrape).", ["listener"], registry=r)
        self._open_source: Callable[[], Mapping[str, int]] | None = None
        self._timings = _Timings()
        r.register(self._timings)
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

    def command(self, protocol: str, command: str, seconds: float) -> None:
        """One command served, on the event loop. ``command`` must come from the front-end's
        dispatch table (or be ``other``): the caller bounds the label set."""
        t = self._timings.commands
        lat = t.get((protocol, command))
        if lat is None:
            lat = t[(protocol, command)] = Latency(COMMAND_BUCKETS)
        lat.observe(seconds)

    def connection_closed(self, listener: str, seconds: float) -> None:
        """A served connection ended after ``seconds``, on the event loop."""
        t = self._timings.connections
        lat = t.get(listener)
        if lat is None:
            lat = t[listener] = Latency(CONNECTION_BUCKETS)
        lat.observe(seconds)

    def http_request(self, listener: str, status: int, seconds: float) -> None:
        """One HTTP request answered, on the event loop."""
        t = self._timings
        key = (listener, status_class(status))
        t.requests[key] = t.requests.get(key, 0) + 1
        lat = t.http.get(listener)
        if lat is None:
            lat = t.http[listener] = Latency(HTTP_BUCKETS)
        lat.observe(seconds)

    # -- exposition -------------------------------------------------------------------------
    def queue_size_from(self, source: Callable[[], Awaitable[int]]) -> None:
        """Where the queue gauge reads its figure at scrape time (a service call)."""
        self._queue_size = source

    def open_connections_from(self, source: Callable[[], Mapping[str, int]]) -> None:
        """Where the open-connections gauge reads its figures at scrape time: listener label →
        connections open now (the server's listeners)."""
        self._open_source = source

    def store_latency_from(self, read: Latency, write: Latency) -> None:
        """The store engine's transaction timings (store/engine.py), read at scrape time."""
        self._timings.store = {"read": read, "write": write}

    async def render(self) -> bytes:
        """The text exposition, with the gauges read now."""
        if self._queue_size is not None:
            self._queue.set(await self._queue_size())
        if self._open_source is not None:
            for listener, count in self._open_source().items():
                self._open.labels(listener).set(count)
        return bytes(generate_latest(self.registry))


class _Timings:
    """The hot-path histograms and the request counter, kept in plain dicts of ``Latency``
    and exported by this collector at scrape time (the registry calls ``collect``)."""

    def __init__(self) -> None:
        self.commands: dict[tuple[str, str], Latency] = {}
        self.requests: dict[tuple[str, str], int] = {}
        self.http: dict[str, Latency] = {}
        self.store: dict[str, Latency] = {}
        self.connections: dict[str, Latency] = {}

    def collect(self) -> Iterator[Metric]:
        connections = HistogramMetricFamily(
            "postroom_connection_duration_seconds",
            "Served connections, from accept to close, per listener (counted when they end).",
            labels=["listener"])
        for listener, lat in list(self.connections.items()):
            _add(connections, [listener], lat)
        yield connections
        commands = HistogramMetricFamily(
            "postroom_command_duration_seconds",
            "Protocol commands, from dispatch to reply, per protocol and command (the names "
            "of the protocol's dispatch table; anything else is 'other').",
            labels=["protocol", "command"])
        for (protocol, command), lat in list(self.commands.items()):
            _add(commands, [protocol, command], lat)
        yield commands
        requests = CounterMetricFamily(
            "postroom_http_requests", "HTTP requests answered, per listener and status class "
            "(1xx to 5xx).", labels=["listener", "status"])
        for (listener, status), count in list(self.requests.items()):
            requests.add_metric([listener, status], count)
        yield requests
        http = HistogramMetricFamily(
            "postroom_http_request_duration_seconds",
            "HTTP requests, from the request head to the last byte of the response, per "
            "listener.", labels=["listener"])
        for listener, lat in list(self.http.items()):
            _add(http, [listener], lat)
        yield http
        store = HistogramMetricFamily(
            "postroom_store_transaction_duration_seconds",
            "Store transactions as their callers wait for them, per kind (read; write: until "
            "durably committed, waiting for the writer and the fsync included).",
            labels=["kind"])
        for kind, lat in list(self.store.items()):
            _add(store, [kind], lat)
        yield store


def _add(family: HistogramMetricFamily, labels: list[str], lat: Latency) -> None:
    buckets = [("+Inf" if bound == float("inf") else repr(bound), float(count))
               for bound, count in lat.cumulative()]
    family.add_metric(labels, buckets, lat.total)
