"""The reading endpoints over real HTTPS: the page, the frame's document and its CSP, parts
and downloads, cid images, raw source, the remote-images form; \\Seen on open; and bad input
(junk ids, other users' ids, hidden folders, missing CSRF) answered 4xx with one same text."""

from __future__ import annotations

import base64
import re
import time

import pytest

from tests.support.web import WebClient
from tests.support.webmail import Webmail
from tests.support.webmail_read import append_raw, deliver_raw, inbox_id

ALICE = "alice@example.test"
BOB = "bob@example.test"

LOGO = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgAAAAAgABVKJPXQAAAABJ"
        "RU5ErkJggg==")
HTML_MAIL = b"""From: =?utf-8?q?Caf=C3=A9_Owner?= <owner@remote.test>
Subject: =?utf-8?b?SGVsbG8g8J+Riw==?= menu
Date: Tue, 01 Dec 2026 10:00:00 +0000
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="mix"

--mix
Content-Type: multipart/related; boundary="rel"

--rel
Content-Type: multipart/alternative; boundary="alt"

--alt
Content-Type: text/plain; charset=utf-8

Plain menu text.
--alt
Content-Type: text/html; charset=utf-8

<p>Our <b>menu</b> <img src="cid:logo@x"> <img src="http://remote.invalid/track.png"></p>
<script>alert(1)</script>
--alt--
--rel
Content-Type: image/png
Content-ID: <logo@x>
Content-Transfer-Encoding: base64

%(logo)s
--rel--
--mix
Content-Type: application/pdf; name="=?utf-8?q?r=C3=A9sum=C3=A9?=.pdf"
Content-Disposition: attachment; filename*=utf-8''r%C3%A9sum%C3%A9%0D%0AX-Evil%3A%201.pdf
Content-Transfer-Encoding: base64

JVBERi0xLjQK
--mix
Content-Type: text/html; name="page.html"
Content-Disposition: attachment; filename="../../etc/page.html"

<script>alert(1)</script>
--mix--
""".replace(b"%(logo)s", LOGO.encode())


@pytest.fixture(scope="module")
def alice(mail: Webmail) -> WebClient:
    mail.account(ALICE)
    return mail.client(ALICE)


@pytest.fixture(scope="module")
def html_uid(mail: Webmail, alice: WebClient) -> int:
    return deliver_raw(mail, ALICE, HTML_MAIL)


def url(fid: int, uid: int, tail: str = "") -> str:
    return f"/webmail/f/{fid}/m/{uid}{tail}"


def test_reading_page_shows_decoded_headers_and_frames_the_html(
        alice: WebClient, html_uid: int) -> None:
    fid = inbox_id(alice)
    page = alice.get(url(fid, html_uid))
    assert page.status == 200, page.text
    assert "Hello \U0001f44b menu" in page.text
    assert "Café Owner" in page.text and "owner@remote.test" in page.text
    assert re.search(r'<iframe[^>]*sandbox="allow-popups allow-popups-to-escape-sandbox"',
                     page.text)
    assert f'src="{url(fid, html_uid, "/body")}"' in page.text
    assert "1 remote image blocked" in page.text
    assert "alert(1)" not in page.text
    assert page.headers["Server-Timing"].startswith("app;dur=")
    # the attachments: names decoded (RFC 2231), cleaned of CR/LF and path separators
    assert "résumé X-Evil_ 1.pdf" in page.text
    assert "etc_page.html" in page.text


