"""The HTTP platform inside the server (docs/web.md): listeners from the registry, security
headers, body limit, errors without tracebacks, plain-HTTP redirects, PROXY protocol, and the
operations endpoints (/healthz, /readyz, /metrics) on the admin listener.

Real server, real sockets, http.client as the client."""

from __future__ import annotations

import http.client
import imaplib
import json
import smtplib
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from postroom.web.guard import CSP
from tests.support.server import RunningServer, server_config, wait_for
from tests.support.tls import insecure_context

WEB = ["web.admin.port=0", "web.https.port=0", "web.http.port=0", "web.admin.enabled=true",
       "web.https.enabled=true", "web.http.enabled=true", "web.max_body_size=4096",
       "smtp.mx.enabled=true", "smtp.mx.port=0"]


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = RunningServer(server_config(Path(tmp_path_factory.mktemp("web")), extra=WEB))
    yield server
    server.stop()


def request(srv: RunningServer, label: str, method: str, path: str, body: bytes | None = None,
            headers: dict[str, str] | None = None,
            ) -> tuple[int, http.client.HTTPMessage, bytes]:
    port = srv.port(label)
    conn: http.client.HTTPConnection
    if label == "http":
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    else:
        conn = http.client.HTTPSConnection("127.0.0.1", port, context=insecure_context(),
                                           timeout=10)
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    out = response.status, response.headers, response.read()
    conn.close()
    return out


def test_web_listeners_are_in_the_table(srv: RunningServer) -> None:
    rows = {r.service: r for r in srv.server.table()}
    assert rows["webadmin"].tls == "implicit" and rows["https"].tls == "implicit"
    assert rows["http"].tls == "none"
    assert "http-alt" not in rows  # port 3000 is off by default


@pytest.mark.parametrize("label", ["webadmin", "https", "http"])
def test_every_response_has_the_security_headers(srv: RunningServer, label: str) -> None:
    path = "/healthz" if label == "webadmin" else "/.well-known/autoconfig/mail/none"
    _status, headers, _ = request(srv, label, "GET", path)
    assert headers["Content-Security-Policy"] == CSP
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    if label == "http":
        assert headers["Strict-Transport-Security"] is None  # RFC 6797 §7.2
    else:
        assert headers["Strict-Transport-Security"].startswith("max-age=")


def test_healthz_and_readyz(srv: RunningServer) -> None:
    status, _, body = request(srv, "webadmin", "GET", "/healthz")
    assert (status, body) == (200, b"ok\n")
    status, _, body = request(srv, "webadmin", "GET", "/readyz")
    assert status == 200 and json.loads(body)["ready"] is True


def test_ops_endpoints_are_not_on_the_public_port(srv: RunningServer) -> None:
    assert request(srv, "https", "GET", "/metrics")[0] == 404


def test_unknown_path_is_a_plain_404_and_api_errors_are_problem_json(
        srv: RunningServer) -> None:
    status, headers, body = request(srv, "https", "GET", "/nothing-here")
    assert status == 404 and headers["Content-Type"].startswith("text/plain")
    status, headers, body = request(srv, "https", "GET", "/api/v1/nothing")
    assert status == 404 and headers["Content-Type"] == "application/problem+json"
    problem = json.loads(body)  # RFC 9457 §3.1
    assert problem["status"] == 404 and problem["title"] == "Not Found"
    assert problem["type"] == "about:blank"


def test_an_oversized_body_gets_413(srv: RunningServer) -> None:
    status, headers, body = request(srv, "https", "POST", "/api/v1/x", body=b"x" * 5000)
    assert status == 413 and headers["Content-Type"] == "application/problem+json"
    assert json.loads(body)["status"] == 413
    assert headers["Content-Security-Policy"] == CSP


def test_an_oversized_chunked_body_gets_413(srv: RunningServer) -> None:
    """No Content-Length to refuse early: the body is counted as it streams."""
    raw = socket.create_connection(("127.0.0.1", srv.port("https")), timeout=10)
    tls = insecure_context().wrap_socket(raw, server_hostname="x")
    chunk = b"x" * 3000
    tls.sendall(b"POST /autodiscover/autodiscover.xml HTTP/1.1\r\nHost: a\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n")
    head = f"{len(chunk):x}\r\n".encode()
    tls.sendall(head + chunk + b"\r\n" + head + chunk + b"\r\n0\r\n\r\n")
    answer = tls.recv(65536)
    tls.close()
    assert answer.startswith(b"HTTP/1.1 413") and b"Traceback" not in answer


def test_plain_http_redirects_to_https_except_autoconfig(srv: RunningServer) -> None:
    status, headers, _ = request(srv, "http", "GET", "/some/page?a=1",
                                 headers={"Host": "mail.example.test"})
    assert status == 308
    assert headers["Location"] == "https://mail.example.test/some/page?a=1"
    status, headers, _ = request(srv, "http", "GET", "/x", headers={"Host": "evil/../x"})
    assert headers["Location"] == "https://mail.example.test/x"  # a bad Host is not echoed
    status, _, _ = request(srv, "http", "GET",
                           "/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=a@b.c")
    assert status == 404  # answered here (an unknown domain), not redirected
    assert request(srv, "http", "GET", "/.well-known/acme-challenge/abc")[0] == 404


