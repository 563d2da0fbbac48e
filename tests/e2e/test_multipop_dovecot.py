"""MultiPOP against Dovecot's POP3 (Debian's dovecot-pop3d), started privately on loopback:
STLS with leave-on-server, then plain POP3 with delete on collect (issue 6)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.reference import Dovecot, wait_port
from postroom.net.tls import ensure_self_signed
from tests.e2e.test_multipop import add_remote, mail, run_now, wait_count
from tests.support.server import RunningServer, server_config

pytestmark = pytest.mark.skipif(
    shutil.which("dovecot") is None or not Path("/usr/lib/dovecot/pop3").exists(),
    reason="dovecot-pop3d is not installed (make test-deps)")

REMOTE = "far@example.org"
PASSWORD = "dovecot-pw-1"
COUNT = 30


@pytest.fixture(scope="module")
def dovecot() -> Iterator[Dovecot]:
    root = Path(tempfile.mkdtemp(prefix="postroom-dovecot-pop3-"))
    root.chmod(0o755)
    dc = Dovecot(root)
    cert, key = ensure_self_signed(root / "tls", "localhost")
    dc.extra_config = f"ssl = yes\nssl_cert = <{cert}\nssl_key = <{key}\n"
    dc.write_config()
    dc.add_user(REMOTE, PASSWORD)
    new = dc.maildir(REMOTE) / "new"
    for sub in ("new", "cur", "tmp"):
        (dc.maildir(REMOTE) / sub).mkdir(parents=True, exist_ok=True)
    for i in range(COUNT):
        (new / f"{1700000000 + i}.M{i}P{os.getpid()}.test").write_bytes(mail("dove", i))
    dc.start()
    wait_port(dc.pop3_port)
    try:
        yield dc
    finally:
        dc.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    srv = RunningServer(server_config(tmp_path_factory.mktemp("collector-dc"), extra=[
        "multipop.enabled=false"]))
    yield srv
    srv.stop()


def remote_count(dc: Dovecot) -> int:
    box = dc.maildir(REMOTE)
    return sum(1 for sub in ("new", "cur") for _ in (box / sub).iterdir())


def test_collect_from_dovecot(dovecot: Dovecot, collector: RunningServer) -> None:
    expected = sorted(f"dove-{i}@multipop.test" for i in range(COUNT))
    # STLS, leave on server: everything once, the source untouched
    keep_local, keep_pw = collector.add_user("keep")
    rid = add_remote(collector, keep_local, "--host", "127.0.0.1", "--port",
                     str(dovecot.pop3_port), "--tls", "starttls", "--no-verify-tls", "--user",
                     REMOTE, "--leave-on-server", password=PASSWORD)
    result = run_now(collector, keep_local, rid)
    assert (result["fetched"], result["deleted"], result["status"]) == (COUNT, 0, "ok")
    assert sorted(wait_count(collector, keep_local, keep_pw, COUNT)) == expected
    assert run_now(collector, keep_local, rid)["fetched"] == 0
    assert remote_count(dovecot) == COUNT
    # plain POP3 (the administrator's explicit choice), delete on collect
    move_local, move_pw = collector.add_user("move")
    rid2 = add_remote(collector, move_local, "--host", "127.0.0.1", "--port",
                      str(dovecot.pop3_port), "--tls", "none", "--user", REMOTE,
                      password=PASSWORD)
    result = run_now(collector, move_local, rid2)
    assert (result["fetched"], result["deleted"]) == (COUNT, COUNT)
    assert sorted(wait_count(collector, move_local, move_pw, COUNT)) == expected
    assert remote_count(dovecot) == 0
    assert run_now(collector, move_local, rid2)["fetched"] == 0
    # the leave-on-server account finds its UIDLs gone and forgets them
    assert run_now(collector, keep_local, rid)["fetched"] == 0
    assert collector.call(collector.services.store.multipop.seen(rid)) == {}