def test_frame_document_is_sanitised_with_its_own_csp(alice: WebClient, html_uid: int) -> None:
    fid = inbox_id(alice)
    body = alice.get(url(fid, html_uid, "/body"))
    assert body.status == 200
    csp = body.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp
    assert "sandbox allow-popups allow-popups-to-escape-sandbox" in csp
    assert "frame-ancestors 'self'" in csp and "img-src 'self' data:;" in csp
    assert body.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert body.headers.get_all("Content-Security-Policy") == [csp]  # one policy, ours
    assert "<script" not in body.text and "alert" not in body.text
    assert 'data-blocked-src="http://remote.invalid/track.png"' in body.text
    assert f'src="data:image/png;base64,{LOGO}"' in body.text  # embedded: see reader.py
    assert body.headers["Server-Timing"].startswith("app;dur=")
    allowed = alice.get(url(fid, html_uid, "/body?images=1"))
    assert "img-src 'self' data: https: http:" in allowed.headers["Content-Security-Policy"]
    assert 'src="http://remote.invalid/track.png"' in allowed.text


def test_cid_part_is_served_as_an_image(alice: WebClient, html_uid: int) -> None:
    fid = inbox_id(alice)
    image = alice.get(url(fid, html_uid, "/cid/logo@x"))
    assert image.status == 200 and image.body == base64.b64decode(LOGO)
    assert image.headers["Content-Type"] == "image/png"
    assert image.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in image.headers["Content-Security-Policy"]
    assert alice.get(url(fid, html_uid, "/cid/nothing@x")).status == 404


def test_download_has_one_safe_content_disposition(alice: WebClient, html_uid: int) -> None:
    fid = inbox_id(alice)
    page = alice.get(url(fid, html_uid))
    parts = re.findall(r'href="/webmail/f/\d+/m/\d+/part/([0-9.]+)" download', page.text)
    assert len(parts) == 2, page.text
    pdf = alice.get(url(fid, html_uid, f"/part/{parts[0]}"))
    assert pdf.status == 200 and pdf.body.startswith(b"%PDF-1.4")
    dispositions = pdf.headers.get_all("Content-Disposition")
    assert dispositions == ["attachment; filename=\"resume X-Evil_ 1.pdf\"; "
                            "filename*=UTF-8''r%C3%A9sum%C3%A9%20X-Evil_%201.pdf"]
    assert pdf.headers.get("X-Evil") is None
    assert pdf.headers["Content-Type"] == "application/pdf"
    html = alice.get(url(fid, html_uid, f"/part/{parts[1]}?inline=1"))
    assert html.headers["Content-Type"] == "application/octet-stream"  # never text/html
    assert html.headers["Content-Disposition"].startswith("attachment;")
    assert "sandbox" in html.headers["Content-Security-Policy"]


def test_pdf_preview_inline_with_a_sandbox(alice: WebClient, html_uid: int) -> None:
    fid = inbox_id(alice)
    page = alice.get(url(fid, html_uid))
    part = re.findall(r'/part/([0-9.]+)\?inline=1', page.text)
    assert part, page.text
    preview = alice.get(url(fid, html_uid, f"/part/{part[0]}?inline=1"))
    assert preview.headers["Content-Disposition"].startswith("inline;")
    assert "sandbox" in preview.headers["Content-Security-Policy"]


def test_raw_source_is_plain_text(alice: WebClient, html_uid: int) -> None:
    fid = inbox_id(alice)
    raw = alice.get(url(fid, html_uid, "/raw"))
    assert raw.status == 200
    assert raw.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert raw.headers["Content-Disposition"].startswith("inline;")
    assert raw.headers["X-Content-Type-Options"] == "nosniff"
    assert b"<script>alert(1)</script>" in raw.body and b"Received:" in raw.body


def test_plain_text_alternative_on_request(alice: WebClient, html_uid: int) -> None:
    fid = inbox_id(alice)
    page = alice.get(url(fid, html_uid, "?text=1"))
    assert "<iframe" not in page.text and "Plain menu text." in page.text


