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


def search_in(tx: Tx, mailbox_id: int, columns: Sequence[str], term: str) -> set[int]:
    """UIDs in the mailbox whose indexed text contains ``term`` (case-insensitive)."""
    if not term:
        return {int(r[0]) for r in tx.all("SELECT uid FROM messages WHERE mailbox_id = ?",
                                          (mailbox_id,))}
    out: set[int] = set()
    exact = "%" in term or "_" in term
    folded = term.casefold()
    for column in columns:
        if column not in COLUMNS:
            raise ValueError(column)
        if tx.dialect == "sqlite":
            sql = (f"SELECT m.uid, t.{column} FROM messages m JOIN blob_text t "
                   f"ON t.sha256 = m.blob WHERE m.mailbox_id = ? AND t.id IN "
                   f"(SELECT rowid FROM blob_fts WHERE {column} LIKE ?)")
            if len(term) < 3:  # below the trigram length the index cannot help anyway
                sql = (f"SELECT m.uid, t.{column} FROM messages m JOIN blob_text t "
                       f"ON t.sha256 = m.blob WHERE m.mailbox_id = ? AND t.{column} LIKE ?")
        else:
            sql = (f"SELECT m.uid, t.{column} FROM messages m JOIN blob_text t "
                   f"ON t.sha256 = m.blob WHERE m.mailbox_id = ? AND t.{column} ILIKE ?")
        if not exact:
            sql = sql.replace(f"m.uid, t.{column}", "m.uid, ''")
        for uid, text in tx.all(sql, (mailbox_id, _like(term))):
            if not exact or folded in str(text).casefold():
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
