"""Forward-only migrations: a database made at an older version, with data, upgrades in place."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from postroom.app import build_services, open_store
from postroom.config import Config
from postroom.directory.passwords import make_credentials
from postroom.store import migrations
from postroom.store.engine import Tx
from postroom.store.postgres.engine import PostgresEngine
from tests.support import pg


async def test_upgrade_from_version_1_keeps_data(backend_config: Config) -> None:
    """Data written by a version-1 release (raw SQL, as that release wrote it) survives."""
    store = open_store(backend_config, migrate_to=1)
    assert migrations.current_version(store.engine) == 1
    creds = make_credentials("old-password")

    def old_release_writes(tx: Tx) -> None:
        tx.execute("INSERT INTO domains (id, name, created_at) VALUES (1, 'example.com', 1)")
        tx.execute("INSERT INTO accounts (id, domain_id, address, display_name, password_hash, "
                   "scram, quota_bytes, state, created_at) VALUES (7, 1, 'alice@example.com', "
                   "'Alice', ?, ?, NULL, 'active', 1)",
                   (creds["password_hash"], creds["scram"]))
        tx.execute("INSERT INTO mailboxes (id, owner_id, owner_key, domain_id, name, "
                   "uidvalidity, created_at) VALUES (3, 7, 7, 1, 'INBOX', 42, 1)")

    def has_last_login(tx: Tx) -> bool:
        return any("last_login" in str(r) for r in tx.all(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'accounts'"
            if tx.dialect == "postgresql" else "SELECT name FROM pragma_table_info('accounts')"))

    store.engine.run_sync(old_release_writes)
    assert not await store.engine.read(has_last_login)
    await store.close()

    store = open_store(backend_config)  # applies 2..latest at start
    latest = migrations.latest(store.engine.dialect)
    assert migrations.current_version(store.engine) == latest >= 2
    assert await store.engine.read(has_last_login)
    s = build_services(backend_config, store)
    rec = await s.directory.require_account("alice@example.com")
    assert rec.id == 7 and rec.display_name == "Alice" and rec.last_login is None
    principal = await s.directory.authenticate("alice@example.com", "old-password")
    assert principal is not None
    inbox = await s.mailboxes.open(principal, "INBOX")
    assert inbox.mailbox.uidvalidity == 42
    await s.close()
    store = open_store(backend_config)
    assert migrations.migrate(store.engine) == []  # nothing left to apply
    await store.close()


async def test_newer_database_is_refused(backend_config: Config) -> None:
    store = open_store(backend_config)

    def bump(tx: Tx) -> None:
        tx.execute("INSERT INTO schema_version (version, applied_at) VALUES (9999, 0)")
    store.engine.run_sync(bump)
    with pytest.raises(migrations.SchemaTooNew):
        migrations.migrate(store.engine)
    await store.close()


async def test_additive_newer_schema_runs_breaking_is_refused(backend_config: Config) -> None:
    """Rolling upgrades: an older node starts beside additive migrations it does not know,
    never beside a breaking (or unnoted) one (store/migrations.py)."""
    store = open_store(backend_config)

    def newer(version: int, breaking: int | None) -> None:
        def fn(tx: Tx) -> None:
            tx.execute("INSERT INTO schema_version (version, applied_at) VALUES (?, 0)",
                       (version,))
            if breaking is not None:
                tx.execute("INSERT INTO schema_notes (version, breaking) VALUES (?, ?)",
                           (version, breaking))
        store.engine.run_sync(fn)
    newer(9001, 0)
    assert migrations.migrate(store.engine) == []  # additive: this older node may run
    newer(9002, 1)
    with pytest.raises(migrations.SchemaTooNew, match="9002 is not additive"):
        migrations.migrate(store.engine)
    await store.close()


def test_breaking_mark_is_read_from_the_script() -> None:
    assert migrations.BREAKING.search("-- Version 40\n-- breaking: drops queue.old\nDROP …")
    assert not migrations.BREAKING.search("-- Version 41: nothing breaking here\n")


async def test_nodes_starting_together_migrate_once(pg_admin_dsn: str, tmp_path: Path) -> None:
    with pg.database(pg_admin_dsn) as dsn:
        engines = [PostgresEngine(dsn) for _ in range(3)]
        try:
            results = await asyncio.gather(*(asyncio.to_thread(migrations.migrate, e)
                                             for e in engines))
            applied = sorted(v for r in results for v in r)
            assert applied == [n for n, _ in migrations.available("postgresql")]
        finally:
            for e in engines:
                e.close_sync()
