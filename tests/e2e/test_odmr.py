"""ODMR end to end (issue 7): Debian's fetchmail, in ODMR mode, collects a gateway domain's
held mail from Postroom's ODMR port and pipes it into a second Postroom's SMTP listener; and
Postroom's own customer side (``postroom atrn``) collects from a provider Postroom, by the CLI
and by the in-server schedule."""

from __future__ import annotations

import os
import secrets
import shutil
import smtplib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server import RunningServer, run_cli, server_config, wait_for

CUSTOMER_DOMAIN = "customer.test"




@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """Holds mail for customer.test (a gateway domain) and serves ODMR."""
    srv = RunningServer(server_config(tmp_path_factory.mktemp("provider"), extra=[
        "smtp.mx.enabled=true", "smtp.mx.port=0", "odmr.enabled=true", "odmr.port=0",
        "odmr.auth_without_tls=true", "multipop.enabled=false",
        "smtp.outbound.dns_servers=[\"127.0.0.1:9\"]"]))
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def customer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """Owns customer.test; its scheduled ATRN collection is off (tests run it by CLI)."""
    srv = RunningServer(server_config(tmp_path_factory.mktemp("customer"), extra=[
        "smtp.mx.enabled=true", "smtp.mx.port=0", "odmr.collect=false",
        "multipop.enabled=false"]))
    srv.call(srv.services.directory.add_domain(CUSTOMER_DOMAIN))
    yield srv
    srv.stop()


class Setup:
    def __init__(self, provider: RunningServer, customer: RunningServer) -> None:
        self.provider, self.customer = provider, customer
        tag = secrets.token_hex(3)
        self.locals = [f"u{tag}{i}" for i in range(3)]
        for local in self.locals:
            account = customer.call(customer.services.directory.add_account(
                f"{local}@{CUSTOMER_DOMAIN}", "pw-" + secrets.token_hex(6)))
            customer.call(customer.services.mailboxes.ensure_defaults(account.id,
                                                                      account.domain_id))
        self.user, self.password = provider.add_user("atrn")
        self.secret = "cram-" + secrets.token_hex(8)

    def send(self, count: int, tag: str) -> None:
        with smtplib.SMTP("127.0.0.1", self.provider.port("smtp"), timeout=30) as s:
            for i in range(count):
                rcpt = f"{self.locals[i % len(self.locals)]}@{CUSTOMER_DOMAIN}"
                s.sendmail("far@example.org", [rcpt],
                           f"From: far@example.org\r\nTo: {rcpt}\r\nSubject: {tag} {i}\r\n"
                           f"Message-ID: <{tag}-{i}@odmr.test>\r\n\r\nbody {i}\r\n"
                           ".a dot line\r\n")

    def held(self) -> int:
        rows = self.provider.call(self.provider.services.store.queue.list())
        return sum(1 for r in rows if r.hold_domain == CUSTOMER_DOMAIN)

    def delivered(self, tag: str) -> list[str]:
        async def run() -> list[str]:
            out = []
            store = self.customer.services.store
            for local in self.locals:
                account = await store.directory.get_account(f"{local}@{CUSTOMER_DOMAIN}")
                assert account is not None
                box = await store.mailboxes.by_name(account.id, "INBOX")
                assert box is not None
                uids = await store.queries.uids(box.id)
                for rec in await store.messages.get_many(box.id, uids):
                    data = await self.customer.services.messages.read_record(rec)
                    for line in data.split(b"\r\n"):
                        if line.startswith(b"Message-ID: <" + tag.encode()):
                            out.append(line.decode()[13:-1])
            return sorted(out)
        return self.customer.call(run())


@pytest.fixture(scope="module")
def setup(provider: RunningServer, customer: RunningServer) -> Setup:
    s = Setup(provider, customer)
    run_cli(provider, "gateway", "add", CUSTOMER_DOMAIN, "--atrn-user", s.user)
    run_cli(provider, "user", "challenge-secret", s.user, "--password-stdin",
            stdin=s.secret + "\n")
    out = run_cli(provider, "gateway", "show", CUSTOMER_DOMAIN)
    assert "hold for ATRN" in out and s.user in out
    return s


def expected(tag: str, count: int) -> list[str]:
    return sorted(f"{tag}-{i}@odmr.test" for i in range(count))


@pytest.mark.skipif(shutil.which("fetchmail") is None,
                    reason="fetchmail is not installed (make test-deps)")
