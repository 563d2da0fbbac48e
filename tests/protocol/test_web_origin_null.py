"""Chromium posts same-origin forms with ``Origin: null`` under ``Referrer-Policy:
no-referrer`` (which every response carries, web/guard.py): the session layer must let them
through, or no browser could log in (found by the operations pages' browser tests); what the
browser marks as cross-site stays refused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server import RunningServer, server_config
from tests.support.web import WebClient


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = RunningServer(server_config(Path(tmp_path_factory.mktemp("origin")), extra=[
        "web.admin.enabled=true", "web.admin.port=0"]))
    yield server
    server.stop()


@pytest.mark.parametrize(("site", "refused"), [("same-origin", False), ("cross-site", True),
                                               ("same-site", True)])
def test_null_origin_is_judged_by_fetch_metadata(srv: RunningServer, site: str | None,
                                                 refused: bool) -> None:
    address, password = srv.add_user("null-origin")
    web = WebClient(srv.port("webadmin"))
    web.get("/login")
    headers = {"Origin": "null"}
    if site is not None:
        headers["Sec-Fetch-Site"] = site
    page = web.post("/login", {"username": address, "password": password}, headers=headers)
    if refused:
        assert page.status == 403 and "cross-" in page.text
    else:
        assert page.status == 303
