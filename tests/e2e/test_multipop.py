"""MultiPOP end to end: a Postroom collects from a second Postroom's POP3 and from a private
Dovecot POP3 (Debian's dovecot-pop3d), through the real CLI (issue 6).

Exactly once is checked by Message-ID on the collecting side; leave-on-server and
delete-after-days by what the remote mailbox still holds. The crash test (a collector killed
mid-download) is in test_multipop_crash.py.
"""

from __future__ import annotations

import imaplib
import json
import re
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.protocol.pop3.conftest import POP3_EXTRA, deliver
from tests.support import cli
from tests.support.server import RunningServer, run_cli, server_config
from tests.support.tls import insecure_context


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """The remote side: a Postroom with POP3 on 110 (STLS) and 995."""
    srv = RunningServer(server_config(tmp_path_factory.mktemp("source"), extra=POP3_EXTRA))
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """The collecting side. Its in-server collector is off so that each run is the CLI's
    ``run-now`` and the test knows when it ends; its queue delivers what was collected."""
    srv = RunningServer(server_config(tmp_path_factory.mktemp("collector"), extra=[
        "multipop.enabled=false", "imap.imaps.port=0"]))
    yield srv
    srv.stop()


def data_dir(srv: RunningServer) -> Path:
    return Path(srv.cfg.server.data_dir)



def mail(tag: str, n: int) -> bytes:
    return (f"From: far@example.org\r\nTo: someone@example.test\r\nSubject: {tag} {n}\r\n"
            f"Message-ID: <{tag}-{n}@multipop.test>\r\n\r\nbody {n}\r\n.dot line\r\n").encode()


def message_ids(srv: RunningServer, address: str, password: str, folder: str = "INBOX",
                ) -> list[str]:
    m = imaplib.IMAP4_SSL("127.0.0.1", srv.port("imaps"), ssl_context=insecure_context())
    m.login(address, password)
    m.select(folder, readonly=True)
    _, data = m.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])") if int(
        m.select(folder, readonly=True)[1][0] or 0) else ("OK", [])
    m.logout()
    out = []
    for item in data:
        if isinstance(item, tuple):
            found = re.search(rb"<([^>]+)>", item[1])
            assert found is not None
            out.append(found.group(1).decode())
    return out


def wait_count(srv: RunningServer, address: str, password: str, count: int,
               folder: str = "INBOX", timeout: float = 30) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        ids = message_ids(srv, address, password, folder)
        if len(ids) >= count or time.monotonic() > deadline:
            return ids
        time.sleep(0.3)


def inbox_count(srv: RunningServer, address: str) -> int:
    account = srv.call(srv.services.store.directory.get_account(address))
    box = srv.call(srv.services.store.mailboxes.by_name(account.id, "INBOX"))
    return int(box.message_count)


def run_now(srv: RunningServer, address: str, remote_id: int, ok: bool = True,
            ) -> dict[str, object]:
    result = cli.run(data_dir(srv), "multipop", "run-now", address, str(remote_id), "--json")
    assert (result.returncode == 0) == ok, result.stdout + result.stderr
    rows = json.loads(result.stdout)
    assert len(rows) == 1
    return dict(rows[0])


def add_remote(srv: RunningServer, local: str, *args: str, password: str) -> int:
    out = run_cli(srv, "multipop", "add", local, *args, "--password-stdin",
                  stdin=password + "\n")
    found = re.search(r"remote account (\d+) added", out)
    assert found, out
    return int(found.group(1))


def test_leave_on_server_then_delete_after_days(source: RunningServer, collector: RunningServer,
                                                ) -> None:
    remote_addr, remote_pw = source.add_user("far")
    local, local_pw = collector.add_user("near")
    deliver(source, remote_addr, *(mail("keep", i) for i in range(20)))
    rid = add_remote(collector, local, "--host", "127.0.0.1", "--port",
                     str(source.port("pop3s")), "--no-verify-tls", "--user", remote_addr,
                     "--leave-on-server", "--interval", "300", password=remote_pw)
    first = run_now(collector, local, rid)
    assert (first["fetched"], first["deleted"], first["status"]) == (20, 0, "ok")
    ids = wait_count(collector, local, local_pw, 20)
    assert sorted(ids) == sorted(f"keep-{i}@multipop.test" for i in range(20))
    assert inbox_count(source, remote_addr) == 20  # left on the server

    assert run_now(collector, local, rid)["fetched"] == 0  # nothing twice
    deliver(source, remote_addr, *(mail("keep", i) for i in range(20, 25)))
    assert run_now(collector, local, rid)["fetched"] == 5  # only the new ones
    ids = wait_count(collector, local, local_pw, 25)
    time.sleep(1)
    ids = message_ids(collector, local, local_pw)
    assert sorted(ids) == sorted(f"keep-{i}@multipop.test" for i in range(25))

    # delete after 2 days: nothing is that old yet
    run_cli(collector, "multipop", "set", local, str(rid), "--delete-after-days", "2")
    assert run_now(collector, local, rid)["deleted"] == 0
    assert inbox_count(source, remote_addr) == 25
    # three days pass for the first 20 (the clock is the store's record of first sight)
    db = sqlite3.connect(data_dir(collector) / "postroom.db")
    with db:
        db.execute("UPDATE multipop_seen SET first_seen = first_seen - 3 * 86400 "
                   "WHERE remote_id = ? AND uidl IN (SELECT uidl FROM multipop_seen "
                   "WHERE remote_id = ? ORDER BY first_seen, uidl LIMIT 20)", (rid, rid))
    db.close()
    result = run_now(collector, local, rid)
    assert (result["fetched"], result["deleted"]) == (0, 20)
    assert inbox_count(source, remote_addr) == 5
    assert len(message_ids(collector, local, local_pw)) == 25  # and nothing came twice

    shown = json.loads(run_cli(collector, "multipop", "show", local, "--json"))
    assert shown[0]["last_error"] == "" and shown[0]["last_success"] != "never"
    assert shown[0]["leave_on_server"] == "2 days"


