"""``postroom cluster`` outside cluster mode and with bad input: clear words, no traceback."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support import cli


def test_status_off_and_forget_unknown(tmp_path: Path) -> None:
    data = tmp_path / "data"
    status = cli.run(data, "cluster", "status")
    assert status.returncode == 0, status.stderr
    assert "cluster mode is off" in status.stdout
    as_json = cli.run(data, "cluster", "status", "--json")
    assert as_json.returncode == 0 and json.loads(as_json.stdout)["nodes"] == []
    forget = cli.run(data, "cluster", "forget", "nosuch")
    assert forget.returncode == 1
    assert "no node named 'nosuch'" in forget.stderr and "Traceback" not in forget.stderr
    bad = cli.run(data, "cluster", "frobnicate")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
