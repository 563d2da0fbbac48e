"""Shared by the kill -9 scenarios (tests/e2e/test_smtp_crash.py, test_durability.py) and
``make crash-test``: how many rounds to crash, and where to report what each scenario counted.

``make test`` runs 3 rounds; ``make crash-test`` sets ``POSTROOM_CRASH_ROUNDS=10`` and
``POSTROOM_CRASH_SUMMARY`` to a file that collects one JSON line per scenario, printed as the
summary at the end (python -m tests.support.crash)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROUNDS = int(os.environ.get("POSTROOM_CRASH_ROUNDS", "3"))
ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ["tests/e2e/test_smtp_crash.py", "tests/e2e/test_durability.py"]


def report(scenario: str, *, acknowledged: int, lost: int, duplicated: int) -> None:
    path = os.environ.get("POSTROOM_CRASH_SUMMARY")
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"scenario": scenario, "rounds": ROUNDS,
                                 "acknowledged": acknowledged, "lost": lost,
                                 "duplicated": duplicated}) + "\n")


def main() -> int:
    rounds = os.environ.setdefault("POSTROOM_CRASH_ROUNDS", "10")
    summary = ROOT / "var" / "crash-summary.jsonl"
    summary.parent.mkdir(exist_ok=True)
    summary.unlink(missing_ok=True)
    os.environ["POSTROOM_CRASH_SUMMARY"] = str(summary)
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             *SCENARIOS], cwd=ROOT)
    rows = [json.loads(line) for line in summary.read_text().splitlines()] \
        if summary.exists() else []
    parts = [f"{r['scenario']}: {r['acknowledged']:,} acknowledged, {r['lost']} lost, "
             f"{r['duplicated']} duplicated" for r in rows]
    verdict = "PASS" if result.returncode == 0 and len(rows) == 3 else "FAIL"
    print(f"crash-test: {rounds} SIGKILL rounds per scenario; " + "; ".join(parts)
          + f" -- {verdict}")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
