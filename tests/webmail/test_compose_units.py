"""Compose's pure parts: the editor's HTML sanitised and read as text (mime/richtext.py),
messages built and originals read (compose_mime.py), sessions staged on disk
(compose_staging.py)."""

from __future__ import annotations

import asyncio
import os
import stat
import time
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest

from postroom.core.errors import Kind, MailError
from postroom.mime import richtext
from postroom.services.webmail import compose_mime as cm
from postroom.services.webmail.compose_staging import Fields, Staging, State


# -- rich text ----------------------------------------------------------------------------------
@pytest.mark.parametrize("hostile", [
    "<script>alert(1)</script>", "<img src=x onerror=alert(1)>",
    '<a href="javascript:alert(1)">x</a>', "<svg><script>alert(1)</script></svg>",
    '<p style="background:url(http://evil/)">x</p>', '<iframe src="http://evil/"></iframe>',
    '<meta http-equiv="refresh" content="0;url=http://evil/">', "<form action=x><input></form>",
    '<base href="http://evil/">', '<a href="data:text/html,<script>">x</a>',
    "<p onclick=alert(1)>x", '<div class="x" id="y">x</div>'])
def test_the_editor_html_keeps_nothing_active(hostile: str) -> None:
    clean = richtext.sanitize(hostile).lower()
    for bad in ("script", "onerror", "onclick", "javascript:", "style", "iframe", "meta",
                "form", "base", "data:", "class", "id=", "http://evil"):
        assert bad not in clean, (hostile, clean)


def test_the_toolbar_formatting_survives() -> None:
    html = ('<p><b>bold</b> <i>it</i> <u>under</u> <a href="https://x.test/">link</a></p>'
            "<ul><li>one</li></ul><ol><li>first</li></ol><blockquote>quoted</blockquote>")
    clean = richtext.sanitize(html)
    for kept in ("<b>bold</b>", "<i>it</i>", "<u>under</u>", 'href="https://x.test/"',
                 "<ul><li>one</li></ul>", "<ol><li>first</li></ol>",
                 "<blockquote>quoted</blockquote>"):
        assert kept in clean


def test_the_plain_reading_of_rich_text() -> None:
    text = richtext.to_text(richtext.sanitize(
        "<div>Hello <b>world</b></div><ul><li>one</li><li>two</li></ul>"
        "<ol><li>a</li><li>b</li></ol><blockquote>q<br>r</blockquote>"
        '<p>see <a href="https://x.test/">the site</a> or <a href="mailto:a@x.test">'
        "a@x.test</a></p>"))
    assert text == ("Hello world\n\n* one\n* two\n\n1. a\n2. b\n\n> q\n> r\n\n"
                    "see the site <https://x.test/> or a@x.test\n")


def test_text_enters_the_editor_escaped() -> None:
    assert richtext.text_to_html("<b>&\nx") == "&lt;b&gt;&amp;<br>x"


# -- building messages --------------------------------------------------------------------------
def _out(tmp_path: Path, **changes: object) -> cm.Outgoing:
    att = tmp_path / "a.part"
    att.write_bytes(b"%PDF-1.4 data")
    values: dict[str, object] = dict(
        sender=cm.Person("Zoë Example", "zoe@example.test"),
        to=[cm.Person("", "bob@example.test")], cc=[], bcc=[cm.Person("", "c@example.test")],
        subject="Résumé für dich", text="Hallo\r\nWelt", html=None,
        attachments=[cm.Attachment("résumé 2027.pdf", "application/pdf", att)])
    values.update(changes)
    return cm.Outgoing(**values)  # type: ignore[arg-type]


