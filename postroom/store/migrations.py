"""Forward-only, numbered schema migrations, applied at start.

Files live in ``sql/<dialect>/NNNN_name.sql``. The ``schema_version`` table records each applied
number; every migration runs in its own transaction, so a crash leaves the database at a whole
version. A database newer than this program is refused rather than guessed at.

Every available number not yet recorded is applied, in number order, even one below the
newest applied: numbers are reserved ahead by parallel work, so a database may have met 13
before a release brought 12 (the sort keys came that way), and skipping 12 for good because
13 is there would leave that database without its columns.

Rolling upgrades (docs/cluster.md "Upgrading"): the nodes of a cluster are upgraded one at a
time, so for a while an older node runs on a database a newer node has migrated. That is
allowed when every migration it does not know is *additive* (new tables, new columns with
defaults, new indexes): a migration that would break older code (dropping or renaming what
they use) carries a line ``-- breaking`` and ships one release after the code stopped needing
the old shape. Each applied migration is noted in ``schema_notes`` with that mark, so an older
node can tell: it starts beside additive migrations it does not know (with a warning) and
refuses, naming both versions, when one of them is breaking or unknown.

On PostgreSQL every step takes a transaction-level advisory lock and looks again at what is
applied, so nodes started together migrate once, one after the other.
"""

from __future__ import annotations

import logging
import re
import time
from importlib import resources

from postroom.store.engine import Engine, Tx

log = logging.getLogger("postroom.store")

_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def available(dialect: str) -> list[tuple[int, str]]:
    folder = resources.files("postroom.store").joinpath("sql", dialect)
    out = []
    for entry in folder.iterdir():
        m = _NAME.match(entry.name)
        if m:
            out.append((int(m.group(1)), entry.read_text(encoding="utf-8")))
    return sorted(out)


def latest(dialect: str) -> int:
    return available(dialect)[-1][0]


def _statements(script: str) -> list[str]:
    lines = [ln for ln in script.splitlines() if not ln.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


MIGRATION_LOCK = 0x706F7374726F6F6D  # "postroom": the advisory lock migrations serialise on
BREAKING = re.compile(r"^--\s*breaking\b", re.MULTILINE)


def _serialise(tx: Tx) -> None:
    if tx.dialect == "postgresql":
        tx.execute("SELECT pg_advisory_xact_lock(?)", (MIGRATION_LOCK,))


def current_version(engine: Engine) -> int:
    def fn(tx: Tx) -> int:
        _serialise(tx)
        tx.execute("CREATE TABLE IF NOT EXISTS schema_version "
                   "(version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)")
        tx.execute("CREATE TABLE IF NOT EXISTS schema_notes "
                   "(version INTEGER PRIMARY KEY, breaking SMALLINT NOT NULL)")
        row = tx.one("SELECT max(version) FROM schema_version")
        return int(row[0]) if row and row[0] is not None else 0
    return engine.run_sync(fn)


def _newer_breaking(engine: Engine, newest: int) -> list[int]:
    """Versions above ``newest`` that are breaking, or not known to be additive."""
    def fn(tx: Tx) -> list[int]:
        rows = tx.all("SELECT v.version, n.breaking FROM schema_version v LEFT JOIN "
                      "schema_notes n ON n.version = v.version WHERE v.version > ? "
                      "ORDER BY v.version", (newest,))
        return [int(r[0]) for r in rows if r[1] is None or int(r[1])]
    return engine.run_sync(fn)


def applied_versions(engine: Engine) -> set[int]:
    def fn(tx: Tx) -> set[int]:
        return {int(r[0]) for r in tx.all("SELECT version FROM schema_version")}
    return engine.run_sync(fn)


class SchemaTooNew(Exception):
    pass


def migrate(engine: Engine, target: int | None = None) -> list[int]:
    """Apply every migration above the current version (up to ``target``); return those applied."""
    have = current_version(engine)
    steps = available(engine.dialect)
    newest = steps[-1][0]
    if have > newest:
        breaking = _newer_breaking(engine, newest)
        if breaking:
            raise SchemaTooNew(
                f"database schema version {have} is newer than this Postroom understands "
                f"({newest}) and version {breaking[0]} is not additive: older nodes cannot "
                "run on it; upgrade Postroom")
        log.warning("database schema version %d is newer than this Postroom (%d); the newer "
                    "migrations are additive, so this node runs on it (a rolling upgrade: "
                    "upgrade this node next)", have, newest)
    done = applied_versions(engine) if have else set()
    applied: list[int] = []
    for number, script in steps:
        if number in done or (target is not None and number > target):
            continue

        def fn(tx: Tx, number: int = number, script: str = script) -> bool:
            _serialise(tx)
            if tx.one("SELECT 1 FROM schema_version WHERE version = ?", (number,)):
                return False  # another node applied it meanwhile
            for statement in _statements(script):
                tx.execute(statement)
            tx.execute("INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                       (number, int(time.time())))
            tx.execute("INSERT INTO schema_notes (version, breaking) VALUES (?, ?)",
                       (number, 1 if BREAKING.search(script) else 0))
            return True
        if engine.run_sync(fn):
            applied.append(number)
    return applied
