"""Vacation replies: whether to answer (RFC 5230 §4.5, RFC 3834 §2), and the answer itself.

A script's ``vacation`` action (RFC 5230; ``:seconds`` RFC 6131) only asks for a reply. After
the run, for each recipient whose script asked, the queue manager calls ``Vacations.reply``,
which decides and builds; the reply is a new queue entry committed in the transaction that
settles the delivery, together with the memory row that says "answered" (services/sieve/
memory.py). So a crash never sends a reply without delivering the message, never remembers a
reply that was not queued, and a retry sends exactly one.

No reply (each decision is logged with its reason, as "sieve vacation"):
- to the null reverse path, and to addresses that are daemons or lists by convention:
  ``MAILER-DAEMON``, ``LISTSERV``, ``majordomo``, ``owner-*``, ``*-request`` (RFC 3834 §2,
  RFC 5230 §4.6);
- to mail that says it is automatic: ``Auto-Submitted`` other than ``no`` (RFC 3834 §5),
  a list header (``List-Id``, RFC 2919; ``List-Help``… RFC 2369: RFC 5230 §4.6 "MUST NOT"),
  ``Precedence: bulk | list | junk`` (RFC 3834 §2: common practice worth honouring);
- to the user's own mail;
- to mail on which none of the user's addresses, nor one named in ``:addresses``, is in
  To, Cc, Bcc or their Resent- forms (RFC 5230 §4.5): the user was a blind or list recipient;
- to mail the pipeline quarantined as junk (its sender is likely forged: backscatter);
- to a sender already answered for the same handle within the period (RFC 5230 §4.2): the
  period is ``:days``/``:seconds`` clamped to ``[sieve.vacation] min_seconds..max_seconds``,
  ``default_seconds`` when the script names none.

The reply (RFC 5230 §5, RFC 3834 §3): from the user (or ``:from`` when that is one of the
user's addresses: anything else would be mail in someone else's name), to the envelope
sender, ``Subject`` from ``:subject`` or ``Auto: `` and the original subject (RFC 3834
§3.1.5), ``In-Reply-To``/``References`` to the original (§3.1.4), ``Auto-Submitted:
auto-replied`` (§5), and the null reverse path (§3.3) so that nothing answers it back. The
reason is UTF-8 text (quoted-printable when not ASCII), or with ``:mime`` a MIME entity whose
header fields become the reply's content fields (RFC 5230 §4.1). The reply is DKIM-signed
like the notices this server writes (services/pipeline/signing.py ``sign_notice``).
"""

from __future__ import annotations

import logging
import quopri
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.policy import SMTP, SMTPUTF8
from email.utils import format_datetime, formataddr, getaddresses, parseaddr

from postroom.config_sieve import VacationConfig
from postroom.core.records import MemoryRow, NewEntry, QueueRec
from postroom.directory.service import Directory
from postroom.services.queue import QueueService
from postroom.services.sieve.memory import VACATION, SieveMemory, key_hash
from postroom.services.submission import SubmissionService, domain_of
from postroom.sieve.actions import Vacation
from postroom.sieve.message import Message

log = logging.getLogger("postroom.mail")

# RFC 2369 list fields and RFC 2919 List-Id: RFC 5230 §4.6 "MUST NOT respond"
LIST_FIELDS = ("list-id", "list-help", "list-subscribe", "list-unsubscribe", "list-post",
               "list-owner", "list-archive")
BULK = frozenset({"bulk", "list", "junk"})
DAEMONS = frozenset({"mailer-daemon", "listserv", "majordomo"})
RECIPIENT_FIELDS = ("to", "cc", "bcc", "resent-to", "resent-cc", "resent-bcc")
MAX_REFERENCES = 20  # message ids kept in References (RFC 5322 §3.6.4 lets us trim)


@dataclass(frozen=True, slots=True)
class VacationOrder:
    """A vacation action of one recipient's run, with what deciding needs: the account, its
    addresses (the environment's ``user_addresses``) and the message as the script saw it."""

    action: Vacation
    account_id: int
    user: str  # the account's address
    addresses: tuple[str, ...]
    message: Message


