"""Queries only webmail's reading page needs: the neighbours of a message in its folder.

"Newer" and "older" are by arrival (UID order, RFC 9051 §2.3.1.1: UIDs ascend with arrival),
which is what the list shows by default; each is one indexed lookup on (mailbox_id, uid),
so the cost does not grow with the folder.
"""

from __future__ import annotations

from postroom.store.engine import Engine, Tx


class ReadingQueries:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def neighbours(self, mailbox_id: int, uid: int) -> tuple[int | None, int | None]:
        """(the UID just below ``uid``, the UID just above it) in the mailbox, None at an
        end."""
        def fn(tx: Tx) -> tuple[int | None, int | None]:
            row = tx.one("SELECT (SELECT max(uid) FROM messages WHERE mailbox_id = ? AND "
                         "uid < ?), (SELECT min(uid) FROM messages WHERE mailbox_id = ? AND "
                         "uid > ?)", (mailbox_id, uid, mailbox_id, uid))
            if row is None:
                return None, None
            return (int(row[0]) if row[0] is not None else None,
                    int(row[1]) if row[1] is not None else None)
        return await self.engine.read(fn)
