"""Files that hold mail, password hashes and keys are the server's alone.

Every directory Postroom creates is 0700 and every file 0600, whatever the umask: the database
holds password hashes, blobs hold message text. The CLI and ``serve`` also set the process
umask to 077, so files made by libraries (SQLite's WAL) follow; these helpers make the modes
explicit where Postroom creates files itself, for servers built in a process with another umask
(tests, embedding). ``looser_than_private`` lists what an earlier version, or an administrator,
left readable by others, for ``serve`` to warn about.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path
from typing import BinaryIO

DIR_MODE = 0o700
FILE_MODE = 0o600
UMASK = 0o077


def make_dir(path: Path) -> None:
    """``mkdir -p`` with mode 0700 for every level it creates."""
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)


def create(path: Path) -> BinaryIO:
    """A new file, 0600, open for writing (truncated if it existed)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    return os.fdopen(fd, "wb")


def touch(path: Path) -> None:
    """Create ``path`` empty with mode 0600 if it does not exist (before a library opens it,
    so it inherits the mode: SQLite gives its WAL and shared-memory files the database's)."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))


def create_once(path: Path, content: bytes) -> bytes:
    """The content of ``path``, created 0600 with ``content`` (written, fsynced, then
    linked into place, the directory fsynced) if it does not exist yet. Processes that race
    (the server and a CLI command making the same key) agree: whoever links first wins and
    the others read that file."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    make_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(6).hex()}.tmp")
    with create(tmp) as fh:
        fh.write(content)
        fh.flush()
        os.fsync(fh.fileno())
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return path.read_bytes()


def looser_than_private(root: Path, limit: int = 20) -> list[str]:
    """Paths under ``root`` that group or others may read, write or enter: the directory,
    its direct children, the TLS and blob folders and the blob folders' first two levels
    (not every blob: a large store has millions). At most ``limit`` paths."""
    found: list[str] = []

    def check(path: Path) -> None:
        try:
            mode = path.lstat().st_mode
        except OSError:
            return
        if stat.S_IMODE(mode) & 0o077 and len(found) < limit:
            found.append(f"{path} ({stat.filemode(mode)})")

    if not root.exists():
        return found
    check(root)
    for child in sorted(root.iterdir()):
        check(child)
        if child.is_dir() and child.name in ("tls", "blobs"):
            for sub in sorted(child.iterdir()):
                check(sub)
                if child.name == "blobs" and sub.is_dir() and len(sub.name) == 2:
                    for leaf in sorted(sub.iterdir())[:256]:
                        check(leaf)
    return found
