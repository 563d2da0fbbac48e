"""The server raises its open-file soft limit so that connections are not refused by EMFILE."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import resource, sys
from postroom.net.rlimit import raise_open_files
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
got = raise_open_files(int(sys.argv[1]))
print(got, resource.getrlimit(resource.RLIMIT_NOFILE)[0], hard)
"""


def run(wanted: int) -> tuple[list[int], str]:
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(wanted)], capture_output=True,
                          text=True, check=True)
    return [int(x) for x in done.stdout.split()], done.stderr


def test_soft_limit_is_raised_to_the_hard_limit() -> None:
    (got, soft, hard), _ = run(100)
    assert got == soft == hard


def test_a_hard_limit_below_max_connections_is_reported() -> None:
    import logging

    (got, _, hard), _ = run(10**9)
    assert got == hard < 10**9
    # The warning itself is checked through the logger in-process.
    from postroom.net import rlimit
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)
    handler = Keep()
    rlimit.log.addHandler(handler)
    try:
        rlimit.raise_open_files(10**9)
    finally:
        rlimit.log.removeHandler(handler)
    assert any("open-file limit" in r.getMessage() for r in records)
