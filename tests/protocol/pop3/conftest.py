"""One server with POP3 (110 with STLS, 995) and IMAP per test session (SQLite)."""

from __future__ import annotations

import poplib
from collections.abc import Iterator
from pathlib import Path

import pytest

from postroom.core.principal import Principal
from tests.support.lineclient import LineClient
from tests.support.server import RunningServer, server_config
from tests.support.tls import insecure_context

POP3_EXTRA = ["pop3.pop3.enabled=true", "pop3.pop3.port=0", "pop3.pop3s.enabled=true",
              "pop3.pop3s.port=0", "pop3.apop=true", "limits.auth_failures_per_ip=1000",
              "limits.max_line_length=1024"]


@pytest.fixture(scope="session")
def pop_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    data: Path = tmp_path_factory.mktemp("pop3")
    srv = RunningServer(server_config(data, extra=POP3_EXTRA))
    yield srv
    srv.stop()


@pytest.fixture
def user(pop_server: RunningServer) -> tuple[str, str]:
    return pop_server.add_user()


def message(subject: str = "Hello", body: str = "Hello there\r\n") -> bytes:
    return (f"From: Alice <alice@example.org>\r\nTo: Bob <bob@example.test>\r\n"
            f"Subject: {subject}\r\nMessage-ID: <{subject}@x>\r\n\r\n{body}").encode()


def deliver(srv: RunningServer, address: str, *messages: bytes) -> list[int]:
    """Put messages into the account's INBOX the way IMAP APPEND does; return their UIDs."""
    async def run() -> list[int]:
        account = await srv.services.store.directory.get_account(address)
        assert account is not None
        principal: Principal = await srv.services.directory.principal_for(account)
        result = await srv.services.messages.append(principal, "INBOX",
                                                    [(m, [], None) for m in messages])
        return list(result.uids)
    return srv.call(run())


def pop_tls(srv: RunningServer, address: str, password: str) -> poplib.POP3:
    """A poplib session on 110, upgraded with STLS and logged in with USER/PASS."""
    client = poplib.POP3("127.0.0.1", srv.port("pop3"), timeout=10)
    client.stls(insecure_context())
    client.user(address)
    client.pass_(password)
    return client


class RawPop(LineClient):
    """Line-level POP3 for the paths poplib cannot take (bad input, AUTH, pipelining)."""

    def __init__(self, port: int, *, implicit_tls: bool = False) -> None:
        super().__init__(port, tls=implicit_tls, timeout=10)

    def cmd(self, text: str | bytes) -> bytes:
        self.send((text.encode() if isinstance(text, str) else text) + b"\r\n")
        return self.line()

    def multi(self) -> list[bytes]:
        out = []
        while (line := self.line()) != b".":
            out.append(line)
        return out

    def starttls(self) -> None:
        assert self.cmd("STLS").startswith(b"+OK")
        self.upgrade()
