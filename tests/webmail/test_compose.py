"""Writing mail in webmail over HTTP: send, reply, forward, drafts, uploads, limits, and bad
input (docs/webmail/compose.md)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server import RunningServer, server_config
from tests.support.webmail import WEBMAIL, Webmail
from tests.support.webmail_compose import (
    COMPOSE_CONFIG,
    fetch_all,
    fields_of,
    flags_of,
    folder_id,
    message,
    parse,
    post,
    received,
    start,
    uid_by_subject,
    upload,
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    srv = RunningServer(server_config(Path(tmp_path_factory.mktemp("compose")),
                                      extra=WEBMAIL + COMPOSE_CONFIG))
    try:
        yield srv
    finally:
        srv.stop()


def test_send_reaches_bob_with_a_sent_copy_keeping_bcc(mail: Webmail) -> None:
    alice = mail.account("alice@example.test")
    bob = mail.account("bob@example.test")
    carol = mail.account("carol@example.test")
    web = mail.client(alice)
    cid = start(web)
    page = post(web, f"/webmail/compose/{cid}/send", {
        "identity": alice, "from_name": "Alice Example", "to": f"Bob <{bob}>",
        "bcc": carol, "subject": "Lunch on Friday?", "body": "Shall we?\n"})
    assert page.status == 303, page.text
    got = parse(received(mail, bob, "INBOX", "Lunch on Friday?")[1])
    assert got["Bcc"] is None
    assert "Alice Example" in str(got["From"])
    assert got.get_content_type() == "text/plain"
    assert "Shall we?" in got.get_content()
    assert received(mail, carol, "INBOX", "Lunch on Friday?")
    flags, raw = received(mail, alice, "Sent", "Lunch on Friday?")
    sent = parse(raw)
    assert carol in str(sent["Bcc"])
    assert sent["Message-ID"] == got["Message-ID"]
    assert b"\\Seen" in flags


def _deliver(mail: Webmail, to: str, raw: bytes, sender: str = "bob@example.test") -> None:
    mail.deliver(to, message=raw, sender=sender)


def test_reply_threads_quotes_and_marks_the_original_answered(mail: Webmail) -> None:
    alice = mail.account("alice@example.test")
    bob = mail.account("bob@example.test")
    _deliver(mail, alice, message(alice, "Re: Re: Budget 2027", msgid="<b3@example.test>",
                                  references="<b1@example.test> <b2@example.test>"))
    inbox = folder_id(mail, alice, "INBOX")
    uid = uid_by_subject(mail, alice, "INBOX", "Budget 2027")
    web = mail.client(alice)
    cid = start(web, f"reply={inbox}:{uid}")
    shown = fields_of(web.last)  # type: ignore[arg-type]
    assert shown["subject"] == "Re: Budget 2027"
    assert shown["to"] == bob
    assert shown["body"].startswith("\n\nOn ") and "> Original text.\n> Second line." \
        in shown["body"]
    shown["body"] = "Agreed.\n" + shown["body"]
    page = post(web, f"/webmail/compose/{cid}/send", shown)
    assert page.status == 303, page.text
    got = parse(received(mail, bob, "INBOX", "Re: Budget 2027")[1])
    assert got["In-Reply-To"] == "<b3@example.test>"
    assert got["References"] == "<b1@example.test> <b2@example.test> <b3@example.test>"
    assert got["Subject"] == "Re: Budget 2027"
    assert b"\\Answered" in flags_of(mail, alice, "INBOX", uid)


def test_reply_all_leaves_out_the_users_own_addresses(mail: Webmail) -> None:
    alice = mail.account("alice@example.test")
    _deliver(mail, alice, message(f"{alice}, Carol <carol@example.test>", "Plans for all",
                                  cc=f"dave@example.test, {alice.upper()}"))
    inbox = folder_id(mail, alice, "INBOX")
    uid = uid_by_subject(mail, alice, "INBOX", "Plans for all")
    web = mail.client(alice)
    start(web, f"reply={inbox}:{uid}&all=1")
    shown = fields_of(web.last)  # type: ignore[arg-type]
    assert shown["to"] == "bob@example.test"
    assert shown["cc"] == "Carol <carol@example.test>, dave@example.test"
    start(web, f"reply={inbox}:{uid}")
    assert fields_of(web.last)["cc"] == ""  # type: ignore[arg-type]


def test_forward_inline_carries_the_attachments_and_marks_forwarded(mail: Webmail) -> None:
    alice = mail.account("alice@example.test")
    bob = mail.account("bob@example.test")
    _deliver(mail, alice, message(alice, "Report attached",
                                  attachment=("report.bin", b"\x00\x01report")))
    inbox = folder_id(mail, alice, "INBOX")
    uid = uid_by_subject(mail, alice, "INBOX", "Report attached")
    web = mail.client(alice)
    cid = start(web, f"forward={inbox}:{uid}")
    assert "report.bin" in web.last.text  # type: ignore[union-attr]
    shown = fields_of(web.last)  # type: ignore[arg-type]
    assert shown["subject"] == "Fwd: Report attached"
    assert "---------- Forwarded message ----------" in shown["body"]
    shown["to"] = bob
    assert post(web, f"/webmail/compose/{cid}/send", shown).status == 303
    got = parse(received(mail, bob, "INBOX", "Fwd: Report attached")[1])
    parts = list(got.iter_attachments())
    assert [p.get_filename() for p in parts] == ["report.bin"]
    assert parts[0].get_content() == b"\x00\x01report"
    assert b"$Forwarded" in flags_of(mail, alice, "INBOX", uid)


def test_forward_as_attachment_is_message_rfc822_byte_for_byte(mail: Webmail) -> None:
    alice = mail.account("alice@example.test")
    bob = mail.account("bob@example.test")
    original = message(alice, "Forward me whole", body="Caf\u00e9 body.\n")
    _deliver(mail, alice, original)
    inbox = folder_id(mail, alice, "INBOX")
    uid = uid_by_subject(mail, alice, "INBOX", "Forward me whole")
    web = mail.client(alice)
    cid = start(web, f"forward={inbox}:{uid}&attach=1")
    shown = fields_of(web.last)  # type: ignore[arg-type]
    shown["to"] = bob
    assert post(web, f"/webmail/compose/{cid}/send", shown).status == 303
    raw = received(mail, bob, "INBOX", "Fwd: Forward me whole")[1]
    got = parse(raw)
    (part,) = list(got.iter_attachments())
    assert part.get_content_type() == "message/rfc822"
    assert part.get_filename() == "Forward me whole.eml"
    assert part["Content-Transfer-Encoding"] in ("7bit", "8bit")
    whole = received(mail, alice, "INBOX", "Forward me whole")[1]
    body_start = whole.index(b"From: bob@example.test")  # after our Received lines
    assert whole[body_start:].rstrip(b"\r\n") in raw


def test_drafts_are_replaced_and_can_be_continued(mail: Webmail) -> None:
    alice = mail.account("alice@example.test")
    web = mail.client(alice)
    cid = start(web)
    assert upload(web, cid, "notes.txt", b"my notes", "text/plain").status == 201
    fields = {"identity": alice, "to": "bob@example.test, not-yet-an-addr",
              "subject": "Draft one", "body": "first"}
    page = post(web, f"/webmail/compose/{cid}/save", fields, json=True)
    assert page.status == 200, page.text
    fields["body"] = "second version"
    assert post(web, f"/webmail/compose/{cid}/save", fields, json=True).status == 200
    drafts = fetch_all(mail, alice, "Drafts")
    assert len(drafts) == 1
    flags, raw = drafts[0]
    assert b"\\Draft" in flags
    assert b"second version" in raw
    draft_folder = folder_id(mail, alice, "Drafts")
    uid = uid_by_subject(mail, alice, "Drafts", "Draft one")
    cid2 = start(web, f"draft={draft_folder}:{uid}")
    shown = fields_of(web.last)  # type: ignore[arg-type]
    assert shown["to"] == "bob@example.test, not-yet-an-addr"
    assert shown["subject"] == "Draft one" and shown["body"].startswith("second version")
    assert "notes.txt" in web.last.text  # type: ignore[union-attr]
    shown["to"] = "bob@example.test"
    shown["subject"] = "Draft one, finished"
    assert post(web, f"/webmail/compose/{cid2}/send", shown).status == 303
    assert fetch_all(mail, alice, "Drafts", wait_for=0) == []
    got = parse(received(mail, "bob@example.test", "INBOX", "Draft one, finished")[1])
    assert [p.get_filename() for p in got.iter_attachments()] == ["notes.txt"]
    assert got["X-Postroom-Typed-To"] is None


def test_discard_removes_the_draft_and_the_session(mail: Webmail) -> None:
    alice = mail.account("alice@example.test")
    web = mail.client(alice)
    cid = start(web)
    post(web, f"/webmail/compose/{cid}/save", {"subject": "Throw away", "body": "x"},
         json=True)
    assert len(fetch_all(mail, alice, "Drafts")) == 1
    page = post(web, f"/webmail/compose/{cid}/discard", {})
    assert page.status == 303
    assert fetch_all(mail, alice, "Drafts", wait_for=0) == []
    assert web.get(f"/webmail/compose?cid={cid}").status == 404
    assert post(web, f"/webmail/compose/{cid}/send", {"to": "bob@example.test"}).status == 404
