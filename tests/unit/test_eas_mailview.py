"""What a device is shown of a message (services/eas/mailview.py): the body the device's
preferences pick, truncation, attachments, unreadable parts; and the batch parser, whose
header cache must change nothing: every view equals the one ``email.policy.default`` gives."""

from __future__ import annotations

import base64
import email.policy
from email.message import EmailMessage
from email.parser import BytesParser

from hypothesis import given, settings
from hypothesis import strategies as st

from postroom.services.eas.mailview import BodyWanted, attachment, html_text, view, views

PLAIN = BodyWanted(((1, 20),))
STANDARD = BytesParser(policy=email.policy.default)


def _alternative() -> bytes:
    msg = EmailMessage()
    msg["From"] = "Ann <ann@example.test>"
    msg["To"] = "Bob <bob@example.test>, carol@example.test"
    msg["Subject"] = "=?utf-8?q?Caf=C3=A9?= plans"
    msg["Importance"] = "High"
    msg.set_content("The plain text of this message, long enough to be cut.\n")
    msg.add_alternative("<p>The <b>HTML</b> of it</p>", subtype="html")
    msg.add_attachment(b"\x00" * 300, maintype="application", subtype="pdf",
                       filename="plan.pdf")
    return msg.as_bytes()


def test_the_preferred_body_type_truncated() -> None:
    raw = _alternative()
    shown = view(raw, 7, 0, 3, PLAIN, False)
    assert (shown.body.type, shown.body.truncated, shown.body.data) == \
        (1, True, "The plain text of th")
    assert shown.body.estimated_size == len("The plain text of this message, long enough to "
                                            "be cut.\n")
    assert shown.subject == "Café plans" and shown.importance == 2
    assert shown.display_to == "Bob; carol@example.test"
    html = view(raw, 7, 0, 0, BodyWanted(((2, None), (1, 5))), False).body
    assert (html.type, html.truncated) == (2, False) and "<b>HTML</b>" in html.data
    mime = view(raw, 7, 0, 0, BodyWanted(((4, 10),), mime_support=2), False).body
    assert (mime.type, mime.truncated, mime.estimated_size) == (4, True, len(raw))
    # MIME only when MIMESupport allows it; then the next preference, else plain text
    assert view(raw, 7, 0, 0, BodyWanted(((4, 10),)), False).body.type == 1
    # the whole item (ItemOperations) is never cut
    assert not view(raw, 7, 0, 0, PLAIN, True).body.truncated


def test_attachments_listed_and_fetched_by_index() -> None:
    raw = _alternative()
    [listed] = view(raw, 1, 0, 0, PLAIN, False).attachments
    assert (listed.index, listed.name, listed.size, listed.content_id) == \
        (0, "plan.pdf", 300, None)
    assert attachment(raw, 0) == ("application/pdf", b"\x00" * 300)
    assert attachment(raw, 1) is None


def test_html_only_mail_gives_its_text_to_a_plain_text_device() -> None:
    raw = (b"From: x@example.test\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
           b"<html><body><p>Only <b>html</b> &amp; more</p></body></html>\r\n")
    shown = view(raw, 1, 0, 0, BodyWanted(((1, None),)), False)
    assert shown.native_body_type == 2
    assert shown.body.data == "Only html & more" == html_text("<p>Only <b>html</b> &amp; "
                                                                "more</p>")


def test_unreadable_parts_and_headers_do_not_fail_the_view() -> None:
    raw = (b"From: x@example.test\r\nTo: broken <<<@@>\r\nSubject: a\x00b\r\n"
           b"Content-Type: multipart/mixed; boundary=z\r\n\r\n--z\r\n"
           b"Content-Type: text/plain; charset=no-such-charset\r\n\r\n\xe9\r\n--z\r\n"
           b"Content-Type: image/png\r\nContent-ID: <img@x>\r\nContent-Disposition: inline\r\n"
           b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.encodebytes(b"png") +
           b"--z--\r\n")
    shown = view(raw, 1, 0, 0, PLAIN, False)
    assert shown.subject == "ab"
    assert shown.body.type == 1
    [inline] = shown.attachments
    assert (inline.content_id, inline.inline, inline.size) == ("img@x", True, 3)


_HEADER = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=60)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(_HEADER, _HEADER, st.sampled_from(
    ["text/plain", "text/html", "multipart/alternative", "multipart/mixed"])),
    min_size=1, max_size=6))
def test_the_batch_parser_shows_what_the_standard_policy_shows(
        items: list[tuple[str, str, str]]) -> None:
    """Headers parsed once per batch (the cache) give the same views as parsing each access
    anew, for messages sharing and not sharing header values."""
    raws = []
    for subject, to, kind in items:
        raw = (f"From: a@example.test\r\nTo: {to}\r\nCc: {to}\r\nSubject: {subject}\r\n"
               f"Content-Type: {kind}; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n"
               f"\r\n{subject}\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>{to}</p>\r\n"
               "--b--\r\n").encode("utf-8", "surrogateescape")
        raws.append(raw)
    batch = [(raw, uid, 1_700_000_000, uid % 4) for uid, raw in enumerate(raws, start=1)]
    for wanted in (PLAIN, BodyWanted(((2, 30), (1, None))), BodyWanted((), truncation=10)):
        assert views(batch, wanted, False) == [
            view(raw, uid, date, bits, wanted, False, STANDARD)
            for raw, uid, date, bits in batch]
