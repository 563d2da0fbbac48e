"""The file area with a real command-line client (curl, as docs/dav/files.md shows it): a
multi-megabyte upload with Content-Length, a chunked upload from a pipe (no length known in
advance), download byte for byte, MKCOL and DELETE."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.dav import Dav
from tests.support.webmail import PASSWORD

CURL = shutil.which("curl")
USER = "cleo@example.test"

pytestmark = pytest.mark.skipif(CURL is None, reason="curl is not installed")


def curl(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    assert CURL is not None
    return subprocess.run([CURL, "--silent", "--show-error", "--insecure", "--user",
                           f"{USER}:{PASSWORD}", "--write-out", "\n%{http_code}", *args],
                          input=stdin, capture_output=True, timeout=120, check=False)


def status_of(done: subprocess.CompletedProcess[bytes]) -> int:
    assert done.returncode == 0, done.stderr
    return int(done.stdout.rsplit(b"\n", 1)[1])


def test_curl_upload_download(dav: Dav, tmp_path: Path) -> None:
    dav.account(USER)
    base = f"{dav.base}/dav/files/{USER}"
    assert status_of(curl("-X", "MKCOL", f"{base}/curl/")) == 201
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(3 << 20))
    assert status_of(curl("-T", str(big), f"{base}/curl/big.bin")) == 201
    piped = os.urandom(200_000)
    assert status_of(curl("-T", "-", "-H", "Transfer-Encoding: chunked",
                          f"{base}/curl/piped.bin", stdin=piped)) == 201
    out = tmp_path / "back.bin"
    assert status_of(curl("-o", str(out), f"{base}/curl/big.bin")) == 200
    assert hashlib.sha256(out.read_bytes()).digest() == hashlib.sha256(
        big.read_bytes()).digest()
    done = curl(f"{base}/curl/piped.bin")
    assert done.stdout.rsplit(b"\n", 1)[0] == piped
    assert status_of(curl("-X", "DELETE", f"{base}/curl/")) == 204
    assert status_of(curl(f"{base}/curl/big.bin")) == 404
