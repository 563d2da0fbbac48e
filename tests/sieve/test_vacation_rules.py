"""Vacation replies without a server (services/sieve/vacation.py): whom not to answer
(RFC 5230 §4.5/§4.6, RFC 3834 §2 and §5), the period's bounds (RFC 5230 §4.1, RFC 6131 §2),
the default handle (RFC 5230 §4.2), and the reply's fields (RFC 5230 §5, RFC 3834 §3).
Over SMTP and IMAP: tests/sieve/test_vacation_smtp.py."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage

import pytest

from postroom.config_sieve import VacationConfig
from postroom.services.sieve.vacation import (
    VacationOrder,
    build_reply,
    handle_of,
    period_of,
    refusal,
)
from postroom.sieve.actions import Vacation
from tests.support.sieve import make_message

USER = "alice@a.example"
BASE = ("From: Dave <dave@b.example>\nTo: Alice <alice@a.example>\nSubject: Lunch?\n"
        "Message-ID: <m1@b.example>\n")


def order(headers: str = BASE, sender: str = "dave@b.example", body: str = "Hi.\n",
          action: Vacation | None = None, addresses: tuple[str, ...] = (USER,),
          recipient: str = USER) -> VacationOrder:
    message = make_message(headers + "\n" + body, sender=sender, recipient=recipient)
    return VacationOrder(action or Vacation("I am away."), 7, USER, addresses, message)


def test_an_ordinary_message_is_answered() -> None:
    assert refusal(order()) is None


@pytest.mark.parametrize(("extra", "why"), [
    ("Auto-Submitted: auto-replied\n", "Auto-Submitted: auto-replied"),
    ("Auto-Submitted: auto-generated; owner-email=x@y\n", "Auto-Submitted: auto-generated"),
    ("List-Id: Lunch friends <lunch.b.example>\n", "List-Id"),
    ("List-Unsubscribe: <mailto:leave@b.example>\n", "List-Unsubscribe"),
    ("List-Post: <mailto:lunch@b.example>\n", "List-Post"),
    ("Precedence: bulk\n", "Precedence: bulk"),
    ("Precedence: List\n", "Precedence: list"),
    ("Precedence: junk\n", "Precedence: junk"),
])
def test_lists_bulk_and_automatic_mail_are_not_answered(extra: str, why: str) -> None:
    reason = refusal(order(BASE + extra))
    assert reason is not None and why in reason


def test_auto_submitted_no_is_a_person() -> None:
    assert refusal(order(BASE + "Auto-Submitted: no\n")) is None  # RFC 3834 §5.2


@pytest.mark.parametrize("sender", ["", "MAILER-DAEMON@b.example", "owner-lunch@b.example",
                                    "lunch-request@b.example", "listserv@b.example",
                                    "Majordomo@b.example"])
def test_null_and_daemon_senders_are_not_answered(sender: str) -> None:
    assert refusal(order(sender=sender)) is not None


def test_own_mail_is_not_answered() -> None:
    assert refusal(order(sender="Alice@A.example")) == "the user's own mail"
    assert refusal(order(sender="alice+work@a.example")) == "the user's own mail"


def test_answered_only_when_addressed_in_to_cc_or_bcc() -> None:
    """RFC 5230 §4.5: the user's address (or one of :addresses) must be a visible
    recipient; a message to a list or in Bcc of someone else is not answered."""
    to_list = BASE.replace("To: Alice <alice@a.example>", "To: lunch@b.example")
    assert refusal(order(to_list)) == "none of the user's addresses is in To, Cc or Bcc"
    assert refusal(order(to_list + "Cc: someone@c.example, ALICE@a.example\n")) is None
    assert refusal(order(to_list + "Resent-To: alice+x@a.example\n")) is None
    # the envelope recipient counts (an alias the user receives through)
    alias = to_list.replace("lunch@b.example", "team@a.example")
    assert refusal(order(alias, recipient="team@a.example")) is None
    # an address named in :addresses
    other = to_list.replace("lunch@b.example", "Alice Smith <asmith@old.example>")
    assert refusal(order(other)) is not None
    assert refusal(order(other, action=Vacation("away", addresses=("asmith@old.example",)))) \
        is None


def test_period_is_clamped_to_the_site_bounds() -> None:
    cfg = VacationConfig(min_seconds=3600, max_seconds=30 * 86400, default_seconds=7 * 86400)
    assert period_of(Vacation("x"), cfg) == 7 * 86400  # none given: the site default
    assert period_of(Vacation("x", seconds=0), cfg) == 3600  # RFC 6131 §2: site minimum
    assert period_of(Vacation("x", seconds=2 * 86400), cfg) == 2 * 86400
    assert period_of(Vacation("x", seconds=365 * 86400), cfg) == 30 * 86400


def test_default_handle_follows_the_text() -> None:
    """RFC 5230 §4.2: without :handle, changing the reply's text starts a new period."""
    assert handle_of(Vacation("x", handle="mine")) == "mine"
    a, b = handle_of(Vacation("away")), handle_of(Vacation("back soon"))
    assert a != b and a == handle_of(Vacation("away"))
    assert handle_of(Vacation("away", subject="S")) != a


