"""One contract for every blob backend (store/blobs.py files, store/postgres/blobs.py,
store/s3/blobs.py against a real S3-compatible server): content-addressed, idempotent,
streamed in and out, seekable, collected only when old and unreferenced."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from postroom.store.blobs import FileBlobStore
from postroom.store.migrations import migrate
from postroom.store.postgres.blobs import PgBlobStore
from postroom.store.postgres.engine import PostgresEngine
from postroom.store.s3.blobs import S3BlobStore
from postroom.store.s3.client import S3Client
from postroom.store.spool import SMALL, BlobStore
from tests.support import pg
from tests.support.s3 import ACCESS, BUCKET, SECRET, s3_server


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    with s3_server() as endpoint:
        yield endpoint


@pytest.fixture(params=["files", "postgresql", "s3"])
def blobs(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BlobStore]:
    if request.param == "files":
        yield FileBlobStore(tmp_path / "blobs")
    elif request.param == "postgresql":
        with pg.database(request.getfixturevalue("pg_admin_dsn")) as dsn:
            engine = PostgresEngine(dsn)
            migrate(engine)
            try:
                yield PgBlobStore(engine, tmp_path / "tmp", chunk_size=64 * 1024)
            finally:
                engine.close_sync()
    else:
        endpoint = request.getfixturevalue("s3_endpoint")
        client = S3Client(endpoint, "us-east-1", BUCKET, ACCESS, SECRET)
        yield S3BlobStore(client, tmp_path / "tmp", prefix=f"t{os.getpid()}-{time.time_ns()}/")


def test_put_get_and_idempotence(blobs: BlobStore) -> None:
    data = b"Subject: hello\r\n\r\nbody\r\n"
    ref = blobs.put_bytes(data)
    assert ref.sha256 == hashlib.sha256(data).hexdigest() and ref.size == len(data)
    assert blobs.put_bytes(data) == ref  # the same content again: the same blob
    assert blobs.exists(ref.sha256) and blobs.read(ref.sha256) == data
    with blobs.open(ref.sha256) as fh:
        assert fh.read() == data
    assert not blobs.exists("0" * 64)
    with pytest.raises(FileNotFoundError):
        blobs.open("0" * 64)
    empty = blobs.put_bytes(b"")
    assert blobs.read(empty.sha256) == b""


def test_large_blob_streams_in_and_seeks_out(blobs: BlobStore) -> None:
    piece = os.urandom(100_000)
    parts = [piece[i % 7:] + bytes([i]) for i in range(30)]  # ~3 MB over many chunks
    whole = b"".join(parts)
    writer = blobs.writer()
    for p in parts:
        writer.write(p)
    assert writer.blocks(0)  # spilled past SMALL
    with writer.content() as seen:
        assert seen.read() == whole
    ref = writer.finish()
    assert ref.size == len(whole) > SMALL
    with blobs.open(ref.sha256) as fh:
        fh.seek(1_500_123)
        assert fh.read(70_000) == whole[1_500_123:1_570_123]
        fh.seek(-10, os.SEEK_END)
        assert fh.read() == whole[-10:]
    assert blobs.put_stream(iter(parts)).sha256 == ref.sha256
    small = blobs.writer()
    small.write(b"tiny")
    assert not small.blocks(0)
    assert blobs.read(small.finish().sha256) == b"tiny"
    aborted = blobs.writer()
    aborted.write(b"x" * (SMALL + 1))
    aborted.abort()


def test_collection_spares_recent_blobs(blobs: BlobStore) -> None:
    ref = blobs.put_bytes(b"to be collected")
    assert not blobs.remove_if_old(ref.sha256, grace=3600)  # just stored
    assert ref.sha256 in set(blobs.all_names())
    assert blobs.remove_if_old(ref.sha256, grace=-5)
    assert not blobs.exists(ref.sha256)
    assert blobs.clean_tmp(3600) == 0
