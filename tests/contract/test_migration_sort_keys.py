"""Migration 0012 (SORT keys, the unseen index) on a database with mail in it, and the runner
applying a number below the newest applied one (0012 arrived after 0013)."""

from __future__ import annotations

from typing import Any

import msgspec

from postroom.app import open_store
from postroom.config import Config
from postroom.mime.scanner import scan
from postroom.mime.sortkeys import sort_keys
from postroom.store import migrations
from postroom.store.engine import Tx

SUBJECTS = ["Re: beta", "alpha", "[list] Gamma", "Fwd: alpha"]


def _old_release_writes(tx: Tx) -> None:
    """Rows as a version-11 release wrote them: no key columns."""
    tx.execute("INSERT INTO domains (id, name, created_at) VALUES (1, 'example.com', 1)")
    tx.execute("INSERT INTO accounts (id, domain_id, address, display_name, password_hash, "
               "scram, quota_bytes, state, created_at) VALUES (7, 1, 'alice@example.com', "
               "'Alice', 'x', 'x', NULL, 'active', 1)")
    tx.execute("INSERT INTO mailboxes (id, owner_id, owner_key, domain_id, name, uidvalidity, "
               "uidnext, created_at) VALUES (3, 7, 7, 1, 'INBOX', 42, 5, 1)")
    for uid, subject in enumerate(SUBJECTS, 1):
        data = f"Subject: {subject}\r\nFrom: a@example.net\r\n\r\nbody\r\n".encode()
        tx.execute("INSERT INTO messages (mailbox_id, uid, modseq, flags, keywords, "
                   "internal_date, size, blob, prefix, meta) VALUES (3, ?, 1, ?, '', ?, ?, "
                   "?, ?, ?)", (uid, uid % 2, 1000 + uid, len(data), f"{uid:064x}", b"",
                                scan(data).to_json()))


async def test_upgrade_to_12_sorts_and_fills_old_rows(backend_config: Config) -> None:
    store = open_store(backend_config, migrate_to=11)
    store.engine.run_sync(_old_release_writes)
    await store.close()

    store = open_store(backend_config)  # 12 and on
    assert 12 in migrations.applied_versions(store.engine)

    def keys(tx: Tx) -> list[tuple[int, Any]]:
        return [(int(u), s) for u, s in tx.all(
            "SELECT uid, sort_subject FROM messages WHERE mailbox_id = 3 ORDER BY uid")]
    assert all(s is None for _, s in await store.engine.read(keys))
    # RFC 5256 §2.1 base subjects: alpha (2), alpha (4), beta (1), gamma (3).
    assert await store.queries.sorted_uids(3, [("SUBJECT", False)], 1, 4) == [2, 4, 1, 3]
    filled = dict(await store.engine.read(keys))

    def metas(tx: Tx) -> list[tuple[Any, ...]]:
        return tx.all("SELECT uid, internal_date, meta FROM messages WHERE mailbox_id = 3")
    for uid, date, meta in await store.engine.read(metas):
        expect = sort_keys(msgspec.json.decode(meta)["env"], int(date)).stored()[0]
        assert bytes(filled[int(uid)]) == expect
    # The unseen index answers for the old rows too (flags 0 on even UIDs).
    assert await store.queries.unseen_uids(3, None) == [2, 4]
    assert await store.queries.unseen_uids(3, None, up_to=3) == [2]
    await store.close()


async def test_a_lower_number_missed_is_applied(backend_config: Config) -> None:
    """A database that met 0013 before 0012 existed gets 0012, and 0013 is not run again
    (it would fail: its column exists)."""
    store = open_store(backend_config, migrate_to=11)
    script = dict(migrations.available(store.engine.dialect))[13]

    def apply_13(tx: Tx) -> None:
        for statement in migrations._statements(script):
            tx.execute(statement)
        tx.execute("INSERT INTO schema_version (version, applied_at) VALUES (13, 0)")
    store.engine.run_sync(apply_13)
    assert migrations.current_version(store.engine) == 13
    applied = migrations.migrate(store.engine)  # and any number above 13 since
    assert [n for n in applied if n <= 13] == [12] and applied == sorted(applied)
    assert {11, 12, 13} <= migrations.applied_versions(store.engine)
    assert migrations.migrate(store.engine) == []

    def columns(tx: Tx) -> int:
        row = tx.one("SELECT count(sort_subject) + count(sort_date) FROM messages")
        return int(row[0]) if row else -1
    assert await store.engine.read(columns) == 0
    await store.close()
