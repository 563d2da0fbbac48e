"""The latency and state metrics of /metrics (docs/web.md, obs/metrics.py) move when the
matching thing happens: commands of every protocol, open connections per listener, HTTP
requests with their status class, and store transactions.

A real server with IMAP, SMTP, POP3, ODMR and the admin listener; real clients; the exposition
parsed with prometheus_client's own text parser."""

from __future__ import annotations

import http.client
import imaplib
import poplib
import smtplib
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.server import RunningServer, server_config, wait_for
from tests.support.tls import insecure_context

Samples = dict[str, dict[tuple[tuple[str, str], ...], float]]

EXTRA = ["web.admin.enabled=true", "web.admin.port=0", "smtp.mx.enabled=true", "smtp.mx.port=0",
         "pop3.pop3s.enabled=true", "pop3.pop3s.port=0", "odmr.enabled=true", "odmr.port=0"]


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = RunningServer(server_config(Path(tmp_path_factory.mktemp("metrics")),
                                         extra=EXTRA))
    yield server
    server.stop()


def get(srv: RunningServer, path: str) -> tuple[int, bytes]:
    conn = http.client.HTTPSConnection("127.0.0.1", srv.port("webadmin"), timeout=10,
                                       context=insecure_context())
    conn.request("GET", path)
    response = conn.getresponse()
    out = response.status, response.read()
    conn.close()
    return out


def scrape(srv: RunningServer) -> Samples:
    status, body = get(srv, "/metrics")
    assert status == 200
    out: Samples = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            out.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get(name, {}).get(tuple(sorted(labels.items())), 0.0)


def commands(samples: Samples, protocol: str, command: str) -> float:
    return value(samples, "postroom_command_duration_seconds_count", protocol=protocol,
                 command=command)


def test_imap_commands_are_timed_with_a_bounded_label(srv: RunningServer) -> None:
    address, password = srv.add_user()
    before = scrape(srv)
    with imaplib.IMAP4_SSL("127.0.0.1", srv.port("imaps"),
                           ssl_context=insecure_context()) as imap:
        imap.login(address, password)
        imap.select("INBOX")
        imap.noop()
        imap.noop()
        for verb in ("XYZZY", "FROBNICATE-" + "A" * 30):  # two unknown verbs: one label
            with pytest.raises(imaplib.IMAP4.error):
                imap.xatom(verb)
    after = scrape(srv)
    assert commands(after, "imap", "NOOP") == commands(before, "imap", "NOOP") + 2
    assert commands(after, "imap", "LOGIN") >= commands(before, "imap", "LOGIN") + 1
    assert commands(after, "imap", "SELECT") >= commands(before, "imap", "SELECT") + 1
    assert commands(after, "imap", "other") == commands(before, "imap", "other") + 2
    names = {dict(k)["command"] for k in after["postroom_command_duration_seconds_count"]
             if dict(k)["protocol"] == "imap"}
    assert not any(n.startswith(("XYZZY", "FROBNICATE")) for n in names)
    # the histogram's buckets are cumulative and end in +Inf = count
    inf = value(after, "postroom_command_duration_seconds_bucket", protocol="imap",
                command="NOOP", le="+Inf")
    assert inf == commands(after, "imap", "NOOP")
    assert value(after, "postroom_command_duration_seconds_sum", protocol="imap",
                 command="NOOP") > 0


def test_smtp_pop3_and_odmr_commands_are_timed(srv: RunningServer) -> None:
    address, password = srv.add_user()
    before = scrape(srv)
    with smtplib.SMTP("127.0.0.1", srv.port("smtp"), timeout=10) as smtp:
        smtp.sendmail("someone@example.org", [address], b"Subject: hi\r\n\r\nhello\r\n")
        smtp.docmd("WIBBLE")
    pop = poplib.POP3_SSL("127.0.0.1", srv.port("pop3s"), context=insecure_context(),
                          timeout=10)
    pop.user(address)
    pop.pass_(password)
    pop.stat()
    pop.quit()
    with smtplib.SMTP("127.0.0.1", srv.port("odmr"), timeout=10) as odmr:
        odmr.ehlo("customer.example")
    after = scrape(srv)
    for verb in ("EHLO", "MAIL", "RCPT", "DATA", "QUIT"):
        assert commands(after, "smtp", verb) >= commands(before, "smtp", verb) + 1, verb
    assert commands(after, "smtp", "other") == commands(before, "smtp", "other") + 1
    for verb in ("USER", "PASS", "STAT", "QUIT"):
        assert commands(after, "pop3", verb) == commands(before, "pop3", verb) + 1, verb
    assert commands(after, "odmr", "EHLO") == commands(before, "odmr", "EHLO") + 1
    assert commands(after, "odmr", "QUIT") == commands(before, "odmr", "QUIT") + 1


