"""ACME end to end: Debian's pebble on loopback issues our certificates (RFC 8555), validated
by HTTP-01 on the plain HTTP listener and TLS-ALPN-01 (RFC 8737) on the HTTPS listener; the
new certificate reaches IMAPS, SMTPS and HTTPS without a restart, a connection opened before
the swap keeps working, a certificate inside acme.renew_before_days is renewed, and a failed
attempt is logged and leaves the old certificate in place.

Pebble validates against the ports of our listeners on 127.0.0.1, with the names resolved by
the suite's loopback DNS server (tests/support/mailhost.py); every wait is bounded."""

from __future__ import annotations

import http.client
import imaplib
import itertools
import json
import logging
import shutil
import smtplib
import socket
import ssl
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509

from postroom.services.acme.files import AcmeFiles
from tests.support import cli
from tests.support.mailhost import Dns, Instance, free_port
from tests.support.pebble import PEBBLE, Pebble
from tests.support.server import RunningServer, server_config, wait_for

pytestmark = pytest.mark.skipif(shutil.which("pebble") is None and
                                not Path(PEBBLE).exists(), reason="pebble is not installed")

HOST = "mail.example.test"
NAMES = [HOST, "autoconfig.example.test", "autodiscover.example.test"]
HOST_IP = "127.0.0.1"
_COUNT = itertools.count()


@dataclass
class Setup:
    dns: Dns
    pebble: Pebble
    http_port: int
    https_port: int
    folder: Path

    def overrides(self, challenge: str, *extra: str) -> list[str]:
        return [
            "web.http.enabled=true", f"web.http.port={self.http_port}",
            "web.https.enabled=true", f"web.https.port={self.https_port}",
            "smtp.submissions.enabled=true", "smtp.submissions.port=0",
            "acme.enabled=true", f"acme.directory_url={self.pebble.directory}",
            f"acme.ca_file={self.pebble.ca_file}", f'acme.challenges=["{challenge}"]',
            "acme.contact=postmaster@example.test", "acme.retry_min=1",
            "acme.order_timeout=60", "acme.timeout=10", *extra]

    def server(self, challenge: str, *extra: str) -> RunningServer:
        data = self.folder / f"data-{challenge}-{next(_COUNT)}"
        return RunningServer(server_config(data, extra=self.overrides(challenge, *extra)))


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    folder = Path(tmp_path_factory.mktemp("acme"))
    dns = Dns()
    for name in NAMES:
        dns.zone.add(name, "A", "127.0.0.1")
    http_port, https_port = free_port(("127.0.0.1",)), free_port(("127.0.0.1",))
    try:
        pebble = Pebble(folder / "pebble", http_port, https_port, dns.port)
        try:
            yield Setup(dns, pebble, http_port, https_port, folder)
        finally:
            pebble.stop()
    finally:
        dns.stop()


def presented(port: int, name: str = HOST, alpn: list[str] | None = None,
              ) -> x509.Certificate:
    """The certificate a listener presents to a client that sends SNI ``name``."""
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    if alpn:
        ctx.set_alpn_protocols(alpn)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
            ctx.wrap_socket(raw, server_hostname=name) as tls:
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)


def trusting(pebble: Pebble) -> ssl.SSLContext:
    """A client context that trusts only pebble's issuing root, hostname checked."""
    return ssl.create_default_context(cadata=pebble.root().decode())


def issued(srv: RunningServer) -> bool:
    return _settled(AcmeFiles(Path(srv.cfg.server.data_dir)))


def _settled(files: AcmeFiles) -> bool:
    """A certificate is installed and the attempt's outcome recorded (the state is written
    just after the certificate file)."""
    live = files.current()
    return live is not None and files.state().last_success > 0


