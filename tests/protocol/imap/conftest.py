"""One IMAP server per test session (SQLite); each test makes its own accounts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.imapclient import RawImap
from tests.support.server import RunningServer, server_config


@pytest.fixture(scope="session")
def imap_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    data: Path = tmp_path_factory.mktemp("imap")
    srv = RunningServer(server_config(
        data, extra=['server.plaintext_auth_networks=["127.0.0.1/32"]',
                     "limits.auth_failures_per_ip=1000"]))
    yield srv
    srv.stop()


@pytest.fixture
def user(imap_server: RunningServer) -> tuple[str, str]:
    return imap_server.add_user()


@pytest.fixture
def client(imap_server: RunningServer, user: tuple[str, str]) -> Iterator[RawImap]:
    c = RawImap(imap_server.port("imap"))
    c.login(*user)
    yield c
    c.close()


def message(subject: str = "Hello", body: str = "Hello there\r\n", sender: str =
            "Alice <alice@example.org>", extra: str = "") -> bytes:
    return (f"From: {sender}\r\nTo: Bob <bob@example.test>\r\nSubject: {subject}\r\n"
            f"Date: Mon, 7 Feb 1994 21:52:25 -0800\r\nMessage-ID: <{subject}@x>\r\n{extra}"
            f"\r\n{body}").encode()
