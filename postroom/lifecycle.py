"""The server process's hold on its data directory: one server per directory, found by PID.

``serve`` takes an exclusive ``flock`` on ``<data_dir>/postroom.pid`` and writes its PID there
for as long as it runs. A second ``serve`` on the same directory is refused with the PID that
holds it (two writers on one SQLite file and one queue would each deliver the other's mail).
The lock is the kernel's: it ends with the process, however it ends (kill -9 included), so a
stale file never blocks a restart. ``postroom reload`` finds the server through the same file.
The CLI's other commands do not take the lock: they work beside a running server.

A reload (SIGHUP, ``postroom reload``) takes a new configuration into the running one in place
(``apply_in_place``), except for the keys only a restart can change (``RESTART_ONLY`` and each
listener's enabled/port/listen/tls), which keep their running values and are named in a warning.
"""

from __future__ import annotations

import copy
import fcntl
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec

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


# Keys a running server cannot take without restarting: what it bound, where it keeps its data,
# and what it started once. A reload leaves them as they were and names them in a warning.
RESTART_ONLY = ("server.data_dir", "server.listen", "server.port_offset", "server.hostname",
                "server.domain", "server.user", "store", "multipop.enabled", "odmr.collect",
                "minger.enabled", "minger.port", "minger.listen", "smtp.outbound.dns_servers",
                "smtp.outbound.max_connections", "limits.max_connections",
                "login.hash_workers")
LISTENER_KEYS = ("enabled", "port", "listen", "tls")


def _get(node: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        node = getattr(node, part)
    return node


def _set(node: Any, dotted: str, value: Any) -> None:
    *path, last = dotted.split(".")
    for part in path:
        node = getattr(node, part)
    setattr(node, last, value)


def restart_keys(listener_sections: Sequence[str]) -> list[str]:
    return [*RESTART_ONLY, *(f"{s}.{k}" for s in listener_sections for k in LISTENER_KEYS)]


def hold_restart_only(running: Any, new: Any, keys: Sequence[str]) -> list[str]:
    """Put the running values of ``keys`` back into ``new``; return "key: old → new" for each
    that differed (what the administrator must restart for)."""
    held = []
    for key in keys:
        old, want = _get(running, key), _get(new, key)
        if old != want:
            held.append(f"{key}: {_show(old)} → {_show(want)}")
            _set(new, key, copy.deepcopy(old))
    return held


def _show(value: Any) -> str:
    if isinstance(value, msgspec.Struct):
        return "(changed)"
    return repr(value)


def apply_in_place(target: msgspec.Struct, source: msgspec.Struct) -> list[str]:
    """Copy every value of ``source`` into ``target`` (same type), section by section, so
    that everything holding a reference to ``target`` or to one of its sections sees the new
    values. Returns the dotted keys that changed."""
    changed: list[str] = []

    def walk(t: msgspec.Struct, s: msgspec.Struct, prefix: str) -> None:
        for field in msgspec.structs.fields(type(t)):
            old, new = getattr(t, field.name), getattr(s, field.name)
            if isinstance(old, msgspec.Struct) and isinstance(new, msgspec.Struct):
                walk(old, new, f"{prefix}{field.name}.")
            elif old != new:
                setattr(t, field.name, copy.deepcopy(new))
                changed.append(prefix + field.name)

    walk(target, source, "")
    return changed