def _plain(address: str) -> str:
    """``address`` lower-cased, without a ``+detail`` (RFC 5233) in its local part."""
    local, at, domain = address.strip().lower().rpartition("@")
    if not at:
        return address.strip().lower()
    return f"{local.partition('+')[0]}@{domain}"


def _addresses(values: Iterable[str]) -> set[str]:
    return {_plain(a) for _, a in getaddresses(list(values)) if "@" in a}


def handle_of(action: Vacation) -> str:
    """RFC 5230 §4.2: the script's ``:handle``, or one made from the reply's text, so that a
    new vacation message answers everyone again."""
    if action.handle:
        return action.handle
    return "auto:" + key_hash(action.subject or "", action.from_ or "", action.reason,
                              "mime" if action.mime else "")


def period_of(action: Vacation, cfg: VacationConfig) -> int:
    """Seconds between two replies to one sender: the script's, within the site's bounds
    (RFC 5230 §4.1, RFC 6131 §2); ``default_seconds`` when the script named none."""
    seconds = action.seconds if action.seconds is not None else cfg.default_seconds
    return max(cfg.min_seconds, min(seconds, cfg.max_seconds))


def refusal(order: VacationOrder) -> str | None:
    """Why no reply may be sent to this message (memory aside), or None."""
    message = order.message
    sender = message.envelope.sender
    if not sender:
        return "null reverse path"
    local = sender.rpartition("@")[0].lower()
    if local in DAEMONS or local.startswith("owner-") or local.endswith("-request"):
        return f"the sender <{sender}> is a list or daemon address"
    own = {_plain(a) for a in (order.user, *order.addresses, message.envelope.recipient) if a}
    if _plain(sender) in own:
        return "the user's own mail"
    for value in message.header("auto-submitted"):
        keyword = value.partition(";")[0].strip().lower()
        if keyword != "no":
            return f"Auto-Submitted: {keyword}"  # RFC 3834 §5
    for name in LIST_FIELDS:
        if message.header(name):
            return f"a mailing list message ({name.title()})"
    for value in message.header("precedence"):
        if value.strip().lower() in BULK:
            return f"Precedence: {value.strip().lower()}"
    wanted = own | {_plain(a) for a in order.action.addresses}
    named = _addresses(v for name in RECIPIENT_FIELDS for v in message.raw_header(name))
    if not wanted & named:
        return "none of the user's addresses is in To, Cc or Bcc"  # RFC 5230 §4.5
    return None


def _field(name: str, value: str) -> bytes:
    """One header field, folded, non-ASCII text as encoded-words (RFC 2047)."""
    folded: str = SMTP.fold(name, value)
    if not folded.isascii():  # an internationalised address (RFC 6532): sent as UTF-8
        folded = SMTPUTF8.fold(name, value)
    return folded.encode("utf-8")


