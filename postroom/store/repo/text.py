"""The search index: decoded header and body text per blob, queried by substring.

SQLite: an FTS5 external-content table with the trigram tokenizer over ``blob_text``, so
``LIKE '%term%'`` uses the index (SQLite ≥ 3.34). PostgreSQL: ``pg_trgm`` GIN indexes and
``ILIKE``. Both treat ``%`` and ``_`` in a pattern as wildcards, so terms containing them are
matched broadly by the index and then confirmed exactly in Python on the stored text; the
message files are never read.
"""

from __future__ import annotations

from collections.abc import Sequence

from postroom.store.engine import Tx

COLUMNS = ("hdr", "body")
SCAN_LIMIT = 2000  # messages; below this a mailbox's own rows are read instead of the index


def index_in(tx: Tx, items: Sequence[tuple[str, str, str]]) -> None:
    """Index (sha256, header text, body text) for blobs not indexed yet."""
    for sha, hdr, body in items:
        if tx.dialect == "sqlite":
            row = tx.one("INSERT INTO blob_text (sha256, hdr, body) VALUES (?, ?, ?) "
                         "ON CONFLICT (sha256) DO NOTHING RETURNING id", (sha, hdr, body))
            if row is not None:
                tx.execute("INSERT INTO blob_fts (rowid, hdr, body) VALUES (?, ?, ?)",
                           (row[0], hdr, body))
        else:
            tx.execute("INSERT INTO blob_text (sha256, hdr, body) VALUES (?, ?, ?) "
                       "ON CONFLICT (sha256) DO NOTHING", (sha, hdr, body))


def drop_in(tx: Tx, shas: Sequence[str]) -> None:
    for sha in shas:
        if tx.dialect == "sqlite":
            row = tx.one("SELECT id, hdr, body FROM blob_text WHERE sha256 = ?", (sha,))
            if row is None:
                continue
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
        elif term.isascii():
            sql = f"{base} AND t.{column} LIKE ?"
        else:  # SQLite's LIKE folds ASCII only: read the mailbox's rows, fold in Python
            sql, params = base, (mailbox_id,)
        for uid, found in tx.all(sql, params):
            if not exact or folded in str(found).casefold():
                out.add(int(uid))
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
