"""The blob store's layout and its streaming writer (store/blobs.py, issue 20)."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from postroom.store.blobs import FileBlobStore
from postroom.store.spool import SMALL


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_fan_out_made_once_private_and_one_level(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path / "blobs")
    dirs = sorted(p.name for p in store.root.iterdir() if p.name != "tmp")
    assert len(dirs) == 256 and dirs[0] == "00" and dirs[-1] == "ff"
    assert all(stat.S_IMODE((store.root / d).stat().st_mode) == 0o700 for d in dirs)
    ref = store.put_bytes(b"hello")
    assert store.find(ref.sha256) == store.root / ref.sha256[:2] / ref.sha256
    assert stat.S_IMODE(store.path(ref.sha256).stat().st_mode) == 0o600
    FileBlobStore(tmp_path / "blobs")  # opening again changes nothing
    assert store.read(ref.sha256) == b"hello"


def test_blobs_of_the_earlier_two_level_layout_are_still_found(tmp_path: Path) -> None:
    root = tmp_path / "blobs"
    data = b"written by an earlier version"
    sha = _sha(data)
    old = root / sha[:2] / sha[2:4] / sha
    old.parent.mkdir(parents=True)
    old.write_bytes(data)
    store = FileBlobStore(root)
    assert store.exists(sha) and store.find(sha) == old and store.read(sha) == data
    assert store.put_bytes(data).sha256 == sha  # the same content: the old file is reused
    assert not store.path(sha).exists()
    new = store.put_bytes(b"new")
    assert sorted(store.all_names()) == sorted([sha, new.sha256])
    os.utime(old, (0, 0))
    assert store.remove_if_old(sha, grace=60) and not store.exists(sha)


def test_a_small_message_stays_in_memory_until_finish(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path / "blobs")
    w = store.writer()
    assert not w.blocks(1000)
    w.write(b"a" * 1000)
    w.write(b"b" * 10)
    assert list(store.tmp.iterdir()) == []  # nothing on disk yet
    ref = w.finish()
    assert ref.size == 1010 and ref.sha256 == _sha(b"a" * 1000 + b"b" * 10)
    assert store.read(ref.sha256) == b"a" * 1000 + b"b" * 10
    assert list(store.tmp.iterdir()) == []


def test_a_big_message_spills_to_a_temp_file_as_it_arrives(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path / "blobs")
    w = store.writer()
    part = b"x" * (SMALL // 2 + 1)
    w.write(part)
    assert w.blocks(len(part))
    w.write(part)
    assert len(list(store.tmp.iterdir())) == 1
    assert w.blocks(1)
    w.write(b"!")
    ref = w.finish()
    assert ref.size == 2 * len(part) + 1 and store.read(ref.sha256) == part + part + b"!"
    assert list(store.tmp.iterdir()) == []


def test_abort_leaves_nothing_behind(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path / "blobs")
    for size in (10, SMALL + 1):
        w = store.writer()
        w.write(b"y" * size)
        w.abort()
    assert list(store.tmp.iterdir()) == [] and list(store.all_names()) == []


def test_content_reads_what_was_written_before_finish(tmp_path: Path) -> None:
    """Content checks (DKIM, spamd, clamd) read the message before it is fsynced and named:
    held in memory and spilled to the temp file alike, and ``finish`` still stores it whole."""
    store = FileBlobStore(tmp_path / "blobs")
    small = store.writer()
    small.write(b"Subject: hi\r\n\r\nbody\r\n")
    with small.content() as fh:
        assert fh.read() == b"Subject: hi\r\n\r\nbody\r\n"
    assert store.read(small.finish().sha256) == b"Subject: hi\r\n\r\nbody\r\n"
    big = store.writer()
    data = os.urandom(SMALL + 1000)
    big.write(data[:SMALL])
    big.write(data[SMALL:])
    assert big.blocks(0)
    with big.content() as fh:
        assert fh.read() == data
    assert store.read(big.finish().sha256) == data