def test_fetchmail_collects_held_mail_by_atrn(setup: Setup, tmp_path: Path) -> None:
    setup.send(40, "fm")
    assert setup.held() == 40
    rc = tmp_path / "fetchmailrc"
    rc.write_text(
        "set no syslog\n"
        f"poll 127.0.0.1 service {setup.provider.port('odmr')} protocol ODMR timeout 60\n"
        f'  user "{setup.user}" there with password "{setup.secret}"\n'
        f"  fetchdomains {CUSTOMER_DOMAIN}\n"
        f"  smtphost 127.0.0.1/{setup.customer.port('smtp')}\n")
    rc.chmod(0o600)
    proc = subprocess.run(["fetchmail", "--nodetach", "-v", "-f", str(rc), "--pidfile",
                           str(tmp_path / "pid")],
                          env={**os.environ, "HOME": str(tmp_path)}, capture_output=True,
                          text=True, timeout=300)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log
    assert "Turnaround now" in log
    wait_for(lambda: setup.delivered("fm") == expected("fm", 40))
    wait_for(lambda: setup.held() == 0)
    # nothing left: a second run is told "no mail" (453), which fetchmail counts as success
    again = subprocess.run(["fetchmail", "--nodetach", "-v", "-f", str(rc), "--pidfile",
                            str(tmp_path / "pid")],
                           env={**os.environ, "HOME": str(tmp_path)}, capture_output=True,
                           text=True, timeout=120)
    assert "no mail" in (again.stdout + again.stderr).lower()


def test_postroom_customer_collects_over_starttls(setup: Setup) -> None:
    setup.send(25, "tls")
    run_cli(setup.customer, "atrn", "add", "provider-tls", "--host", "127.0.0.1", "--port",
            str(setup.provider.port("odmr")), "--user", setup.user, "--password-stdin",
            "--domain", CUSTOMER_DOMAIN, "--no-verify-tls", stdin=setup.password + "\n")
    out = run_cli(setup.customer, "atrn", "run-now", "provider-tls")
    assert "25" in out and "ok" in out, out
    wait_for(lambda: setup.delivered("tls") == expected("tls", 25))
    assert setup.held() == 0
    show = run_cli(setup.customer, "atrn", "show", "provider-tls")
    assert "last_received" in show and "never" not in show.split("last_success")[1][:30]
    # a second run finds nothing waiting (453) and is still a success
    out = run_cli(setup.customer, "atrn", "run-now", "provider-tls")
    assert " 0 " in out and "ok" in out, out


def test_postroom_customer_without_tls_uses_cram_md5(setup: Setup) -> None:
    setup.send(5, "cram")
    run_cli(setup.customer, "atrn", "add", "provider-cram", "--host", "127.0.0.1", "--port",
            str(setup.provider.port("odmr")), "--user", setup.user, "--password-stdin",
            "--tls", "none", stdin=setup.secret + "\n")  # no --domain: all of this login's
    out = run_cli(setup.customer, "atrn", "run-now", "provider-cram")
    assert "ok" in out, out
    wait_for(lambda: setup.delivered("cram") == expected("cram", 5))


def test_customer_records_a_refused_login(setup: Setup) -> None:
    run_cli(setup.customer, "atrn", "add", "provider-bad", "--host", "127.0.0.1", "--port",
            str(setup.provider.port("odmr")), "--user", setup.user, "--password-stdin",
            "--no-verify-tls", stdin="wrong-password\n")
    out = run_cli(setup.customer, "atrn", "run-now", "provider-bad", ok=False)
    assert "refused our login" in out and "535" in out
    show = run_cli(setup.customer, "atrn", "show", "provider-bad")
    assert "failures_in_a_row  1" in show
    # a certificate that cannot be verified is refused unless the admin says otherwise
    run_cli(setup.customer, "atrn", "set", "provider-bad", "--verify-tls", "--password-stdin",
            stdin=setup.password + "\n")
    out = run_cli(setup.customer, "atrn", "run-now", "provider-bad", ok=False)
    assert "certificate" in out.lower(), out
    run_cli(setup.customer, "atrn", "remove", "provider-bad")


def test_scheduled_collection_in_the_server(setup: Setup,
                                            tmp_path_factory: pytest.TempPathFactory) -> None:
    """A customer server with the in-server schedule collects on its own."""
    srv = RunningServer(server_config(tmp_path_factory.mktemp("customer2"), extra=[
        "smtp.mx.enabled=true", "smtp.mx.port=0", "odmr.check_every=1",
        "multipop.enabled=false"]))
    try:
        srv.call(srv.services.directory.add_domain("sched.test"))
        account = srv.call(srv.services.directory.add_account("box@sched.test", "pw-x-123456"))
        srv.call(srv.services.mailboxes.ensure_defaults(account.id, account.domain_id))
        run_cli(setup.provider, "gateway", "add", "sched.test", "--atrn-user", setup.user)
        with smtplib.SMTP("127.0.0.1", setup.provider.port("smtp")) as s:
            for i in range(3):
                s.sendmail("far@example.org", ["box@sched.test"], f"Subject: s{i}\r\n\r\nx\r\n")
        run_cli(srv, "atrn", "add", "sched", "--host", "127.0.0.1", "--port",
                str(setup.provider.port("odmr")), "--user", setup.user, "--password-stdin",
                "--domain", "sched.test", "--no-verify-tls", "--interval", "30",
                stdin=setup.password + "\n")

        async def count() -> int:
            box = await srv.services.store.mailboxes.by_name(account.id, "INBOX")
            assert box is not None
            rec = await srv.services.store.mailboxes.get(box.id)
            return rec.message_count if rec else 0
        wait_for(lambda: srv.call(count()) == 3)
    finally:
        srv.stop()
