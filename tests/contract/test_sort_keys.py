"""Stored SORT keys (migration 0012, store/repo/sortkeys.py) on both backends: written at insert
and carried by copies, equal to what ``mime/sortkeys.py`` computes from the stored ENVELOPE,
ordered by the database exactly as the in-memory reference (``protocols/imap/sort.py``) orders,
and filled in for rows written before the columns existed."""

from __future__ import annotations

import itertools
from typing import Any

import msgspec
import pytest

from postroom.access.ops import Op
from postroom.app import Services
from postroom.mime.sortkeys import STORED_COLUMNS, sort_keys
from postroom.protocols.imap import sort as T
from postroom.store.engine import Tx
from postroom.store.repo.sortkeys import COLUMNS
from tests.support.factory import account

# Headers chosen to hit every key's corner: reply/forward markers, list tags, encoded words,
# non-ASCII, case (ASCII-only folding for SUBJECT/FROM, full casefold for DISPLAY*), groups,
# missing fields, dates in other zones, unparsable and missing dates, equal keys (ties).
MESSAGES: list[tuple[dict[str, str], int]] = [
    ({"Subject": "Re: [list] Fwd: Hello (fwd)", "From": "Zed <zed@x.example>",
      "To": "amy@y.example", "Date": "Mon, 1 Jan 2024 10:00:00 +0000"}, 300),
    ({"Subject": "hello", "From": "\"Émile\" <emile@x.example>", "To": "Bob <BOB@y.example>",
      "Cc": "cc1@z.example", "Date": "Mon, 1 Jan 2024 12:00:00 +0200"}, 100),
    ({"Subject": "=?utf-8?q?Caf=C3=A9?= menu", "From": "anna@x.example",
      "To": "undisclosed:;", "Date": "not a date"}, 200),
    ({"Subject": "[fwd: Re: [x] café menu]", "From": "Anna <ANNA@x.example>",
      "To": "team: c@y.example, d@y.example;", "Cc": "=?utf-8?q?=C3=89va?= <eva@z.example>"},
     200),
    ({"Subject": "", "From": "bob@x.example", "To": "amy@y.example",
      "Date": "Sun, 31 Dec 2023 23:00:00 -0100"}, 50),
    ({"From": "BOB@x.example", "Date": "Mon, 1 Jan 2024 10:00:00 +0000"}, 300),
    ({"Subject": "Ärger", "From": "zed@x.example", "To": "Ärne <arne@y.example>",
      "Date": "Mon, 1 Jan 2024 10:00:00 +0000"}, 400),
    ({"Subject": "arger", "From": "Zoë <zoe@x.example>", "To": "arne@y.example"}, 400),
]


def _raw(headers: dict[str, str], n: int) -> bytes:
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return f"{head}Message-ID: <m{n}@example.net>\r\n\r\n{'x' * n}\r\n".encode()


async def _fill(services: Services) -> tuple[Any, int]:
    alice = await account(services, "alice@example.com")
    items = [(_raw(h, n), [], when) for n, (h, when) in enumerate(MESSAGES)]
    await services.messages.append(alice, "INBOX", items)
    handle = await services.mailboxes.open(alice, "INBOX", Op.READ)
    return alice, handle.mailbox.id


async def _reference(services: Services, mailbox_id: int,
                     criteria: list[tuple[str, bool]]) -> list[int]:
    """The order the in-memory reference gives, from the stored records."""
    recs = await services.store.messages.get_many(mailbox_id, range(1, 100))
    items = [T.Item(r.uid, r.uid, r.internal_date, r.size, msgspec.json.decode(r.meta)["env"])
             for r in recs]
    return [it.number for it in T.sort_items(items, criteria)]


def _stored(mailbox_id: int) -> Any:
    def fn(tx: Tx) -> list[tuple[Any, ...]]:
        return tx.all(f"SELECT uid, internal_date, meta, {COLUMNS} FROM messages "
                      "WHERE mailbox_id = ? ORDER BY uid", (mailbox_id,))
    return fn


async def test_keys_written_at_insert_are_the_computed_ones(services: Services) -> None:
    _, mid = await _fill(services)
    rows = await services.store.engine.read(_stored(mid))
    assert len(rows) == len(MESSAGES)
    for uid, date, meta, *stored in rows:
        env = msgspec.json.decode(meta)["env"]
        keys = sort_keys(env, int(date))
        assert tuple(bytes(v) if isinstance(v, memoryview) else v for v in stored) \
            == keys.stored(), uid
        # The stored base subject is the RFC 5256 §2.1 one SORT's reference computes.
        assert keys.subject == T.casemap(T.base_subject(env[1] or "")[0])
        assert keys.sent == T.sent_date(env[0], int(date))


