"""Blobs as objects of an S3-compatible store: ``<prefix><first two hex>/<sha256>``.

``store_file`` PUTs the object signed over its SHA-256 (its name) and returns once the store
answered 200: S3 and the stores modelled on it acknowledge a PUT only after the object is
durably stored, so the 250 that follows is as honest as with files. Storing content that is
there already PUTs it again: that refreshes the object's Last-Modified, which garbage
collection reads as the files backend reads a file's mtime (a blob being re-used is never
removed under its new reference), and costs one upload of a message that is rarely stored
twice.

Reads are ranged GETs of ``READ_AHEAD`` octets, behind a seekable reader, so a partial FETCH
reads only what it needs and a large attachment is never held whole.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from postroom.core import private
from postroom.store.s3.client import S3Client, S3Error
from postroom.store.spool import RemoteBlobs, SeekableReader

READ_AHEAD = 1 << 20


class S3BlobStore(RemoteBlobs):
    def __init__(self, client: S3Client, tmp: Path, prefix: str = "") -> None:
        self.client = client
        self.tmp = tmp
        self.prefix = prefix
        private.make_dir(tmp)

    def key(self, sha256: str) -> str:
        return f"{self.prefix}{sha256[:2]}/{sha256}"

    def store_file(self, sha256: str, fh: BinaryIO, size: int) -> None:
        self.client.put(self.key(sha256), fh, size, sha256)

    def open(self, sha256: str) -> BinaryIO:
        head = self.client.head(self.key(sha256))
        if head is None:
            raise FileNotFoundError(f"blob {sha256} is not in the object store")
        return io.BufferedReader(_RangeReader(self.client, self.key(sha256), head.size),
                                 READ_AHEAD)

    def read(self, sha256: str) -> bytes:
        try:
            return self.client.get(self.key(sha256))
        except S3Error as exc:
            if exc.status == 404:
                raise FileNotFoundError(f"blob {sha256} is not in the object store") from None
            raise

    def exists(self, sha256: str) -> bool:
        return self.client.head(self.key(sha256)) is not None

    def remove_if_old(self, sha256: str, grace: float) -> bool:
        head = self.client.head(self.key(sha256))
        if head is None or time.time() - head.last_modified < grace:
            return False
        self.client.delete(self.key(sha256))
        return True

    def all_names(self) -> Iterator[str]:
        for key in self.client.keys(self.prefix):
            name = key.rsplit("/", 1)[-1]
            if len(name) == 64:
                yield name



class _RangeReader(SeekableReader):
    """Ranged GETs, as much as the buffer above asks for (``READ_AHEAD``)."""

    def __init__(self, client: S3Client, key: str, size: int) -> None:
        super().__init__(size)
        self.client = client
        self.key = key

    def read_at(self, pos: int, n: int) -> bytes:
        return self.client.get(self.key, pos, pos + n - 1)
