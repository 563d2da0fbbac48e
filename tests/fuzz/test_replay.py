"""Every reproducer ``make fuzz`` ever saved stays fixed: each file in tests/fuzz/crashes/
goes back through its target (the file name starts with the target's name)."""

from __future__ import annotations

from pathlib import Path

from tests.fuzz.targets import TARGETS

CRASHES = sorted((Path(__file__).parent / "crashes").glob("*.bin"))


def test_reproducers_no_longer_crash() -> None:
    for path in CRASHES:  # one test, so that an empty folder is not a skipped test
        target, _ = TARGETS[path.name.split("-", 1)[0]]
        target(path.read_bytes())


def test_every_target_takes_a_few_known_inputs() -> None:
    """A documented refusal is fine; anything else raised fails here."""
    for target, _ in TARGETS.values():
        for data in (b"", b"\r\n", b"a1 NOOP\r\n", b"MAIL FROM:<a@b.test>\r\n",
                     b"a@b.test d=AAAAAAAAAAAAAAAAAAAAAA==", b"Subject: x\r\n\r\nbody\r\n"):
            target(data)
