"""Content-addressed blob files: write temp → fsync → rename → fsync directory.

Layout: ``<root>/<first two hex digits>/<sha256>``, the 256 fan-out directories made (and
made durable) once when the store is opened, so storing a message never creates a directory
and never fsyncs more than the one it lands in. Stores written before issue 20 used a second
level (``ab/cd/<sha256>``); those files are still found where they are, and new ones go to the
one-level place.

A blob is named by the SHA-256 of its bytes and never changes, so a message delivered to many
folders is stored once and ``COPY`` costs a reference, not a file. Reference counts live in the
metadata store (``blobs`` table) and change in the same transaction as the rows that use them;
``collect`` removes files whose count has stayed zero for a grace period, and files that no row
names (a crash between the file's fsync and the transaction) once they are older than that.

Race with a concurrent put of the same content: ``put`` refreshes the file's mtime when it finds
the file already there, and ``collect`` deletes only files older than the grace period, so a
blob being re-used is never removed under its new reference (the lock closes the in-process
window between the two).
"""

from __future__ import annotations

import hashlib
import os
import secrets
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from postroom.core import private
from postroom.core.records import BlobRef
from postroom.store.spool import SpoolWriter, spool_stream


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_FANOUT = [f"{i:02x}" for i in range(256)]


class FileBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp = root / "tmp"
        private.make_dir(self.tmp)
        self._lock = threading.Lock()
        self._prepare()

    def _prepare(self) -> None:
        """The 256 fan-out directories, created once; their parent fsynced if any was new."""
        have = set(os.listdir(self.root))
        missing = [name for name in _FANOUT if name not in have]
        for name in missing:
            private.make_dir(self.root / name)
        if missing:
            _fsync_dir(self.root)

    def path(self, sha256: str) -> Path:
        """Where a new blob goes (and where ``find`` looks first)."""
        return self.root / sha256[:2] / sha256

    def _legacy(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def find(self, sha256: str) -> Path | None:
        """The file holding ``sha256``, in either layout; None when there is none."""
        for candidate in (self.path(sha256), self._legacy(sha256)):
            if candidate.exists():
                return candidate
        return None

    def put_bytes(self, data: bytes) -> BlobRef:
        """Store ``data`` durably; return its reference. Blocking: call from a worker thread."""
        sha = hashlib.sha256(data).hexdigest()
        self._put_known(data, sha)
        return BlobRef(sha, len(data))

    def put_stream(self, chunks: Iterator[bytes]) -> BlobRef:
        """Store a message arriving in pieces without holding it whole in memory."""
        return spool_stream(self, chunks)

    def writer(self) -> SpoolWriter:
        """A blob written piece by piece as it arrives (SMTP DATA; store/spool.py): a big
        one spills into ``tmp`` and is renamed into place at ``finish``."""
        return SpoolWriter(self)

    def store_file(self, sha256: str, fh: BinaryIO, size: int) -> None:
        self._put_known(fh.read(), sha256)

    def install(self, path: Path, sha256: str, size: int) -> None:
        """A spooled blob (in ``tmp``): fsynced, then renamed into place (or dropped when
        the same content is there already)."""
        try:
            with open(path, "rb+") as fh:
                os.fsync(fh.fileno())
            final = self.path(sha256)
            if self._reuse(final):
                path.unlink()
            else:
                self._install(path, final)
        except BaseException:
            path.unlink(missing_ok=True)
            raise

    def _reuse(self, final: Path) -> bool:
        """Same content already stored (in either layout): refresh its mtime so ``collect``
        spares it."""
        with self._lock:
            found = self.find(final.name)
            if found is None:
                return False
            os.utime(found)
            return True

    def _install(self, tmp: Path, final: Path) -> None:
        folder = final.parent
        if not folder.is_dir():  # a fan-out directory removed by hand since the start
            private.make_dir(folder)
            _fsync_dir(folder.parent)
        os.replace(tmp, final)
        _fsync_dir(folder)

    def _put_known(self, data: bytes | bytearray, sha: str) -> None:
        """Store ``data`` whose digest is ``sha`` (temp file, fsync, rename, fsync)."""
        final = self.path(sha)
        if self._reuse(final):
            return
        tmp = self.tmp / f"{sha}.{secrets.token_hex(6)}"
        try:
            with private.create(tmp) as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            self._install(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def open(self, sha256: str) -> BinaryIO:
        try:
            return open(self.path(sha256), "rb")
        except FileNotFoundError:
            return open(self._legacy(sha256), "rb")

    def read(self, sha256: str) -> bytes:
        with self.open(sha256) as fh:
            return fh.read()

    def exists(self, sha256: str) -> bool:
        return self.find(sha256) is not None

    def remove_if_old(self, sha256: str, grace: float) -> bool:
        with self._lock:
            final = self.find(sha256)
            if final is None:
                return False
            try:
                if time.time() - final.stat().st_mtime < grace:
                    return False
                final.unlink()
                return True
            except FileNotFoundError:
                return False

    def all_names(self) -> Iterator[str]:
        """Every stored blob's name, in both layouts."""
        for first in os.scandir(self.root):
            if len(first.name) != 2 or not first.is_dir():
                continue
            for entry in os.scandir(first.path):
                if len(entry.name) == 2 and entry.is_dir():  # the earlier second level
                    for legacy in os.scandir(entry.path):
                        yield legacy.name
                else:
                    yield entry.name

    def clean_tmp(self, grace: float) -> int:
        removed = 0
        for entry in self.tmp.iterdir():
            try:
                if time.time() - entry.stat().st_mtime > grace:
                    entry.unlink()
                    removed += 1
            except FileNotFoundError:
                pass
        return removed
