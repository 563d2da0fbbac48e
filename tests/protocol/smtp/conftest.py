"""One server with SMTP (MX, submission, submissions) and IMAP per test session (SQLite)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server import RunningServer, server_config


@pytest.fixture(scope="session")
def smtp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    data: Path = tmp_path_factory.mktemp("smtp")
    srv = RunningServer(server_config(data, extra=[
        "smtp.mx.enabled=true", "smtp.mx.port=0", "smtp.submission.enabled=true",
        "smtp.submission.port=0", "smtp.submissions.enabled=true", "smtp.submissions.port=0",
        "limits.auth_failures_per_ip=1000", "limits.max_message_size=200000",
        # a resolver that never answers: remote mail stays queued (deferred), never leaves
        "smtp.outbound.dns_servers=[\"127.0.0.1:9\"]"]))
    # postmaster must exist for <Postmaster> (RFC 5321 §4.5.1)
    srv.call(srv.services.directory.add_account("postmaster@example.test", "pw-postmaster-1"))
    yield srv
    srv.stop()