def _crlf(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def _from_address(order: VacationOrder) -> str:
    """The reply's From: ``:from`` when it names one of the user's addresses, else the
    user's own address."""
    wanted = order.action.from_
    if wanted:
        name, address = parseaddr(wanted)
        own = {_plain(a) for a in (order.user, *order.addresses)}
        if address and _plain(address) in own:
            return formataddr((name, address), charset="utf-8")
        log.info("sieve vacation", extra={"to": f"<{order.message.envelope.sender}>",
                                          "decision": "from", "reason":
                                          f":from {address!r} is not the user's; using "
                                          f"<{order.user}>"})
    return order.user


def build_reply(order: VacationOrder, now: float | None = None) -> bytes:
    """The reply message (RFC 5230 §5, RFC 3834 §3), CRLF line ends."""
    action, message = order.action, order.message
    when = time.time() if now is None else now
    sender = message.envelope.sender
    subjects = message.header("subject")
    subject = action.subject if action.subject is not None else \
        ("Auto: " + (subjects[0].strip() if subjects else "")).rstrip()
    head = [
        _field("From", _from_address(order)),
        _field("To", f"<{sender}>"),
        _field("Subject", subject),
        _field("Date", format_datetime(datetime.fromtimestamp(when, UTC))),
        _field("Message-ID", f"<{secrets.token_hex(12)}.vacation@{domain_of(order.user)}>"),
    ]
    original = [v.strip() for v in message.raw_header("message-id") if v.strip()]
    if original:
        head.append(_field("In-Reply-To", original[0]))  # RFC 3834 §3.1.4
        refs = " ".join(message.raw_header("references")).split()
        if not refs:
            refs = " ".join(message.raw_header("in-reply-to")).split()[:1]
        ids = [*refs, original[0]][-MAX_REFERENCES:]
        head.append(_field("References", " ".join(ids)))
    head.append(b"Auto-Submitted: auto-replied\r\n")  # RFC 3834 §5
    head.append(b"MIME-Version: 1.0\r\n")
    if action.mime:
        entity = _crlf(action.reason.encode("utf-8"))
        end = entity.find(b"\r\n\r\n")
        if entity.startswith(b"\r\n"):
            fields, body = b"", entity[2:]
        elif end < 0:
            fields, body = entity + b"\r\n", b""
        else:
            fields, body = entity[:end + 2], entity[end + 4:]
        if b"content-type:" not in fields.lower():
            fields += b"Content-Type: text/plain; charset=us-ascii\r\n"
        return b"".join(head) + fields + b"\r\n" + body
    text = _crlf(action.reason.encode("utf-8"))
    if not text.endswith(b"\r\n"):
        text += b"\r\n"
    if text.isascii():
        head.append(b"Content-Type: text/plain; charset=us-ascii\r\n")
        head.append(b"Content-Transfer-Encoding: 7bit\r\n")
        body = text
    else:
        head.append(b"Content-Type: text/plain; charset=utf-8\r\n")
        head.append(b"Content-Transfer-Encoding: quoted-printable\r\n")
        body = _crlf(quopri.encodestring(text.replace(b"\r\n", b"\n")))
    return b"".join(head) + b"\r\n" + body


Signer = Callable[[bytes], Awaitable[bytes]]


class Vacations:
    """Decides and builds vacation replies for the queue manager (mta/queue.py)."""

    def __init__(self, memory: SieveMemory, queue: QueueService, directory: Directory,
                 submission: SubmissionService, cfg: VacationConfig) -> None:
        self.memory = memory
        self.queue = queue
        self.directory = directory
        self.submission = submission
        self.cfg = cfg
        # DKIM signature fields for a reply (services/pipeline/signing.py ``sign_notice``),
        # set by the server; None: replies go unsigned.
        self.sign: Signer | None = None

    async def reply(self, entry: QueueRec, order: VacationOrder, now: int | None = None,
                    ) -> tuple[NewEntry, MemoryRow] | None:
        """The reply to queue and the row that remembers it, or None (logged why not).
        Nothing is written here but the reply's blob: the caller commits both with the
        delivery."""
        when = int(time.time()) if now is None else now
        sender = order.message.envelope.sender
        reason = refusal(order)
        if reason is None and entry.param_dict().get("quarantine"):
            # judged junk at acceptance: its sender is likely forged, and answering would
            # be backscatter
            reason = "the message was quarantined as junk"
        if reason is not None:
            self._log(entry, order, "not sent", reason)
            return None
        key = key_hash(_plain(sender), handle_of(order.action))
        if await self.memory.recall(order.account_id, VACATION, key, when):
            self._log(entry, order, "not sent", "already answered within the period")
            return None
        data = build_reply(order, when)
        blob = await self.queue.put_bytes(data)
        prefix = await self.sign(data) if self.sign is not None else b""
        params: dict[str, object] = {"auto_reply": True}
        new = NewEntry("", [sender], blob, prefix, params)
        if not await self.directory.is_local_domain(domain_of(sender)):
            params["remote"] = True
            await self.submission.mark_gateway(new)
        period = period_of(order.action, self.cfg)
        self._log(entry, order, "sent", f"once per {period} s")
        return new, MemoryRow(order.account_id, VACATION, key, when + period)

    @staticmethod
    def _log(entry: QueueRec, order: VacationOrder, decision: str, reason: str) -> None:
        log.info("sieve vacation", extra={"queue_id": entry.id, "user": order.user,
                                          "to": f"<{order.message.envelope.sender}>",
                                          "decision": decision, "reason": reason})