def test_open_connections_per_listener(srv: RunningServer) -> None:
    def imaps_open() -> float:
        return value(scrape(srv), "postroom_open_connections", listener="imaps")

    def ended(listener: str) -> float:
        return value(scrape(srv), "postroom_connection_duration_seconds_count",
                     listener=listener)
    base, ended_before = imaps_open(), ended("imaps")
    web_ended = ended("webadmin")
    held = [imaplib.IMAP4_SSL("127.0.0.1", srv.port("imaps"), ssl_context=insecure_context())
            for _ in range(3)]
    try:
        assert imaps_open() == base + 3
        # the scrape itself is an open connection on the admin listener
        assert value(scrape(srv), "postroom_open_connections", listener="webadmin") >= 1
    finally:
        for imap in held:
            imap.logout()
    wait_for(lambda: imaps_open() == base, what="closed connections leave the gauge")
    # each one ended is timed, on the mail listener and on the web one (the scrapes above)
    wait_for(lambda: ended("imaps") == ended_before + 3, what="connection durations")
    assert ended("webadmin") > web_ended
    assert value(scrape(srv), "postroom_connection_duration_seconds_sum", listener="imaps") > 0


def test_http_requests_by_status_class_and_duration(srv: RunningServer) -> None:
    before = scrape(srv)
    assert get(srv, "/healthz")[0] == 200
    assert get(srv, "/no-such-page")[0] == 404
    with socket.create_connection(("127.0.0.1", srv.port("webadmin")), timeout=10) as raw, \
            insecure_context().wrap_socket(raw) as tls:
        # a request head uvicorn refuses before any application runs is not a request
        tls.sendall(b"NOT HTTP\r\n\r\n")
        tls.recv(1024)
    after = scrape(srv)

    def requests(samples: Samples, status: str) -> float:
        return value(samples, "postroom_http_requests_total", listener="webadmin",
                     status=status)
    # the first scrape is itself counted, as 2xx, by the time of the second
    assert requests(after, "2xx") == requests(before, "2xx") + 2
    assert requests(after, "4xx") == requests(before, "4xx") + 1
    count = "postroom_http_request_duration_seconds_count"
    assert value(after, count, listener="webadmin") == \
        value(before, count, listener="webadmin") + 3
    statuses = {dict(k)["status"] for k in after["postroom_http_requests_total"]}
    assert statuses <= {"1xx", "2xx", "3xx", "4xx", "5xx"}


def test_store_transactions_are_timed(srv: RunningServer) -> None:
    def counts(samples: Samples) -> tuple[float, float]:
        name = "postroom_store_transaction_duration_seconds_count"
        return value(samples, name, kind="read"), value(samples, name, kind="write")
    reads, writes = counts(scrape(srv))
    address, _ = srv.add_user()  # writes (the account, its folders)
    with smtplib.SMTP("127.0.0.1", srv.port("smtp"), timeout=10) as smtp:
        smtp.sendmail("someone@example.org", [address], b"Subject: hi\r\n\r\nhello\r\n")
    wait_for(lambda: counts(scrape(srv))[1] >= writes + 3, what="store writes counted")
    after = scrape(srv)
    assert counts(after)[0] > reads
    inf = value(after, "postroom_store_transaction_duration_seconds_bucket", kind="write",
                le="+Inf")
    assert inf == counts(after)[1]
    assert value(after, "postroom_store_transaction_duration_seconds_sum", kind="write") > 0
