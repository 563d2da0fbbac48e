"""Accepting mail: who may send, which recipients are ours, and the durable hand-off.

DESIGN.md §5 steps 2 and 5, protocol-neutral: the SMTP session asks these questions and maps
the answers (``Decision``) to its replies. Relaying is never open: a recipient outside our
domains is accepted only from an authenticated sender or a configured trusted network (the
default list is empty, loopback included).

One accepted message becomes one queue entry per destination: one for every local recipient
(stored once per mailbox by the queue manager), one per remote domain (one SMTP transaction per
destination host, RFC 5321 §4.5.4), all sharing the same fsynced blob.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses
from typing import TYPE_CHECKING

from postroom.core import minger
from postroom.core.errors import MailError
from postroom.core.principal import Principal
from postroom.core.records import BlobRef, NewEntry
from postroom.directory.service import ToAccount, ToAlias, ToGroup, ToPublicFolder, Unknown
from postroom.store.blobs import BlobWriter

if TYPE_CHECKING:
    from postroom.app import Services


@dataclass(frozen=True, slots=True)
class Decision:
    """An SMTP-shaped verdict: reply code, enhanced status code (RFC 3463) and text."""

    code: int
    enhanced: str
    text: str
    remote: bool = False  # accepted for relaying to another domain

    @property
    def ok(self) -> bool:
        return self.code < 400


MessageWriter = BlobWriter  # what front-ends stream message data into (they never import store)

ACCEPTED = Decision(250, "2.1.5", "Recipient OK")
RELAYED = Decision(250, "2.1.5", "Recipient OK (relayed)", remote=True)


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].lower().rstrip(".")


class Inbound:
    def __init__(self, services: Services) -> None:
        self.services = services

    async def primary_domain(self) -> str:
        domains = await self.services.store.directory.list_domains()
        return domains[0].name if domains else "localhost"

    async def check_sender(self, principal: Principal | None, sender: str) -> Decision | None:
        """An authenticated sender may use only their own address, an alias that reaches
        them, or an address an administrator granted them (``postroom user send-as``;
        ``@domain`` grants a whole domain) (issue 5; RFC 6409 §8.1). None = fine."""
        if principal is None or principal.system or not sender:
            return None
        sender = sender.lower()
        if principal.address is not None and sender == principal.address:
            return None
        if principal.account_id is not None:
            grants = await self.services.store.directory.send_as(principal.account_id)
            if sender in grants or "@" + sender.rpartition("@")[2] in grants:
                return None
        res = await self.services.directory.resolve_recipient(sender)
        if isinstance(res, ToAccount) and res.account.id == principal.account_id:
            return None
        if isinstance(res, ToAlias) and principal.address in \
                await self.services.directory.expand(sender):
            return None
        return Decision(553, "5.7.1", f"Sender address <{sender}> is not yours to use")

    async def check_recipient(self, principal: Principal | None, address: str,
                              trusted: bool) -> Decision:
        """RCPT TO (RFC 5321 §4.1.1.3): ours and deliverable, or a refusal with its code."""
        res = await self.services.directory.resolve_recipient(address)
        if isinstance(res, Unknown):
            if res.local_domain:
                return Decision(550, "5.1.1", f"No such user here: <{address}>")
            gateway = await self.services.gateways.find(domain_of(address))
            if gateway is not None:  # someone else's domain we accept for (issue 7)
                return await self.services.gateways.check_recipient(gateway, address)
            if principal is None and not trusted:
                return Decision(550, "5.7.1", "Relaying denied: authenticate first")
            return RELAYED
        if isinstance(res, ToPublicFolder):
            try:
                await self.services.messages.post_handle(principal or Principal.anonymous(),
                                                         address)
            except MailError:
                return Decision(550, "5.7.1", f"You may not post to <{address}>")
            return ACCEPTED
        if isinstance(res, ToAccount):
            return await self._quota(res.account.id, address)
        if isinstance(res, (ToAlias, ToGroup)):
            if not await self.services.directory.expand(address):
                return Decision(550, "5.1.1", f"<{address}> leads to no mailbox")
            return ACCEPTED
        return Decision(550, "5.1.1", f"No such user here: <{address}>")

    async def address_status(self, address: str) -> int:
        """Minger's answer for ``address`` (specs.md §6 [PRODUCT]): 5 when mail to it would
        be accepted (account, alias or group that reaches a mailbox, public folder open to
        posting), 4 when it exists but cannot take mail now (disabled or frozen account, full
        mailbox, alias leading nowhere, folder closed to posting), 3 otherwise."""
        res = await self.services.directory.resolve_recipient(address)
        if isinstance(res, Unknown):
            return minger.UNKNOWN
        if isinstance(res, ToAccount):
            if res.account.state != "active":
                return minger.UNAVAILABLE
            used, limit = await self.services.directory.quota_of(res.account.id)
            return minger.UNAVAILABLE if limit is not None and used >= limit else minger.ACTIVE
        if isinstance(res, ToPublicFolder):
            try:
                await self.services.messages.post_handle(Principal.anonymous(), address)
            except MailError:
                return minger.UNAVAILABLE
            return minger.ACTIVE
        if isinstance(res, (ToAlias, ToGroup)):
            return minger.ACTIVE if await self.services.directory.expand(address) \
                else minger.UNAVAILABLE
        return minger.UNKNOWN

    async def _quota(self, account_id: int, address: str) -> Decision:
        used, limit = await self.services.directory.quota_of(account_id)
        if limit is not None and used >= limit:
            return Decision(452, "4.2.2", f"Mailbox of <{address}> is full")
        return ACCEPTED

    def blob_writer(self) -> BlobWriter:
        """Where DATA streams to (blocking: call from a worker thread)."""
        return self.services.store.blobs.writer()

    async def enqueue(self, sender: str, local: Iterable[str], remote: Iterable[str],
                      blob: BlobRef, prefix: bytes, params: dict[str, object]) -> int:
        """The single choke point: the blob is already fsynced; once this returns the queue
        entries are committed (group commit) and SMTP may say 250 (RFC 5321 §6.1)."""
        entries = split_entries(sender, list(local), list(remote), blob, prefix, params)
        for entry in entries:
            if entry.params.get("remote"):
                await self.mark_gateway(entry)
        ids = await self.services.store.queue.enqueue_many(entries)
        return ids[0]

    async def mark_gateway(self, entry: NewEntry) -> None:
        """Mail for a gateway domain carries its domain, so ATRN can find it; when the
        gateway holds its mail, the entry waits in state ``atrn`` (issue 7)."""
        domain = domain_of(entry.recipients[0])
        gateway = await self.services.gateways.find(domain)
        if gateway is None:
            return
        entry.hold_domain = gateway.domain
        if gateway.holds:
            entry.state = "atrn"
            entry.next_attempt = self.services.gateways.review_time(int(time.time()), False)


def split_entries(sender: str, local: list[str], remote: list[str], blob: BlobRef,
                  prefix: bytes, params: dict[str, object]) -> list[NewEntry]:
    """One entry for the local recipients, one per remote domain; each keeps only the DSN
    parameters of its own recipients."""
    groups: list[tuple[list[str], bool]] = [(local, False)] if local else []
    by_domain: dict[str, list[str]] = {}
    for rcpt in remote:
        by_domain.setdefault(domain_of(rcpt), []).append(rcpt)
    groups += [(group, True) for group in by_domain.values()]
    out = []
    for group, is_remote in groups:
        own = dict(params)
        for key in ("notify", "orcpt"):
            table = params.get(key)
            if isinstance(table, dict):
                own[key] = {r: v for r, v in table.items() if r in group}
        if is_remote:
            own["remote"] = True
        out.append(NewEntry(sender, group, blob, prefix, own))
    return out


def from_addresses(head: bytes) -> list[str]:
    """The addresses in the From: fields of a header block (RFC 5322 §3.6.2)."""
    message = BytesHeaderParser(policy=compat32).parsebytes(head)
    return [addr.lower() for _, addr in getaddresses(message.get_all("From") or []) if addr]


def received_header(helo: str, peer: str, hostname: str, protocol: str, queue_hint: str,
                    recipient: str | None) -> bytes:
    """``Received:`` (RFC 5321 §4.4) prepended at acceptance, folded below 78 columns."""
    when = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime())
    lines = [f"Received: from {helo} ([{peer}])", f"\tby {hostname} (Postroom) with {protocol}"
             f" id {queue_hint}"]
    if recipient:
        lines.append(f"\tfor <{recipient}>")
    lines[-1] += f"; {when}"
    return ("\r\n".join(lines) + "\r\n").encode()



def write_all(writer: BlobWriter, chunks: list[bytes]) -> None:
    """Blocking: a worker thread writes a batch of decoded DATA."""
    for chunk in chunks:
        writer.write(chunk)
