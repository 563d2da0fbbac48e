"""SendMail and SmartReply/SmartForward on a real server (acceptance): the recipient reads
the message over IMAP and a copy is in the sender's Sent; the submission service's sender
rules hold (a forged From is refused, Status 120); a repeated ClientId is not sent twice
(118); a reply carries the original quoted and threads; a forward carries it attached; the
original is marked; a missing original is 150."""

from __future__ import annotations

import email
import email.policy
import itertools
import time
from email.message import EmailMessage
from typing import Any

import pytest

from postroom.protocols.eas.element import E
from tests.support.eas import Eas, EasClient
from tests.support.server import RunningServer
from tests.support.webmail import PASSWORD

_names = itertools.count(1)
NS = "ComposeMail"


def _pair(eas: Eas) -> tuple[str, str]:
    n = next(_names)
    return eas.account(f"writer{n}@example.test"), eas.account(f"reader{n}@example.test")


def _messages(eas: Eas, address: str, folder: str, want: int = 1,
              timeout: float = 20) -> list[EmailMessage]:
    """The messages of a folder over IMAP, once there are ``want`` (delivery is queued)."""
    deadline = time.monotonic() + timeout
    while True:
        imap = eas.imap(address)
        try:
            imap.select(f'"{folder}"')
            _, data = imap.uid("SEARCH", "ALL")
            uids = data[0].split()
            out = []
            for uid in uids:
                _, got = imap.uid("FETCH", uid, "(BODY.PEEK[])")
                raw = got[0][1] if got and isinstance(got[0], tuple) else b""
                parsed = email.message_from_bytes(raw, policy=email.policy.default)
                assert isinstance(parsed, EmailMessage)
                out.append(parsed)
        finally:
            imap.logout()
        if len(out) >= want or time.monotonic() > deadline:
            return out
        time.sleep(0.2)


def _mime(sender: str, to: str, subject: str, text: str, bcc: str = "") -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    if bcc:
        msg["Bcc"] = bcc
    msg["Subject"] = subject
    msg.set_content(text)
    return msg.as_bytes()


def test_send_mail_from_a_phone_is_read_over_imap_with_a_sent_copy(
        eas_server: RunningServer, eas: Eas) -> None:
    pyactivesync = pytest.importorskip("pyactivesync")
    me, you = _pair(eas)
    hidden = eas.account(f"hidden{next(_names)}@example.test")
    phone = pyactivesync.Client(f"127.0.0.1:{eas_server.port('https')}", me, PASSWORD,
                                device_id="Send1", device_type="iPhone", verify_ssl=False,
                                timeout=30)
    phone._transport.session.trust_env = False
    try:
        phone.provision()
        msg = EmailMessage()
        msg["From"] = me
        msg["To"] = you
        msg["Bcc"] = hidden
        msg["Subject"] = "From my phone"
        msg.set_content("Sent with ActiveSync.")
        phone.send_mail(msg, save_in_sent_items=True)
    finally:
        phone.close()
    [got] = _messages(eas, you, "INBOX")
    assert got["Subject"] == "From my phone" and "Bcc" not in got
    assert "Sent with ActiveSync." in got.get_content()
    [hidden_copy] = _messages(eas, hidden, "INBOX")
    assert "Bcc" not in hidden_copy
    [sent] = _messages(eas, me, "Sent")
    assert sent["Subject"] == "From my phone" and hidden in str(sent["Bcc"])


def test_smart_reply_and_forward_carry_the_original(client_for: Any, eas: Eas) -> None:
    me, you = _pair(eas)
    eas.deliver(me, message=(f"From: boss@remote.test\r\nTo: {me}\r\nSubject: Quarterly plan"
                             "\r\nMessage-ID: <plan-1@remote.test>\r\n\r\nHere is the plan."
                             "\r\nLine two.\r\n").encode(), sender="boss@remote.test")
    client: EasClient = client_for(me, device="Smart1")
    inbox = client.folder_id("2")
    client.sync(inbox, "0")
    _, root = client.sync(inbox, "1")
    assert root is not None
    commands = root.path("Collections", "Collection", "Commands")
    assert commands is not None
    original = commands.children[0].value("ServerId") or ""
    reply = E(NS, "SmartReply", E(NS, "ClientId", text="r-1"), E(NS, "SaveInSentItems"),
              E(NS, "Source", E(NS, "FolderId", text=inbox), E(NS, "ItemId", text=original)),
              E(NS, "Mime", data=_mime(me, you, "Re: Quarterly plan", "Sounds good.")))
    status, _, answer = client.send("SmartReply", reply)
    assert status == 200 and answer is None
    [got] = _messages(eas, you, "INBOX")
    text = got.get_content()
    assert "Sounds good." in text and "> Here is the plan." in text
    assert got["In-Reply-To"] == "<plan-1@remote.test>"
    assert "<plan-1@remote.test>" in str(got["References"])
    again = client.send("SmartReply", reply)[2]
    assert again is not None and again.value("Status") == "118"  # the same ClientId
    forward = E(NS, "SmartForward", E(NS, "ClientId", text="f-1"),
                E(NS, "Source", E(NS, "FolderId", text=inbox), E(NS, "ItemId", text=original)),
                E(NS, "Mime", data=_mime(me, you, "Fw: Quarterly plan", "For you.")))
    assert client.send("SmartForward", forward)[2] is None
    got = _messages(eas, you, "INBOX", want=2)[-1]
    kinds = [p.get_content_type() for p in got.walk()]
    assert "message/rfc822" in kinds
    imap = eas.imap(me)
    imap.select("INBOX")
    _, flags = imap.uid("FETCH", original.partition(":")[2], "(FLAGS)")
    imap.logout()
    assert b"\\Answered" in flags[0] and b"$Forwarded" in flags[0]
    missing = E(NS, "SmartReply", E(NS, "ClientId", text="r-2"),
                E(NS, "Source", E(NS, "FolderId", text=inbox), E(NS, "ItemId",
                                                               text=f"{inbox}:99999")),
                E(NS, "Mime", data=_mime(me, you, "Re: nothing", "?")))
    answer = client.send("SmartReply", missing)[2]
    assert answer is not None and answer.value("Status") == "150"


