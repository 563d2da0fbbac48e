"""What one delivery attempt did, recipient by recipient, and the queue entry's parameters.

Shared by local delivery (mta/queue.py) and remote delivery (mta/outbound.py); the queue
manager's ``conclude`` turns an ``Attempt`` into the entry's next state and the notices.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from typing import BinaryIO

from postroom.core.records import NewMessage, QueueRec
from postroom.mta.dsn import RecipientStatus
from postroom.store.blobs import FileBlobStore


@dataclass
class Attempt:
    delivered: list[RecipientStatus] = field(default_factory=list)
    failed: list[RecipientStatus] = field(default_factory=list)
    deferred: dict[str, str] = field(default_factory=dict)  # recipient → reason
    local_by_rcpt: dict[str, list[tuple[int, NewMessage]]] = field(default_factory=dict)
    state: str = "ready"

    @property
    def local(self) -> list[tuple[int, NewMessage]]:
        return [t for targets in self.local_by_rcpt.values() for t in targets]


def entry_params(entry: QueueRec) -> dict[str, object]:
    """The JSON parameters kept with a queue entry: DSN (ret, envid, notify, orcpt), body,
    smtputf8, and the manager's own marks (remote, notice, warned, bounce)."""
    try:
        value = json.loads(entry.params or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def per_recipient(params: dict[str, object], key: str) -> dict[str, str]:
    table = params.get(key)
    return {str(k): str(v) for k, v in table.items()} if isinstance(table, dict) else {}


def wants(params: dict[str, object], recipient: str, kind: str) -> bool:
    """Does the sender want a ``kind`` notice for ``recipient`` (RFC 3461 §4.1)? Without
    NOTIFY: failures and delays, not successes."""
    notify = per_recipient(params, "notify").get(recipient)
    if notify is None:
        return kind in ("FAILURE", "DELAY")
    return kind in notify.split(",")


class _Chain(io.RawIOBase):
    """The queued message as one stream: the prefix (our Received line), then the blob."""

    def __init__(self, prefix: bytes, blob: BinaryIO) -> None:
        self.prefix = prefix
        self.blob = blob

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if self.prefix:
            n = min(len(buffer), len(self.prefix))
            buffer[:n] = self.prefix[:n]
            self.prefix = self.prefix[n:]
            return n
        data = self.blob.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def close(self) -> None:
        self.blob.close()
        super().close()


def open_message(blobs: FileBlobStore, entry: QueueRec) -> BinaryIO:
    """Blocking: the queued message (prefix + blob) as a buffered binary file; close it."""
    return io.BufferedReader(_Chain(bytes(entry.prefix), blobs.open(entry.blob)), 65536)