def test_http01_certificate_reaches_every_listener_without_a_restart(setup: Setup) -> None:
    keep = "web.keepalive_timeout=120"
    srv = setup.server("http-01", keep, "acme.enabled=false")
    try:
        user, password = srv.add_user("acme")
        # opened before the swap, on the generated certificate: IMAPS, SMTPS, HTTPS keep-alive
        before = imaplib.IMAP4_SSL(HOST_IP, srv.port("imaps"),
                                   ssl_context=_insecure(), timeout=10)
        before.login(user, password)
        smtp_before = smtplib.SMTP_SSL(HOST_IP, srv.port("submissions"),
                                       context=_insecure(), timeout=10)
        assert smtp_before.ehlo()[0] == 250
        web_before = http.client.HTTPSConnection(HOST_IP, srv.port("https"),
                                                 context=_insecure(), timeout=10)
        web_before.request("GET", "/nothing-here")
        assert web_before.getresponse().read() is not None
        old_serial = presented(srv.port("imaps")).serial_number
        # ACME switched on (as a reload does): it orders at once and swaps the certificate in
        on = server_config(Path(srv.cfg.server.data_dir),
                           extra=setup.overrides("http-01", keep))
        srv.call(_in_loop(lambda: srv.server.reload(on)))
        wait_for(lambda: issued(srv), 60, "a certificate from pebble")
        live = AcmeFiles(Path(srv.cfg.server.data_dir)).current()
        assert live is not None and set(NAMES) <= set(live.names)
        assert _leaf_serial(srv) != old_serial
        ctx = trusting(setup.pebble)
        # IMAPS, SMTPS (465) and HTTPS present it, the chain verifies up to pebble's root
        # and the host name matches: no restart happened
        wait_for(lambda: presented(srv.port("imaps")).serial_number ==
                 _leaf_serial(srv), 10, "the swap")
        with Imaps(HOST, srv.port("imaps"), ssl_context=ctx, timeout=10) as fresh:
            fresh.login(user, password)
        with Smtps(HOST, srv.port("submissions"), context=ctx, timeout=10) as smtp:
            assert smtp.ehlo()[0] == 250
        for label in ("imaps", "submissions", "https"):
            assert presented(srv.port(label)).serial_number == _leaf_serial(srv), label
        _verify(ctx, srv.port("https"))
        # the connections opened before the swap still work, on their old certificate
        assert before.noop()[0] == "OK"
        assert before.select("INBOX")[0] == "OK"
        der = before.sock.getpeercert(binary_form=True)  # type: ignore[attr-defined]
        assert x509.load_der_x509_certificate(der).serial_number == old_serial
        before.logout()
        assert smtp_before.noop()[0] == 250
        smtp_before.quit()
        web_before.request("GET", "/nothing-here")  # the same keep-alive connection
        assert web_before.getresponse().status == 404
        web_before.close()
        state = AcmeFiles(Path(srv.cfg.server.data_dir)).state()
        assert state.challenge == "http-01" and state.error == ""
        folder = AcmeFiles(Path(srv.cfg.server.data_dir)).root
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        assert {stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir()} == {0o600}
    finally:
        srv.stop()


def test_periodic_checks_renew_without_being_asked(setup: Setup) -> None:
    """acme.check_interval: a certificate inside acme.renew_before_days is renewed by the
    scheduler itself (pebble's certificates last years; a longer window makes it due)."""
    srv = setup.server("http-01", "acme.check_interval=1", "acme.renew_before_days=3650")
    try:
        wait_for(lambda: issued(srv), 60, "a first certificate")
        first = _leaf_serial(srv)
        wait_for(lambda: _leaf_serial(srv) != first, 30, "a renewal by the scheduler")
    finally:
        srv.stop()


def test_a_name_that_fails_validation_is_left_out(setup: Setup) -> None:
    """autoconfig.<domain> without DNS must not cost the host name its certificate."""
    srv = setup.server("http-01", 'acme.names=["nodns.example.test"]')
    try:
        wait_for(lambda: issued(srv), 60, "a certificate without the failing name")
        files = AcmeFiles(Path(srv.cfg.server.data_dir))
        live = files.current()
        assert live is not None and "nodns.example.test" not in live.names
        assert set(NAMES) <= set(live.names)
        assert files.state().dropped == ["nodns.example.test"]
    finally:
        srv.stop()


def test_a_refused_order_is_logged_and_the_old_certificate_stays(setup: Setup) -> None:
    srv = setup.server("http-01", 'acme.names=["*.example.test"]')
    try:
        files = AcmeFiles(Path(srv.cfg.server.data_dir))
        wait_for(lambda: files.state().error != "", 60, "the refusal")
        assert files.current() is None  # nothing issued, nothing installed
        state = files.state()
        # a wildcard needs DNS-01, which we do not answer: said in so many words
        assert "offers no challenge we answer" in state.error and "dns-01" in state.error, \
            state.error
        assert state.failures == 1 and state.next_attempt > state.last_attempt
        # the listeners keep the certificate they had (the generated one)
        assert "pebble" not in presented(srv.port("imaps")).issuer.rfc4514_string().lower()
    finally:
        srv.stop()