def test_the_sender_rules_of_submission_hold(client_for: Any, eas: Eas) -> None:
    me, you = _pair(eas)
    client: EasClient = client_for(me, device="Forge1")
    forged = E(NS, "SendMail", E(NS, "ClientId", text="x-1"),
               E(NS, "Mime", data=_mime(you, me, "Not really from you", "Forged.")))
    answer = client.send("SendMail", forged)[2]
    assert answer is not None and answer.value("Status") == "120"
    nobody = E(NS, "SendMail", E(NS, "ClientId", text="x-2"),
               E(NS, "Mime", data=b"From: " + me.encode() + b"\r\nSubject: x\r\n\r\nno one\r\n"))
    answer = client.send("SendMail", nobody)[2]
    assert answer is not None and answer.value("Status") == "119"


def test_recipients_are_bounded_as_in_smtp_submission(eas_server: RunningServer,
                                                       client_for: Any, eas: Eas) -> None:
    """Security review, finding 5: SendMail took any number of recipients."""
    me, _you = _pair(eas)
    client: EasClient = client_for(me, device="Many1")
    most = eas_server.cfg.web.eas.max_recipients
    crowd = ", ".join(f"r{i}@remote.test" for i in range(most + 1))
    answer = client.send("SendMail", E(NS, "SendMail", E(NS, "ClientId", text="m-1"),
                                       E(NS, "Mime", data=_mime(me, crowd, "Hi all", "x"))))[2]
    assert answer is not None and answer.value("Status") == "120"


def test_a_12_1_device_sends_raw_mime_with_query_parameters(client_for: Any,
                                                            eas: Eas) -> None:
    """ActiveSync 12.x sends SendMail as the message itself, Content-Type message/rfc822,
    with SaveInSent in the query (MS-ASHTTP §2.2.1.1.1.1), not a WBXML ComposeMail: the
    recipient reads it over IMAP, the Sent copy is kept only with SaveInSent=T, success is
    an empty 200 and a refusal HTTP 500 with the reason (MS-ASHTTP §3.2.5.1: 12.x has no
    Status to read)."""
    me, you = _pair(eas)
    old: EasClient = client_for(me, device="Old121", version="12.1")
    rfc822 = {"Content-Type": "message/rfc822"}
    status, _, body = old.post("SendMail", _mime(me, you, "From a 12.1 phone", "Raw MIME."),
                               params={"SaveInSent": "T"}, headers=rfc822)
    assert (status, body) == (200, b"")
    [got] = _messages(eas, you, "INBOX")
    assert got["Subject"] == "From a 12.1 phone" and "Raw MIME." in got.get_content()
    [sent] = _messages(eas, me, "Sent")
    assert sent["Subject"] == "From a 12.1 phone"
    status, _, body = old.post("SendMail", _mime(me, you, "No copy kept", "Second."),
                               params={"SaveInSent": "F"}, headers=rfc822)
    assert (status, body) == (200, b"")
    assert [m["Subject"] for m in _messages(eas, you, "INBOX", want=2)] == \
        ["From a 12.1 phone", "No copy kept"]
    assert [m["Subject"] for m in _messages(eas, me, "Sent", timeout=0)] == \
        ["From a 12.1 phone"]
    # a forged From: the submission's sender rules refuse it, and 12.x hears a 500
    status, headers, body = old.post("SendMail", _mime(you, me, "Forged", "Not from me."),
                                     params={"SaveInSent": "T"}, headers=rfc822)
    assert status == 500 and headers["content-type"].startswith("text/plain") and body
    assert [m["Subject"] for m in _messages(eas, me, "INBOX", timeout=0)] == []
