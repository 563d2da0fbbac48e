"""ActiveSync tests: one real server per module (the public HTTPS listener that carries
/Microsoft-Server-ActiveSync next to /dav/ and webmail, SMTP, IMAP), driven by the raw
``EasClient`` (tests/support/eas.py) and by pyactivesync as a phone.

Fixtures (a module may define its own ``srv``/``dav`` instead, as test_provision.py does):

- ``eas_server``: the RunningServer, limits as in production unless a module overrides
  ``eas_extra`` (a list of ``key=value`` config overrides);
- ``eas``: an ``Eas`` helper (``Dav``'s account(), deliver(), imap(), caldav());
- ``client_for(address, **kw)``: a provisioned ``EasClient`` for an account (created when
  missing); ``provision=False`` gives an unprovisioned one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.dav import DAV
from tests.support.eas import Eas, EasClient
from tests.support.server import RunningServer, server_config


@pytest.fixture(scope="module")
def eas_extra() -> list[str]:
    """Config overrides for a module's server (override in the module to change limits)."""
    return []


@pytest.fixture(scope="module")
def eas_server(tmp_path_factory: pytest.TempPathFactory,
               eas_extra: list[str]) -> Iterator[RunningServer]:
    srv = RunningServer(server_config(Path(tmp_path_factory.mktemp("eas")),
                                      extra=[*DAV, *eas_extra]))
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def eas(eas_server: RunningServer) -> Eas:
    return Eas(eas_server)


@pytest.fixture(scope="module")
def client_for(eas_server: RunningServer, eas: Eas) -> Callable[..., EasClient]:
    def make(address: str, *, provision: bool = True, **kw: Any) -> EasClient:
        eas.account(address)
        client = EasClient(eas_server, address, **kw)
        if provision:
            client.provision()
        return client
    return make


@pytest.fixture(scope="module")
def srv(eas_server: RunningServer) -> RunningServer:
    """The module's server under the short name the command tests use."""
    return eas_server


@pytest.fixture(scope="module")
def dav(eas: Eas) -> Eas:
    """Webmail's and DAV's helpers (account(), deliver(), imap(), caldav()) on it."""
    return eas
