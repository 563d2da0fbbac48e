"""Secrets sealed at rest (directory/secretbox.py): round trip, purpose binding, tampering,
the key file's creation and mode."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

import pytest

from postroom.directory.secretbox import SecretBox, SecretError


def test_round_trip_and_key_file(tmp_path: Path) -> None:
    key = tmp_path / "secret.key"
    box = SecretBox(key)
    sealed = box.seal("pässword", "multipop")
    assert "pässword" not in sealed and sealed.startswith("v1:")
    assert SecretBox(key).open(sealed, "multipop") == "pässword"  # a new process reads it
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert box.seal("x", "multipop") != box.seal("x", "multipop")  # fresh nonce each time


def test_purpose_tamper_and_wrong_key(tmp_path: Path) -> None:
    box = SecretBox(tmp_path / "secret.key")
    sealed = box.seal("secret", "apop")
    with pytest.raises(SecretError):
        box.open(sealed, "multipop")  # sealed for another column
    flipped = sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1]
    with pytest.raises(SecretError):
        box.open(flipped, "apop")
    with pytest.raises(SecretError):
        SecretBox(tmp_path / "other.key").open(sealed, "apop")
    with pytest.raises(SecretError):
        box.open("plain text", "apop")
    (tmp_path / "short.key").write_bytes(b"123")
    with pytest.raises(SecretError):
        SecretBox(tmp_path / "short.key").seal("x", "apop")


def test_concurrent_creation_agrees_on_one_key(tmp_path: Path) -> None:
    key = tmp_path / "secret.key"
    boxes = [SecretBox(key) for _ in range(8)]
    sealed: list[str] = []
    threads = [threading.Thread(target=lambda b=b: sealed.append(b.seal("s", "p")))
               for b in boxes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for value in sealed:
        assert SecretBox(key).open(value, "p") == "s"
