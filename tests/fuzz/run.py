"""``make fuzz``: each parser fuzzed for a bounded time (issue 8).

    python -m tests.fuzz.run [--seconds 60] [--only imap,smtp]

Hypothesis generates inputs from each target's strategy, batch after batch with fresh seeds,
until the target's share of the time is used. A failure is shrunk by Hypothesis to a small
input, saved as ``tests/fuzz/crashes/<target>-<sha1>.bin`` (a reproducer: the suite replays
every file there, tests/fuzz/test_replay.py) and makes the run exit 1. One input that takes
longer than ``--per-input`` seconds counts as a crash too (a parser must not hang).
"""

from __future__ import annotations

import argparse
import hashlib
import signal
import sys
import time
import traceback
from pathlib import Path
from types import FrameType

from hypothesis import HealthCheck, Phase, given, settings

from tests.fuzz.targets import TARGETS

CRASHES = Path(__file__).parent / "crashes"


class Hang(Exception):
    pass


def _alarm(signum: int, frame: FrameType | None) -> None:
    raise Hang("one input took too long")


def fuzz(name: str, seconds: float, per_input: float) -> tuple[int, Path | None]:
    """Run one target for ``seconds``; (inputs tried, reproducer path or None)."""
    target, strategy = TARGETS[name]
    tried = 0
    last: list[bytes] = [b""]

    def one(data: bytes) -> None:
        nonlocal tried
        tried += 1
        last[0] = data
        signal.setitimer(signal.ITIMER_REAL, per_input)
        try:
            target(data)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)

    deadline = time.monotonic() + seconds
    batch = settings(max_examples=2000, deadline=None, database=None, derandomize=False,
                     suppress_health_check=list(HealthCheck),
                     phases=[Phase.generate, Phase.shrink])(given(strategy)(one))
    while time.monotonic() < deadline:
        try:
            batch()
        except Exception:
            # Hypothesis replays the shrunk failing input last: ``last`` holds it.
            data = last[0]
            path = CRASHES / f"{name}-{hashlib.sha1(data).hexdigest()[:12]}.bin"
            CRASHES.mkdir(exist_ok=True)
            path.write_bytes(data)
            traceback.print_exc(limit=6)
            return tried, path
    return tried, None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0,
                        help="time per target (default 60)")
    parser.add_argument("--per-input", type=float, default=5.0,
                        help="longest one input may take before it counts as a hang")
    parser.add_argument("--only", default="", help="comma-separated targets "
                        f"({', '.join(TARGETS)})")
    args = parser.parse_args()
    names = [n for n in args.only.split(",") if n] or list(TARGETS)
    unknown = [n for n in names if n not in TARGETS]
    if unknown:
        parser.error(f"unknown targets: {', '.join(unknown)}")
    signal.signal(signal.SIGALRM, _alarm)
    failed = 0
    for name in names:
        start = time.monotonic()
        tried, crash = fuzz(name, args.seconds, args.per_input)
        took = time.monotonic() - start
        status = f"CRASH, reproducer {crash}" if crash else "ok"
        print(f"fuzz {name:7} {tried:9,} inputs in {took:5.1f} s  {status}", flush=True)
        failed += crash is not None
    print(f"fuzz: {len(names)} targets, {failed} crashed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
