"""kill -9 in the middle of concurrent appends: every acknowledged append survives, nothing
half-written is visible, the database is intact (DESIGN.md rule 4)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from postroom.access.ops import Op
from postroom.app import build_services
from postroom.config import Config
from postroom.store.sqlite.engine import SqliteEngine
from tests.conftest import make_config
from tests.support.crash import ROUNDS, report

ROOT = Path(__file__).resolve().parents[2]
SUBJECT = re.compile(rb"^Subject: crash-(\d+\.\d+-\d+)\r$", re.MULTILINE)


def _run_and_kill(data: Path, backend: str, dsn: str, acks_wanted: int, rnd: int,
                   ) -> dict[str, int]:
    proc = subprocess.Popen([sys.executable, "-m", "tests.support.append_worker", str(data),
                             backend, dsn, "20", "3000", str(rnd)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ})
    acked: dict[str, int] = {}
    assert proc.stdout is not None
    deadline = time.monotonic() + 120
    try:
        assert proc.stdout.readline().strip() == "READY"
        while len(acked) < acks_wanted and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            _, tag, uid = line.split()
            acked[tag] = int(uid)
    finally:
        os.kill(proc.pid, signal.SIGKILL)  # mid-stream: 20 writers have appends in flight
        proc.wait()
    assert len(acked) >= acks_wanted, proc.stderr.read() if proc.stderr else ""
    return acked


async def _verify(cfg: Config, acked: dict[str, int]) -> int:
    s = build_services(cfg)
    try:
        principal = await s.directory.principal_for(
            await s.directory.require_account("crash@example.com"))
        handle = await s.mailboxes.open(principal, "INBOX", Op.READ)
        rows = await s.messages.view(principal, handle)
        recs = await s.store.messages.get_many(handle.mailbox.id, [r.uid for r in rows])
        found: dict[str, int] = {}
        for rec in recs:
            blob = s.store.blobs.read(rec.blob)  # a row never points at a missing blob
            assert hashlib.sha256(blob).hexdigest() == rec.blob  # nor at a torn one
            if blob.startswith(b"Subject: after\r\n"):  # written by an earlier round's check
                continue
            m = SUBJECT.search(blob)
            assert m is not None
            tag = m.group(1).decode()
            assert tag not in found, f"duplicate {tag}"
            found[tag] = rec.uid
        for tag, uid in acked.items():
            assert found.get(tag) == uid, f"acknowledged append {tag} (uid {uid}) lost"
        mb = await s.store.mailboxes.get(handle.mailbox.id)
        assert mb is not None and mb.message_count == len(rows)
        assert mb.uidnext > max(found.values())
        # The store keeps working after the crash.
        await s.messages.append(principal, "INBOX", [(b"Subject: after\r\n\r\nx\r\n", [], None)])
        return len(found)
    finally:
        await s.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_sigkill_during_concurrent_appends(tmp_path: Path, backend: str,
                                           request: pytest.FixtureRequest) -> None:
    dsn = ""
    db_ctx = None
    if backend == "postgresql":
        from tests.support import pg
        db_ctx = pg.database(request.getfixturevalue("pg_admin_dsn"))
        dsn = db_ctx.__enter__()
    try:
        data = tmp_path / "var"
        cfg = make_config(data, backend, dsn)
        total_acked = 0
        for rnd in range(ROUNDS):  # crash repeatedly on the same store
            acked = _run_and_kill(data, backend, dsn, 150, rnd)
            total_acked += len(acked)
            present = asyncio.run(_verify(cfg, acked))
            assert present >= len(acked)
        report(f"append ({backend})", acknowledged=total_acked, lost=0, duplicated=0)
        if backend == "sqlite":
            engine = SqliteEngine(data / "postroom.db")
            try:
                assert engine.integrity_check() == "ok"
            finally:
                engine.close_sync()
    finally:
        if db_ctx is not None:
            db_ctx.__exit__(None, None, None)
