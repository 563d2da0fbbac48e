"""Which messages a folder already holds, so that an import can skip them.

An import run twice, or run again after it failed half-way, must not store every message a
second time. A message counts as already held when the folder has one

- with the same ``Message-ID`` header value and the same size in octets, or, for a message
  without a ``Message-ID``,
- of the same size whose whole content (per-delivery prefix, then blob) has the same SHA-256.

Message-ID *and* size, because a Message-ID is chosen by whoever wrote the message and is
reused in the wild (edited or resent copies, broken generators): a different message that
happens to share it is still imported unless it also has exactly the same length. Size alone
is far too weak, and hashing every stored message would read the whole folder; the content
hash is computed only for stored messages without a Message-ID whose size matches, and for one
stored as a single blob it is the blob's own name (the blob store is addressed by SHA-256).

The index is a snapshot taken before the import adds anything to the folder and is not
updated as it goes: two identical messages inside one source file are both imported the first
time (the source is copied as it is) and both skipped the next time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Sequence

from postroom.mime.scanner import parse_headers, split_header

Fingerprint = tuple[int, int, str, int, str | None]  # uid, size, blob, prefix length, Message-ID


def message_id(data: bytes) -> str | None:
    """The ``Message-ID`` header's value as the stored ENVELOPE keeps it, or None if absent or
    empty (the same header parser, so the two sides compare equal)."""
    for name, value in parse_headers(data[:split_header(data)]):
        if name == "message-id":
            return value.strip() or None
    return None


class DuplicateIndex:
    """Answers "does the folder already hold this message?" (see the module docstring)."""

    def __init__(self, rows: Sequence[Fingerprint],
                 read: Callable[[int], Awaitable[bytes]] | None = None) -> None:
        """``rows``: the folder's fingerprints; ``read``: a stored message's content by UID,
        needed only for messages without a Message-ID stored with a prefix."""
        self._with_id: set[tuple[str, int]] = set()
        self._without_id: dict[int, list[tuple[int, str, int]]] = {}
        self._hashes: dict[int, str] = {}  # UID -> SHA-256 of prefix + blob, filled lazily
        self._read = read
        for uid, size, blob, prefix_len, mid in rows:
            mid = mid.strip() if mid else None
            if mid:
                self._with_id.add((mid, size))
            else:
                self._without_id.setdefault(size, []).append((uid, blob, prefix_len))

    @classmethod
    def empty(cls) -> DuplicateIndex:
        """For a folder that does not exist yet."""
        return cls(())

    async def holds(self, data: bytes) -> bool:
        """Is ``data`` (the message as it would be stored, CRLF line ends) already there?"""
        mid = message_id(data)
        if mid is not None:
            return (mid, len(data)) in self._with_id
        candidates = self._without_id.get(len(data))
        if not candidates:
            return False
        digest = hashlib.sha256(data).hexdigest()
        for uid, blob, prefix_len in candidates:
            if prefix_len == 0:
                if blob == digest:
                    return True
                continue
            known = self._hashes.get(uid)
            if known is None and self._read is not None:
                known = hashlib.sha256(await self._read(uid)).hexdigest()
                self._hashes[uid] = known
            if known == digest:
                return True
        return False
