"""Real spamd and clamd for the whole session (tests/support/daemons.py), stopped at the end.

A test that stops or reloads clamd restarts it before it returns, so the next test finds it
serving."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.daemons import Clamd, Spamd


@pytest.fixture(scope="session")
def spamd() -> Iterator[Spamd]:
    daemon = Spamd()
    try:
        daemon.start()
        yield daemon
    finally:
        daemon.cleanup()


@pytest.fixture(scope="session")
def clamd() -> Iterator[Clamd]:
    daemon = Clamd()
    try:
        daemon.start()
        yield daemon
    finally:
        daemon.cleanup()


@pytest.fixture
def clamd_up(clamd: Clamd) -> Iterator[Clamd]:
    """clamd, running now and again after the test (which may stop it)."""
    if not clamd.running:
        clamd.start()
    yield clamd
    if not clamd.running:
        clamd.start()
