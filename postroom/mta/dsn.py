"""Delivery status notifications: RFC 3464 ``multipart/report`` (RFC 6522), sent from ``<>``.

Three parts (RFC 3464 §2, specs.md §4.4): a human-readable explanation; the machine-readable
``message/delivery-status`` (per-message fields, then one block per recipient with
``Final-Recipient``, ``Action``, ``Status`` and, where known, ``Remote-MTA`` and
``Diagnostic-Code``); and the original message (``message/rfc822``) or only its header
(``text/rfc822-headers``) when the sender asked for ``RET=HDRS`` or the message is large.

Notices are never sent for mail whose reverse path is null (RFC 5321 §4.5.5, §6.1): the caller
checks that, and every notice itself goes out from ``<>`` so that it can never cause another.
"""

from __future__ import annotations

import secrets
import textwrap
import time
from dataclasses import dataclass
from email.utils import formatdate
from typing import BinaryIO

from postroom.core.smtp import Code, xtext_decode

FULL_RETURN_LIMIT = 256 * 1024  # larger originals come back as headers only
HEADER_RETURN_LIMIT = 64 * 1024  # the returned header section, at most
DIAGNOSTIC_LIMIT = 1000  # characters of one recipient's diagnostic (a remote reply can be long)


@dataclass(frozen=True, slots=True)
class RecipientStatus:
    recipient: str
    action: str  # failed | delayed | delivered | relayed | expanded (RFC 3464 §2.3.3)
    status: str  # RFC 3463 code, e.g. 5.1.1
    diagnostic: str = ""  # the remote reply, "550 5.1.1 No such user"
    remote_mta: str = ""
    orcpt: str = ""  # as given in ORCPT=, "rfc822;xtext"


def status(recipient: str, action: str, reply: Code, text: str = "",
           orcpt: str = "") -> RecipientStatus:
    """A recipient's status from one of our own replies (core/smtp.py): the enhanced code as
    ``Status``, and ``code enhanced text`` as the diagnostic when there is a text."""
    return RecipientStatus(recipient, action, reply.enhanced or "",
                           f"{reply} {text}" if text else "", orcpt=orcpt)


SUBJECTS = {
    "failed": "Undelivered Mail Returned to Sender",
    "delayed": "Delayed Mail (still being retried)",
    "delivered": "Successful Mail Delivery Report",
    "relayed": "Mail Relayed (no further notices)",
}

EXPLANATIONS = {
    "failed": "Your message could not be delivered to one or more recipients. It is attached "
              "below. The reason is given for each recipient.",
    "delayed": "Your message has not yet been delivered to one or more recipients. This is a "
               "warning only: delivery is still being retried, and you will be told if it "
               "finally fails.",
    "delivered": "Your message was delivered to the recipients listed below.",
    "relayed": "Your message was passed on to a server that does not send delivery "
               "notifications; you will get no further notice for these recipients.",
}


def build(*, reporting_mta: str, postmaster: str, to: str, statuses: list[RecipientStatus],
          original: BinaryIO, original_size: int, arrival: int, envid: str = "",
          ret: str = "", retry_until: int | None = None) -> bytes:
    """The notice as CRLF-terminated bytes, ready to queue from ``<>`` to ``to``."""
    action = statuses[0].action
    boundary = f"=_postroom_{secrets.token_hex(12)}"
    now = int(time.time())
    head = [
        f"From: Mail Delivery System <{postmaster}>",
        f"To: <{to}>",
        f"Subject: {SUBJECTS.get(action, 'Delivery Status Notification')}",
        f"Date: {formatdate(now)}",
        f"Message-ID: <dsn.{secrets.token_hex(10)}@{reporting_mta}>",
        "Auto-Submitted: auto-replied",  # RFC 3834 §5: no vacation replies to this
        "MIME-Version: 1.0",
        f'Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary="{boundary}"',
    ]
    human = textwrap.wrap(EXPLANATIONS.get(action, "Delivery status report."), 76)
    human.append("")
    for st in statuses:
        human.append(f"<{st.recipient}>: {st.action}"
                     + (f", {_clip(st.diagnostic)}" if st.diagnostic else f" ({st.status})"))
    per_message = [f"Reporting-MTA: dns; {reporting_mta}"]
    if envid:
        per_message.append(f"Original-Envelope-Id: {xtext_decode(envid)}")
    per_message.append(f"Arrival-Date: {formatdate(arrival)}")
    blocks = []
    for st in statuses:
        block = []
        if st.orcpt:
            kind, _, value = st.orcpt.partition(";")
            block.append(f"Original-Recipient: {kind}; {xtext_decode(value)}")
        block += [f"Final-Recipient: rfc822; {st.recipient}", f"Action: {st.action}",
                  f"Status: {st.status}"]
        if st.remote_mta:
            block.append(f"Remote-MTA: dns; {st.remote_mta}")
        if st.diagnostic:
            block.append(f"Diagnostic-Code: smtp; {_clip(st.diagnostic)}")
        block.append(f"Last-Attempt-Date: {formatdate(now)}")
        if retry_until is not None and st.action == "delayed":
            block.append(f"Will-Retry-Until: {formatdate(retry_until)}")
        blocks.append("\r\n".join(block))
    status_part = "\r\n".join(per_message) + "\r\n\r\n" + "\r\n\r\n".join(blocks) + "\r\n"
    full = ret.upper() != "HDRS" and original_size <= FULL_RETURN_LIMIT
    content = original.read() if full else _header_of(original)
    out = "\r\n".join(head) + "\r\n\r\n"
    out += "This is a MIME-encapsulated delivery status notification.\r\n\r\n"
    out += f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n"
    out += "Content-Transfer-Encoding: 8bit\r\n\r\n"
    out += "\r\n".join(human) + "\r\n\r\n"
    out += f"--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\n" + status_part
    out += "\r\n"
    kind = "message/rfc822" if full else "text/rfc822-headers"
    encoding = "7bit" if content.isascii() else "8bit"
    data = out.encode() + (f"--{boundary}\r\nContent-Type: {kind}\r\n"
                           f"Content-Transfer-Encoding: {encoding}\r\n\r\n").encode()
    data += content
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data + f"\r\n--{boundary}--\r\n".encode()


def _clip(text: str) -> str:
    """One line, at most DIAGNOSTIC_LIMIT characters: every part of a notice has a size cap."""
    flat = " ".join(text.split())
    return flat if len(flat) <= DIAGNOSTIC_LIMIT else flat[:DIAGNOSTIC_LIMIT - 1] + "…"


def _header_of(original: BinaryIO, limit: int = HEADER_RETURN_LIMIT) -> bytes:
    """The header block of the original (up to the blank line), at most ``limit`` octets and
    whole lines (never read further than that, however long a line is)."""
    lines: list[bytes] = []
    size = 0
    while size < limit:
        line = original.readline(limit - size + 1)
        if not line or line in (b"\r\n", b"\n") or size + len(line) > limit:
            break
        lines.append(line)
        size += len(line)
    return b"".join(lines)
