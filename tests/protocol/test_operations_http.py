"""The operations pages over real HTTPS through the whole stack (guard, session layer, login
with TOTP): who reaches which page, CSRF on their forms, bad input answered 4xx, never 500.
The pages' behaviour in detail is in tests/contract/test_operations_pages.py and in the
browser tests (tests/browser/test_operations_pages.py)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from postroom.core.actor import Actor
from tests.support.server import RunningServer, server_config
from tests.support.web import WebClient

PAGES = ["/", "/queue", "/gateways", "/dkim", "/screening", "/audit", "/maillog"]


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    data = Path(tmp_path_factory.mktemp("ops-http"))
    server = RunningServer(server_config(data, extra=[
        "web.admin.enabled=true", "web.admin.port=0", f"log.file={data / 'none.log'}",
        "web.form_max_field=1000", "web.form_max_fields=20"]))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def root(srv: RunningServer) -> WebClient:
    address, password = srv.add_user("root")
    srv.call(srv.services.admin.roles.set(Actor.operator(), address, None, True))
    web = WebClient(srv.port("webadmin"))
    web.login_enrolling(address, password)
    return web


def test_pages_need_a_login(srv: RunningServer) -> None:
    web = WebClient(srv.port("webadmin"))
    for path in [*PAGES, "/dashboard.json", "/queue/1", "/dkim/example.test"]:
        page = web.get(path)
        assert page.status == 303 and page.location.startswith("/login?next="), path
    assert web.post("/screening/block", {"network": "192.0.2.1"}).status in (303, 403)


def test_a_global_administrator_reaches_every_page(root: WebClient) -> None:
    for path in PAGES:
        page = root.get(path)
        assert page.status == 200, (path, page.text[:300])
        assert page.headers["Content-Security-Policy"].startswith("default-src 'self'")
    figures = json.loads(root.get("/dashboard.json").text)
    assert figures["server_wide"] is True and "webadmin" in figures["open_connections"]


def test_forms_need_their_csrf_token(root: WebClient, srv: RunningServer) -> None:
    page = root.post("/screening/block", {"network": "192.0.2.99", "duration": ""},
                     csrf=False)
    assert page.status == 403
    assert root.post("/screening/block", {"network": "192.0.2.99", "duration": "",
                                          "csrf": "forged"}, csrf=False).status == 403
    blocks = srv.call(srv.services.admin.screening.list(Actor.operator()))
    assert all(b.network != "192.0.2.99/32" for b in blocks)
    page = root.post("/screening/block", {"network": "192.0.2.99", "duration": ""})
    assert page.status == 303
    assert root.post("/screening/unblock", {"network": "192.0.2.99"}).status == 303


def test_bad_input_is_a_4xx_never_a_500(root: WebClient) -> None:
    root.get("/queue")
    cases = [
        root.request("POST", "/screening/block", b'{"network": "x"}',
                     {"Content-Type": "application/json", "X-CSRF-Token": root.csrf}),
        root.post("/screening/block", {"network": "::::", "duration": "forever"}),
        root.post("/queue/123456/hold"),
        root.post("/queue/x/hold"),
        root.post("/dkim", {"domain": "nowhere.example"}),
        root.post("/dkim", {"domain": "example.test", "selector": "s" * 300}),
        root.post("/dkim/example.test/rotate", {"delay": "-5"}),
        root.post("/atrn", {"name": "two words", "host": "h", "username": "u",
                            "password": "p"}),
        root.post("/gateways", {"domain": "", "verify": "sometimes"}),
        root.post("/gateways/nowhere.example", {"verify": "none"}),
        root.request("POST", "/screening/block", b"network=%ff%fe&csrf=" +
                     root.csrf.encode(), {"Content-Type": "application/x-www-form-urlencoded"}),
        root.get("/audit?since=1999-99-99"),
        root.get("/maillog?q=" + "x" * 1200),
        root.get("/maillog?q=12&kind=nonsense"),
    ]
    for page in cases:
        assert 400 <= page.status < 500, (cases.index(page), page.status, page.text[-600:])
        assert "Traceback" not in page.text


def test_the_configured_form_limits_hold_on_every_page(root: WebClient) -> None:
    """web.form_max_field=1000 and web.form_max_fields=20 (set for this module) bound the
    forms of the operations and the directory pages alike (web/forms.py)."""
    for path in ("/screening/block", "/domains"):
        assert root.post(path, {"network": "x" * 1001, "name": "x" * 1001}).status == 413
        many = {f"f{i}": "1" for i in range(20)}  # with the csrf field: 21
        assert root.post(path, many).status == 413
    assert root.post("/screening/block", {"network": "192.0.2.98",
                                          "duration": "x" * 900}).status == 422


def test_roles(srv: RunningServer) -> None:
    op = Actor.operator()
    boss, boss_password = srv.add_user("boss")
    srv.call(srv.services.admin.roles.set(op, boss, "example.test", True))
    web = WebClient(srv.port("webadmin"))
    web.login_enrolling(boss, boss_password)
    page = web.get("/")
    assert page.status == 200 and "for global administrators" in page.text
    figures = json.loads(web.get("/dashboard.json").text)
    assert figures["server_wide"] is False and figures["open_connections"] == {}
    for path in PAGES[1:]:
        assert web.get(path).status == 404, path  # as if the page did not exist
    user, password = srv.add_user("plain")
    web = WebClient(srv.port("webadmin"))
    web.login(user, password)
    page = web.get("/")
    assert page.status == 303 and page.location == "/me"
    assert web.get("/dashboard.json").status == 303
    for path in PAGES[1:]:
        assert web.get(path).status == 404, path


def test_a_reload_points_the_mail_log_search_at_the_new_file(srv: RunningServer,
                                                             root: WebClient) -> None:
    data = Path(srv.cfg.server.data_dir)
    new_file = data.parent / "renamed.log"
    new_file.write_text('2026-12-03T10:00:02Z info postroom.mail conn=- delivered queue_id=41 '
                        'to=<alice@example.test> where=INBOX status=2.0.0 delay=- reason=-\n')
    assert "Queue id 41" not in root.get("/maillog?q=41").text
    new = server_config(data, extra=["web.admin.enabled=true", "web.admin.port=0",
                                     f"log.file={new_file}",
                                     "web.operations.maillog_max_results=5"])
    logger = logging.getLogger("postroom")  # a reload sets the process's log up again
    saved = (logger.handlers[:], logger.level, logger.propagate)
    try:
        srv.server.reload(new)  # what SIGHUP runs
    finally:
        for handler in logger.handlers:
            if handler not in saved[0]:
                handler.close()
        logger.handlers[:], logger.level, logger.propagate = saved
    page = root.get("/maillog?q=41")
    assert page.status == 200 and "Queue id 41" in page.text and "where=INBOX" in page.text
