"""Groupware's index rows (schema version 20): dav_items, dav_props, dav_segments.

Items themselves are messages (store/repo/messages.py); an item row is written in the same
transaction as its message (``append_in``), so an item is never half stored. An edit appends
the new message and expunges the old one in ONE transaction (``replace_item``): a crash leaves
either the old item or the new one, never both or none, and the expunge log records the old
UID so that a sync-collection report (RFC 6578) sees a change, not a removal plus an addition.

A row is *live* while its (mailbox_id, uid) is still in ``messages``; rows of expunged
messages stay (they name what a sync report must call removed) until their folder goes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from postroom.core.errors import Kind, MailError
from postroom.core.records import NewMessage
from postroom.store.engine import Engine, Tx
from postroom.store.repo.messages import MessageRepo

T = TypeVar("T")
_ROW = ("d.uid, d.name, d.etag, d.content_type, d.component, d.ical_uid, d.start_ts, "
        "d.end_ts, d.recurring, d.summary, d.size, d.modified, m.modseq, m.blob, m.prefix")
_LIVE = "dav_items d JOIN messages m ON m.mailbox_id = d.mailbox_id AND m.uid = d.uid"
_ASCII_RANGE = "\x01-\x7f"


@dataclass(frozen=True, slots=True)
class ItemIndexRow:
    """What is written beside an item's message (the columns of dav_items but the keys)."""

    name: str
    etag: str
    content_type: str
    component: str
    ical_uid: str
    start: int | None
    end: int | None
    recurring: bool
    summary: str
    search: str
    size: int
    modified: int


@dataclass(frozen=True, slots=True)
class LiveItem:
    """A live item: its index row and where its message is (UID, MODSEQ, blob, prefix)."""

    uid: int
    name: str
    etag: str
    content_type: str
    component: str
    ical_uid: str
    start: int | None
    end: int | None
    recurring: bool
    summary: str
    size: int
    modified: int
    modseq: int
    blob: str
    prefix: bytes


def _opt(value: Any) -> int | None:
    return None if value is None else int(value)


def _live(r: Sequence[Any]) -> LiveItem:
    return LiveItem(int(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4]), str(r[5]),
                    _opt(r[6]), _opt(r[7]), bool(r[8]), str(r[9]), int(r[10]), int(r[11]),
                    int(r[12]), str(r[13]), bytes(r[14]) if r[14] is not None else b"")


