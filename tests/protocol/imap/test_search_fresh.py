"""SEARCH finds mail delivered a moment ago, before the full-text indexer has run (issue 20).

Delivery no longer adds a message's trigrams to the search index (store/repo/text.py); the
indexer (services/indexer.py) does it later in batches. These tests keep the indexer from
running (``store.index_delay`` of an hour) and search a mailbox big enough to use the index,
so the answer can only come from SEARCH reading the unindexed text itself.
"""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from pathlib import Path

import pytest

from postroom.core.principal import Principal
from postroom.store.repo import text
from postroom.store.repo.text import SCAN_LIMIT
from tests.protocol.imap.conftest import message
from tests.support.imapclient import RawImap
from tests.support.server import RunningServer, server_config


@pytest.fixture(scope="module")
def lazy_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    data: Path = tmp_path_factory.mktemp("lazy-index")
    srv = RunningServer(server_config(data, extra=[
        'server.plaintext_auth_networks=["127.0.0.1/32"]', "smtp.mx.enabled=true",
        "smtp.mx.port=0", "store.index_delay=3600"]))
    yield srv
    srv.stop()


def _pending(srv: RunningServer) -> bool:
    return srv.call(srv.services.store.engine.read(text.has_pending))


def _big_inbox(srv: RunningServer, user: tuple[str, str]) -> None:
    """More messages than SEARCH reads row by row, so it goes through the index."""
    async def fill() -> None:
        s = srv.services
        account = await s.store.directory.get_account(user[0])
        assert account is not None
        who = Principal.operator_as(account.id, account.address, account.domain_id)
        handle = await s.mailboxes.open(who, "INBOX")
        m = await s.messages.prepare(message("filler", "nothing to see here\r\n"))
        await s.messages.append_prepared(who, handle, [m] * (SCAN_LIMIT + 1))
        await s.indexer.run_once()
    srv.call(fill())


def test_smtp_delivery_is_found_before_the_indexer_runs(lazy_server: RunningServer) -> None:
    user = lazy_server.add_user("fresh")
    _big_inbox(lazy_server, user)
    assert not _pending(lazy_server)
    with smtplib.SMTP("127.0.0.1", lazy_server.port("smtp")) as s:
        s.sendmail("a@example.net", [user[0]],
                   message("news", "the word is zanzibarian today\r\n"))
    assert _pending(lazy_server)  # delivered, not in the index yet
    c = RawImap(lazy_server.port("imap"))
    try:
        c.login(*user)
        c.ok("SELECT INBOX")
        want = b"* SEARCH %d" % (SCAN_LIMIT + 2)
        assert want in c.ok("SEARCH TEXT zanzibarian")
        assert want in c.ok("SEARCH BODY ZANZIBARIAN")
        assert c.ok("SEARCH BODY zanzibarianx") == [b"* SEARCH"]
        assert lazy_server.call(lazy_server.services.indexer.run_once()) == 1
        assert not _pending(lazy_server)
        assert want in c.ok("SEARCH TEXT zanzibarian")  # now from the index, still once
    finally:
        c.close()


def test_imap_append_is_found_before_the_indexer_runs(lazy_server: RunningServer) -> None:
    user = lazy_server.add_user("appender")
    _big_inbox(lazy_server, user)
    c = RawImap(lazy_server.port("imap"))
    try:
        c.login(*user)
        c.append("INBOX", message("appended", "a quokkaesque remark\r\n"))
        assert _pending(lazy_server)
        c.ok("SELECT INBOX")
        assert b"* SEARCH %d" % (SCAN_LIMIT + 2) in c.ok("SEARCH BODY quokkaesque")
    finally:
        c.close()


def test_collecting_an_unindexed_blob_keeps_the_index_whole(lazy_server: RunningServer,
                                                            ) -> None:
    """An FTS5 'delete' for a row it never indexed corrupts the index; garbage collection of
    a message expunged before the indexer reached it must not issue one."""
    user = lazy_server.add_user("gone")
    c = RawImap(lazy_server.port("imap"))
    try:
        c.login(*user)
        c.append("INBOX", message("short-lived", "ephemeral words\r\n"))
        c.ok("SELECT INBOX")
        c.ok("STORE 1 +FLAGS (\\Deleted)")
        c.ok("EXPUNGE")
    finally:
        c.close()
    store = lazy_server.services.store
    assert lazy_server.call(store.collect_garbage(grace=0)) >= 1

    def check(tx: text.Tx) -> None:
        # rank = 1: compare the index with its content table, row by row (SQLite FTS5)
        tx.execute("INSERT INTO blob_fts (blob_fts, rank) VALUES ('integrity-check', 1)")
    lazy_server.call(lazy_server.services.indexer.run_once())  # content and index agree now
    lazy_server.call(store.engine.write(check))