def test_headers_are_encoded_and_bcc_kept_only_where_asked(tmp_path: Path) -> None:
    data = cm.build(_out(tmp_path), "mail.example.test", with_bcc=False)
    assert data.isascii()
    head = data.split(b"\r\n\r\n", 1)[0]
    assert b"=?utf-8?" in head and b"Bcc" not in head  # RFC 2047, RFC 5322 §3.6.3
    assert b"filename*=utf-8''r%C3%A9sum%C3%A9" in data.replace(b"\r\n ", b"").replace(
        b"*0*", b"*")  # RFC 2231
    msg = BytesParser(policy=policy.default).parsebytes(data)
    assert msg["Subject"] == "Résumé für dich"
    assert msg["Message-ID"].endswith("@mail.example.test>")
    assert msg["MIME-Version"] == "1.0" and msg["Date"]
    assert [p.get_filename() for p in msg.iter_attachments()] == ["résumé 2027.pdf"]
    assert b"\r\n" in data and b"\n" not in data.replace(b"\r\n", b"")
    with_bcc = cm.build(_out(tmp_path), "mail.example.test", with_bcc=True)
    assert b"Bcc: c@example.test" in with_bcc


def test_rich_text_is_multipart_alternative_plain_first(tmp_path: Path) -> None:
    out = _out(tmp_path, html="<p><b>Hi</b></p>", text="Hi\n", attachments=[])
    msg = BytesParser(policy=policy.default).parsebytes(
        cm.build(out, "h.test", with_bcc=False))
    assert msg.get_content_type() == "multipart/alternative"  # RFC 2046 §5.1.4
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]


def test_non_ascii_addresses_use_utf8_headers(tmp_path: Path) -> None:
    out = _out(tmp_path, to=[cm.Person("", "jörg@exämple.test")], attachments=[])
    data = cm.build(out, "h.test", with_bcc=False)
    assert "To: jörg@exämple.test".encode() in data  # RFC 6532 §3


@pytest.mark.parametrize("junk", ["plain", "a@", "@b", "a b@c.test", "a@b@c", "a..b@c.test",
                                  "a@-bad-.test" * 30, "a@b.test, junk",
                                  "a@exa mple.test", "Bob bob@x.test"])
def test_junk_addresses_are_invalid(junk: str) -> None:
    with pytest.raises(MailError) as err:
        cm.parse_people(junk)
    assert err.value.kind is Kind.INVALID


def test_address_lists_parse_names_quotes_and_duplicates() -> None:
    people = cm.parse_people('"Doe, Jane" <jane@x.test>; bob@y.test, Bob <BOB@y.test>')
    assert people == [cm.Person("Doe, Jane", "jane@x.test"), cm.Person("", "bob@y.test")]


def test_subjects_do_not_pile_up() -> None:
    assert cm.reply_subject("Re: RE: re[2]: Hello") == "Re: Hello"
    assert cm.reply_subject("AW: Hello") == "Re: Hello"
    assert cm.forward_subject("Fwd: Hello") == "Fwd: Hello"
    assert cm.forward_subject("Hello") == "Fwd: Hello"


def test_references_keep_the_first_and_the_newest() -> None:
    refs = " ".join(f"<{n}@x>" for n in range(30))
    out = cm.references_for(refs, "", "<new@x>").split()
    assert len(out) == cm.MAX_REFERENCES and out[0] == "<0@x>" and out[-1] == "<new@x>"
    assert cm.references_for("", "<p@x>", "<m@x>") == "<p@x> <m@x>"


def test_one_line_strips_line_breaks() -> None:
    assert cm.one_line("a\r\nBcc: x\tb") == "a Bcc: x b"


def test_safe_names_and_types() -> None:
    assert cm.safe_name("C:\\Users\\x\\..\\evil.exe") == "evil.exe"
    assert cm.safe_name("../\x00\x1f") == "attachment"
    assert cm.safe_type("text/html; charset=x") == "text/html"
    assert cm.safe_type("no type") == "application/octet-stream"


