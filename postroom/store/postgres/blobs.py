"""Blobs in PostgreSQL itself (``blobs.backend = "postgresql"``): every node reaches them.

A blob is rows of ``blob_chunks`` (migration 0025) of at most ``blobs.chunk_size`` octets,
written in one transaction: ``store_file`` returns after COMMIT, which PostgreSQL makes
durable (WAL fsync) before it answers, so a 250 after it means the message is on disk, as
with files. Storing content that is already there only refreshes ``created``, which garbage
collection reads as the files backend reads a file's mtime: a blob being re-used is never
removed under its new reference.

Reads stream: ``open`` returns a seekable reader that fetches one chunk at a time, found by
its ``start`` octet, so a 50 MB attachment is never held whole and a partial FETCH reads only
the chunks it needs. Fit for small and medium sites; a big one puts blobs in an object store
(store/s3/).
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from postroom.core import private
from postroom.store.engine import Tx
from postroom.store.postgres.engine import PostgresEngine
from postroom.store.spool import RemoteBlobs, SeekableReader


class PgBlobStore(RemoteBlobs):
    def __init__(self, engine: PostgresEngine, tmp: Path, chunk_size: int = 1 << 20) -> None:
        self.engine = engine
        self.tmp = tmp
        self.chunk_size = chunk_size
        private.make_dir(tmp)

    def store_file(self, sha256: str, fh: BinaryIO, size: int) -> None:
        def fn(tx: Tx) -> None:
            now = int(time.time())
            if tx.execute("UPDATE blob_chunks SET created = ? WHERE sha256 = ? AND seq = 0",
                          (now, sha256)):
                return  # already stored (by anyone): refreshed
            seq = start = 0
            while True:
                data = fh.read(self.chunk_size)
                if not data and seq:
                    break
                tx.execute("INSERT INTO blob_chunks (sha256, seq, start, data, created) "
                           "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                           (sha256, seq, start, data, now))
                seq += 1
                start += len(data)
                if not data:
                    break
        self.engine.write_sync(fn)

    def open(self, sha256: str) -> BinaryIO:
        if not self.exists(sha256):
            raise FileNotFoundError(f"blob {sha256} is not in the database")
        return io.BufferedReader(_ChunkReader(self.engine, sha256), self.chunk_size)

    def read(self, sha256: str) -> bytes:
        def fn(tx: Tx) -> list[bytes]:
            return [bytes(r[0]) for r in tx.all(
                "SELECT data FROM blob_chunks WHERE sha256 = ? ORDER BY seq", (sha256,))]
        parts = self.engine.read_sync(fn)
        if not parts:
            raise FileNotFoundError(f"blob {sha256} is not in the database")
        return b"".join(parts)

    def exists(self, sha256: str) -> bool:
        return self.engine.read_sync(lambda tx: tx.one(
            "SELECT 1 FROM blob_chunks WHERE sha256 = ? AND seq = 0", (sha256,)) is not None)

    def remove_if_old(self, sha256: str, grace: float) -> bool:
        cutoff = int(time.time() - grace)

        def fn(tx: Tx) -> bool:
            # not while a row names it again, nor when it was stored again lately
            return bool(tx.execute(
                "DELETE FROM blob_chunks WHERE sha256 = ? AND NOT EXISTS (SELECT 1 FROM "
                "blobs WHERE sha256 = ? AND refcount > 0) AND (SELECT created FROM "
                "blob_chunks WHERE sha256 = ? AND seq = 0) <= ?",
                (sha256, sha256, sha256, cutoff)))
        return self.engine.write_sync(fn)

    def all_names(self) -> Iterator[str]:
        names = self.engine.read_sync(lambda tx: [str(r[0]) for r in tx.all(
            "SELECT sha256 FROM blob_chunks WHERE seq = 0")])
        yield from names



class _ChunkReader(SeekableReader):
    """A blob read chunk by chunk (one row at a time, the one holding ``pos``)."""

    def __init__(self, engine: PostgresEngine, sha256: str) -> None:
        super().__init__(engine.read_sync(lambda tx: _size(tx, sha256)))
        self.engine = engine
        self.sha256 = sha256
        self._chunk = b""
        self._chunk_start = 0

    def read_at(self, pos: int, n: int) -> bytes:
        if not self._chunk_start <= pos < self._chunk_start + len(self._chunk):
            row = self.engine.read_sync(lambda tx: tx.one(
                "SELECT start, data FROM blob_chunks WHERE sha256 = ? AND start <= ? "
                "ORDER BY start DESC LIMIT 1", (self.sha256, pos)))
            if row is None:
                return b""
            self._chunk_start, self._chunk = int(row[0]), bytes(row[1])
        at = pos - self._chunk_start
        return self._chunk[at:at + n]


def _size(tx: Tx, sha256: str) -> int:
    row = tx.one("SELECT max(start + length(data)) FROM blob_chunks WHERE sha256 = ?",
                 (sha256,))
    return int(row[0]) if row and row[0] is not None else 0