def test_opening_marks_seen(mail: Webmail, alice: WebClient) -> None:
    uid = deliver_raw(mail, ALICE, b"Subject: unseen\r\n\r\nbody\r\n")
    imap = mail.imap(ALICE)
    imap.select("INBOX")
    _, before = imap.uid("FETCH", str(uid), "(FLAGS)")
    assert b"\\Seen" not in before[0]
    assert alice.get(url(inbox_id(alice), uid)).status == 200
    imap.noop()
    _, after = imap.uid("FETCH", str(uid), "(FLAGS)")
    imap.logout()
    assert b"\\Seen" in after[0]


def test_format_flowed_text_is_joined(mail: Webmail, alice: WebClient) -> None:
    raw = (b"Subject: flowed\r\nContent-Type: text/plain; charset=utf-8; format=flowed\r\n\r\n"
           b"This is one \r\nparagraph.\r\n> quoted \r\n> more\r\n")
    uid = deliver_raw(mail, ALICE, raw)
    page = alice.get(url(inbox_id(alice), uid))
    assert "This is one paragraph." in page.text
    assert "&gt; quoted more" in page.text


def test_links_in_plain_text(mail: Webmail, alice: WebClient) -> None:
    uid = deliver_raw(mail, ALICE, b"Subject: links\r\n\r\nGo to https://ok.test/a?b=1&c=2 "
                      b"or javascript:alert(1) <b>now</b>\r\n")
    page = alice.get(url(inbox_id(alice), uid))
    assert ('<a href="https://ok.test/a?b=1&amp;c=2" target="_blank" rel="noopener '
            'noreferrer">https://ok.test/a?b=1&amp;c=2</a>') in page.text
    assert "javascript:alert(1) &lt;b&gt;now&lt;/b&gt;" in page.text


def test_remote_images_for_message_and_sender(mail: Webmail, alice: WebClient,
                                              html_uid: int) -> None:
    fid = inbox_id(alice)
    alice.get(url(fid, html_uid))
    once = alice.post(url(fid, html_uid, "/images"), {"for": "message"})
    assert once.status == 303 and once.location == url(fid, html_uid, "?images=1")
    page = alice.get(once.location)
    assert 'class="images-bar"' not in page.text
    assert url(fid, html_uid, "/body?images=1") in page.text
    assert 'class="images-bar"' in alice.get(url(fid, html_uid)).text  # once only
    always = alice.post(url(fid, html_uid, "/images"), {"for": "sender"})
    assert always.status == 303
    page = alice.get(url(fid, html_uid))
    assert 'class="images-bar"' not in page.text
    body = alice.get(url(fid, html_uid, "/body"))
    assert 'src="http://remote.invalid/track.png"' in body.text
    assert alice.post(url(fid, html_uid, "/images"), {"for": "everyone"}).status == 422


def test_authentication_results_only_ours_count(mail: Webmail, alice: WebClient) -> None:
    forged = (b"Authentication-Results: mail.example.test; dmarc=pass header.from=bank.test\r\n"
              b"From: ceo@bank.test\r\nSubject: forged\r\n\r\nPay now.\r\n")
    uid = append_raw(mail, ALICE, forged)  # no delivery prefix: nothing of ours
    page = alice.get(url(inbox_id(alice), uid))
    assert "auth-none" in page.text and "auth-pass" not in page.text


BAD_PATHS = ["/webmail/f/0/m/1", "/webmail/f/abc/m/1", "/webmail/f/1/m/x",
             "/webmail/f/999999/m/1", "/webmail/f/1/m/99999999999",
             "/webmail/f/{fid}/m/999999", "/webmail/f/{fid}/m/{uid}/part/0",
             "/webmail/f/{fid}/m/{uid}/part/1..2", "/webmail/f/{fid}/m/{uid}/part/99",
             "/webmail/f/{fid}/m/{uid}/part/1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1"
             ".1.1.1.1.1.1.1", "/webmail/f/{fid}/m/{uid}/cid/" + "x" * 1200,
             "/webmail/f/{fid}/m/{uid}/part/1%0d%0aX:y"]


