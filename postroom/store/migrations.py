"""Forward-only, numbered schema migrations, applied at start.

Files live in ``sql/<dialect>/NNNN_name.sql``. The ``schema_version`` table records each applied
number; every migration runs in its own transaction, so a crash leaves the database at a whole
version. A database newer than this program is refused rather than guessed at.

Every available number not yet recorded is applied, in number order, even one below the
newest applied: numbers are reserved ahead by parallel work, so a database may have met 13
before a release brought 12 (the sort keys came that way), and skipping 12 for good because
13 is there would leave that database without its columns.
"""

from __future__ import annotations

import re
import time
from importlib import resources

from postroom.store.engine import Engine, Tx

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


def current_version(engine: Engine) -> int:
    def fn(tx: Tx) -> int:
        tx.execute("CREATE TABLE IF NOT EXISTS schema_version "
                   "(version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)")
        row = tx.one("SELECT max(version) FROM schema_version")
        return int(row[0]) if row and row[0] is not None else 0
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
        raise SchemaTooNew(f"database schema version {have} is newer than this Postroom "
                           f"understands ({newest}); upgrade Postroom")
    done = applied_versions(engine) if have else set()
    applied: list[int] = []
    for number, script in steps:
        if number in done or (target is not None and number > target):
            continue

        def fn(tx: Tx, number: int = number, script: str = script) -> None:
            for statement in _statements(script):
                tx.execute(statement)
            tx.execute("INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                       (number, int(time.time())))
        engine.run_sync(fn)
        applied.append(number)
    return applied
