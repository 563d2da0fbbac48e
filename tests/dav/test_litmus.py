"""Acceptance (issue 24): Debian's litmus, the WebDAV conformance suite, passes every test of
its basic, copymove, props and locks suites on the WebDAV file area over real TLS.

Each suite runs in its own collection of alice's area (litmus makes ``litmus/`` under the URL
it is given and removes it at the end). A suite passes when its summary says every test run
passed, no line reports a FAIL, nothing was skipped and litmus printed no WARNING (it uses
those for behaviour RFC 4918 leaves open; the file area gives none, so one appearing is a
change to look at).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support import pg
from tests.support.dav import DAV, Dav
from tests.support.server import RunningServer, server_config
from tests.support.webmail import PASSWORD

LITMUS = shutil.which("litmus") or "/usr/bin/litmus"
# suite -> how many tests litmus 0.13+ runs in it (a suite that skipped tests would run fewer)
SUITES = {"basic": 16, "copymove": 13, "props": 30, "locks": 41}
SUMMARY = re.compile(r"<- summary for `(\w+)': of (\d+) tests run: (\d+) passed, (\d+) failed")

pytestmark = pytest.mark.skipif(not os.path.exists(LITMUS), reason="litmus is not installed")


def run_litmus(dav: Dav, address: str, suite: str, folder: str, workdir: Path) -> str:
    """Run one suite; litmus writes debug.log and child.log into its working directory,
    so it runs in ``workdir`` (a temporary one), never in the source tree."""
    status, _, _ = dav.request(address, "MKCOL", f"/dav/files/{address}/{folder}/")
    assert status in (201, 405), status
    url = f"{dav.base}/dav/files/{address}/{folder}/"
    env = dict(os.environ, TESTS=suite, HOME=os.environ.get("HOME", "/tmp"))
    done = subprocess.run([LITMUS, url, address, PASSWORD], env=env, capture_output=True,
                          text=True, timeout=300, stdin=subprocess.DEVNULL, check=False,
                          cwd=workdir)
    return done.stdout + done.stderr


@pytest.mark.parametrize("suite", SUITES)
def test_litmus_suite(dav: Dav, suite: str, tmp_path: Path) -> None:
    alice = dav.account("alice@example.test")
    out = run_litmus(dav, alice, suite, f"lit-{suite}", tmp_path)
    found = SUMMARY.search(out)
    assert found is not None, out
    name, run, passed, failed = found.groups()
    assert name == suite
    fails = [line for line in out.splitlines() if "FAIL" in line]
    assert int(failed) == 0 and passed == run and not fails, out
    assert int(run) >= SUITES[suite], out
    assert "SKIPPED" not in out, out
    assert "WARNING" not in out, out  # none today: a new one is a regression to look at


def test_litmus_on_postgresql(pg_admin_dsn: str, tmp_path: Path) -> None:
    """The same four suites on a server whose store is PostgreSQL (locks, dead properties and
    items go through the other dialect's SQL)."""
    with pg.database(pg_admin_dsn) as dsn:
        srv = RunningServer(server_config(tmp_path / "data", "postgresql", dsn, extra=DAV))
        try:
            dav = Dav(srv)
            alice = dav.account("alice@example.test")
            for suite, count in SUITES.items():
                out = run_litmus(dav, alice, suite, f"pg-{suite}", tmp_path)
                found = SUMMARY.search(out)
                assert found is not None, out
                _, run, passed, failed = found.groups()
                assert int(failed) == 0 and passed == run and int(run) >= count, out
                assert "FAIL" not in out and "WARNING" not in out, out
        finally:
            srv.stop()