def test_bad_ids_are_404(alice: WebClient, html_uid: int) -> None:
    fid = inbox_id(alice)
    for path in BAD_PATHS:
        page = alice.get(path.format(fid=fid, uid=html_uid))
        assert page.status == 404, (path, page.status, page.text)


def test_other_users_ids_are_the_same_404(mail: Webmail, alice: WebClient,
                                          html_uid: int) -> None:
    mail.account(BOB)
    bob = mail.client(BOB)
    fid = inbox_id(alice)
    missing = alice.get(url(fid, 999999))
    assert missing.status == 404
    for tail in ("", "/body", "/raw", "/part/1", "/cid/logo@x"):
        theirs = bob.get(url(fid, html_uid, tail))
        assert theirs.status == 404, tail
        assert theirs.text == missing.text.replace(str(999999), str(html_uid)) or \
            _text(theirs.text) == _text(missing.text), tail
    never = bob.get(url(987654, 1))
    assert _text(never.text) == _text(missing.text)
    assert bob.get("/me").status == 200 and bob.csrf  # a page with the session's token
    hidden = bob.post(url(fid, html_uid, "/images"), {"for": "sender"})
    assert hidden.status == 404, hidden.text


def _text(page: str) -> str:
    found = re.search(r"<main.*?</main>", page, re.S)
    return found.group(0) if found else page


def test_images_needs_csrf_and_a_form(alice: WebClient, html_uid: int) -> None:
    fid = inbox_id(alice)
    assert alice.post(url(fid, html_uid, "/images"), {"for": "message"},
                      csrf=False).status == 403
    wrong = alice.request("POST", url(fid, html_uid, "/images"), b'{"for": "message"}',
                          {"Content-Type": "application/json", "X-CSRF-Token": alice.csrf})
    assert wrong.status == 415
    assert alice.get(url(fid, html_uid, "/images")).status == 405


def test_message_without_html_has_no_body_document(mail: Webmail, alice: WebClient) -> None:
    uid = deliver_raw(mail, ALICE, b"Subject: plain\r\n\r\n<b>not html</b>\r\n")
    fid = inbox_id(alice)
    page = alice.get(url(fid, uid))
    assert "&lt;b&gt;not html&lt;/b&gt;" in page.text and "<iframe" not in page.text
    assert alice.get(url(fid, uid, "/body")).status == 404


def test_nested_message_bad_charset_and_huge_header(mail: Webmail, alice: WebClient) -> None:
    many = ", ".join(f"user{i}@many.test" for i in range(5000))
    raw = (f"Subject: nested\r\nCc: {many}\r\nMIME-Version: 1.0\r\n"
           "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
           "Content-Type: text/plain; charset=x-no-such-charset\r\n"
           "Content-Transfer-Encoding: quoted-printable\r\n\r\nbad =FF=FE charset\r\n--b\r\n"
           "Content-Type: message/rfc822\r\n\r\nSubject: =?utf-8?q?inner_=E2=9C=93?=\r\n"
           "From: inner@remote.test\r\n\r\ninner body\r\n--b--\r\n").encode()
    uid = deliver_raw(mail, ALICE, raw)
    fid = inbox_id(alice)
    page = alice.get(url(fid, uid))
    assert page.status == 200
    assert "bad \ufffd\ufffd charset" in page.text
    assert "and 4800 more recipients" in page.text
    assert "inner ✓.eml" in page.text
    eml = alice.get(url(fid, uid, "/part/2"))
    assert eml.headers["Content-Type"] == "message/rfc822"
    assert b"inner body" in eml.body