def test_http01_path_answers_only_pending_tokens(setup: Setup) -> None:
    srv = setup.server("http-01", "acme.enabled=false")
    try:
        def get(path: str) -> tuple[int, str, bytes]:
            conn = http.client.HTTPConnection("127.0.0.1", srv.port("http"), timeout=10)
            conn.request("GET", path, headers={"Host": HOST})
            reply = conn.getresponse()
            out = reply.status, reply.getheader("Content-Type") or "", reply.read()
            conn.close()
            return out

        base = "/.well-known/acme-challenge/"
        assert get(base + "unknown")[0] == 404
        srv.call(_in_loop(lambda: srv.server.challenges.add_http("tok_1-x", "tok_1-x.th")))
        assert get(base + "tok_1-x") == (200, "application/octet-stream", b"tok_1-x.th")
        for bad in ("tok_1-x.th", "%2e%2e", "a" * 300):
            assert get(base + bad)[0] == 404, bad
        srv.call(_in_loop(lambda: srv.server.challenges.remove_http("tok_1-x")))
        assert get(base + "tok_1-x")[0] == 404
        assert get("/other")[0] == 308  # everything else still goes to HTTPS
        # switched on by a reload: a certificate is ordered and swapped in; switched off
        # again: the next reload brings the server's own certificate back
        data = Path(srv.cfg.server.data_dir)
        on = server_config(data, extra=setup.overrides("http-01"))
        srv.call(_in_loop(lambda: srv.server.reload(on)))
        wait_for(lambda: issued(srv), 60, "a certificate after the reload")
        wait_for(lambda: presented(srv.port("imaps")).serial_number == _leaf_serial(srv), 10)
        off = server_config(data, extra=setup.overrides("http-01", "acme.enabled=false"))
        srv.call(_in_loop(lambda: srv.server.reload(off)))
        assert presented(srv.port("imaps")).serial_number != _leaf_serial(srv)
    finally:
        srv.stop()


def test_cli_status_and_renew_through_the_running_server(setup: Setup,
                                                          tmp_path: Path) -> None:
    """``postroom serve`` as a process: it obtains a certificate at start; ``postroom acme
    renew --wait`` asks it (request file + SIGHUP) for a new one; ``acme status`` reports."""
    setup.dns.zone.add("mx.example.test", "A", "127.0.0.1")
    # TLS-ALPN-01 here: 'serve' runs on uvloop, whose TLS must call our callbacks too
    args = [w for o in setup.overrides("tls-alpn-01") for w in ("--set", o)]
    inst = Instance(tmp_path, "example.test", "127.0.0.1", free_port(("127.0.0.1",)),
                    setup.dns.port, extra=args)
    files = AcmeFiles(inst.data)
    inst.start()
    try:
        wait_for(lambda: _settled(files), 60, "a certificate at start")
        first = _serial(files)
        status = inst.cli("acme", "status")
        assert status.returncode == 0, status.stderr
        assert "mx.example.test" in status.stdout and "tls-alpn-01" in status.stdout
        renew = inst.cli("acme", "renew", "--wait", "60")
        assert renew.returncode == 0, renew.stdout + renew.stderr
        assert "renewed" in renew.stdout
        assert _serial(files) != first
        wait_for(lambda: presented(inst.ports["imaps"]).serial_number == _serial(files), 10)
        report = json.loads(inst.cli("acme", "status", "--json").stdout)
        assert report["enabled"] and report["state"]["error"] == ""
        assert "mx.example.test" in report["certificate"]["names"]
        # a restart uses the certificate it has, at once, and orders nothing
        attempts = files.state().last_attempt
        inst.stop()
        inst.start()
        assert presented(inst.ports["imaps"]).serial_number == _serial(files)
        time.sleep(1)
        assert files.state().last_attempt == attempts
    finally:
        inst.stop()


