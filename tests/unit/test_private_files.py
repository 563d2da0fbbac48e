"""core/private.py create_once: a key file made once, 0600, whoever links first wins."""

from __future__ import annotations

import stat
from pathlib import Path

from postroom.core import private


def test_create_once_writes_a_private_file_and_keeps_the_first(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "a.key"
    assert private.create_once(path, b"first") == b"first"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    # a second maker (another process racing) reads the first one's content
    assert private.create_once(path, b"second") == b"first"
    assert [p.name for p in path.parent.iterdir()] == ["a.key"]  # no temporary left