def test_stls_delete_on_collect_into_a_folder(source: RunningServer,
                                              collector: RunningServer) -> None:
    remote_addr, remote_pw = source.add_user("far")
    local, local_pw = collector.add_user("near")
    deliver(source, remote_addr, *(mail("move", i) for i in range(10)))
    rid = add_remote(collector, local, "--host", "127.0.0.1", "--port",
                     str(source.port("pop3")), "--tls", "starttls", "--no-verify-tls",
                     "--user", remote_addr, "--folder", "Archive", password=remote_pw)
    result = run_now(collector, local, rid)
    assert (result["fetched"], result["deleted"]) == (10, 10)
    assert inbox_count(source, remote_addr) == 0
    ids = wait_count(collector, local, local_pw, 10, folder="Archive")
    assert sorted(ids) == sorted(f"move-{i}@multipop.test" for i in range(10))
    assert message_ids(collector, local, local_pw) == []  # not in INBOX
    assert run_now(collector, local, rid)["fetched"] == 0


def test_failures_are_shown_and_back_off(source: RunningServer,
                                         collector: RunningServer) -> None:
    remote_addr, _ = source.add_user("far")
    local, _ = collector.add_user("near")
    rid = add_remote(collector, local, "--host", "127.0.0.1", "--port",
                     str(source.port("pop3s")), "--no-verify-tls", "--user", remote_addr,
                     "--interval", "120", password="wrong-password")
    result = run_now(collector, local, rid, ok=False)
    assert "Authentication failed" in str(result["status"])
    [shown] = json.loads(run_cli(collector, "multipop", "show", local, str(rid), "--json"))
    assert "Authentication failed" in shown["last_error"]
    assert shown["failures_in_a_row"] == 1 and shown["last_success"] == "never"
    rec = collector.call(collector.services.store.multipop.get(rid))
    assert rec.next_run >= time.time() + 200  # 120 s × 2 for the first failure
    # a second failure waits longer; the password fix clears it after a success
    run_now(collector, local, rid, ok=False)
    rec2 = collector.call(collector.services.store.multipop.get(rid))
    assert rec2.failures == 2 and rec2.next_run > rec.next_run
    # TLS verification is on by default: a self-signed certificate is refused
    rid2 = add_remote(collector, local, "--host", "127.0.0.1", "--port",
                      str(source.port("pop3s")), "--user", "other@example.test",
                      password="x")
    assert "certificate" in str(run_now(collector, local, rid2, ok=False)["status"]).lower()
    # nothing listens there
    rid3 = add_remote(collector, local, "--host", "127.0.0.1", "--port", "9", "--tls", "none",
                      "--user", "u", password="x")
    assert "cannot connect" in str(run_now(collector, local, rid3, ok=False)["status"])


def test_cli_refuses_bad_settings(source: RunningServer, collector: RunningServer) -> None:
    local, _ = collector.add_user("near")
    base = ["multipop", "add", local, "--host", "pop.example.org", "--user", "u",
            "--password", "p"]
    for extra, words in ((["--interval", "5"], "interval"),
                         (["--folder", "No/Such"], "does not exist"),
                         (["--tls", "sometimes"], "invalid choice"),
                         (["--port", "70000"], "port")):
        out = run_cli(collector, *base, *extra, ok=False)
        assert words in out, out
    assert "no account" in run_cli(collector, "multipop", "add", "ghost@example.test",
                                   *base[3:], ok=False)
    run_cli(collector, *base)
    assert "already collects" in run_cli(collector, *base, ok=False)
    assert "has no remote account 999" in run_cli(collector, "multipop", "remove", local,
                                                  "999", ok=False)
    listed = json.loads(run_cli(collector, "multipop", "list", local, "--json"))
    assert [r["remote"] for r in listed] == ["u@pop.example.org:995"]
    run_cli(collector, "multipop", "remove", local, str(listed[0]["id"]))
    assert json.loads(run_cli(collector, "multipop", "list", local, "--json")) == []
