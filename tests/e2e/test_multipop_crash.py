"""A collector killed (SIGKILL) mid-download and restarted neither loses nor duplicates a
message (issue 6). The collector is a real ``postroom serve`` running MultiPOP on its own
schedule; the remote mailbox is a second Postroom's POP3, in delete-on-collect mode so that the
remote deletions are at stake too."""

from __future__ import annotations

import signal
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_multipop import mail
from tests.protocol.pop3.conftest import POP3_EXTRA, deliver
from tests.support.mailhost import Instance, free_port
from tests.support.server import RunningServer, server_config
from tests.support.tls import insecure_context

COUNT = 400
PAD = "x" * 76 + "\r\n"


@pytest.fixture
def source(tmp_path: Path) -> Iterator[RunningServer]:
    srv = RunningServer(server_config(tmp_path / "source", extra=POP3_EXTRA))
    yield srv
    srv.stop()


def seen_rows(db: Path) -> int:
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            row = con.execute("SELECT count(*) FROM multipop_seen").fetchone()
        finally:
            con.close()
    except sqlite3.OperationalError:
        return 0
    return int(row[0])


def inbox_ids(port: int, address: str, password: str) -> list[str]:
    import imaplib
    import re
    m = imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=insecure_context())
    m.login(address, password)
    count = int(m.select("INBOX", readonly=True)[1][0] or 0)
    ids = []
    if count:
        _, data = m.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
        for item in data:
            if isinstance(item, tuple):
                found = re.search(rb"<([^>]+)>", item[1])
                assert found is not None
                ids.append(found.group(1).decode())
    m.logout()
    return ids


@pytest.mark.slow
def test_collector_killed_mid_download(source: RunningServer, tmp_path: Path) -> None:
    remote, remote_pw = source.add_user("far")
    big = [mail("crash", i).replace(b"body", PAD.encode() * 250 + b"body")
           for i in range(COUNT)]
    for start in range(0, COUNT, 100):
        deliver(source, remote, *big[start:start + 100])
    node = Instance(tmp_path, "collector.test", "127.0.0.1", free_port(("127.0.0.1",)), 9,
                    extra=["--set", "multipop.check_every=1"])
    db = node.data / "postroom.db"
    kills = []
    try:
        node.start()  # the first start creates the domain
        local, local_pw = node.add_user("near")
        result = node.cli("multipop", "add", local, "--host", "127.0.0.1", "--port",
                          str(source.port("pop3s")), "--no-verify-tls", "--user", remote,
                          "--interval", "60", "--password-stdin", stdin=remote_pw + "\n")
        assert result.returncode == 0, result.stderr
        for i, threshold in enumerate((60, 200)):
            if i:
                node.start()
            deadline = time.monotonic() + 60
            while seen_rows(db) < threshold:
                assert time.monotonic() < deadline, "collection did not progress"
                time.sleep(0.02)
            node.stop(signal.SIGKILL)
            kills.append(seen_rows(db))
        assert kills[0] < COUNT and kills[1] < COUNT, kills  # killed mid-download both times
        node.start()
        deadline = time.monotonic() + 120
        while True:
            ids = inbox_ids(node.ports["imaps"], local, local_pw)
            remaining = source.call(source.services.store.mailboxes.by_name(
                source.call(source.services.store.directory.get_account(remote)).id,
                "INBOX")).message_count
            if len(ids) >= COUNT and remaining == 0:
                break
            assert time.monotonic() < deadline, (len(ids), remaining)
            time.sleep(0.5)
        time.sleep(2)  # anything extra would show up now
        ids = inbox_ids(node.ports["imaps"], local, local_pw)
        assert len(ids) == COUNT, f"{len(ids)} delivered for {COUNT} (kills at {kills})"
        assert sorted(ids) == sorted(f"crash-{i}@multipop.test" for i in range(COUNT))
        shown = node.cli("multipop", "show", local, "--json")
        assert '"last_error": ""' in shown.stdout, shown.stdout
    finally:
        node.stop()
