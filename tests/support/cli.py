"""Run the real ``postroom`` command as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

POSTROOM = [sys.executable, "-m", "postroom"]


def run(data_dir: Path, *args: str, stdin: str | None = None, timeout: float = 120,
        ) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "POSTROOM_HOME": str(data_dir), "COLUMNS": "200"}
    env.pop("POSTROOM_CONFIG", None)
    return subprocess.run([*POSTROOM, *args], input=stdin, capture_output=True, text=True,
                          env=env, timeout=timeout)
