"""SendMail, SmartReply and SmartForward for ActiveSync (MS-ASCMD §2.2.1.17-19).

The device sends a whole MIME message; it goes out **through the submission service** on
the channel ``eas``, so the pipeline applies the same sender rules as SMTP submission and
webmail (services/pipeline/checks.py SenderCheck: the envelope sender and the From header
must be addresses the user may use), the same size limit, DKIM signing and queueing.
Recipients are To, Cc and Bcc; Bcc is removed from what is transmitted and kept in the Sent
copy (filed with ``\\Seen`` when the device asks, MS-ASCMD SaveInSentItems).

SmartReply and SmartForward name an original the user must be able to read (the gate). The
server adds it unless ReplaceMime: a reply whose body is one text/plain part gets the
original's text quoted below; any other reply and every forward get the original attached
as message/rfc822 (RFC 2046 §5.2.1), which every client shows. In-Reply-To and References
are set for replies (RFC 5322 §3.6.4); the original is marked ``\\Answered`` or
``$Forwarded`` where the user may.

A ClientId already used by the same device within an hour is refused (Status 118), so a
phone that resends after a lost answer does not send the message twice. In cluster mode the
resend may reach another node: the ClientId is then also claimed in the database
(store/repo/compose.py ``eas_sent``) before the message is submitted, and given back if it
was not accepted.
"""

from __future__ import annotations

import asyncio
import email.policy
import logging
import secrets
import time
from collections import OrderedDict
from datetime import UTC, datetime
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import format_datetime, getaddresses, make_msgid

from postroom.access.ops import Op
from postroom.core.errors import Kind, MailError
from postroom.core.principal import Principal
from postroom.services.eas.context import EasContext
from postroom.services.eas.folders import Folders
from postroom.services.eas.model import FolderRef
from postroom.services.pipeline import Client
from postroom.services.submission import received_header
from postroom.store.repo.compose import ComposeRepo

log = logging.getLogger("postroom.eas")
_PARSER = BytesParser(policy=email.policy.SMTP)
_SEEN_WINDOW = 3600.0  # seconds a ClientId is remembered
_SEEN_MOST = 50_000
SENT = 5  # FolderHierarchy Type of Sent Items


class AlreadySent(Exception):
    """The device's ClientId was used for a message already sent (Status 118)."""


class Compose:
    def __init__(self, ctx: EasContext, folders: Folders) -> None:
        self._ctx = ctx
        self._folders = folders
        self._seen: OrderedDict[tuple[int, str, str], float] = OrderedDict()
        # cluster mode: ClientIds claimed in the database too (migration 0026)
        self._shared = ComposeRepo(ctx.store.engine) if ctx.shared else None
        self._swept = -_SEEN_WINDOW

    async def send(self, principal: Principal, device_id: str, mime: bytes, *,
                   client_id: str = "", save_in_sent: bool = True, peer: str = "",
                   original: tuple[FolderRef, int] | None = None, mode: str = "",
                   replace_mime: bool = False) -> None:
        """Send ``mime`` as ``principal``; ``mode`` "reply" or "forward" with ``original``
        (its folder and UID). Raises MailError (the submission's refusal, NOT_FOUND for an
        original the user cannot read) or AlreadySent."""
        if principal.account_id is None or principal.address is None:
            raise MailError(Kind.AUTH_REQUIRED, "only a user sends mail")
        key = (principal.account_id, device_id, client_id)
        now = time.monotonic()
        if client_id and now - self._seen.get(key, -_SEEN_WINDOW) < _SEEN_WINDOW:
            raise AlreadySent(client_id)
        claimed = False
        if client_id and self._shared is not None:
            # a cluster: the device's retry may reach another node, so the ClientId is
            # claimed in the database before sending (of two nodes, one wins) and given back
            # when the message was not accepted
            wall = int(time.time())
            if now - self._swept >= _SEEN_WINDOW / 4:  # the table keeps only the last hour
                self._swept = now
                await self._shared.sweep_client_ids(wall - int(_SEEN_WINDOW))
            if not await self._shared.claim_client_id(principal.account_id, device_id,
                                                      client_id, wall, int(_SEEN_WINDOW)):
                raise AlreadySent(client_id)
            claimed = True
        try:
            if len(mime) > self._ctx.max_message_size:
                raise MailError(Kind.LIMIT, "the message is larger than this server accepts")
            # MIME parsing and writing is CPU work on up to limits.max_message_size octets: in a
            # worker thread, never on the event loop every other connection shares
            msg = await asyncio.to_thread(_parse, mime)
            source: bytes | None = None
            handle = None
            if original is not None:
                folder, uid = original
                handle = await self._ctx.mailboxes.open_id(principal, folder.mailbox_id,
                                                           folder.name, Op.READ)
                if uid not in {r.uid for r in await self._ctx.messages.view(principal, handle)}:
                    raise MailError(Kind.NOT_FOUND, "the original message is not there")
                source = await self._ctx.messages.content(handle, uid)
            recipients, sender, sent_copy, data = await asyncio.to_thread(
                _outgoing, msg, source, mode, replace_mime, principal.address,
                self._ctx.hostname, self._ctx.config.max_recipients)
            client = Client(peer or "local", "eas", True, principal, False, "eas")
            received = received_header("activesync", peer or "127.0.0.1", self._ctx.hostname,
                                       "HTTPS", secrets.token_hex(6),
                                       recipients[0] if len(recipients) == 1 else None)
            await self._ctx.submission.submit(client, sender, recipients, data, received)
        except BaseException:
            if claimed and self._shared is not None:
                await self._shared.unclaim_client_id(principal.account_id, device_id,
                                                     client_id)
            raise
        # accepted and queued: nothing below may report the message as not sent
        if client_id:
            self._seen[key] = now
            self._seen.move_to_end(key)
            while len(self._seen) > _SEEN_MOST:
                self._seen.popitem(last=False)
        if save_in_sent:
            await self._file_sent(principal, sent_copy)
        if handle is not None and original is not None and handle.allows(Op.SET_OTHER_FLAGS):
            flag = "\\Answered" if mode == "reply" else "$Forwarded"
            try:
                await self._ctx.messages.store_flags(principal, handle, [original[1]], "add",
                                                     [flag])
            except MailError as exc:
                log.info("eas: could not mark the original %s: %s", flag, exc.text)

    async def _file_sent(self, principal: Principal, data: bytes) -> None:
        sent = [r for r in await self._folders.hierarchy(principal) if r.eas_type == SENT]
        if not sent:
            log.info("eas: %s has no Sent folder; no copy kept", principal.address)
            return
        name = sent[0].name
        try:
            prepared = await self._ctx.messages.prepare(data, ("\\Seen",))
            handle = await self._ctx.mailboxes.open(principal, name, Op.APPEND)
            await self._ctx.messages.append_prepared(principal, handle, [prepared])
        except MailError as exc:
            log.warning("eas: sent, but no copy kept in Sent for %s: %s", principal.address,
                        exc.text)


