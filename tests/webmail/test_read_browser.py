"""The reading page in Chromium: inline ``cid:`` images show inside the sandboxed frame, links
open in a new tab without an opener, shortcuts lead to reply/forward/the list, and the
always-show-images choice sticks for the sender."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tests.support.webmail import Webmail
from tests.support.webmail_read import Canary, deliver_raw, inbox_id

ALICE = "browse@example.test"
LOGO = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgAAAAAgABVKJPXQAAAABJ"
        "RU5ErkJggg==")


def related(remote: str) -> bytes:
    return f"""From: Shop <shop@remote.test>
Subject: With a logo
MIME-Version: 1.0
Content-Type: multipart/related; boundary="r"

--r
Content-Type: text/html; charset=utf-8

<p>Logo: <img id="logo" src="cid:logo@shop" width="20" height="20"></p>
<p><img src="{remote}/pixel.png" alt="tracker"></p>
<p><a href="https://example.com/offer">the offer</a></p>
--r
Content-Type: image/png
Content-ID: <logo@shop>
Content-Transfer-Encoding: base64

{LOGO}
--r--
""".encode()


def _frame(page: Any) -> Any:
    page.wait_for_load_state("load")
    frames = [f for f in page.frames if f.url.endswith("/body") or "/body?" in f.url]
    assert frames, [f.url for f in page.frames]
    return frames[0]


def test_cid_image_shows_in_the_sandboxed_frame(mail_browser: Webmail,
                                                 tmp_path: Path) -> None:
    mail_browser.account(ALICE)
    with Canary(tmp_path) as canary:
        uid = deliver_raw(mail_browser, ALICE, related(canary.base))
        fid = inbox_id(mail_browser.client(ALICE))
        context, page = mail_browser.browser(ALICE)
        page.goto(f"/webmail/f/{fid}/m/{uid}")
        frame = _frame(page)
        image = frame.locator("img").first
        assert image.evaluate("i => i.complete && i.naturalWidth") == 1
        assert canary.hits == []
        # "always show from" the sender: the next open loads the remote image at once
        page.get_by_role("button", name=re.compile("Always show from shop@remote.test")).click()
        page.wait_for_load_state("load")
        assert "are now shown" in page.locator(".flash").inner_text()
        for _ in range(50):
            if canary.hits:
                break
            page.wait_for_timeout(100)
        assert canary.hits == ["/pixel.png"]
        context.close()


def test_links_open_a_new_tab_without_opener(mail_browser: Webmail) -> None:
    mail_browser.account(ALICE)
    uid = deliver_raw(mail_browser, ALICE, related("https://remote.invalid"))
    fid = inbox_id(mail_browser.client(ALICE))
    context, page = mail_browser.browser(ALICE)
    context.route("https://example.com/**", lambda route: route.fulfill(
        status=200, body="<title>offer</title>", headers={"content-type": "text/html"}))
    page.goto(f"/webmail/f/{fid}/m/{uid}")
    frame = _frame(page)
    with context.expect_page() as popup_info:
        frame.get_by_text("the offer").click()
    popup = popup_info.value
    popup.wait_for_load_state()
    assert popup.url == "https://example.com/offer"
    assert popup.evaluate("window.opener") is None
    assert page.url.endswith(f"/m/{uid}")  # the reading page stays
    context.close()


def test_shortcuts(mail_browser: Webmail) -> None:
    mail_browser.account(ALICE)
    uid = deliver_raw(mail_browser, ALICE, b"Subject: keys\n\nPress keys.\n")
    fid = inbox_id(mail_browser.client(ALICE))
    context, page = mail_browser.browser(ALICE)
    seen: list[str] = []
    context.route(re.compile(r".*/webmail/(compose|f/\d+$).*"), lambda route: (
        seen.append(route.request.url), route.fulfill(status=200, body="ok")))
    for key, expected in (("r", f"reply={fid}:{uid}"), ("a", "all=1"),
                          ("f", f"forward={fid}:{uid}"), ("u", f"/webmail/f/{fid}")):
        page.goto(f"/webmail/f/{fid}/m/{uid}")
        page.wait_for_load_state("load")
        page.locator("body").press(key)
        page.wait_for_url(re.compile(".*" + re.escape(expected) + ".*"))
    assert len(seen) == 4
    context.close()
