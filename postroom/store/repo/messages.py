"""Messages: append, copy, move, flag changes, expunge, per-user ``\\Seen``.

Invariants kept inside each transaction:
- UIDs come from ``mailboxes.uidnext`` and MODSEQs from ``highestmodseq``, bumped by the same
  UPDATE that reads them, so concurrent writers (and PostgreSQL's row lock) can never hand out
  one twice (RFC 9051 §2.3.1.1, RFC 7162 §3.1).
- ``blobs.refcount`` counts message and queue rows naming the blob.
- The owner's ``used_bytes`` moves with every append/copy/expunge; going over ``quota_bytes``
  raises OVER_QUOTA and the whole transaction is rolled back.
- Where ``seen_account`` is given, ``\\Seen`` lives in the ``seen`` table for that reader
  (Product decision 6) and the shared flag bit is left alone.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace

from postroom.core import flags as F
from postroom.core.changes import FlagsChanged, MessageAdded, MessagesExpunged
from postroom.core.errors import Kind, MailError, not_found
from postroom.core.records import (
    ContentRef,
    FlagRow,
    FlagRun,
    FlagUpdate,
    MailboxCounts,
    MessageRec,
    NewMessage,
    SearchRow,
)
from postroom.store.engine import Engine, Tx
from postroom.store.repo import bulkreads, sortkeys, text
from postroom.store.repo.mailboxes import release_blobs_of

_COLS = "mailbox_id, uid, modseq, flags, keywords, internal_date, size, blob, prefix, meta"
# Inserts also write the SORT keys (store/repo/sortkeys.py), so no row exists without them.
_INSERT = (f"INSERT INTO messages ({_COLS}, {sortkeys.COLUMNS}) VALUES "
           f"({', '.join('?' * 17)})")


def _charge(tx: Tx, mailbox_id: int, count: int, size: int) -> tuple[int, int, int | None]:
    """Reserve ``count`` UIDs and one MODSEQ; return (first uid, modseq, owner id)."""
    row = tx.one("UPDATE mailboxes SET uidnext = uidnext + ?, highestmodseq = highestmodseq + 1, "
                 "message_count = message_count + ?, total_size = total_size + ? WHERE id = ? "
                 "RETURNING uidnext, highestmodseq, owner_id", (count, count, size, mailbox_id))
    if row is None:
        raise not_found("mailbox no longer exists")
    first_uid = int(row[0]) - count
    owner = int(row[2]) if row[2] is not None else None
    if owner is not None and size:
        q = tx.one("UPDATE accounts SET used_bytes = used_bytes + ? WHERE id = ? "
                   "RETURNING used_bytes, quota_bytes", (size, owner))
        if q and q[1] is not None and size > 0 and int(q[0]) > int(q[1]):
            raise MailError(Kind.OVER_QUOTA, "quota exceeded")
    return first_uid, int(row[1]), owner


def _ref_blobs(tx: Tx, blobs: Sequence[tuple[str, int]]) -> None:
    tx.many("INSERT INTO blobs (sha256, size, refcount) VALUES (?, ?, 1) ON CONFLICT (sha256) "
            "DO UPDATE SET refcount = blobs.refcount + 1, zero_since = NULL", blobs)


def _bump_modseq(tx: Tx, mailbox_id: int) -> int:
    row = tx.one("UPDATE mailboxes SET highestmodseq = highestmodseq + 1 WHERE id = ? "
                 "RETURNING highestmodseq", (mailbox_id,))
    if row is None:
        raise not_found("mailbox no longer exists")
    return int(row[0])


def _uid_chunks(uids: Sequence[int], size: int = 500) -> list[Sequence[int]]:
    return [uids[i:i + size] for i in range(0, len(uids), size)]


class MessageRepo:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def append(self, mailbox_id: int, messages: Sequence[NewMessage],
                     seen_account: int | None = None) -> list[tuple[int, int]]:
        """Insert messages atomically (MULTIAPPEND is all-or-nothing); return (uid, modseq)s."""
        def fn(tx: Tx) -> list[tuple[int, int]]:
            return self.append_in(tx, mailbox_id, messages, seen_account)
        return await self.engine.write(fn)

    @staticmethod
    def append_in(tx: Tx, mailbox_id: int, messages: Sequence[NewMessage],
                  seen_account: int | None = None) -> list[tuple[int, int]]:
        total = sum(m.size for m in messages)
        first, modseq, _owner = _charge(tx, mailbox_id, len(messages), total)
        rows = []
        seen_rows = []
        for i, m in enumerate(messages):
            flags = m.flags
            if seen_account is not None and flags & F.SEEN:
                flags &= ~F.SEEN
                seen_rows.append((mailbox_id, seen_account, first + i))
            rows.append((mailbox_id, first + i, modseq, flags, m.keywords, m.internal_date,
                         m.size, m.blob.sha256, m.prefix, m.meta,
                         *sortkeys.stored_keys(m.meta, m.internal_date)))
        tx.many(_INSERT, rows)
        tx.many("INSERT INTO seen (mailbox_id, account_id, uid) VALUES (?, ?, ?)", seen_rows)
        _ref_blobs(tx, [(m.blob.sha256, m.blob.size) for m in messages])
        text.index_in(tx, [(m.blob.sha256, *m.text) for m in messages if m.text is not None])
        tx.events.extend(MessageAdded(mailbox_id, first + i, modseq)
                         for i in range(len(messages)))
        return [(first + i, modseq) for i in range(len(messages))]

    async def flag_rows(self, mailbox_id: int, seen_account: int | None = None,
                        ) -> list[FlagRow]:
        """Every message's UID, MODSEQ and flags, in UID order (a session's view)."""
        def fn(tx: Tx) -> list[FlagRow]:
            rows = tx.all("SELECT uid, modseq, flags, keywords FROM messages "
                          "WHERE mailbox_id = ? ORDER BY uid", (mailbox_id,))
            if seen_account is None:
                return [FlagRow(int(r[0]), int(r[1]), int(r[2]), r[3]) for r in rows]
            seen = {int(r[0]) for r in tx.all(
                "SELECT uid FROM seen WHERE mailbox_id = ? AND account_id = ?",
                (mailbox_id, seen_account))}
            return [FlagRow(int(r[0]), int(r[1]),
                            (int(r[2]) & ~F.SEEN) | (F.SEEN if int(r[0]) in seen else 0), r[3])
                    for r in rows]
        return await self.engine.read(fn)

    async def get(self, mailbox_id: int, uid: int) -> MessageRec | None:
        def fn(tx: Tx) -> MessageRec | None:
            row = tx.one(f"SELECT {_COLS} FROM messages WHERE mailbox_id = ? AND uid = ?",
                         (mailbox_id, uid))
            return MessageRec(*row) if row else None
        return await self.engine.read(fn)

    async def content_ref(self, mailbox_id: int, uid: int) -> ContentRef | None:
        """The message's size, blob and prefix, or None once it is expunged."""
        def fn(tx: Tx) -> ContentRef | None:
            row = tx.one("SELECT uid, size, blob, prefix FROM messages WHERE mailbox_id = ? "
                         "AND uid = ?", (mailbox_id, uid))
            return ContentRef(int(row[0]), int(row[1]), str(row[2]), bytes(row[3])) \
                if row else None
        return await self.engine.read(fn)

    async def get_many(self, mailbox_id: int, uids: Sequence[int]) -> list[MessageRec]:
        def fn(tx: Tx) -> list[MessageRec]:
            out: list[MessageRec] = []
            for chunk in _uid_chunks(list(uids)):
                marks = ", ".join("?" for _ in chunk)
                out.extend(MessageRec(*r) for r in tx.all(
                    f"SELECT {_COLS} FROM messages WHERE mailbox_id = ? AND uid IN ({marks}) "
                    "ORDER BY uid", (mailbox_id, *chunk)))
            return out
        return await self.engine.read(fn)

    async def store(self, mailbox_id: int, uids: Sequence[int], update: FlagUpdate,
                    seen_account: int | None = None) -> tuple[list[FlagRow], list[int]]:
        """Apply a flag change; return (rows that changed, uids failing UNCHANGEDSINCE)."""
        def fn(tx: Tx) -> tuple[list[FlagRow], list[int]]:
            changed: list[tuple[int, int, str]] = []
            failed: list[int] = []
            shared_change = seen_account is None
            new_kw = set(update.keywords)
            for chunk in _uid_chunks(list(uids)):
                marks = ", ".join("?" for _ in chunk)
                rows = tx.all(f"SELECT uid, modseq, flags, keywords FROM messages WHERE "
                              f"mailbox_id = ? AND uid IN ({marks})", (mailbox_id, *chunk))
                seen: set[int] = set()
                if seen_account is not None:
                    seen = {int(r[0]) for r in tx.all(
                        f"SELECT uid FROM seen WHERE mailbox_id = ? AND account_id = ? AND "
                        f"uid IN ({marks})", (mailbox_id, seen_account, *chunk))}
                for uid, modseq, flags, kw_text in rows:
                    if update.unchanged_since is not None and modseq > update.unchanged_since:
                        failed.append(int(uid))
                        continue
                    cur = int(flags)
                    if seen_account is not None:
                        cur = (cur & ~F.SEEN) | (F.SEEN if uid in seen else 0)
                    kws = set(F.keywords_from_text(kw_text))
                    allowed = update.settable_mask
                    if update.mode == "set":
                        new = (cur & ~allowed) | (update.mask & allowed)
                        nk = new_kw if update.keywords_allowed else kws
                    elif update.mode == "add":
                        new = cur | (update.mask & allowed)
                        nk = kws | new_kw if update.keywords_allowed else kws
                    else:
                        new = cur & ~(update.mask & allowed)
                        nk = kws - new_kw if update.keywords_allowed else kws
                    if new != cur or nk != kws:
                        changed.append((int(uid), new, F.keywords_to_text(nk)))
                        if (new ^ cur) & ~F.SEEN or nk != kws:
                            shared_change = True
            if not changed:
                return [], failed
            modseq = _bump_modseq(tx, mailbox_id)
            if seen_account is None:
                tx.many("UPDATE messages SET flags = ?, keywords = ?, modseq = ? "
                        "WHERE mailbox_id = ? AND uid = ?",
                        [(new, kw, modseq, mailbox_id, uid) for uid, new, kw in changed])
            else:
                # \Seen goes to the reader's own rows; the shared bit keeps the owner's value.
                tx.many("UPDATE messages SET flags = (flags & ?) | ?, keywords = ?, modseq = ? "
                        "WHERE mailbox_id = ? AND uid = ?",
                        [(F.SEEN, new & ~F.SEEN, kw, modseq, mailbox_id, uid)
                         for uid, new, kw in changed])
                tx.many("INSERT INTO seen (mailbox_id, account_id, uid) VALUES (?, ?, ?) "
                        "ON CONFLICT DO NOTHING",
                        [(mailbox_id, seen_account, uid) for uid, new, _ in changed
                         if new & F.SEEN])
                tx.many("DELETE FROM seen WHERE mailbox_id = ? AND account_id = ? AND uid = ?",
                        [(mailbox_id, seen_account, uid) for uid, new, _ in changed
                         if not new & F.SEEN])
            out = [FlagRow(uid, modseq, new, kw) for uid, new, kw in changed]
            tx.events.append(FlagsChanged(mailbox_id, tuple(u for u, _, _ in changed), modseq,
                                          None if shared_change else seen_account))
            return out, failed
        return await self.engine.write(fn)

    async def expunge(self, mailbox_id: int, uids: Sequence[int] | None = None) -> list[int]:
        """Remove messages flagged ``\\Deleted`` (restricted to ``uids`` when given)."""
        def fn(tx: Tx) -> list[int]:
            return self.expunge_in(tx, mailbox_id, uids, only_deleted=True)
        return await self.engine.write(fn)

    @staticmethod
    def expunge_in(tx: Tx, mailbox_id: int, uids: Sequence[int] | None,
                   only_deleted: bool) -> list[int]:
        cond = "m.mailbox_id = ?" + (" AND (m.flags & 8) = 8" if only_deleted else "")
        params: list[object] = [mailbox_id]
        targets: list[int] = []
        if uids is None:
            targets = [int(r[0]) for r in tx.all(f"SELECT m.uid FROM messages m WHERE {cond}",
                                                 params)]
        else:
            for chunk in _uid_chunks(list(uids)):
                marks = ", ".join("?" for _ in chunk)
                targets.extend(int(r[0]) for r in tx.all(
                    f"SELECT m.uid FROM messages m WHERE {cond} AND m.uid IN ({marks})",
                    (*params, *chunk)))
        if not targets:
            return []
        targets.sort()
        modseq = _bump_modseq(tx, mailbox_id)
        freed = 0
        count = 0
        for chunk in _uid_chunks(targets):
            marks = ", ".join("?" for _ in chunk)
            where = f"m.mailbox_id = ? AND m.uid IN ({marks})"
            row = tx.one(f"SELECT coalesce(sum(m.size), 0), count(*) FROM messages m "
                         f"WHERE {where}", (mailbox_id, *chunk))
            freed += int(row[0]) if row else 0
            count += int(row[1]) if row else 0
            release_blobs_of(tx, where, (mailbox_id, *chunk))
            tx.execute(f"DELETE FROM messages WHERE mailbox_id = ? AND uid IN ({marks})",
                       (mailbox_id, *chunk))
            tx.execute(f"DELETE FROM seen WHERE mailbox_id = ? AND uid IN ({marks})",
                       (mailbox_id, *chunk))
        tx.many("INSERT INTO expunged (mailbox_id, uid, modseq) VALUES (?, ?, ?) "
                "ON CONFLICT DO NOTHING", [(mailbox_id, u, modseq) for u in targets])
        row = tx.one("UPDATE mailboxes SET message_count = message_count - ?, "
                     "total_size = total_size - ? WHERE id = ? RETURNING owner_id",
                     (count, freed, mailbox_id))
        if row and row[0] is not None:
            tx.execute("UPDATE accounts SET used_bytes = used_bytes - ? WHERE id = ?",
                       (freed, row[0]))
        tx.events.append(MessagesExpunged(mailbox_id, tuple(targets), modseq))
        return targets

    async def pop3_update(self, mailbox_id: int, seen: Sequence[int], remove: Sequence[int],
                          ) -> tuple[int, int]:
        """POP3's UPDATE state (RFC 1939 §6) in one transaction: mark what was retrieved
        ``\\Seen`` and remove what was marked deleted, whatever its IMAP flags. Either both
        happen or, after a crash, neither. Returns (messages marked seen, messages removed);
        a message another session expunged meanwhile is simply not counted."""
        def fn(tx: Tx) -> tuple[int, int]:
            keep = [u for u in seen if u not in set(remove)]
            marked: list[int] = []
            for chunk in _uid_chunks(keep):
                marks = ", ".join("?" for _ in chunk)
                marked.extend(int(r[0]) for r in tx.all(
                    f"SELECT uid FROM messages WHERE mailbox_id = ? AND uid IN ({marks}) "
                    f"AND (flags & {F.SEEN}) = 0", (mailbox_id, *chunk)))
            if marked:
                modseq = _bump_modseq(tx, mailbox_id)
                tx.many(f"UPDATE messages SET flags = flags | {F.SEEN}, modseq = ? "
                        "WHERE mailbox_id = ? AND uid = ?",
                        [(modseq, mailbox_id, uid) for uid in marked])
                tx.events.append(FlagsChanged(mailbox_id, tuple(sorted(marked)), modseq))
            removed = self.expunge_in(tx, mailbox_id, list(remove), only_deleted=False) \
                if remove else []
            return len(marked), len(removed)
        return await self.engine.write(fn)

    async def copy(self, src_id: int, uids: Sequence[int], dst_id: int, *, keep_mask: int,
                   keep_keywords: bool, src_seen_account: int | None = None,
                   dst_seen_account: int | None = None, move: bool = False,
                   ) -> list[tuple[int, int]]:
        """Copy (or move) messages; return (source uid, new uid) pairs (RFC 4315 COPYUID)."""
        def fn(tx: Tx) -> list[tuple[int, int]]:
            sources = []
            for chunk in _uid_chunks(list(uids)):
                marks = ", ".join("?" for _ in chunk)
                sources.extend(tx.all(f"SELECT {_COLS}, {sortkeys.COLUMNS} FROM messages "
                                      f"WHERE mailbox_id = ? AND uid IN ({marks}) ORDER BY uid",
                                      (src_id, *chunk)))
            if not sources:
                return []
            seen: set[int] = set()
            if src_seen_account is not None:
                seen = {int(r[0]) for r in tx.all(
                    "SELECT uid FROM seen WHERE mailbox_id = ? AND account_id = ?",
                    (src_id, src_seen_account))}
            new = []
            for r in sources:
                rec = MessageRec(*r[:10])
                flags = rec.flags
                if src_seen_account is not None:
                    flags = (flags & ~F.SEEN) | (F.SEEN if rec.uid in seen else 0)
                flags &= keep_mask
                new.append((rec, flags, rec.keywords if keep_keywords else "", r[10:]))
            total = sum(rec.size for rec, _, _, _ in new)
            first, modseq, _ = _charge(tx, dst_id, len(new), total)
            rows, seen_rows = [], []
            for i, (rec, flags, kw, keys) in enumerate(new):
                if dst_seen_account is not None and flags & F.SEEN:
                    seen_rows.append((dst_id, dst_seen_account, first + i))
                    flags &= ~F.SEEN
                # The source's SORT keys come along (NULL ones are filled at the first SORT).
                rows.append((dst_id, first + i, modseq, flags, kw, rec.internal_date, rec.size,
                             rec.blob, rec.prefix, rec.meta, *keys))
            tx.many(_INSERT, rows)
            tx.many("INSERT INTO seen (mailbox_id, account_id, uid) VALUES (?, ?, ?)",
                    seen_rows)
            _ref_blobs(tx, [(rec.blob, rec.size - len(rec.prefix)) for rec, _, _, _ in new])
            tx.events.extend(MessageAdded(dst_id, first + i, modseq) for i in range(len(new)))
            pairs = [(rec.uid, first + i) for i, (rec, _, _, _) in enumerate(new)]
            if move:
                MessageRepo.expunge_in(tx, src_id, [p[0] for p in pairs], only_deleted=False)
            return pairs
        return await self.engine.write(fn)

    async def expunged_since(self, mailbox_id: int, modseq: int) -> list[int]:
        """UIDs expunged after ``modseq`` (RFC 7162 §3.2.5.2 VANISHED)."""
        def fn(tx: Tx) -> list[int]:
            return [int(r[0]) for r in tx.all(
                "SELECT uid FROM expunged WHERE mailbox_id = ? AND modseq > ? ORDER BY uid",
                (mailbox_id, modseq))]
        return await self.engine.read(fn)


