"""SORT keys in the message rows: written at insert, filled in for older rows, ordered in SQL.

Design (RFC 5256 §3, RFC 5957 §3):
- ``stored_keys`` turns a row's stored MIME scan and INTERNALDATE into the key columns
  (``mime/sortkeys.py`` computes them; SORT's in-memory reference uses the same functions).
  The insert paths call it inside their transaction, so a row is never visible without its
  keys. Copies and moves carry the source row's keys over unchanged: the keys depend only on
  the content and the INTERNALDATE, which a copy keeps (RFC 9051 §6.4.7).
- Rows written before schema version 12 have NULL keys. They are filled per mailbox the first
  time that mailbox is sorted (``ordered_uids``), in batches: keys computed on a reader, then
  one short write per batch that only touches rows still NULL (keys are a pure function of
  immutable columns, so two sessions filling the same rows at once write the same values).
  Filling at start or in the migration would have been the alternative; it makes every
  upgrade wait for all mail to be decoded (minutes on a large store), where lazily only the
  first SORT of an old mailbox pays, once (about 3 s per 100,000 messages), and mailboxes
  nobody sorts never do. ``messages_sort_pending`` (a partial index that is empty once
  everything is filled) makes the check before each SORT a single index probe.
- ``ordered_uids`` asks the database for the UIDs already in order, as one aggregated string:
  ``ORDER BY key1 [DESC], key2 …, uid``. Python's stable sorts, which SORT did before, order
  equal keys by sequence number even for REVERSE keys (``sort(reverse=True)`` keeps ties in
  their order), and sequence order is UID order; so the UID is the last key, always ascending.
  Text keys are octet strings, so both databases compare them like Python compares ``str``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from postroom.mime.sortkeys import STORED_COLUMNS, sort_keys
from postroom.store.engine import Engine, Tx
from postroom.store.repo.bulkreads import int_list

COLUMNS = ", ".join(STORED_COLUMNS)
# RFC 5256 §3 / RFC 5957 §3 key → the column holding it. ARRIVAL and SIZE are columns every
# row always had.
KEY_COLUMNS = {"ARRIVAL": "internal_date", "SIZE": "size", "DATE": "sort_date",
               "SUBJECT": "sort_subject", "FROM": "sort_from", "TO": "sort_to",
               "CC": "sort_cc", "DISPLAYFROM": "sort_displayfrom",
               "DISPLAYTO": "sort_displayto"}
FILL_BATCH = 2000
NARROW = 5000  # UID ranges up to this wide are read through the UID index, then sorted
StoredKeys = tuple[bytes, bytes, bytes, bytes, bytes, bytes, float]


class _Envelope(msgspec.Struct):
    """The stored scan's ENVELOPE; the decoder skips the body structure."""

    env: list[Any]


_DECODE = msgspec.json.Decoder(_Envelope)


def stored_keys(meta: str | bytes, internal_date: int) -> StoredKeys:
    """The key columns (``COLUMNS`` order) of a row with this stored scan and INTERNALDATE."""
    return sort_keys(_DECODE.decode(meta).env, internal_date).stored()


def _pending(tx: Tx, mailbox_id: int, limit: int) -> list[tuple[Any, ...]]:
    return tx.all("SELECT uid, internal_date, meta FROM messages WHERE mailbox_id = ? AND "
                  "sort_subject IS NULL ORDER BY uid LIMIT ?", (mailbox_id, limit))


async def fill(engine: Engine, mailbox_id: int, batch: int = FILL_BATCH) -> int:
    """Compute and store the keys of the mailbox's rows that have none; return how many."""
    done = 0
    sets = ", ".join(f"{c} = ?" for c in STORED_COLUMNS)
    while True:
        def compute(tx: Tx) -> list[tuple[Any, ...]]:
            return [(*stored_keys(meta, int(date)), mailbox_id, int(uid))
                    for uid, date, meta in _pending(tx, mailbox_id, batch)]
        rows = await engine.read(compute)
        if not rows:
            return done

        def write(tx: Tx, rows: list[tuple[Any, ...]] = rows) -> None:
            tx.many(f"UPDATE messages SET {sets} WHERE mailbox_id = ? AND uid = ? "
                    "AND sort_subject IS NULL", rows)
        await engine.write(write)
        done += len(rows)
        if len(rows) < batch:
            return done


def order_by(criteria: Sequence[tuple[str, bool]]) -> str:
    """``ORDER BY`` terms for (key, reverse) pairs, the UID last and ascending."""
    terms = [KEY_COLUMNS[name] + (" DESC" if reverse else "") for name, reverse in criteria]
    return ", ".join([*terms, "uid"])


def ordered_in(tx: Tx, mailbox_id: int, criteria: Sequence[tuple[str, bool]], lo: int,
               hi: int) -> list[int] | None:
    """The UIDs between ``lo`` and ``hi`` in SORT order, or None while some row of the
    mailbox still lacks its keys (then ``fill`` first)."""
    if tx.one("SELECT 1 FROM messages WHERE mailbox_id = ? AND sort_subject IS NULL LIMIT 1",
              (mailbox_id,)) is not None:
        return None
    order = order_by(criteria)
    # A wide range (SORT … ALL) is read in key order from the key's index, the UID bound
    # only filtering (unary + keeps SQLite from choosing the UID index for it, which would
    # mean reading every row and sorting them all); a narrow one is read by UID and sorted.
    uid = "+uid" if hi - lo > NARROW else "uid"
    if tx.dialect == "sqlite":
        sql = (f"SELECT group_concat(uid) FROM (SELECT uid FROM messages WHERE mailbox_id = ? "
               f"AND {uid} BETWEEN ? AND ? ORDER BY {order})")
    else:
        sql = (f"SELECT string_agg(uid::text, ',' ORDER BY {order}) FROM messages "
               f"WHERE mailbox_id = ? AND {uid} BETWEEN ? AND ?")
    row = tx.one(sql, (mailbox_id, lo, hi))
    return int_list(row[0] if row is not None else None)


async def ordered_uids(engine: Engine, mailbox_id: int, criteria: Sequence[tuple[str, bool]],
                       lo: int, hi: int) -> list[int]:
    """``ordered_in``, filling missing keys first when there are any (older rows)."""
    def fn(tx: Tx) -> list[int] | None:
        return ordered_in(tx, mailbox_id, criteria, lo, hi)
    while True:
        out = await engine.read(fn)
        if out is not None:
            return out
        await fill(engine, mailbox_id)
