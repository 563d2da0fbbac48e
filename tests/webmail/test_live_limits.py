"""Live updates' limits: per-user and per-process caps on streams, and streams ending at
server stop. A server of their own with small caps (web.webmail.live_max_per_user=2,
live_max_streams=3)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server import RunningServer, server_config, wait_for
from tests.support.webmail import WEBMAIL, Webmail
from tests.support.webmail_live import SseReader

CAPS = ["web.webmail.live_max_per_user=2", "web.webmail.live_max_streams=3",
        "web.webmail.live_poll=30"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    srv = RunningServer(server_config(Path(tmp_path_factory.mktemp("live-caps")),
                                      extra=WEBMAIL + CAPS))
    try:
        yield srv
    finally:
        srv.stop()


def open_streams(server: RunningServer) -> int:
    webmail = server.server.webmail
    assert webmail is not None
    return webmail.live.streams


def test_per_user_cap_ends_the_oldest(mail: Webmail) -> None:
    web = mail.client(mail.account("alice@example.test"))
    first = SseReader(mail.port, dict(web.jar))
    second = SseReader(mail.port, dict(web.jar))
    assert first.status == second.status == 200
    wait_for(lambda: open_streams(mail.server) == 2, 5)
    third = SseReader(mail.port, dict(web.jar))
    try:
        assert third.status == 200
        events = first.until_end(timeout=3)
        assert [(e.type, e.data) for e in events] == [("end", {"reason": "replaced"})]
        assert not second.ended.is_set() and not third.ended.is_set()
    finally:
        for reader in (first, second, third):
            reader.close()
    wait_for(lambda: open_streams(mail.server) == 0, 5, "streams released")


def test_process_cap_answers_503_with_retry_after(mail: Webmail) -> None:
    readers = [SseReader(mail.port, dict(mail.client(mail.account(f"u{n}@example.test")).jar))
               for n in range(3)]
    try:
        assert [r.status for r in readers] == [200, 200, 200]
        wait_for(lambda: open_streams(mail.server) == 3, 5)
        web = mail.client(mail.account("late@example.test"))
        refused = SseReader(mail.port, dict(web.jar))
        assert refused.status == 503
        assert refused.response_headers["retry-after"] == "30"  # live_poll
        # polling is no stream: it still works
        page = web.get("/webmail/events?poll=1")
        assert page.status in (200, 404)
    finally:
        for reader in readers:
            reader.close()
    wait_for(lambda: open_streams(mail.server) == 0, 5, "streams released")
    again = SseReader(mail.port, dict(web.jar))
    try:
        assert again.status == 200
    finally:
        again.close()


def test_server_stop_ends_streams_promptly(tmp_path: Path) -> None:
    srv = RunningServer(server_config(tmp_path, extra=WEBMAIL))
    stopped = False
    try:
        mail = Webmail(srv)
        web = mail.client(mail.account("alice@example.test"))
        readers = [SseReader(mail.port, dict(web.jar)) for _ in range(2)]
        assert [r.status for r in readers] == [200, 200]
        wait_for(lambda: open_streams(srv) == 2, 5)
        start = time.monotonic()
        stopper = threading.Thread(target=srv.stop)
        stopper.start()
        for reader in readers:
            events = reader.until_end(timeout=3)
            assert [e.type for e in events][-1:] == ["end"]
        assert time.monotonic() - start < 3
        stopper.join(15)
        stopped = True
        assert not stopper.is_alive()
    finally:
        if not stopped:
            srv.stop()


def test_a_refused_page_falls_back_to_polling(mail_browser: Webmail) -> None:
    """With the process at live_max_streams, a page's EventSource gets 503: live.js polls
    the open folder's counts instead (at once, then every 60 s)."""
    mail = mail_browser
    readers = [SseReader(mail.port, dict(mail.client(mail.account(f"p{n}@example.test")).jar))
               for n in range(3)]
    context = None
    try:
        assert [r.status for r in readers] == [200, 200, 200]
        wait_for(lambda: open_streams(mail.server) == 3, 5)
        address = mail.account("refused@example.test")
        context, page = mail.browser(address)
        refused: list[int] = []
        page.on("response", lambda r: refused.append(r.status)
                if r.url.endswith("/webmail/events") or "/webmail/events?folder=" in r.url
                else None)
        with page.expect_request(lambda r: "/webmail/events?poll=" in r.url, timeout=5000):
            page.goto("/webmail/tree")
            page.evaluate("""() => {
                document.body.dataset.folder = "1";
                const nav = document.createElement("nav");
                nav.id = "folders";
                nav.append(document.getElementById("folder-tree"));
                document.body.append(nav);
            }""")
            page.add_script_tag(url="/static/webmail/core.js")
            page.add_script_tag(url="/static/webmail/live.js")
        assert 503 in refused
    finally:
        if context is not None:
            context.close()
        for reader in readers:
            reader.close()
    wait_for(lambda: open_streams(mail.server) == 0, 5, "streams released")
