"""The search index: decoded header and body text per blob, queried by substring.

SQLite: an FTS5 external-content table with the trigram tokenizer over ``blob_text``, so
``LIKE '%term%'`` uses the index (SQLite ≥ 3.34). Indexing a message's trigrams is the most
expensive part of storing it (a fifth of the writer's time for 100 KB messages), so delivery
only writes the ``blob_text`` row, marked ``indexed = 0``; ``index_pending`` (run by the
server's indexer, services/indexer.py) adds such rows to the FTS table later, hundreds per
transaction, off the path that makes a 250 durable. Until then ``search_in`` reads the
unindexed rows themselves (a partial index finds them), so a message is searchable the moment
it is delivered. PostgreSQL: ``pg_trgm`` GIN indexes and ``ILIKE``, maintained as rows are
written (GIN's pending list already batches them).

Both treat ``%`` and ``_`` in a pattern as wildcards, so terms containing them are matched
broadly by the index and then confirmed exactly in Python on the stored text; the
message files are never read.
"""

from __future__ import annotations

from collections.abc import Sequence

from postroom.store.engine import Tx

COLUMNS = ("hdr", "body")
SCAN_LIMIT = 2000  # messages; below this a mailbox's own rows are read instead of the index


def index_in(tx: Tx, items: Sequence[tuple[str, str, str]]) -> None:
    """Keep (sha256, header text, body text) for blobs not known yet; on SQLite the FTS
    insertion is left to ``index_pending``."""
    pending = 0 if tx.dialect == "sqlite" else 1
    for sha, hdr, body in items:
        tx.execute("INSERT INTO blob_text (sha256, hdr, body, indexed) VALUES (?, ?, ?, ?) "
                   "ON CONFLICT (sha256) DO NOTHING", (sha, hdr, body, pending))


def index_pending(tx: Tx, limit: int, max_bytes: int = 1 << 20) -> int:
    """Add up to ``limit`` unindexed rows to the FTS table, oldest first, in this one
    transaction, stopping once ``max_bytes`` of text are taken (always at least one row);
    return how many. One FTS5 transaction of many rows writes one new segment where one per
    delivery wrote many small ones to be merged later; the byte bound keeps the transaction
    short, because the store has one writer and every delivery's commit waits behind it
    (issue 20: 250 messages of 100 KB held the writer for seconds). The text is copied inside
    SQLite (INSERT ... SELECT), never through Python."""
    if tx.dialect != "sqlite":
        return 0
    rows = tx.all("SELECT id, length(hdr) + length(body) FROM blob_text WHERE indexed = 0 "
                  "ORDER BY id LIMIT ?", (limit,))
    if not rows:
        return 0
    taken = size = 0
    for _, length in rows:
        if taken and size + int(length or 0) > max_bytes:
            break
        taken += 1
        size += int(length or 0)
    last = rows[taken - 1][0]
    tx.execute("INSERT INTO blob_fts (rowid, hdr, body) SELECT id, hdr, body FROM blob_text "
               "WHERE indexed = 0 AND id <= ?", (last,))
    tx.execute("UPDATE blob_text SET indexed = 1 WHERE indexed = 0 AND id <= ?", (last,))
    return taken


def has_pending(tx: Tx) -> bool:
    return count_pending(tx, 1) > 0


def count_pending(tx: Tx, most: int) -> int:
    """Unindexed rows, counted up to ``most`` (the partial index makes this cheap)."""
    if tx.dialect != "sqlite":
        return 0
    row = tx.one("SELECT count(*) FROM (SELECT 1 FROM blob_text WHERE indexed = 0 LIMIT ?)",
                 (most,))
    return int(row[0]) if row else 0


def drop_in(tx: Tx, shas: Sequence[str]) -> None:
    for sha in shas:
        if tx.dialect == "sqlite":
            row = tx.one("SELECT id, hdr, body, indexed FROM blob_text WHERE sha256 = ?",
                         (sha,))
            if row is None:
                continue
            if row[3]:  # an FTS5 'delete' of a row it never had would corrupt the index
                tx.execute("INSERT INTO blob_fts (blob_fts, rowid, hdr, body) "
                           "VALUES ('delete', ?, ?, ?)", (row[0], row[1], row[2]))
        tx.execute("DELETE FROM blob_text WHERE sha256 = ?", (sha,))