def uid_runs(uids: Sequence[int], gap: int = 256) -> list[tuple[int, int]]:
    """(lo, hi) ranges covering ascending ``uids``, split wherever more than ``gap`` UIDs are
    skipped: a range scan on the primary key then never reads many rows nobody asked for
    (``1,100000`` is two tiny scans, not one of 100,000 rows)."""
    out: list[tuple[int, int]] = []
    for uid in uids:
        if out and uid - out[-1][1] <= gap:
            out[-1] = (out[-1][0], uid)
        else:
            out.append((uid, uid))
    return out


def _seen_set(tx: Tx, mailbox_id: int, account: int, lo: int, hi: int) -> set[int]:
    return {int(r[0]) for r in tx.all(
        "SELECT uid FROM seen WHERE mailbox_id = ? AND account_id = ? AND uid BETWEEN ? AND ?",
        (mailbox_id, account, lo, hi))}


def _apply_seen(flags: int, uid: int, seen: set[int] | None) -> int:
    if seen is None:
        return flags
    return (flags & ~F.SEEN) | (F.SEEN if uid in seen else 0)


class MessageQueries:
    """Read-side queries for a selected mailbox (IMAP views, FETCH, SEARCH, STATUS).

    Ranges are fetched with ``uid BETWEEN lo AND hi`` on the primary key and filtered in
    Python: one index range scan instead of thousands of ``IN`` parameters."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def uids(self, mailbox_id: int, after: int = 0) -> list[int]:
        """The mailbox's UIDs, ascending. The list comes back as one aggregated string: on a
        100,000-message mailbox that halves SELECT's cost against one row per UID."""
        def fn(tx: Tx) -> list[int]:
            if tx.dialect == "sqlite":
                sql = ("SELECT group_concat(uid) FROM (SELECT uid FROM messages "
                       "WHERE mailbox_id = ? AND uid > ? ORDER BY uid)")
            else:
                sql = ("SELECT string_agg(uid::text, ',' ORDER BY uid) FROM messages "
                       "WHERE mailbox_id = ? AND uid > ?")
            row = tx.one(sql, (mailbox_id, after))
            text = row[0] if row is not None else None
            return list(map(int, str(text).split(","))) if text else []
        return await self.engine.read(fn)

    async def sizes(self, mailbox_id: int) -> list[tuple[int, int]]:
        """(UID, size) of every message, ascending: a POP3 session's maildrop listing."""
        def fn(tx: Tx) -> list[tuple[int, int]]:
            return [(int(u), int(z)) for u, z in tx.all(
                "SELECT uid, size FROM messages WHERE mailbox_id = ? ORDER BY uid",
                (mailbox_id,))]
        return await self.engine.read(fn)

    async def fingerprints(self, mailbox_id: int,
                           ) -> list[tuple[int, int, str, int, str | None]]:
        """(UID, size, blob, prefix length, Message-ID or None) of every message, ascending:
        what an import compares to skip messages the folder already holds. The Message-ID
        is the stored ENVELOPE's tenth field (RFC 9051 §7.5.2), picked out by the database,
        so the body structure stays there; the two dialects differ only in that one call."""
        def fn(tx: Tx) -> list[tuple[int, int, str, int, str | None]]:
            mid = ("json_extract(meta, '$.env[9]')" if tx.dialect == "sqlite"
                   else "(meta::json -> 'env' ->> 9)")
            rows = tx.all(f"SELECT uid, size, blob, length(prefix), {mid} FROM messages "
                          "WHERE mailbox_id = ? ORDER BY uid", (mailbox_id,))
            return [(int(u), int(z), str(b), int(p), None if m is None else str(m))
                    for u, z, b, p, m in rows]
        return await self.engine.read(fn)

    async def first_unseen(self, mailbox_id: int, seen_account: int | None) -> int | None:
        """The lowest UID without \\Seen (SELECT's ``[UNSEEN n]``), stopping at the first."""
        def fn(tx: Tx) -> int | None:
            row = tx.one(*_unseen(tx, "m.uid", mailbox_id, seen_account,
                                  " ORDER BY m.uid LIMIT 1"))
            return int(row[0]) if row is not None else None
        return await self.engine.read(fn)

    async def flags(self, mailbox_id: int, uids: Sequence[int], seen_account: int | None,
                    since_modseq: int = 0) -> list[FlagRow]:
        """Flags of the given UIDs (ascending), only those changed after ``since_modseq``."""
        def fn(tx: Tx) -> list[FlagRow]:
            out: list[FlagRow] = []
            wanted = set(uids)
            for lo, hi in uid_runs(uids):
                rows = tx.all("SELECT uid, modseq, flags, keywords FROM messages WHERE "
                              "mailbox_id = ? AND uid BETWEEN ? AND ? AND modseq > ? "
                              "ORDER BY uid", (mailbox_id, lo, hi, since_modseq))
                seen = _seen_set(tx, mailbox_id, seen_account, lo, hi) \
                    if seen_account is not None else None
                out.extend(FlagRow(int(u), int(m), _apply_seen(int(f), int(u), seen), k)
                           for u, m, f, k in rows if u in wanted)
            return out
        return await self.engine.read(fn)

    async def records(self, mailbox_id: int, uids: Sequence[int], seen_account: int | None,
                      ) -> list[MessageRec]:
        """Whole records (with the stored MIME scan) of the given UIDs, ascending."""
        def fn(tx: Tx) -> list[MessageRec]:
            out: list[MessageRec] = []
            wanted = set(uids)
            for lo, hi in uid_runs(uids):
                rows = tx.all(f"SELECT {_COLS} FROM messages WHERE mailbox_id = ? AND uid "
                              "BETWEEN ? AND ? ORDER BY uid", (mailbox_id, lo, hi))
                seen = _seen_set(tx, mailbox_id, seen_account, lo, hi) \
                    if seen_account is not None else None
                for r in rows:
                    rec = MessageRec(*r)
                    if rec.uid not in wanted:
                        continue
                    if seen is not None:
                        rec = replace(rec, flags=_apply_seen(rec.flags, rec.uid, seen))
                    out.append(rec)
            return out
        return await self.engine.read(fn)

    async def search_rows(self, mailbox_id: int, seen_account: int | None) -> list[SearchRow]:
        def fn(tx: Tx) -> list[SearchRow]:
            rows = tx.all("SELECT uid, modseq, flags, keywords, internal_date, size FROM "
                          "messages WHERE mailbox_id = ? ORDER BY uid", (mailbox_id,))
            seen = _seen_set(tx, mailbox_id, seen_account, 0, 2**32) \
                if seen_account is not None else None
            return [SearchRow(int(u), int(m), _apply_seen(int(f), int(u), seen), k, int(d),
                              int(z)) for u, m, f, k, d, z in rows]
        return await self.engine.read(fn)

    async def flag_run(self, mailbox_id: int, lo: int, hi: int, seen_account: int | None,
                       modseqs: bool) -> FlagRun:
        """Flags of every message with a UID in ``lo..hi`` (store/repo/bulkreads.py)."""
        def fn(tx: Tx) -> FlagRun:
            return bulkreads.flag_run_in(tx, mailbox_id, lo, hi, seen_account, modseqs)
        return await self.engine.read(fn)

    async def unseen_uids(self, mailbox_id: int, seen_account: int | None,
                          up_to: int = 2**63 - 1) -> list[int]:
        """UIDs up to ``up_to`` without \\Seen, ascending (UID SEARCH UNSEEN fast path)."""
        def fn(tx: Tx) -> list[int]:
            return bulkreads.unseen_in(tx, mailbox_id, seen_account, up_to)
        return await self.engine.read(fn)

    async def sorted_uids(self, mailbox_id: int, criteria: Sequence[tuple[str, bool]],
                          lo: int, hi: int) -> list[int]:
        """UIDs ``lo..hi`` in SORT order (RFC 5256 §3 keys, ``(name, reverse)``), keys of
        older rows filled first (store/repo/sortkeys.py)."""
        return await sortkeys.ordered_uids(self.engine, mailbox_id, criteria, lo, hi)

    async def counts(self, mailbox_id: int, seen_account: int | None) -> MailboxCounts:
        def fn(tx: Tx) -> MailboxCounts:
            row = tx.one("SELECT count(*), min(uid) FROM messages WHERE mailbox_id = ? AND "
                         "(flags & 8) = 8", (mailbox_id,))
            deleted = int(row[0]) if row else 0
            u = tx.one(*_unseen(tx, "count(*), min(m.uid)", mailbox_id, seen_account))
            unseen = int(u[0]) if u else 0
            first = int(u[1]) if u and u[1] is not None else None
            return MailboxCounts(unseen, deleted, first)
        return await self.engine.read(fn)

    async def text_search(self, mailbox_id: int, columns: Sequence[str], term: str,
                          ) -> set[int]:
        def fn(tx: Tx) -> set[int]:
            return text.search_in(tx, mailbox_id, columns, term)
        return await self.engine.read(fn)

    async def header_text(self, mailbox_id: int, uids: Sequence[int]) -> dict[int, str]:
        def fn(tx: Tx) -> dict[int, str]:
            return text.headers_in(tx, mailbox_id, uids)
        return await self.engine.read(fn)


def _unseen(tx: Tx, columns: str, mailbox_id: int, seen_account: int | None, tail: str = "",
            ) -> tuple[str, tuple[int, ...]]:
    """A query over the messages without \\Seen: the flag bit (read through the partial
    index of unseen messages, named for SQLite, which without statistics prefers the covering
    index of all of them), or for a shared mailbox with per-user \\Seen the absence of the
    reader's row in ``seen``."""
    if seen_account is None:
        index = " INDEXED BY messages_unseen" if tx.dialect == "sqlite" else ""
        return (f"SELECT {columns} FROM messages m{index} WHERE m.mailbox_id = ? AND "
                f"(m.flags & 1) = 0{tail}", (mailbox_id,))
    return (f"SELECT {columns} FROM messages m WHERE m.mailbox_id = ? AND NOT EXISTS "
            f"(SELECT 1 FROM seen s WHERE s.mailbox_id = m.mailbox_id AND s.account_id = ? AND "
            f"s.uid = m.uid){tail}", (mailbox_id, seen_account))


def now() -> int:
    return int(time.time())