def _families(text: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return out


def metrics(srv: RunningServer) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    status, headers, body = request(srv, "webadmin", "GET", "/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return _families(body.decode())


def test_metrics_parse_and_move_when_mail_is_sent(srv: RunningServer) -> None:
    before = metrics(srv)
    address, _ = srv.add_user()
    with smtplib.SMTP("127.0.0.1", srv.port("smtp"), timeout=10) as smtp:
        smtp.sendmail("someone@example.org", [address],
                      b"Subject: hi\r\nMessage-ID: <m1@example.org>\r\n\r\nhello\r\n")
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            smtp.sendmail("someone@example.org", ["nobody@example.test"], b"Subject: x\r\n\r\n")

    def delivered() -> bool:
        return metrics(srv).get("postroom_deliveries_total", {}).get(
            (("outcome", "delivered"),), 0) >= 1
    wait_for(delivered, what="a delivery counted")
    after = metrics(srv)
    accepted = "postroom_smtp_accepted_messages_total"
    assert after[accepted][()] == before.get(accepted, {}).get((), 0) + 1
    rejected = after["postroom_smtp_rejections_total"]
    assert any(dict(k)["stage"] == "rcpt" and dict(k)["reason"].startswith("550")
               for k in rejected)
    assert after["postroom_connections_total"][(("listener", "smtp"),)] >= 1
    assert "postroom_queue_entries" in after


def test_logins_are_counted(srv: RunningServer) -> None:
    address, password = srv.add_user()
    with imaplib.IMAP4_SSL("127.0.0.1", srv.port("imaps"),
                           ssl_context=insecure_context()) as imap, \
            pytest.raises(imaplib.IMAP4.error):
        imap.login(address, "wrong password")
    with imaplib.IMAP4_SSL("127.0.0.1", srv.port("imaps"),
                           ssl_context=insecure_context()) as imap:
        imap.login(address, password)
    logins = metrics(srv)["postroom_logins_total"]
    assert logins[(("protocol", "imap"), ("result", "ok"))] >= 1
    assert logins[(("protocol", "imap"), ("result", "failed"))] >= 1


def test_sighup_reload_gives_the_web_listeners_the_new_certificate(
        srv: RunningServer, tmp_path: Path) -> None:
    from cryptography import x509

    from postroom.net.tls import ensure_self_signed

    def served_cn() -> str:
        raw = socket.create_connection(("127.0.0.1", srv.port("webadmin")), timeout=10)
        with insecure_context().wrap_socket(raw, server_hostname="x") as tls:
            der = tls.getpeercert(binary_form=True)
        assert der is not None
        return x509.load_der_x509_certificate(der).subject.rfc4514_string()

    cert, key = ensure_self_signed(tmp_path / "new", "renewed.example.org")
    new = server_config(Path(srv.cfg.server.data_dir),
                        extra=[*WEB, f"tls.cert={cert}", f"tls.key={key}"])
    assert "renewed.example.org" not in served_cn()
    srv.server.reload(new)  # what SIGHUP runs (server.py _reloader)
    assert "renewed.example.org" in served_cn()


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    cfg = server_config(Path(tmp_path_factory.mktemp("web-proxy")),
                        extra=[*WEB, 'server.proxy_protocol_networks=["127.0.0.0/8"]',
                               "web.admin.connections_per_ip=1",
                               'web.metrics_networks=["192.0.2.0/24"]'])
    server = RunningServer(cfg)
    yield server
    server.stop()


def _proxied_get(port: int, header: bytes, path: str) -> bytes:
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    raw.sendall(header + f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    out = b""
    while chunk := raw.recv(65536):
        out += chunk
    raw.close()
    return out


def test_proxy_header_names_the_client(proxied: RunningServer) -> None:
    """A load balancer's PROXY v1 header: the client it names is the one the access list of
    /metrics sees (192.0.2.0/24 here), exactly as on the mail ports."""
    port = proxied.port("http")
    inside = b"PROXY TCP4 192.0.2.7 127.0.0.1 40000 80\r\n"
    outside = b"PROXY TCP4 198.51.100.7 127.0.0.1 40000 80\r\n"
    # the plain listener answers autoconfig itself; a 404 for an unknown domain, not a 308
    answer = _proxied_get(port, inside, "/.well-known/autoconfig/mail/config-v1.1.xml")
    assert answer.startswith(b"HTTP/1.1 404")
    # On an implicit-TLS listener the header is read as the mail ports read it: as the first
    # bytes inside TLS (net/listener.py; docs/web.md names this limit).
    admin = proxied.port("webadmin")

    def tls_get(header: bytes, path: str) -> bytes:
        raw = socket.create_connection(("127.0.0.1", admin), timeout=10)
        with insecure_context().wrap_socket(raw, server_hostname="x") as tls:
            tls.sendall(header + f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close"
                        "\r\n\r\n".encode())
            out = b""
            while chunk := tls.recv(65536):
                out += chunk
        return out
    assert tls_get(inside, "/healthz").startswith(b"HTTP/1.1 200")
    assert tls_get(outside, "/healthz").startswith(b"HTTP/1.1 404")
    # the per-address limit (1 here) counts the named client, not the balancer's address
    held = socket.create_connection(("127.0.0.1", admin), timeout=10)
    tls = insecure_context().wrap_socket(held, server_hostname="x")
    tls.sendall(inside + b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert tls.recv(65536).startswith(b"HTTP/1.1 200")
    assert tls_get(b"PROXY TCP4 192.0.2.8 127.0.0.1 40000 80\r\n",
                   "/healthz").startswith(b"HTTP/1.1 200")
    assert b"503" in tls_get(inside, "/healthz").split(b"\r\n")[0]
    tls.close()


def test_a_bad_proxy_header_closes_the_connection(proxied: RunningServer) -> None:
    answer = _proxied_get(proxied.port("http"), b"GET / HTTP/1.1\r\n\r\n", "/x")
    assert answer == b""
