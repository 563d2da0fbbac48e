"""Reading's limits, each at a small value on a server of its own: ``read_text_max`` cuts a
long text (and says so), ``max_html_size`` shows a large HTML body as text, ``read_inline_max``
stops embedding inline images past it, ``read_cache`` 0 still serves the frame, and
``remote_images = "never"`` refuses every way of showing remote images."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server import RunningServer, server_config
from tests.support.webmail import WEBMAIL, Webmail
from tests.support.webmail_read import deliver_raw, inbox_id

USER = "limits@example.test"
LIMITS = ["web.webmail.read_text_max=1024", "web.webmail.max_html_size=4096",
          "web.webmail.read_inline_max=100", "web.webmail.read_cache=0",
          "web.webmail.read_max_addresses=3", 'web.webmail.remote_images="never"']
LOGO = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgAAAAAgABVKJPXQAAAABJ"
        "RU5ErkJggg==")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    srv = RunningServer(server_config(Path(tmp_path_factory.mktemp("limits")),
                                      extra=[*WEBMAIL, *LIMITS]))
    try:
        yield srv
    finally:
        srv.stop()


def test_long_text_is_cut_with_a_note(mail: Webmail) -> None:
    mail.account(USER)
    web = mail.client(USER)
    body = ("word " * 400 + "\r\n") * 2  # 4000 characters
    uid = deliver_raw(mail, USER, f"Subject: long\r\nCc: a@x.test, b@x.test, c@x.test, "
                      f"d@x.test, e@x.test\r\n\r\n{body}".encode())
    page = web.get(f"/webmail/f/{inbox_id(web)}/m/{uid}")
    text = re.search(r'<pre class="msg-text">(.*?)</pre>', page.text, re.S)
    assert text is not None and len(text.group(1)) == 1024
    assert "This text is cut here" in page.text
    assert "and 2 more recipients" in page.text  # read_max_addresses = 3 of 5


def test_large_html_is_shown_as_text(mail: Webmail) -> None:
    mail.account(USER)
    web = mail.client(USER)
    html = "<p>" + "big <b>html</b>=C3=A9 =\r\n" * 400 + "</p><script>x()</script>"
    uid = deliver_raw(mail, USER, "Subject: big\r\nContent-Type: text/html; charset=utf-8\r\n"
                      f"Content-Transfer-Encoding: quoted-printable\r\n\r\n{html}\r\n".encode())
    fid = inbox_id(web)
    page = web.get(f"/webmail/f/{fid}/m/{uid}")
    assert "<iframe" not in page.text and "big htmlé big htmlé" in page.text  # QP undone
    assert "x()" not in page.text
    assert web.get(f"/webmail/f/{fid}/m/{uid}/body").status == 404


def test_inline_images_past_the_budget_are_not_embedded(mail: Webmail) -> None:
    mail.account(USER)
    web = mail.client(USER)
    raw = ("Subject: logos\r\nContent-Type: multipart/related; boundary=r\r\n\r\n--r\r\n"
           "Content-Type: text/html\r\n\r\n<img src=cid:a><img src=cid:b>"
           "<img src='https://remote.invalid/x.png'>\r\n"
           + "".join(f"--r\r\nContent-Type: image/png\r\nContent-ID: <{c}>\r\n"
                     f"Content-Transfer-Encoding: base64\r\n\r\n{LOGO}\r\n" for c in "ab")
           + "--r--\r\n")
    uid = deliver_raw(mail, USER, raw.encode())
    fid = inbox_id(web)
    body = web.get(f"/webmail/f/{fid}/m/{uid}/body")  # read_cache = 0: sanitised again
    assert body.status == 200
    assert body.text.count("data:image/png;base64,") == 1  # 100 octets: one logo fits
    page = web.get(f"/webmail/f/{fid}/m/{uid}")
    assert "1 remote image blocked" in page.text
    assert "Always show from" not in page.text  # remote_images = "never"
    assert web.post(f"/webmail/f/{fid}/m/{uid}/images", {"for": "sender"}).status == 422
    shown = web.get(f"/webmail/f/{fid}/m/{uid}/body?images=1")
    assert "https:" not in shown.headers["Content-Security-Policy"]
    assert 'data-blocked-src="https://remote.invalid/x.png"' in shown.text