def test_read_only_shared_folder_reads_without_marking_seen(mail: Webmail,
                                                            alice: WebClient) -> None:
    mail.account(BOB)
    uid = deliver_raw(mail, ALICE, b"Subject: shared read\r\n\r\nfor bob\r\n")
    imap = mail.imap(ALICE)
    assert imap.setacl("INBOX", BOB, "lr")[0] == "OK"
    imap.logout()
    bob = mail.client(BOB)
    fid = inbox_id(alice)
    page = bob.get(url(fid, uid))
    assert page.status == 200 and "for bob" in page.text
    assert f'action="/webmail/f/{fid}/act"' not in page.text  # no controls without rights
    imap = mail.imap(ALICE)
    imap.select("INBOX")
    _, flags = imap.uid("FETCH", str(uid), "(FLAGS)")
    imap.logout()
    assert b"\\Seen" not in flags[0]
    imap = mail.imap(ALICE)
    assert imap.setacl("INBOX", BOB, "l")[0] == "OK"  # seen in the tree, not readable
    imap.logout()
    assert bob.get(url(fid, uid)).status == 403
    assert bob.get(url(fid, uid, "/raw")).status == 403
    imap = mail.imap(ALICE)
    assert imap.deleteacl("INBOX", BOB)[0] == "OK"  # taken away: 404 like any other
    imap.logout()
    assert bob.get(url(fid, uid)).status == 404


def test_large_message_reads_only_its_parts(mail: Webmail, alice: WebClient) -> None:
    """Over 1 MiB the reader reads part by part (slices) instead of the whole message."""
    blob = base64.b64encode(bytes(range(256)) * 8192).decode()  # 2 MiB of attachment
    lines = "\r\n".join(blob[i:i + 76] for i in range(0, len(blob), 76))
    raw = ("Subject: big\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b"
           "\r\n\r\n--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Big <i>one</i></p>"
           "<img src=cid:pic>\r\n--b\r\nContent-Type: image/png\r\nContent-ID: <pic>\r\n"
           f"Content-Transfer-Encoding: base64\r\n\r\n{LOGO}\r\n--b\r\n"
           "Content-Type: application/zip; name=data.zip\r\n"
           f"Content-Transfer-Encoding: base64\r\n\r\n{lines}\r\n--b--\r\n").encode()
    uid = deliver_raw(mail, ALICE, raw)
    fid = inbox_id(alice)
    page = alice.get(url(fid, uid))
    assert page.status == 200 and "data.zip" in page.text and "2.0 MiB" in page.text
    body = alice.get(url(fid, uid, "/body"))
    assert "<i>one</i>" in body.text and f"data:image/png;base64,{LOGO}" in body.text
    download = alice.get(url(fid, uid, "/part/3"))
    assert download.body == bytes(range(256)) * 8192
    raw_source = alice.get(url(fid, uid, "/raw"))
    assert int(raw_source.headers["Content-Length"]) == len(raw_source.body) > 2 << 20


def test_newer_and_older_links(mail: Webmail, alice: WebClient) -> None:
    uids = [deliver_raw(mail, ALICE, f"Subject: n{i}\r\n\r\nx\r\n".encode()) for i in range(3)]
    fid = inbox_id(alice)
    middle = alice.get(url(fid, uids[1])).text
    assert f'rel="prev" href="{url(fid, uids[2])}"' in middle
    assert f'rel="next" href="{url(fid, uids[0])}"' in middle
    assert 'rel="prev"' not in alice.get(url(fid, uids[2])).text  # the newest


def test_huge_subject_and_junk_query_parameters(mail: Webmail, alice: WebClient,
                                                html_uid: int) -> None:
    words = " ".join(f"=?utf-8?q?w{i}=C3=A9?=" for i in range(20000))  # ~360 KB, folded
    folded = "\r\n ".join(words[i:i + 900] for i in range(0, len(words), 900))
    uid = append_raw(mail, ALICE, f"Subject: {folded}\r\n\r\nbody\r\n".encode())
    fid = inbox_id(alice)
    page = alice.get(url(fid, uid))
    assert page.status == 200
    title = re.search(r'<h1 id="msg-subject">(.*?)</h1>', page.text, re.S)
    assert title is not None and len(title.group(1)) <= 4096 and "w0é" in title.group(1)
    for query in ("?images=2", "?images=1&images=0", "?text=%00", "?inline=yes&x=" + "y" * 3000,
                  "/body?images=%ff", "/part/1.2?inline=%0d%0a", "/raw?x=1"):
        got = alice.get(url(fid, html_uid, query))
        assert got.status == 200, (query, got.status)
    for method in ("PUT", "DELETE", "PATCH"):
        assert alice.request(method, url(fid, html_uid), b"",
                             {"X-CSRF-Token": alice.csrf}).status == 405


