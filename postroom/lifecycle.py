"""The server process's hold on its data directory: one server per directory, found by PID.

``serve`` takes an exclusive ``flock`` on ``<data_dir>/postroom.pid`` and writes its PID there
for as long as it runs. A second ``serve`` on the same directory is refused with the PID that
holds it (two writers on one SQLite file and one queue would each deliver the other's mail).
The lock is the kernel's: it ends with the process, however it ends (kill -9 included), so a
stale file never blocks a restart. ``postroom reload`` finds the server through the same file.
The CLI's other commands do not take the lock: they work beside a running server.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from postroom.core import private

PID_FILE = "postroom.pid"


class DataDirInUse(Exception):
    """Another server holds the data directory."""


class DataDirLock:
    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / PID_FILE
        self.fd: int | None = None

    def acquire(self) -> None:
        private.make_dir(self.path.parent)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, private.FILE_MODE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise DataDirInUse(
                f"the data directory {self.path.parent.resolve()} is in use by another "
                f"Postroom server (PID {holder}); stop that one first, or give this one its "
                "own --data-dir") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        os.fsync(fd)
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing releases the flock
            self.fd = None


def running_server(data_dir: Path) -> int | None:
    """The PID of the server holding ``data_dir``, or None when no server runs there."""
    path = data_dir / PID_FILE
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.read(fd, 32).decode("ascii", "replace").strip()
            return int(text) if text.isdigit() else None
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None  # nobody holds it: the file is left from a server that stopped
    finally:
        os.close(fd)