def parse(data: bytes) -> EmailMessage:
    assert b"\n" not in data.replace(b"\r\n", b"")  # CRLF only
    msg = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def text(msg: EmailMessage) -> str:
    content = msg.get_content()
    assert isinstance(content, str)
    return content.replace("\r\n", "\n")


def test_reply_fields() -> None:
    data = build_reply(order(BASE + "References: <m0@b.example>\n"), 1_800_000_000)
    msg = parse(data)
    assert msg["From"] == USER and msg["To"] == "dave@b.example"
    assert msg["Subject"] == "Auto: Lunch?"  # RFC 3834 §3.1.5
    assert msg["In-Reply-To"] == "<m1@b.example>"
    assert msg["References"] == "<m0@b.example> <m1@b.example>"
    assert msg["Auto-Submitted"] == "auto-replied"  # RFC 3834 §5
    assert msg["Message-ID"].endswith("@a.example>")
    assert msg["Date"] and msg.get_content_type() == "text/plain"
    assert text(msg) == "I am away.\n"


def test_reply_subject_from_and_utf8_reason() -> None:
    action = Vacation("Bin im Urlaub – zurück am 3.\n", subject="Abwesend: Grüße",
                      from_="Alice Ä <alice@a.example>")
    msg = parse(build_reply(order(action=action)))
    assert msg["Subject"] == "Abwesend: Grüße"
    assert str(msg["From"]) == "Alice Ä <alice@a.example>"
    assert msg["Content-Transfer-Encoding"] == "quoted-printable"
    assert text(msg) == "Bin im Urlaub – zurück am 3.\n"


def test_from_that_is_not_the_users_is_ignored() -> None:
    msg = parse(build_reply(order(action=Vacation("x", from_="boss@elsewhere.example"))))
    assert msg["From"] == USER


def test_mime_reason_is_the_replys_content() -> None:
    """RFC 5230 §4.1 :mime: the reason is a MIME entity with its own header fields."""
    reason = ("Content-Type: multipart/alternative; boundary=b1\n\n--b1\n"
              "Content-Type: text/plain\n\nAway.\n--b1\nContent-Type: text/html\n\n"
              "<p>Away.</p>\n--b1--\n")
    msg = parse(build_reply(order(action=Vacation(reason, mime=True))))
    assert msg.get_content_type() == "multipart/alternative"
    parts = [p.get_content_type() for p in msg.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    assert msg["Auto-Submitted"] == "auto-replied" and msg["MIME-Version"] == "1.0"


def test_reply_to_a_message_without_message_id_or_subject() -> None:
    msg = parse(build_reply(order("From: dave@b.example\nTo: alice@a.example\n")))
    assert msg["In-Reply-To"] is None and msg["References"] is None
    assert msg["Subject"] == "Auto:"
