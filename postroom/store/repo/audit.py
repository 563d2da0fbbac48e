"""The audit log's rows: appended, listed newest first, never changed."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping

from postroom.core.records import AuditRec
from postroom.store.engine import Engine, Tx

_COLS = "id, at, actor, origin, action, target, detail"


class AuditRepo:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def append(self, actor: str, origin: str, action: str, target: str,
                     detail: Mapping[str, object]) -> int:
        def fn(tx: Tx) -> int:
            row = tx.one("INSERT INTO audit (at, actor, origin, action, target, detail) "
                         "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                         (int(time.time()), actor, origin, action, target,
                          json.dumps(dict(detail), sort_keys=True, default=str)))
            assert row is not None
            return int(row[0])
        return await self.engine.write(fn)

    async def list(self, *, limit: int = 100, since: int | None = None,
                   actor: str | None = None, action: str | None = None,
                   target: str | None = None, before: int | None = None) -> list[AuditRec]:
        """Newest first; each filter narrows (``action`` and ``target`` match a prefix);
        ``before`` (a record id) pages back from the last record of the previous page."""
        where: list[str] = ["1 = 1"]
        args: list[object] = []
        if before is not None:
            where.append("id < ?")
            args.append(before)
        if since is not None:
            where.append("at >= ?")
            args.append(since)
        if actor:
            where.append("actor = ?")
            args.append(actor)
        if action:
            where.append("action LIKE ? ESCAPE '\\'")
            args.append(_prefix(action))
        if target:
            where.append("target LIKE ? ESCAPE '\\'")
            args.append(_prefix(target))

        def fn(tx: Tx) -> list[AuditRec]:
            rows = tx.all(f"SELECT {_COLS} FROM audit WHERE {' AND '.join(where)} "
                          "ORDER BY id DESC LIMIT ?", (*args, limit))
            return [AuditRec(int(r[0]), int(r[1]), r[2], r[3], r[4], r[5], json.loads(r[6]))
                    for r in rows]
        return await self.engine.read(fn)


def _prefix(text: str) -> str:
    """A LIKE pattern matching ``text`` as a prefix, with LIKE's wildcards taken literally."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
