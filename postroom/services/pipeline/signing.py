"""DKIM signing at acceptance: a pipeline ``Transform`` (RFC 6376 §5, RFC 8463).

Where signing belongs, and why here: the message blob is immutable and stored once for all
recipients; the headers we add travel in the per-delivery prefix that the queue prepends to the
blob on every delivery (DESIGN.md §4.2). The content transforms run at acceptance, with the
whole received content readable (``Message.read_content``) and before the 250, so the
signatures are computed once, over exactly the octets that every delivery sends after the
prefix, and committed with the queue entry. Signing at the outbound relay instead would read
and hash the blob again on every attempt, for every remote domain, and could not sign the
local copies. So one signature pair serves remote deliveries (mta/outbound.py sends prefix +
blob unchanged; it never re-encodes 8-bit content) and local ones alike, and a retry after a
crash sends the same signed message. Our ``Received:`` line, also in the prefix, is not signed,
and fields added on local delivery (``Return-Path:``) are not either.

Who is signed: mail from an authenticated submitter or a trusted network
(``smtp.trusted_networks``), whose ``From:`` domain (RFC 5322 §3.6.2; the identity DMARC
aligns with, RFC 7489 §3.1) has active keys. The sender check has already made sure an
authenticated user writes only their own addresses in From:. Anything else passes unsigned.

A failure to sign (an unreadable key, say) is logged and the message goes unsigned: signing
must never cost a message.
"""

from __future__ import annotations

import asyncio
import io
import logging
import time
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses
from typing import BinaryIO

from postroom.config import DkimConfig
from postroom.core import dkimsig
from postroom.core.address import normalize_domain
from postroom.core.errors import MailError
from postroom.obs import maillog
from postroom.services.dkimkeys import DkimKeys
from postroom.services.pipeline import Message, header_section

log = logging.getLogger("postroom.mail")

CHUNK = 256 * 1024
INLINE_HASH = 256 * 1024  # larger messages are hashed in a worker thread


def from_domain(head: bytes) -> str | None:
    """The domain of the single ``From:`` field's first address, in A-label form; None when
    there is no From:, more than one, or no usable domain."""
    parsed = BytesHeaderParser(policy=compat32).parsebytes(head)
    fields = parsed.get_all("From") or []
    if len(fields) != 1:
        return None
    addresses = [a for _, a in getaddresses([str(fields[0])]) if "@" in a]
    if not addresses:
        return None
    try:
        return normalize_domain(addresses[0].rpartition("@")[2])
    except MailError:
        return None


def body_hash(stream: BinaryIO, head_length: int) -> bytes:
    """The relaxed body hash of a whole message read from ``stream`` (blocking): the body
    begins after the header section and its empty line."""
    with stream:
        stream.read(head_length)
        if stream.read(2) != b"\r\n":  # a header section with no body after it
            return dkimsig.RelaxedBody().digest()
        body = dkimsig.RelaxedBody()
        while chunk := stream.read(CHUNK):
            body.feed(chunk)
        return body.digest()


class DkimSigner:
    """The ``Transform``: one ``DKIM-Signature:`` per active key of the From: domain."""

    name = "dkim-sign"

    def __init__(self, keys: DkimKeys) -> None:
        self.keys = keys

    @property
    def cfg(self) -> DkimConfig:
        return self.keys.cfg  # one copy of the settings, replaced on reload

    async def apply(self, message: Message) -> None:
        client = message.client
        if not self.cfg.sign or (client.principal is None and not client.trusted):
            return  # mail from outside is never signed by us
        domain = from_domain(message.head)
        if domain is None:
            self._log(message, "-", "skipped", "no single From: address with a domain")
            return
        try:
            keys = await self.keys.signing_keys(domain)
            if not keys:
                self._log(message, domain, "skipped", "no active key for the From: domain")
                return
            stream = await message.read_content()
            if message.size > INLINE_HASH:
                loop = asyncio.get_running_loop()
                digest = await loop.run_in_executor(None, body_hash, stream, len(message.head))
            else:
                digest = body_hash(stream, len(message.head))
            now = int(time.time())
            fields = [dkimsig.sign(message.head, digest, key, self.cfg.headers,
                                   self.cfg.oversign, now, self.cfg.expire_after)
                      for key in keys]
        except Exception:
            log.exception("dkim sign failed; the message goes unsigned",
                          extra={"from_domain": domain})
            self._log(message, domain, "skipped", "signing failed (logged)")
            return
        # Each field is folded; the prefix joins annotations with CRLF, so drop the last one.
        message.annotations.extend(f.decode("ascii")[:-2] for f in fields)
        self._log(message, domain, "signed",
                  ",".join(f"{k.selector}/{k.algorithm}" for k in keys))

    async def sign_notice(self, data: bytes) -> bytes:
        """``DKIM-Signature:`` fields (each ending in CRLF) for a message this server wrote
        itself, a delivery status notification from postmaster@ our domain, to go in its
        prefix: receivers that apply DMARC to our bounces need them as much as to our users'
        mail. Empty when there is no key, and when signing fails (logged)."""
        if not self.cfg.sign:
            return b""
        head = header_section(data)
        domain = from_domain(head)
        if domain is None:
            return b""
        try:
            keys = await self.keys.signing_keys(domain)
            if not keys:
                return b""
            if len(data) > INLINE_HASH:
                loop = asyncio.get_running_loop()
                digest = await loop.run_in_executor(None, body_hash, io.BytesIO(data),
                                                    len(head))
            else:
                digest = body_hash(io.BytesIO(data), len(head))
            now = int(time.time())
            return b"".join(dkimsig.sign(head, digest, key, self.cfg.headers,
                                         self.cfg.oversign, now, self.cfg.expire_after)
                            for key in keys)
        except Exception:
            log.exception("dkim sign of a notice failed; it goes unsigned",
                          extra={"from_domain": domain})
            return b""

    @staticmethod
    def _log(message: Message, domain: str, decision: str, reason: str) -> None:
        log.info("dkim sign", extra={"from": f"<{message.sender}>", "d": domain,
                                     "msgid": maillog.message_id(message.head),
                                     "decision": decision, "reason": reason})
