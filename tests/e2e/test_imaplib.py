"""Python's imaplib as a real client: STARTTLS on 143 and implicit TLS on 993, with the
server's default policy (no plaintext passwords anywhere)."""

from __future__ import annotations

import imaplib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server import RunningServer, server_config
from tests.support.tls import insecure_context


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    data: Path = tmp_path_factory.mktemp("imaplib")
    srv = RunningServer(server_config(data))
    yield srv
    srv.stop()



def _session(c: imaplib.IMAP4, user: str, password: str) -> None:
    assert c.login(user, password)[0] == "OK"
    assert c.append("INBOX", "(\\Flagged)", None, b"Subject: via imaplib\r\n\r\nhi\r\n")[0] == "OK"
    typ, data = c.select("INBOX")
    assert typ == "OK" and data == [b"1"]
    typ, data = c.fetch("1", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert typ == "OK" and b"Subject: via imaplib" in data[0][1]  # type: ignore[index]
    assert c.search(None, "SUBJECT", "imaplib") == ("OK", [b"1"])
    assert c.store("1", "+FLAGS", "\\Deleted")[0] == "OK"
    assert c.expunge() == ("OK", [b"1"])
    assert c.logout()[0] == "BYE"


def test_starttls_143(server: RunningServer) -> None:
    user, password = server.add_user()
    c = imaplib.IMAP4("127.0.0.1", server.port("imap"))
    assert "LOGINDISABLED" in c.capabilities
    with pytest.raises(imaplib.IMAP4.error):
        c.login(user, password)
    c.starttls(insecure_context())
    _session(c, user, password)


def test_implicit_tls_993(server: RunningServer) -> None:
    user, password = server.add_user()
    _session(imaplib.IMAP4_SSL("127.0.0.1", server.port("imaps"), ssl_context=insecure_context()),
             user, password)
