"""Mailbox-wide reads that return many small values: each column aggregated by the database
into one string, split in Python.

Why: on a 100,000-message mailbox, fetching rows costs more than anything else the query
does. ``SELECT uid, modseq, flags, keywords`` fetched as 100,000 Python tuples took ~50 ms;
the same columns as four aggregated strings, split and converted with ``map(int, …)``, about
a third of that. The rows are aggregated in UID order (SQLite: from an ordered subquery, as
``MessageQueries.uids`` does; PostgreSQL: ``ORDER BY`` inside ``string_agg``), and all the
columns of one query come from the same rows in the same order, so the lists stay parallel.

Keywords are rare (and may hold commas): the aggregate asks only whether any message in the
range has some, and only then are those messages' keywords read, as rows.
"""

from __future__ import annotations

import msgspec

from postroom.core import flags as F
from postroom.core.records import FlagRun
from postroom.store.engine import Tx


def _agg(tx: Tx, expr: str) -> str:
    """``expr`` of every row joined by commas, in UID order on PostgreSQL; SQLite keeps the
    order of the ordered subquery it aggregates."""
    if tx.dialect == "sqlite":
        return f"group_concat({expr}, ',')"
    return f"string_agg(({expr})::text, ',' ORDER BY uid)"


_INTS = msgspec.json.Decoder(list[int])


def int_list(text: object) -> list[int]:
    """``"3,1,2"`` → [3, 1, 2]: read as a JSON array, five times faster than ``map(int, …)``
    at 100,000 numbers."""
    return _INTS.decode(f"[{text}]".encode()) if text else []


def _flags_expr(seen_account: int | None) -> tuple[str, tuple[int, ...]]:
    """The flags column as the reader sees it: with a private ``\\Seen`` (shared folders,
    PD 6) the shared bit is replaced by the reader's own row in ``seen``."""
    if seen_account is None:
        return "flags", ()
    return (f"(flags & ~{F.SEEN}) | CASE WHEN EXISTS (SELECT 1 FROM seen s WHERE "
            "s.mailbox_id = m.mailbox_id AND s.account_id = ? AND s.uid = m.uid) "
            f"THEN {F.SEEN} ELSE 0 END", (seen_account,))


def flag_run_in(tx: Tx, mailbox_id: int, lo: int, hi: int, seen_account: int | None,
                modseqs: bool) -> FlagRun:
    """Flags of every message with ``lo <= uid <= hi``; their MODSEQs only when asked (each
    column costs about as much as the rest of the query)."""
    flags, extra = _flags_expr(seen_account)
    where = "m.mailbox_id = ? AND m.uid BETWEEN ? AND ?"
    cols = ["f", *(["modseq"] if modseqs else [])]
    if tx.dialect == "sqlite":
        sql = (f"SELECT count(*), sum(uid), max(k), {', '.join(_agg(tx, c) for c in cols)} "
               f"FROM (SELECT uid, modseq, {flags} AS f, keywords AS k FROM messages m "
               f"WHERE {where} ORDER BY uid)")
    else:
        sql = (f"SELECT count(*), sum(uid), bool_or(keywords <> ''), "
               f"{', '.join(_agg(tx, flags if c == 'f' else c) for c in cols)} "
               f"FROM messages m WHERE {where}")
    row = tx.one(sql, (*extra, mailbox_id, lo, hi))
    if row is None or not row[0]:
        return FlagRun(0, 0, [], [], {})
    kws: dict[int, str] = {}
    if row[2]:  # some message has keywords: a second, narrower read for those alone
        kws = {int(u): str(k) for u, k in tx.all(
            f"SELECT uid, keywords FROM messages m WHERE {where} AND keywords <> ''",
            (mailbox_id, lo, hi))}
    return FlagRun(int(row[0]), int(row[1]), int_list(row[3]),
                   int_list(row[4]) if modseqs else [], kws)


def unseen_in(tx: Tx, mailbox_id: int, seen_account: int | None, up_to: int) -> list[int]:
    """UIDs up to ``up_to`` without ``\\Seen``, ascending. Without private ``\\Seen`` this is
    a range scan of ``messages_unseen``, the partial index that holds only unseen messages."""
    if seen_account is None:
        cond = f"(m.flags & {F.SEEN}) = 0"
        params: tuple[int, ...] = (mailbox_id, up_to)
    else:
        cond = ("NOT EXISTS (SELECT 1 FROM seen s WHERE s.mailbox_id = m.mailbox_id AND "
                "s.account_id = ? AND s.uid = m.uid)")
        params = (seen_account, mailbox_id, up_to)
    if tx.dialect == "sqlite":
        # Named: without statistics SQLite takes the covering index of every message.
        index = " INDEXED BY messages_unseen" if seen_account is None else ""
        sql = (f"SELECT group_concat(uid) FROM (SELECT m.uid FROM messages m{index} WHERE "
               f"{cond} AND m.mailbox_id = ? AND m.uid <= ? ORDER BY m.uid)")
    else:
        sql = (f"SELECT {_agg(tx, 'm.uid')} FROM messages m WHERE {cond} AND m.mailbox_id = ? "
               "AND m.uid <= ?")
    row = tx.one(sql, params)
    return int_list(row[0] if row is not None else None)
