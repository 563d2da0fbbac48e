"""A real S3-compatible server for the blob tests: moto's server (PyPI, ``make test-deps``
puts it in .cache/s3-venv), on a loopback port, with one bucket. It speaks the S3 REST API
over HTTP and checks Signature V4, so the client under test signs and streams for real."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from postroom.store.s3.client import S3Client

ROOT = Path(__file__).resolve().parents[2]
MOTO = ROOT / ".cache" / "s3-venv" / "bin" / "moto_server"
ACCESS, SECRET, BUCKET = "postroom-test", "postroom-test-secret", "postroom-blobs"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def s3_server() -> Iterator[str]:
    """The endpoint URL of a running server with the bucket ``BUCKET``."""
    if not MOTO.exists():
        raise RuntimeError(f"{MOTO} is missing: run 'make test-deps'")
    port = _port()
    proc = subprocess.Popen([str(MOTO), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.5).close()
                break
            except OSError:
                assert proc.poll() is None, "moto_server exited"
                assert time.monotonic() < deadline, "moto_server did not start"
                time.sleep(0.1)
        client = S3Client(endpoint, "us-east-1", BUCKET, ACCESS, SECRET)
        resp = client._request("PUT", None, body=b"", size=0)  # create the bucket
        assert resp.status == 200, resp.read()
        resp.read()
        yield endpoint
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
