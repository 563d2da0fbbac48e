"""Content-addressed blob files: write temp → fsync → rename → fsync directory.

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


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FileBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp = root / "tmp"
        private.make_dir(self.tmp)
        self._lock = threading.Lock()

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put_bytes(self, data: bytes) -> BlobRef:
        """Store ``data`` durably; return its reference. Blocking: call from a worker thread."""
        sha = hashlib.sha256(data).hexdigest()
        final = self.path(sha)
        if self._reuse(final):
            return BlobRef(sha, len(data))
        tmp = self.tmp / f"{sha}.{secrets.token_hex(6)}"
        with private.create(tmp) as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        self._install(tmp, final)
        return BlobRef(sha, len(data))

    def put_stream(self, chunks: Iterator[bytes]) -> BlobRef:
        """Store a message arriving in pieces without holding it whole in memory."""
        digest = hashlib.sha256()
        size = 0
        tmp = self.tmp / f"stream.{secrets.token_hex(8)}"
        try:
            with private.create(tmp) as fh:
                for chunk in chunks:
                    digest.update(chunk)
                    size += len(chunk)
                    fh.write(chunk)
                fh.flush()
                os.fsync(fh.fileno())
            sha = digest.hexdigest()
            final = self.path(sha)
            if self._reuse(final):
                tmp.unlink()
                return BlobRef(sha, size)
            self._install(tmp, final)
            return BlobRef(sha, size)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def writer(self) -> BlobWriter:
        """A blob written piece by piece as it arrives (SMTP DATA): ``write`` each chunk,
        then ``finish`` (fsync and install) or ``abort``. Blocking calls: worker thread."""
        return BlobWriter(self)

    def _reuse(self, final: Path) -> bool:
        """Same content already stored: refresh its mtime so ``collect`` spares it."""
        with self._lock:
            if not final.exists():
                return False
            os.utime(final)
            return True

    def _install(self, tmp: Path, final: Path) -> None:
        folder = final.parent
        if not folder.exists():
            private.make_dir(folder)
            _fsync_dir(folder.parent)
            _fsync_dir(folder.parent.parent)
        os.replace(tmp, final)
        _fsync_dir(folder)

    def open(self, sha256: str) -> BinaryIO:
        return open(self.path(sha256), "rb")

    def read(self, sha256: str) -> bytes:
        with self.open(sha256) as fh:
            return fh.read()

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).exists()

    def remove_if_old(self, sha256: str, grace: float) -> bool:
        final = self.path(sha256)
        with self._lock:
            try:
                if time.time() - final.stat().st_mtime < grace:
                    return False
                final.unlink()
                return True
            except FileNotFoundError:
                return False

    def all_names(self) -> Iterator[str]:
        for first in self.root.iterdir():
            if len(first.name) != 2 or not first.is_dir():
                continue
            for second in first.iterdir():
                for entry in second.iterdir():
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


class BlobWriter:
    """See ``FileBlobStore.writer``."""

    def __init__(self, store: FileBlobStore) -> None:
        self.store = store
        self.digest = hashlib.sha256()
        self.size = 0
        self.tmp = store.tmp / f"incoming.{secrets.token_hex(8)}"
        self.fh = private.create(self.tmp)  # closed by finish/abort

    def write(self, chunk: bytes) -> None:
        self.digest.update(chunk)
        self.size += len(chunk)
        self.fh.write(chunk)

    def finish(self) -> BlobRef:
        try:
            self.fh.flush()
            os.fsync(self.fh.fileno())
            self.fh.close()
            sha = self.digest.hexdigest()
            final = self.store.path(sha)
            if self.store._reuse(final):
                self.tmp.unlink()
            else:
                self.store._install(self.tmp, final)
            return BlobRef(sha, self.size)
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        if not self.fh.closed:
            self.fh.close()
        self.tmp.unlink(missing_ok=True)
