"""Shared fixtures: a real store on each backend, services built by the composition root."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from postroom import config
from postroom.app import Services, build_services, open_store
from postroom.config import Config
from tests.support import pg

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def pg_admin_dsn() -> Iterator[str]:
    try:
        with pg.server() as dsn:
            yield dsn
    except RuntimeError as exc:  # pragma: no cover - make test installs PostgreSQL
        pytest.fail(str(exc))


def make_config(data_dir: Path, backend: str = "sqlite", dsn: str = "") -> Config:
    cfg = config.load(None, [f"store.backend={backend}", f"store.dsn={dsn}"])
    cfg.server.data_dir = str(data_dir)
    return cfg


@pytest.fixture(params=BACKENDS)
def backend_config(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Config]:
    if request.param == "postgresql":
        admin = request.getfixturevalue("pg_admin_dsn")
        with pg.database(admin) as dsn:
            yield make_config(tmp_path / "data", "postgresql", dsn)
    else:
        yield make_config(tmp_path / "data")


@pytest_asyncio.fixture
async def services(backend_config: Config) -> AsyncIterator[Services]:
    s = build_services(backend_config, open_store(backend_config))
    try:
        yield s
    finally:
        await s.close()


@pytest_asyncio.fixture
async def sqlite_services(tmp_path: Path) -> AsyncIterator[Services]:
    cfg = make_config(tmp_path / "data")
    s = build_services(cfg)
    try:
        yield s
    finally:
        await s.close()
