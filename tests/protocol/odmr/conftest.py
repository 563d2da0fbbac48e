"""A server with SMTP MX, ODMR (366 role, kernel-chosen port) and IMAP, per test session."""

from __future__ import annotations

import secrets
import smtplib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.odmr import OdmrClient
from tests.support.server import RunningServer, server_config

ODMR_EXTRA = ["smtp.mx.enabled=true", "smtp.mx.port=0", "odmr.enabled=true", "odmr.port=0",
              "odmr.auth_without_tls=true", "limits.auth_failures_per_ip=1000",
              "smtp.outbound.dns_servers=[\"127.0.0.1:9\"]", "odmr.timeout=10",
              "multipop.enabled=false"]


@pytest.fixture(scope="session")
def odmr_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    data: Path = tmp_path_factory.mktemp("odmr")
    srv = RunningServer(server_config(data, extra=ODMR_EXTRA))
    yield srv
    srv.stop()


class Gateway:
    """A fresh gateway domain with one ATRN account (password and CRAM-MD5 secret)."""

    def __init__(self, srv: RunningServer, **options: object) -> None:
        self.srv = srv
        self.domain = f"gw{secrets.token_hex(4)}.test"
        self.user, self.password = srv.add_user("atrn")
        self.secret = "cram-" + secrets.token_hex(8)
        srv.call(srv.services.directory.set_apop_secret(self.user, self.secret))
        srv.call(srv.services.gateways.add(self.domain, atrn_users=[self.user],
                                           **options))  # type: ignore[arg-type]

    def send(self, *locals_: str, subject: str = "held") -> None:
        msg = (f"From: a@example.org\r\nTo: x@{self.domain}\r\nSubject: {subject}\r\n\r\n"
               f"body of {subject}\r\n.leading dot\r\n")
        with smtplib.SMTP("127.0.0.1", self.srv.port("smtp"), timeout=20) as s:
            s.sendmail("a@example.org", [f"{x}@{self.domain}" for x in locals_], msg)

    def queued(self) -> list[tuple[str, tuple[str, ...]]]:
        rows = self.srv.call(self.srv.services.store.queue.list())
        return [(r.state, r.recipients) for r in rows if r.hold_domain == self.domain]

    def connect(self) -> OdmrClient:
        c = OdmrClient(self.srv.port("odmr"))
        code, _ = c.cmd("EHLO customer.test")
        assert code == 250
        return c

    def login(self) -> OdmrClient:
        c = self.connect()
        assert c.cram_md5(self.user, self.secret) == 235
        return c


@pytest.fixture
def gateway(odmr_server: RunningServer) -> Gateway:
    return Gateway(odmr_server)
