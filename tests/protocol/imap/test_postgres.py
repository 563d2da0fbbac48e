"""The same IMAP server on PostgreSQL: the text index (pg_trgm), views, QRESYNC and IDLE go
through the other engine (DESIGN.md §6: the same protocol tests in both modes)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.protocol.imap.conftest import message
from tests.support import pg
from tests.support.imapclient import RawImap
from tests.support.server import RunningServer, server_config


@pytest.fixture(scope="module")
def pg_server(pg_admin_dsn: str, tmp_path_factory: pytest.TempPathFactory,
              ) -> Iterator[RunningServer]:
    data: Path = tmp_path_factory.mktemp("pgimap")
    with pg.database(pg_admin_dsn) as dsn:
        srv = RunningServer(server_config(data, "postgresql", dsn, extra=[
            'server.plaintext_auth_networks=["127.0.0.1/32"]']))
        yield srv
        srv.stop()


def test_session_on_postgresql(pg_server: RunningServer) -> None:
    user, password = pg_server.add_user()
    a, b = RawImap(pg_server.port("imap")), RawImap(pg_server.port("imap"))
    a.login(user, password)
    b.login(user, password)
    for i in range(5):
        a.append("INBOX", message(f"pg{i}", body=f"unique-{i}-word café\r\n"))
    b.ok("SELECT INBOX")
    b.send(b"I1 IDLE\r\n")
    assert b.line() == b"+ idling"
    a.append("INBOX", message("late", body="arrived during idle\r\n"))
    assert b.line() == b"* 6 EXISTS"
    b.send(b"DONE\r\n")
    b.response("I1")
    assert b.ok("SEARCH BODY unique-3-word")[-1] == b"* SEARCH 4"
    assert b.ok('SEARCH CHARSET UTF-8 TEXT "CAFÉ"')[-1] == b"* SEARCH 1 2 3 4 5"
    assert b.ok("SEARCH SUBJECT late")[-1] == b"* SEARCH 6"
    b.ok("STORE 2 +FLAGS.SILENT (\\Deleted)")
    assert b.ok("EXPUNGE") == [b"* 2 EXPUNGE"]
    assert b.ok("UID FETCH 1:* UID")[-1] == b"* 5 FETCH (UID 6)"
    assert b"BODY[TEXT] {21}\r\narrived during idle\r\n" in b"".join(b.ok("FETCH 5 BODY[TEXT]"))