def test_cli_renew_without_a_running_server_says_why(tmp_path: Path) -> None:
    result = cli.run(tmp_path, "acme", "renew", "--set", "acme.enabled=true")
    assert result.returncode == 2 and "no server is running" in result.stderr
    result = cli.run(tmp_path, "acme", "renew")
    assert result.returncode == 2 and "acme.enabled" in result.stderr


def test_tls_alpn01_certificate(setup: Setup) -> None:
    srv = setup.server("tls-alpn-01")
    try:
        wait_for(lambda: issued(srv), 60, "a certificate from pebble")
        state = AcmeFiles(Path(srv.cfg.server.data_dir)).state()
        assert state.challenge == "tls-alpn-01" and state.error == ""
        _verify(trusting(setup.pebble), srv.port("https"))
        _verify(trusting(setup.pebble), srv.port("imaps"))
    finally:
        srv.stop()


def test_renewal_inside_the_window_then_a_failure_keeps_the_old_one(
        setup: Setup) -> None:
    srv = setup.server("http-01", "acme.check_interval=3600")
    files = AcmeFiles(Path(srv.cfg.server.data_dir))
    records: list[logging.LogRecord] = []
    handler = _Collect(records)
    logging.getLogger("postroom.acme").addHandler(handler)  # "postroom" does not propagate
    try:
        wait_for(lambda: issued(srv), 60, "a first certificate")
        first = _leaf_serial(srv)
        # pebble's certificates last years: a window longer than that makes it due
        new = server_config(Path(srv.cfg.server.data_dir), extra=setup.overrides(
            "http-01", "acme.check_interval=3600", "acme.renew_before_days=3650"))
        srv.call(_in_loop(lambda: srv.server.reload(new)))  # what SIGHUP runs
        wait_for(lambda: _leaf_serial(srv) != first, 60, "the renewal")
        second = _leaf_serial(srv)
        wait_for(lambda: presented(srv.port("imaps")).serial_number == second, 10)
        # now the names stop resolving: pebble cannot reach the challenge
        with setup.dns.zone.lock:
            saved = dict(setup.dns.zone.records)
            setup.dns.zone.records.clear()
        try:
            assert srv.server.acme is not None
            srv.call(_in_loop(srv.server.acme.wake))
            wait_for(lambda: files.state().error != "", 60, "the failure")
        finally:
            with setup.dns.zone.lock:
                setup.dns.zone.records.update(saved)
        state = files.state()
        assert state.failures >= 1 and state.next_attempt > state.last_attempt
        assert _leaf_serial(srv) == second  # the old certificate stays
        assert presented(srv.port("imaps")).serial_number == second
        assert any("could not obtain a certificate" in r.getMessage() and
                   "could not resolve" in str(getattr(r, "error", "")) for r in records)
    finally:
        logging.getLogger("postroom.acme").removeHandler(handler)
        srv.stop()


# -- helpers -----------------------------------------------------------------------------------

class _Collect(logging.Handler):
    def __init__(self, records: list[logging.LogRecord]) -> None:
        super().__init__(logging.WARNING)
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class Imaps(imaplib.IMAP4_SSL):
    """IMAPS to 127.0.0.1 that sends SNI and checks the certificate for ``host``."""

    def _create_socket(self, timeout: float | None) -> socket.socket:
        raw = socket.create_connection(("127.0.0.1", self.port), timeout)
        tls: socket.socket = self.ssl_context.wrap_socket(raw, server_hostname=self.host)
        return tls


class Smtps(smtplib.SMTP_SSL):
    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        raw = socket.create_connection(("127.0.0.1", port), timeout)
        return self.context.wrap_socket(raw, server_hostname=host)


def _insecure() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    return ctx


def _verify(ctx: ssl.SSLContext, port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
            ctx.wrap_socket(raw, server_hostname=HOST) as tls:
        assert tls.getpeercert()  # chain and host name verified


def _serial(files: AcmeFiles) -> int:
    live = files.current()
    assert live is not None
    return x509.load_pem_x509_certificates(live.path.read_bytes())[0].serial_number


def _leaf_serial(srv: RunningServer) -> int:
    live = AcmeFiles(Path(srv.cfg.server.data_dir)).current()
    assert live is not None
    return x509.load_pem_x509_certificates(live.path.read_bytes())[0].serial_number


async def _in_loop(fn: Callable[[], object]) -> None:
    """Run ``fn`` on the server's event loop (asyncio objects are not thread-safe)."""
    fn()