def test_an_html_only_original_is_quoted_as_text() -> None:
    raw = (b"From: A <a@x.test>\r\nSubject: S\r\nDate: Thu, 03 Dec 2026 10:00:00 +0000\r\n"
           b"Content-Type: text/html; charset=utf-8\r\n\r\n<p>Hello <script>x()</script>"
           b"<b>there</b></p>")
    quoted = cm.quote_plain(cm.Original(raw))
    assert quoted.startswith("On Thu, 03 Dec 2026 10:00:00 +0000, A <a@x.test> wrote:\n")
    assert "> Hello there" in quoted and "x()" not in quoted


# -- staging ------------------------------------------------------------------------------------
def test_sessions_are_private_bound_to_the_account_and_swept(tmp_path: Path) -> None:
    staging = Staging(tmp_path / "up", keep_seconds=60, max_sessions=3)
    cid = staging.create(7, State(fields=Fields(subject="x")))
    path = staging.dir(7, cid)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(tmp_path / "up" / "7").st_mode) == 0o700
    staged = staging.add_bytes(7, cid, "a.txt", "text/plain", b"abc")
    assert stat.S_IMODE(os.stat(staged.path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path / "state.json").st_mode) == 0o600
    with pytest.raises(MailError) as err:
        staging.dir(8, cid)  # another account
    assert err.value.kind is Kind.NOT_FOUND
    for bad in ("../7/" + cid, "", "a" * 24, cid + "x"):
        with pytest.raises(MailError):
            staging.dir(7, bad)
    assert staging.sweep() == 0
    old = time.time() - 120
    os.utime(path, (old, old))
    assert staging.sweep() == 1
    assert not (tmp_path / "up" / "7").exists()


def test_an_account_keeps_at_most_max_sessions(tmp_path: Path) -> None:
    staging = Staging(tmp_path, keep_seconds=60, max_sessions=2)
    first = staging.create(1, State())
    os.utime(staging.dir(1, first), (1, 1))
    second = staging.create(1, State())
    third = staging.create(1, State())
    with pytest.raises(MailError):
        staging.dir(1, first)
    assert staging.dir(1, second) and staging.dir(1, third)


def test_an_interrupted_upload_is_never_listed(tmp_path: Path) -> None:
    staging = Staging(tmp_path, keep_seconds=60, max_sessions=2)
    cid = staging.create(1, State())
    aid, part = staging.new_part(1, cid)
    part.write_bytes(b"half")
    assert staging.attachments(1, cid) == []
    staging.finish_part(1, cid, aid, "a", "text/plain", 4)
    assert [s.name for s in staging.attachments(1, cid)] == ["a"]
    assert staging.drop_part(1, cid, aid) and not part.exists()
    assert not staging.drop_part(1, cid, aid)


def test_creating_and_sweeping_at_once_never_fails(tmp_path: Path) -> None:
    staging = Staging(tmp_path, keep_seconds=60, max_sessions=1000)

    async def race() -> None:
        for _ in range(50):
            cid = staging.create(1, State())
            staging.remove(1, cid)
            await asyncio.gather(asyncio.to_thread(staging.create, 1, State()),
                                 asyncio.to_thread(staging.sweep))
    asyncio.run(race())


@pytest.mark.parametrize("raw", [
    b"\xff\xfe\x00junk", b"", b"Subject: =?x-unknown?q?abc?=\r\nFrom: <<<@>>>\r\n\r\nbody",
    b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: message/rfc822"
    b"\r\n\r\nSubject: inner\r\n\r\n\xff\r\n--b--\r\n",
    b"Content-Type: text/plain; charset=no-such-charset\r\n\r\n\xe9t\xe9",
    b"Content-Type: text/html\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!notbase64"])
def test_broken_originals_still_give_a_reply_and_a_forward(raw: bytes) -> None:
    original = cm.Original(raw)
    assert isinstance(cm.quote_plain(original), str)
    assert isinstance(cm.quote_html(original), str)
    assert isinstance(cm.forward_plain(original), str)
    assert isinstance(cm.forward_html(original), str)
    assert isinstance(original.attachments(), list)
    assert isinstance(original.subject, str) and isinstance(original.message_id, str)