def _parse(mime: bytes) -> Message:
    msg: Message = _PARSER.parsebytes(mime)
    if msg.defects and not msg.keys():
        raise MailError(Kind.INVALID, "the MIME message could not be read")
    return msg


def _outgoing(msg: Message, source: bytes | None, mode: str, replace_mime: bool, me: str,
              hostname: str, most: int) -> tuple[list[str], str, bytes, bytes]:
    """(recipients, envelope sender, the Sent copy, what is transmitted) of the device's
    message: the original added (``source``, unless ReplaceMime) and threaded for a reply,
    Message-ID, Date and From added when missing, Bcc kept only in the Sent copy. MailError
    for no recipient or more than ``most``."""
    if source is not None:
        if not replace_mime:
            msg = _with_original(msg, source, mode)
        if mode == "reply":
            _thread(msg, source)
    recipients = [addr for _, addr in getaddresses(
        [str(v) for name in ("To", "Cc", "Bcc") for v in msg.get_all(name, [])]) if addr]
    if not recipients:
        raise MailError(Kind.INVALID, "the message names no recipient")
    if len({r.lower() for r in recipients}) > most:
        raise MailError(Kind.LIMIT, f"a message may have at most {most} recipients")
    if "Message-ID" not in msg:
        msg["Message-ID"] = make_msgid(domain=hostname)
    if "Date" not in msg:
        msg["Date"] = format_datetime(datetime.now(UTC))
    if "From" not in msg:
        msg["From"] = me
    senders = [a for _, a in getaddresses([str(msg.get("From", ""))]) if a]
    sender = senders[0] if senders else me
    sent_copy = msg.as_bytes(policy=email.policy.SMTP)
    del msg["Bcc"]
    return recipients, sender, sent_copy, msg.as_bytes(policy=email.policy.SMTP)


def _thread(msg: Message, source: bytes) -> None:
    """In-Reply-To and References of a reply (RFC 5322 §3.6.4), when the device left them."""
    head = _PARSER.parsebytes(source, headersonly=True)
    mid = str(head.get("Message-ID", "")).strip()
    if not mid:
        return
    if "In-Reply-To" not in msg:
        msg["In-Reply-To"] = mid
    if "References" not in msg:
        refs = str(head.get("References", "")).strip()
        msg["References"] = f"{refs} {mid}".strip()


def _with_original(msg: Message, source: bytes, mode: str) -> Message:
    """The device's message with the original added (see the module docstring)."""
    assert isinstance(msg, EmailMessage)
    original = _PARSER.parsebytes(source)
    if mode == "reply" and msg.get_content_type() == "text/plain" and not msg.is_multipart():
        quoted = _quoted(original)
        if quoted:
            text = msg.get_content()
            msg.set_content(f"{text.rstrip()}\n\n{quoted}", subtype="plain", charset="utf-8")
            return msg
    headers = [(k, v) for k, v in msg.items() if k.lower() not in (
        "content-type", "content-transfer-encoding", "mime-version")]
    body = EmailMessage()
    for k, v in msg.items():
        if k.lower() in ("content-type", "content-transfer-encoding"):
            body[k] = v
    body.set_payload(msg.get_payload())
    out = EmailMessage()
    for k, v in headers:
        out[k] = v
    out.make_mixed()
    out.attach(body)
    attached = EmailMessage()
    attached.set_content(original)
    out.attach(attached)
    return out


def _quoted(original: Message) -> str:
    try:
        assert isinstance(original, EmailMessage)
        part = original.get_body(preferencelist=("plain",))
        text = part.get_content() if part is not None else ""
    except Exception:
        return ""
    if not isinstance(text, str) or not text.strip():
        return ""
    who = str(original.get("From", "")) or "someone"
    when = str(original.get("Date", ""))
    lines = "\n".join("> " + line for line in text.strip().splitlines()[:2000])
    return f"On {when}, {who} wrote:\n{lines}" if when else f"{who} wrote:\n{lines}"
