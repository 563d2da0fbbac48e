"""What an import counts as already held (services/duplicates.py)."""

from __future__ import annotations

import asyncio
import hashlib

from postroom.services.duplicates import DuplicateIndex, message_id

A = b"Message-ID: <a@x>\r\nSubject: a\r\n\r\nbody\r\n"
NO_ID = b"Subject: none\r\n\r\nbody\r\n"


def test_message_id_read_like_the_envelope() -> None:
    assert message_id(A) == "<a@x>"
    assert message_id(b"Message-ID:\r\n <folded@x>\r\n\r\n") == "<folded@x>"
    assert message_id(NO_ID) is None
    assert message_id(b"Message-ID:   \r\n\r\n") is None


def test_holds() -> None:
    async def go() -> None:
        reads: list[int] = []

        async def read(uid: int) -> bytes:
            reads.append(uid)
            return b"X-Prefix: 1\r\n" + NO_ID

        index = DuplicateIndex([
            (1, len(A), "blob-a", 0, "<a@x>"),
            (2, len(NO_ID), hashlib.sha256(NO_ID).hexdigest(), 0, None),
            (3, len(NO_ID) + 13, "blob-c", 13, None),
        ], read)
        assert await index.holds(A)
        assert not await index.holds(A + b"more\r\n")  # same Message-ID, other size
        assert await index.holds(NO_ID)  # by the blob's own name, nothing read
        assert reads == []
        assert await index.holds(b"X-Prefix: 1\r\n" + NO_ID)  # stored with a prefix: read once
        assert reads == [3]
        assert not await index.holds(b"Subject: n0ne\r\n\r\nbody\r\n")
        assert not await DuplicateIndex.empty().holds(A)
    asyncio.run(go())