def _chunks(items: Sequence[T], size: int = 500) -> list[Sequence[T]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def _live_by_name(tx: Tx, mailbox_id: int, name: str) -> LiveItem | None:
    row = tx.one(f"SELECT {_ROW} FROM {_LIVE} WHERE d.mailbox_id = ? AND d.name = ? "
                 "ORDER BY d.uid DESC", (mailbox_id, name))
    return _live(row) if row else None


def _insert_row(tx: Tx, mailbox_id: int, uid: int, r: ItemIndexRow) -> None:
    tx.execute("INSERT INTO dav_items (mailbox_id, uid, name, etag, content_type, component, "
               "ical_uid, start_ts, end_ts, recurring, summary, search, size, modified) "
               "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
               (mailbox_id, uid, r.name, r.etag, r.content_type, r.component, r.ical_uid,
                r.start, r.end, 1 if r.recurring else 0, r.summary, r.search, r.size,
                r.modified))


class DavRepo:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- items ---------------------------------------------------------------------------------
    async def write_item(self, mailbox_id: int, message: NewMessage, row: ItemIndexRow, *,
                         expect_uid: int | None, create_only: bool = False,
                         renamed_uid: int | None = None) -> tuple[int, int, int | None]:
        """Store an item under ``row.name``: create it, or replace the live item of that name
        (its message expunged in the same transaction). ``expect_uid`` is the UID the caller
        decided about (None: it saw no item of that name); when another writer got there first
        the transaction is refused with EXISTS (the front-end's 412), so a decision is never
        applied to an item it was not made about; another live item holding the same
        UID is IN_USE with its name as the text. Returns (uid, modseq, replaced uid).

        ``renamed_uid``: a MOVE within the folder (RFC 4918 §9.9): that live item (the
        source, under another name) goes in the same transaction, so a move is never half
        done and a crash leaves either the old name or the new one."""
        def fn(tx: Tx) -> tuple[int, int, int | None]:
            current = _live_by_name(tx, mailbox_id, row.name)
            current_uid = current.uid if current else None
            if current_uid != expect_uid or (create_only and current is not None):
                raise MailError(Kind.EXISTS, "the item changed meanwhile")
            if renamed_uid is not None and tx.one(
                    f"SELECT d.uid FROM {_LIVE} WHERE d.mailbox_id = ? AND d.uid = ?",
                    (mailbox_id, renamed_uid)) is None:
                raise MailError(Kind.EXISTS, "the item changed meanwhile")
            if row.ical_uid:
                # RFC 4791 §5.3.2.1 no-uid-conflict, decided inside the write so that two
                # clients storing one UID under two names at once cannot both succeed
                other = tx.one(f"SELECT d.name FROM {_LIVE} WHERE d.mailbox_id = ? AND "
                               "d.ical_uid = ? AND d.name <> ? AND d.uid <> ?",
                               (mailbox_id, row.ical_uid, row.name, renamed_uid or 0))
                if other is not None:
                    raise MailError(Kind.IN_USE, str(other[0]))
            [(uid, modseq)] = MessageRepo.append_in(tx, mailbox_id, [message])
            _insert_row(tx, mailbox_id, uid, row)
            gone = [u for u in (current_uid, renamed_uid) if u is not None]
            if gone:
                MessageRepo.expunge_in(tx, mailbox_id, gone, only_deleted=False)
            return uid, modseq, current_uid
        return await self.engine.write(fn)

    async def delete_item(self, mailbox_id: int, uid: int) -> bool:
        """Expunge the item's message (the row stays, for sync reports); False when it was
        already gone."""
        def fn(tx: Tx) -> bool:
            return bool(MessageRepo.expunge_in(tx, mailbox_id, [uid], only_deleted=False))
        return await self.engine.write(fn)

    async def live(self, mailbox_id: int) -> list[LiveItem]:
        def fn(tx: Tx) -> list[LiveItem]:
            return [_live(r) for r in tx.all(
                f"SELECT {_ROW} FROM {_LIVE} WHERE d.mailbox_id = ? ORDER BY d.name",
                (mailbox_id,))]
        return await self.engine.read(fn)

    async def live_containing(self, mailbox_id: int, needle: str, indexed: int, *,
                              non_ascii: bool = False) -> list[LiveItem]:
        """Live items whose lower-cased search text contains ``needle`` (already lower-cased),
        and every item whose search text was cut at ``indexed`` characters (it may hold the
        needle past the cut): a superset the caller's own match decides on. ``non_ascii``:
        also every item whose search text has a character outside ASCII (a Unicode fold,
        NFKD and casefold, may turn "ß" or "é" into the needle's letters where lower-casing
        does not)."""
        pattern = "%" + needle.replace("\\", "\\\\").replace("%", "\\%").replace(
            "_", "\\_") + "%"

        def fn(tx: Tx) -> list[LiveItem]:
            sql = (f"SELECT {_ROW} FROM {_LIVE} WHERE d.mailbox_id = ? AND "
                   "(d.search LIKE ? ESCAPE '\\' OR length(d.search) >= ?")
            params: list[object] = [mailbox_id, pattern, indexed]
            if non_ascii:
                # a character outside U+0001..U+007F: GLOB's class on SQLite, a regular
                # expression on PostgreSQL (the characters themselves, no escapes to read)
                if tx.dialect == "sqlite":
                    sql += " OR d.search GLOB ?"
                    params.append(f"*[^{_ASCII_RANGE}]*")
                else:
                    sql += " OR d.search ~ ?"
                    params.append(f"[^{_ASCII_RANGE}]")
            return [_live(r) for r in tx.all(sql + ") ORDER BY d.name", params)]
        return await self.engine.read(fn)

    async def by_names(self, mailbox_id: int, names: Sequence[str]) -> dict[str, LiveItem]:
        def fn(tx: Tx) -> dict[str, LiveItem]:
            out: dict[str, LiveItem] = {}
            for chunk in _chunks(list(names)):
                marks = ", ".join("?" for _ in chunk)
                for r in tx.all(f"SELECT {_ROW} FROM {_LIVE} WHERE d.mailbox_id = ? AND "
                                f"d.name IN ({marks}) ORDER BY d.uid", (mailbox_id, *chunk)):
                    item = _live(r)
                    out[item.name] = item
            return out
        return await self.engine.read(fn)

    async def by_ical_uid(self, mailbox_id: int, ical_uid: str) -> list[LiveItem]:
        """Live items with this iCalendar/vCard UID (RFC 4791 §5.3.2.1 no-uid-conflict)."""
        def fn(tx: Tx) -> list[LiveItem]:
            return [_live(r) for r in tx.all(
                f"SELECT {_ROW} FROM {_LIVE} WHERE d.mailbox_id = ? AND d.ical_uid = ?",
                (mailbox_id, ical_uid))]
        return await self.engine.read(fn)

    async def candidates(self, mailbox_id: int, component: str | None, start: int | None,
                         end: int | None) -> list[LiveItem]:
        """Live items that may match a calendar-query (RFC 4791 §9.9): of ``component`` when
        given, and whose indexed span touches [start, end] or who have no (bounded) span:
        inclusive, a superset, so that the edge cases of §9.9 (VTODO's table, zero-length
        events) are decided by pim.query rather than dropped here.
        The index spans a series over all its instances (pim.ical.index_calendar: COUNT and
        UNTIL enumerated, moved overrides included, an endless rule has no end), so a
        recurring item outside the range cannot match and is not a candidate."""
        def fn(tx: Tx) -> list[LiveItem]:
            sql = f"SELECT {_ROW} FROM {_LIVE} WHERE d.mailbox_id = ?"
            params: list[object] = [mailbox_id]
            if component:
                sql += " AND d.component = ?"
                params.append(component)
            if start is not None or end is not None:
                span = []
                if end is not None:
                    span.append("(d.start_ts IS NULL OR d.start_ts <= ?)")
                    params.append(end)
                if start is not None:
                    span.append("(d.end_ts IS NULL OR d.end_ts >= ? OR d.start_ts >= ?)")
                    params.extend((start, start))
                sql += " AND " + " AND ".join(span)
            return [_live(r) for r in tx.all(sql + " ORDER BY d.name", params)]
        return await self.engine.read(fn)

    async def changed_since(self, mailbox_id: int, modseq: int) -> list[LiveItem]:
        def fn(tx: Tx) -> list[LiveItem]:
            return [_live(r) for r in tx.all(
                f"SELECT {_ROW} FROM {_LIVE} WHERE d.mailbox_id = ? AND m.modseq > ? "
                "ORDER BY m.modseq, d.name", (mailbox_id, modseq))]
        return await self.engine.read(fn)

    async def removed_since(self, mailbox_id: int, modseq: int) -> list[str]:
        """Names of items whose message was expunged after ``modseq`` and which are not live
        under another UID now (an edit replaced them: that is a change, RFC 6578 §3.5)."""
        return sorted(name for name, _ in await self.removed_since_at(mailbox_id, modseq))

    async def removed_since_at(self, mailbox_id: int, modseq: int) -> list[tuple[str, int]]:
        """As ``removed_since``, with the MODSEQ of each removal (for a paged sync)."""
        def fn(tx: Tx) -> list[tuple[str, int]]:
            return [(str(r[0]), int(r[1])) for r in tx.all(
                "SELECT d.name, max(e.modseq) FROM dav_items d JOIN expunged e ON "
                "e.mailbox_id = d.mailbox_id AND e.uid = d.uid WHERE d.mailbox_id = ? AND "
                "e.modseq > ? AND NOT EXISTS (SELECT 1 FROM dav_items d2 JOIN messages m2 ON "
                "m2.mailbox_id = d2.mailbox_id AND m2.uid = d2.uid WHERE d2.mailbox_id = "
                "d.mailbox_id AND d2.name = d.name) GROUP BY d.name ORDER BY 2, d.name",
                (mailbox_id, modseq))]
        return await self.engine.read(fn)

    # -- collections: URL segments and properties ----------------------------------------------
    async def segments(self, mailbox_ids: Sequence[int]) -> dict[int, str]:
        def fn(tx: Tx) -> dict[int, str]:
            out: dict[int, str] = {}
            for chunk in _chunks(list(mailbox_ids)):
                marks = ", ".join("?" for _ in chunk)
                for r in tx.all(f"SELECT mailbox_id, segment FROM dav_segments WHERE "
                                f"mailbox_id IN ({marks})", list(chunk)):
                    out[int(r[0])] = str(r[1])
            return out
        return await self.engine.read(fn)

    async def set_segment(self, mailbox_id: int, segment: str) -> None:
        def fn(tx: Tx) -> None:
            tx.execute("INSERT INTO dav_segments (mailbox_id, segment) VALUES (?, ?) "
                       "ON CONFLICT (mailbox_id) DO UPDATE SET segment = excluded.segment",
                       (mailbox_id, segment))
        await self.engine.write(fn)

    async def props(self, mailbox_ids: Sequence[int], name: str = "",
                    ) -> dict[int, dict[str, str]]:
        """Properties (Clark name -> stored text) of the folders (``name`` "") or of one
        resource ``name`` in each."""
        def fn(tx: Tx) -> dict[int, dict[str, str]]:
            out: dict[int, dict[str, str]] = {}
            for chunk in _chunks(list(mailbox_ids)):
                marks = ", ".join("?" for _ in chunk)
                for r in tx.all(f"SELECT mailbox_id, prop, value FROM dav_props WHERE "
                                f"mailbox_id IN ({marks}) AND name = ?", (*chunk, name)):
                    out.setdefault(int(r[0]), {})[str(r[1])] = str(r[2])
            return out
        return await self.engine.read(fn)

    async def set_props(self, mailbox_id: int, changes: dict[str, str | None],
                        name: str = "") -> None:
        """Set (text) or remove (None) properties in one transaction (RFC 4918 §9.2:
        PROPPATCH is all or nothing)."""
        def fn(tx: Tx) -> None:
            for prop, value in changes.items():
                if value is None:
                    tx.execute("DELETE FROM dav_props WHERE mailbox_id = ? AND name = ? AND "
                               "prop = ?", (mailbox_id, name, prop))
                else:
                    tx.execute("INSERT INTO dav_props (mailbox_id, name, prop, value) VALUES "
                               "(?, ?, ?, ?) ON CONFLICT (mailbox_id, name, prop) DO UPDATE "
                               "SET value = excluded.value", (mailbox_id, name, prop, value))
        await self.engine.write(fn)
