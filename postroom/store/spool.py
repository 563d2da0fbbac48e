"""What the blob backends that are not local files share (store/postgres/blobs.py,
store/s3/blobs.py): the ``BlobStore`` contract, and a writer that spools a message arriving in
pieces to a local temporary file (kept in memory while small) and hands it to the backend at
``finish``.

The durability promise is the files backend's: ``put_bytes``, ``put_stream`` and ``finish``
return only once the backend has the blob durably (a PostgreSQL COMMIT, an object store's 200),
so the 250 that follows them is honest. The temporary file is only a staging area: losing it
in a crash loses nothing that was acknowledged.
"""

from __future__ import annotations

import hashlib
import io
import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Protocol

from postroom.core import private
from postroom.core.records import BlobRef

SMALL = 256 * 1024  # as the files backend: below this a message never touches the disk here


class Writer(Protocol):
    size: int  # octets written so far

    def blocks(self, more: int) -> bool: ...

    def write(self, chunk: bytes) -> None: ...

    def content(self) -> BinaryIO: ...

    def finish(self) -> BlobRef: ...

    def abort(self) -> None: ...


class BlobStore(Protocol):
    """Content-addressed, immutable blobs (store/blobs.py explains the files backend)."""

    def put_bytes(self, data: bytes) -> BlobRef: ...

    def put_stream(self, chunks: Iterator[bytes]) -> BlobRef: ...

    def writer(self) -> Writer: ...

    def open(self, sha256: str) -> BinaryIO: ...

    def read(self, sha256: str) -> bytes: ...

    def exists(self, sha256: str) -> bool: ...

    def remove_if_old(self, sha256: str, grace: float) -> bool: ...

    def all_names(self) -> Iterator[str]: ...

    def clean_tmp(self, grace: float) -> int: ...


class Backend(Protocol):
    """What a backend implements for ``SpoolWriter`` and ``spool_stream``."""

    tmp: Path

    def store_file(self, sha256: str, fh: BinaryIO, size: int) -> None:
        """Store the blob read from ``fh`` (``size`` octets) durably, or refresh it when it
        is already there."""

    def install(self, path: Path, sha256: str, size: int) -> None:
        """Store the blob spooled at ``path`` (flushed, not yet fsynced); ``path`` is the
        backend's to consume (the files backend renames it into place)."""


class RemoteBlobs:
    """What the backends that keep blobs off this machine share: everything is stored through
    their ``store_file``, from memory or read back from a spooled file."""

    tmp: Path

    def store_file(self, sha256: str, fh: BinaryIO, size: int) -> None:
        raise NotImplementedError

    def install(self, path: Path, sha256: str, size: int) -> None:
        with open(path, "rb") as fh:
            self.store_file(sha256, fh, size)

    def put_bytes(self, data: bytes) -> BlobRef:
        sha = hashlib.sha256(data).hexdigest()
        self.store_file(sha, io.BytesIO(data), len(data))
        return BlobRef(sha, len(data))

    def put_stream(self, chunks: Iterator[bytes]) -> BlobRef:
        return spool_stream(self, chunks)

    def writer(self) -> SpoolWriter:
        return SpoolWriter(self)

    def clean_tmp(self, grace: float) -> int:
        return clean_tmp(self.tmp, grace)


class SpoolWriter:
    """A blob written piece by piece as it arrives (SMTP DATA): ``write`` each chunk, then
    ``finish`` (durable when it returns) or ``abort``. The first ``SMALL`` octets stay in
    memory, so most messages reach the backend in one piece at ``finish`` and the session
    that streams them needs no worker thread per chunk; a bigger one spills to a temporary
    file as it arrives. Making one does no I/O; ``write`` blocks only once ``blocks`` says
    so, ``finish`` always: worker thread."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.digest = hashlib.sha256()
        self.size = 0
        self.buf: bytearray | None = bytearray()
        self.tmp = backend.tmp / f"incoming.{secrets.token_hex(8)}"
        self.fh: BinaryIO | None = None

    def blocks(self, more: int) -> bool:
        return self.buf is None or len(self.buf) + more > SMALL

    def write(self, chunk: bytes) -> None:
        self.digest.update(chunk)
        self.size += len(chunk)
        if self.buf is not None:
            if len(self.buf) + len(chunk) <= SMALL:
                self.buf += chunk
                return
            self.fh = private.create(self.tmp)
            self.fh.write(self.buf)
            self.buf = None
        assert self.fh is not None
        self.fh.write(chunk)

    def content(self) -> BinaryIO:
        if self.buf is not None:
            return io.BytesIO(bytes(self.buf))
        assert self.fh is not None
        self.fh.flush()
        return open(self.tmp, "rb")

    def finish(self) -> BlobRef:
        sha = self.digest.hexdigest()
        try:
            if self.buf is not None:
                data, self.buf = bytes(self.buf), None
                self.backend.store_file(sha, io.BytesIO(data), len(data))
                return BlobRef(sha, self.size)
            assert self.fh is not None
            self.fh.flush()
            self.fh.close()
            self.backend.install(self.tmp, sha, self.size)
            return BlobRef(sha, self.size)
        finally:
            self.abort()

    def abort(self) -> None:
        self.buf = None
        if self.fh is not None:
            if not self.fh.closed:
                self.fh.close()
            self.tmp.unlink(missing_ok=True)


def spool_stream(backend: Backend, chunks: Iterator[bytes]) -> BlobRef:
    """``put_stream`` of a remote backend."""
    writer = SpoolWriter(backend)
    try:
        for chunk in chunks:
            writer.write(chunk)
    except BaseException:
        writer.abort()
        raise
    return writer.finish()


def clean_tmp(tmp: Path, grace: float) -> int:
    """Staging files left by a crash, older than ``grace``."""
    removed = 0
    for entry in tmp.iterdir():
        try:
            if time.time() - entry.stat().st_mtime > grace:
                os.unlink(entry)
                removed += 1
        except FileNotFoundError:
            pass
    return removed


class SeekableReader(io.RawIOBase):
    """A blob read in pieces from a backend, seekable (RawIOBase under a BufferedReader):
    a subclass says how to read ``n`` octets at ``pos``."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.pos = 0

    def read_at(self, pos: int, n: int) -> bytes:
        raise NotImplementedError

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: self.size}[whence]
        self.pos = max(0, base + offset)
        return self.pos

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if self.pos >= self.size or not len(buffer):
            return 0
        data = self.read_at(self.pos, min(len(buffer), self.size - self.pos))
        n = len(data)
        buffer[:n] = data
        self.pos += n
        return n
