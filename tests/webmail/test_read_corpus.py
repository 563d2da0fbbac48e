"""The hostile corpus (tests/webmail/corpus/*.eml), delivered over SMTP and rendered in Debian's
Chromium: no script runs (every payload tries to set ``top.document.title`` to PWNED, open a
dialog or fetch the canary) and no request or even a connection reaches the canary, a
"remote host" on another loopback address, before the user allows images; after "Show for
this message" the allowed image IS fetched, which proves the test would see a request.

Defence in depth, each wall alone: the raw, unsanitised HTML served under the frame's CSP in
the sandboxed frame runs and loads nothing; the sanitised HTML rendered with no CSP and no
sandbox at all runs and loads nothing either.

Downloads: every attachment's Content-Disposition is one header line of printable ASCII with
a cleaned name, and no header a file name tried to add exists.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from postroom.mime.html import render_document, sanitise
from postroom.web.webmail.read import FRAME_CSP
from tests.support.webmail import Webmail
from tests.support.webmail_read import CORPUS, Canary, corpus, deliver_raw, inbox_id

ALICE = "reader@example.test"
FILES = sorted(p.name for p in CORPUS.glob("*.eml"))
SETTLE_MS = 600  # after load: time for timers, refreshes and lazy loads to fire


@pytest.fixture(scope="module")
def canary(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Canary]:
    with Canary(Path(tmp_path_factory.mktemp("canary"))) as running:
        yield running


@pytest.fixture(scope="module")
def fid(mail_browser: Webmail) -> int:
    mail_browser.account(ALICE)
    return inbox_id(mail_browser.client(ALICE))


class Watch:
    """What a page did: dialogs it opened, requests it made (any frame), its title."""

    def __init__(self, context: Any, page: Any, canary: Canary) -> None:
        self.dialogs: list[str] = []
        self.requests: list[str] = []
        self.bodies: list[int] = []  # statuses of the frame documents loaded
        self.canary = canary
        self.hits_before = len(canary.hits)
        self.connections_before = canary.connections
        page.on("dialog", self._dialog)
        # requests that got an answer (a request the CSP blocks is announced, then fails)
        context.on("requestfinished", lambda request: self.requests.append(request.url))
        context.on("response", lambda response: self.bodies.append(response.status)
                   if re.search(r"/m/\d+/body(\?|$)", response.url) else None)

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def assert_quiet(self, page: Any, label: str, spare_connections: int = 0) -> None:
        page.wait_for_timeout(SETTLE_MS)
        assert "PWNED" not in page.title(), label
        assert not self.dialogs, (label, self.dialogs)
        assert self.canary.hits[self.hits_before:] == [], label
        assert self.canary.connections - self.connections_before <= spare_connections, label
        to_canary = [u for u in self.requests if u.startswith(self.canary.base)]
        assert not to_canary, (label, to_canary)


def _poke(page: Any) -> None:
    """Do what a reader does: hover, click the (sanitised) links and buttons in the frame."""
    frame = page.frame_locator("iframe.msg-frame")
    body = frame.locator("body")
    body.hover()
    _click_all(frame.locator("a:not([href^='http'])"))


def _click_all(links: Any) -> None:
    """Click each link (what has no href does nothing; what a hostile mail covers with
    something else is clicked through with ``force``)."""
    for i in range(min(links.count(), 10)):
        try:
            links.nth(i).click(timeout=1500, force=True)
        except Exception:  # gone or hidden: nothing to click, nothing that could run
            continue


@pytest.mark.parametrize("name", FILES)
def test_hostile_mail_runs_and_loads_nothing(mail_browser: Webmail, canary: Canary, fid: int,
                                             name: str) -> None:
    uid = deliver_raw(mail_browser, ALICE, corpus(name, canary.base))
    context, page = mail_browser.browser(ALICE)
    watch = Watch(context, page, canary)
    response = page.goto(f"/webmail/f/{fid}/m/{uid}")
    assert response is not None and response.status == 200
    page.wait_for_load_state("load")
    if page.locator("iframe.msg-frame").count():
        assert watch.bodies == [200], watch.bodies  # the frame did load the hostile HTML
        _poke(page)
    watch.assert_quiet(page, name)
    # the frame's document opened on its own (top level): still nothing
    if page.locator("iframe.msg-frame").count():
        page.goto(f"/webmail/f/{fid}/m/{uid}/body")
        watch.assert_quiet(page, name + " (body opened directly)")
    # previews and attachments opened directly: nothing runs either
    reading = mail_browser.client(ALICE).get(f"/webmail/f/{fid}/m/{uid}")
    for part in sorted(set(re.findall(r"/part/([0-9.]+)", reading.text))):
        page.goto(f"/webmail/f/{fid}/m/{uid}/part/{part}?inline=1") if _inline(
            reading.text, part) else None
        watch.assert_quiet(page, f"{name} part {part}")
    context.close()


def _inline(page: str, part: str) -> bool:
    return f"/part/{part}?inline=1" in page


def test_allowed_image_is_fetched_only_after_show(mail_browser: Webmail, canary: Canary,
                                                  fid: int) -> None:
    uid = deliver_raw(mail_browser, ALICE, corpus("12-remote-images.eml", canary.base))
    context, page = mail_browser.browser(ALICE)
    watch = Watch(context, page, canary)
    page.goto(f"/webmail/f/{fid}/m/{uid}")
    page.wait_for_load_state("load")
    watch.assert_quiet(page, "before showing images")
    bar = page.get_by_role("region", name="Remote images")
    assert "1 remote image blocked" in bar.inner_text()
    page.get_by_role("button", name="Show for this message").click()
    page.wait_for_url(re.compile(r"\?images=1$"))
    page.wait_for_load_state("load")
    deadline = 50
    while "/12-allowed.png" not in canary.hits and deadline:
        page.wait_for_timeout(100)
        deadline -= 1
    assert "/12-allowed.png" in canary.hits  # the test can see a request
    # what the sanitiser dropped (srcset, picture sources, input images) still is not fetched
    assert not [h for h in canary.hits if "12-srcset" in h or "12-picture" in h
                or "12-input" in h or "12-ping" in h]
    assert "PWNED" not in page.title()
    context.close()


@pytest.mark.parametrize("name", FILES)
def test_csp_alone_stops_the_raw_html(mail_browser: Webmail, canary: Canary, fid: int,
                                      name: str) -> None:
    """The frame's CSP and sandbox without the sanitiser: the unsanitised HTML is served as
    the frame's document with the frame's headers, and still nothing runs or loads."""
    raw = corpus(name, canary.base)
    html = raw.split(b"\n\n", 1)[1] if b"\n\n" in raw else raw
    uid = deliver_raw(mail_browser, ALICE, b"Subject: csp alone\nContent-Type: text/html\n\n"
                      b"<p>x</p>\n")
    context, page = mail_browser.browser(ALICE)
    watch = Watch(context, page, canary)

    def unsanitised(route: Any) -> None:
        route.fulfill(status=200, body=html, headers={
            "content-type": "text/html; charset=utf-8",
            "content-security-policy": FRAME_CSP.format(remote=""),
            "x-frame-options": "SAMEORIGIN", "x-content-type-options": "nosniff"})
    context.route(re.compile(r".*/m/\d+/body$"), unsanitised)
    page.goto(f"/webmail/f/{fid}/m/{uid}")
    page.wait_for_load_state("load")
    _poke(page)
    # Chromium opens a connection (TCP and TLS, no request) to the URL of a nested frame
    # before its CSP check refuses the frame (measured: each <iframe src>/<frame src>); so the
    # CSP alone lets a frame's host see the reader's address, and only the sanitiser, which
    # drops frames, keeps that from happening (docs/webmail/read.md, "Two walls").
    frames = len(re.findall(rb"<i?frame\s[^>]*src=", html, re.I))
    watch.assert_quiet(page, name + " (CSP alone)", spare_connections=frames)
    context.close()


@pytest.mark.parametrize("name", FILES)
def test_sanitiser_alone_stops_the_html(mail_browser: Webmail, canary: Canary,
                                        name: str) -> None:
    """The sanitiser without CSP or sandbox: its output, rendered as a plain page, runs and
    loads nothing (remote images blocked)."""
    raw = corpus(name, canary.base).decode("utf-8", "replace")
    html = raw.split("\n\n", 1)[1] if "\n\n" in raw else raw
    context = mail_browser.context()
    page = context.new_page()
    watch = Watch(context, page, canary)
    page.set_content(render_document(sanitise(html)))
    page.wait_for_load_state("load")
    _click_all(page.locator("a:not([href^='http'])"))
    watch.assert_quiet(page, name + " (sanitiser alone)")
    context.close()


def test_downloads_cannot_inject_headers(mail_browser: Webmail, fid: int) -> None:
    uid = deliver_raw(mail_browser, ALICE, corpus("11-encoded-words.eml"))
    web = mail_browser.client(ALICE)
    page = web.get(f"/webmail/f/{fid}/m/{uid}")
    assert page.status == 200
    main = re.search(r"<main.*</main>", page.text, re.S)
    assert main is not None
    assert "<script" not in main.group(0) and "\u202e" not in page.text
    assert "&lt;script&gt;" in main.group(0)  # the encoded word is shown, as text
    parts = sorted(set(re.findall(r"/part/([0-9.]+)\"", page.text)))
    assert len(parts) == 4, parts
    for part in parts:
        download = web.get(f"/webmail/f/{fid}/m/{uid}/part/{part}")
        assert download.status == 200
        values = download.headers.get_all("Content-Disposition")
        assert values is not None and len(values) == 1, values
        value = values[0]
        assert re.fullmatch(r"attachment; filename=\"[A-Za-z0-9 ._()+\-]+\"; "
                            r"filename\*=UTF-8''[A-Za-z0-9%!#$&+\-.^_`|~]+", value), value
        for injected in ("X-Evil", "X-Injected", "X-Two"):
            assert download.headers.get(injected) is None
        assert download.headers["Content-Type"] in ("application/octet-stream",
                                                    "text/plain; charset=utf-8")
    assert "invoicefdp.exe" in page.text  # the bidi override is gone, the name shows as is


def test_reading_page_passes_axe(mail_browser: Webmail, canary: Canary, fid: int) -> None:
    axe_module = pytest.importorskip("axe_playwright_python.sync_playwright")
    uid = deliver_raw(mail_browser, ALICE, corpus("12-remote-images.eml", canary.base))
    text_uid = deliver_raw(mail_browser, ALICE, corpus("11-encoded-words.eml"))
    context, page = mail_browser.browser(ALICE)
    axe = axe_module.Axe()
    failures = {}
    for path in (f"/webmail/f/{fid}/m/{uid}", f"/webmail/f/{fid}/m/{text_uid}"):
        page.goto(path)
        page.wait_for_load_state("load")
        results = axe.run(page)
        bad = [f"{v['id']} ({v['impact']}): {v['help']}" for v in
               results.response["violations"] if v["impact"] in ("serious", "critical")]
        if bad:
            failures[path] = bad
    context.close()
    assert not failures, failures


@pytest.mark.parametrize(("name", "canary_path"), [
    ("01-script-tags.eml", "/01-inline"), ("02-event-handlers.eml", "/02-onerror"),
    ("05-css.eml", "/05-body-bg.png")])
def test_payloads_do_run_without_protection(mail_browser: Webmail, canary: Canary, name: str,
                                            canary_path: str) -> None:
    """The control: the same payloads in a plain page (no sanitiser, no CSP, no sandbox) do
    run and do reach the canary, so the tests above would see them if they got through."""
    raw = corpus(name, canary.base).decode()
    context = mail_browser.context()
    page = context.new_page()
    page.set_content(raw.split("\n\n", 1)[1])
    page.wait_for_load_state("load")
    for _ in range(50):
        if canary_path in canary.hits:
            break
        page.wait_for_timeout(100)
    assert canary_path in canary.hits
    if name != "05-css.eml":
        assert "PWNED" in page.title()
    context.close()


def test_browser_saves_attachments_under_safe_names(mail_browser: Webmail, fid: int) -> None:
    """What Chromium itself makes of the hostile names: a plain file name each time."""
    uid = deliver_raw(mail_browser, ALICE, corpus("11-encoded-words.eml"))
    context, page = mail_browser.browser(ALICE, accept_downloads=True)
    page.goto(f"/webmail/f/{fid}/m/{uid}")
    names = []
    links = page.locator(".msg-attachments a[download]")
    assert links.count() == 4
    for i in range(links.count()):
        with page.expect_download() as info:
            links.nth(i).click()
        names.append(info.value.suggested_filename)
    context.close()
    for name in names:
        assert re.fullmatch(r"[^/\\\r\n\"\x00-\x1f\u202e]+", name), names
        assert not name.startswith(".")
    assert "invoicefdp.exe" in names