def test_large_attachments_stream_decoded(mail: Webmail, alice: WebClient) -> None:
    """Parts over 1 MiB are decoded as they are sent: base64 in odd line lengths across the
    read chunks, and an 8bit part as it is; both exactly the sent octets."""
    import random
    data = random.Random(7).randbytes(3 * 1024 * 1024 + 5)
    encoded = base64.b64encode(data).decode()
    lines = "\r\n".join(encoded[i:i + 61] for i in range(0, len(encoded), 61))
    plain = "".join(f"line {i:07d} of an 8bit part é\r\n" for i in range(50_000))
    raw = ("Subject: streams\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b"
           "\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsee\r\n--b\r\n"
           "Content-Type: application/octet-stream; name=random.bin\r\n"
           f"Content-Transfer-Encoding: base64\r\n\r\n{lines}\r\n--b\r\n"
           "Content-Type: application/x-log; name=app.log\r\n"
           f"Content-Transfer-Encoding: 8bit\r\n\r\n{plain}\r\n--b--\r\n").encode()
    uid = deliver_raw(mail, ALICE, raw)
    fid = inbox_id(alice)
    random_part = alice.get(url(fid, uid, "/part/2"))
    assert random_part.status == 200 and random_part.body == data
    assert random_part.headers.get_all("Content-Disposition") == [
        "attachment; filename=\"random.bin\"; filename*=UTF-8''random.bin"]
    log = alice.get(url(fid, uid, "/part/3"))
    assert log.body == plain.encode()  # the CRLF before "--b" belongs to the delimiter
    assert log.headers["Content-Type"] == "application/octet-stream"


def test_deeply_nested_html_is_shown_as_text_quickly(mail: Webmail, alice: WebClient) -> None:
    deep = "<div>\r\n" * 200_000 + "<p>deep <b>end</b></p>"
    uid = deliver_raw(mail, ALICE, ("Subject: deep\r\nContent-Type: text/html\r\n\r\n"
                                    f"{deep}\r\n").encode())
    fid = inbox_id(alice)
    started = time.perf_counter()
    page = alice.get(url(fid, uid))
    assert time.perf_counter() - started < 5  # parsing it would take minutes
    assert page.status == 200 and "<iframe" not in page.text and "deep end" in page.text
    assert alice.get(url(fid, uid, "/body")).status == 404


def test_flag_unread_and_edit_draft_controls(mail: Webmail, alice: WebClient) -> None:
    uid = deliver_raw(mail, ALICE, b"Subject: controls\r\n\r\nx\r\n")
    fid = inbox_id(alice)
    page = alice.get(url(fid, uid)).text
    assert f'<input type="hidden" name="next" value="{url(fid, uid)}">' in page
    assert 'name="action" value="flag"' in page and 'value="unread"' in page
    assert "Edit draft" not in page
    tree = alice.get("/webmail/tree").text
    drafts = re.search(r'href="/webmail/f/(\d+)"[^>]*data-role="\\Drafts"', tree)
    assert drafts, tree
    draft_uid = append_raw(mail, ALICE, b"Subject: unfinished\r\n\r\nto be\r\n", "Drafts")
    page = alice.get(url(int(drafts.group(1)), draft_uid)).text
    assert f'href="/webmail/compose?draft={drafts.group(1)}:{draft_uid}"' in page