CRITERIA = [[(name, reverse)] for name in T.SORT_KEYS for reverse in (False, True)] + [
    [("FROM", False), ("DATE", True)], [("SIZE", True), ("SUBJECT", False)],
    [("TO", False), ("CC", True), ("ARRIVAL", False)], [("DISPLAYTO", True), ("SIZE", False)]]


@pytest.mark.parametrize("wide", [False, True])
async def test_database_order_equals_reference_order(services: Services, wide: bool) -> None:
    """Both query shapes (a narrow UID range read by UID, a wide one read in key order)."""
    _, mid = await _fill(services)
    hi = 10**6 if wide else len(MESSAGES)
    for criteria in CRITERIA:
        got = await services.store.queries.sorted_uids(mid, criteria, 1, hi)
        assert got == await _reference(services, mid, criteria), criteria
    assert await services.store.queries.sorted_uids(mid, [("SIZE", False)], 3, 5) == [5, 3, 4]


async def test_rows_without_keys_are_filled_at_the_first_sort(services: Services) -> None:
    """Rows from before migration 0012 have NULL keys; the first SORT computes them."""
    _, mid = await _fill(services)
    computed = await services.store.engine.read(_stored(mid))

    def forget(tx: Tx) -> None:
        tx.execute(f"UPDATE messages SET {', '.join(c + ' = NULL' for c in STORED_COLUMNS)} "
                   "WHERE mailbox_id = ? AND uid <> 3", (mid,))
    await services.store.engine.write(forget)
    criteria = [("SUBJECT", True), ("DATE", False)]
    got = await services.store.queries.sorted_uids(mid, criteria, 1, 10**6)
    assert got == await _reference(services, mid, criteria)

    def pending(tx: Tx) -> int:
        row = tx.one("SELECT count(*) FROM messages WHERE sort_subject IS NULL")
        return int(row[0]) if row else -1
    assert await services.store.engine.read(pending) == 0
    assert await services.store.engine.read(_stored(mid)) == computed


async def test_fill_works_in_batches(services: Services) -> None:
    from postroom.store.repo import sortkeys
    _, mid = await _fill(services)

    def forget(tx: Tx) -> None:
        tx.execute("UPDATE messages SET sort_subject = NULL WHERE mailbox_id = ?", (mid,))
    await services.store.engine.write(forget)
    assert await sortkeys.fill(services.store.engine, mid, batch=3) == len(MESSAGES)
    assert await sortkeys.fill(services.store.engine, mid, batch=3) == 0


async def test_copy_and_move_carry_the_keys(services: Services) -> None:
    alice, _ = await _fill(services)
    await services.mailboxes.create(alice, "Copy")
    await services.mailboxes.create(alice, "Moved")
    src = await services.mailboxes.open(alice, "INBOX", Op.READ)
    await services.messages.copy(alice, src, [2, 4, 7], "Copy")
    await services.messages.copy(alice, src, [1, 5], "Moved", move=True)
    for name, uids in (("Copy", [2, 4, 7]), ("Moved", [1, 5])):
        dst = await services.mailboxes.open(alice, name, Op.READ)
        rows = await services.store.engine.read(_stored(dst.mailbox.id))
        for (uid, date, meta, *stored), _src_uid in zip(rows, uids, strict=True):
            env = msgspec.json.decode(meta)["env"]
            assert tuple(bytes(v) if isinstance(v, memoryview) else v for v in stored) \
                == sort_keys(env, int(date)).stored(), (name, uid)


async def test_ties_keep_uid_order_in_both_directions(services: Services) -> None:
    alice = await account(services, "alice@example.com")
    same = b"Subject: same\r\nFrom: a@x.example\r\n\r\nbody\r\n"
    await services.messages.append(alice, "INBOX", [(same, [], 5) for _ in range(6)])
    handle = await services.mailboxes.open(alice, "INBOX", Op.READ)
    for name, reverse in itertools.product(("SUBJECT", "FROM", "ARRIVAL", "DATE"),
                                           (False, True)):
        got = await services.store.queries.sorted_uids(handle.mailbox.id, [(name, reverse)],
                                                       1, 10**6)
        assert got == [1, 2, 3, 4, 5, 6]  # RFC 5256 §3: ties in sequence order