def _like(term: str) -> str:
    return "%" + term + "%"


def _small(tx: Tx, mailbox_id: int) -> bool:
    row = tx.one("SELECT message_count FROM mailboxes WHERE id = ?", (mailbox_id,))
    return row is not None and int(row[0]) <= SCAN_LIMIT


def search_in(tx: Tx, mailbox_id: int, columns: Sequence[str], term: str) -> set[int]:
    """UIDs in the mailbox whose indexed text contains ``term`` (case-insensitive).

    SQLite: the FTS index covers every mailbox on the server, so for a mailbox of up to
    ``SCAN_LIMIT`` messages reading its own rows is cheaper than walking the index's posting
    lists (a common word's trigrams list most of the server's mail); bigger mailboxes, and
    terms of three characters or more, go through the index. Terms that SQLite's LIKE cannot
    fold (non-ASCII) or that hold LIKE wildcards are confirmed with ``str.casefold``.
    """
    if not term:
        return {int(r[0]) for r in tx.all("SELECT uid FROM messages WHERE mailbox_id = ?",
                                          (mailbox_id,))}
    out: set[int] = set()
    exact = "%" in term or "_" in term or not term.isascii()
    folded = term.casefold()
    scan = tx.dialect == "sqlite" and (len(term) < 3 or _small(tx, mailbox_id))
    for column in columns:
        if column not in COLUMNS:
            raise ValueError(column)
        base = (f"SELECT m.uid, {f't.{column}' if exact else repr('')} FROM messages m "
                f"JOIN blob_text t ON t.sha256 = m.blob WHERE m.mailbox_id = ?")
        params: tuple[object, ...] = (mailbox_id, _like(term))
        if tx.dialect != "sqlite":
            sql = f"{base} AND t.{column} ILIKE ?"
        elif not scan:
            sql = f"{base} AND t.id IN (SELECT rowid FROM blob_fts WHERE {column} LIKE ?)"
            out |= _pending(tx, mailbox_id, column, term, folded if exact else None)
        elif term.isascii():
            sql = f"{base} AND t.{column} LIKE ?"
        else:  # SQLite's LIKE folds ASCII only: read the mailbox's rows, fold in Python
            sql, params = base, (mailbox_id,)
        for uid, found in tx.all(sql, params):
            if not exact or folded in str(found).casefold():
                out.add(int(uid))
    return out


def _pending(tx: Tx, mailbox_id: int, column: str, term: str, folded: str | None) -> set[int]:
    """UIDs matching among the rows the indexer has not reached yet: those rows first (a
    partial index holds only them, a few seconds' deliveries at most), then the mailbox's
    messages that use them."""
    shas = [str(sha) for sha, found in tx.all(
        f"SELECT sha256, {column} FROM blob_text WHERE indexed = 0 AND {column} LIKE ?",
        (_like(term),)) if folded is None or folded in str(found).casefold()]
    out: set[int] = set()
    for i in range(0, len(shas), 500):
        chunk = shas[i:i + 500]
        marks = ", ".join("?" for _ in chunk)
        out.update(int(r[0]) for r in tx.all(
            f"SELECT uid FROM messages WHERE mailbox_id = ? AND blob IN ({marks})",
            (mailbox_id, *chunk)))
    return out


def headers_in(tx: Tx, mailbox_id: int, uids: Sequence[int]) -> dict[int, str]:
    """Indexed header text for some messages (SEARCH HEADER verification)."""
    out: dict[int, str] = {}
    for i in range(0, len(uids), 500):
        chunk = uids[i:i + 500]
        marks = ", ".join("?" for _ in chunk)
        for uid, hdr in tx.all(f"SELECT m.uid, t.hdr FROM messages m JOIN blob_text t "
                               f"ON t.sha256 = m.blob WHERE m.mailbox_id = ? AND m.uid IN "
                               f"({marks})", (mailbox_id, *chunk)):
            out[int(uid)] = str(hdr)
    return out
