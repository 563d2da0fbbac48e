"""POP3's view of a mailbox (RFC 1939): the owner's INBOX, locked, numbered once per session.

Protocol-neutral like every service: the POP3 front-end does the wire, this does the store.

- **Lock** (RFC 1939 §8, RFC 2449 §8.1.2): one POP3 session per maildrop. The lock lives in
  this process (one ``MaildropService`` per server, shared by ports 110 and 995). IMAP sessions
  are not locked out: POP3 and IMAP may run side by side, as in Dovecot.
- **Snapshot**: the (UID, size) list taken when the session opens; message numbers index it and
  do not change while the session lasts. A message an IMAP session expunged meanwhile answers
  ``NOT_FOUND`` when read.
- **UIDL** (RFC 1939 §7): ``<uidvalidity>.<uid>``. IMAP UIDs are never reused within a
  UIDVALIDITY, so the UIDL is unique and stable for the life of the message, and an IMAP client
  and a POP3 client name the same message consistently (specs.md §3, cyrus-imapd#374).
- **UPDATE** (RFC 1939 §6): the retrieved messages become ``\\Seen`` and the deleted ones are
  removed, in one transaction; an IMAP session sees the removal as EXPUNGE. A session that ends
  any other way changes nothing.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from postroom.access.gate import MailboxHandle
from postroom.access.ops import Op
from postroom.core.errors import Kind, MailError
from postroom.core.locks import Locks
from postroom.core.principal import Principal
from postroom.core.records import ContentRef
from postroom.services.mailboxes import MailboxService
from postroom.services.messages import MessageService
from postroom.store.sqlstore import SqlStore

CHUNK = 256 * 1024  # how much of a message is read from disk at a time


@dataclass
class Maildrop:
    handle: MailboxHandle
    uidvalidity: int
    messages: list[tuple[int, int]]  # (uid, size), message number n is messages[n - 1]
    deleted: set[int] = field(default_factory=set)  # message numbers marked by DELE
    retrieved: set[int] = field(default_factory=set)  # message numbers sent by RETR

    def uidl(self, number: int) -> str:
        return f"{self.uidvalidity}.{self.messages[number - 1][0]}"


class MaildropService:
    def __init__(self, store: SqlStore, mailboxes: MailboxService,
                 messages: MessageService) -> None:
        self._store = store
        self._mailboxes = mailboxes
        self._messages = messages
        self._locked: set[int] = set()
        # Cluster mode: the lock holds across nodes too (core/locks.py; it ends with the
        # node), so a maildrop is one session's on the whole cluster (RFC 1939 §8).
        self.locks: Locks | None = None
        self._unlocking: set[asyncio.Task[None]] = set()

    async def open(self, principal: Principal) -> Maildrop:
        """Lock and list the principal's INBOX; ``IN_USE`` when another session holds it."""
        handle = await self._mailboxes.open(principal, "INBOX", Op.READ)
        mailbox = handle.mailbox
        if mailbox.id in self._locked:
            raise MailError(Kind.IN_USE, "Mailbox is in use by another POP3 session")
        self._locked.add(mailbox.id)
        try:
            if self.locks is not None and not await self.locks.try_lock(_name(mailbox.id)):
                raise MailError(Kind.IN_USE, "Mailbox is in use by another POP3 session")
            listing = await self._store.queries.sizes(mailbox.id)
        except BaseException:
            self._release(mailbox.id)
            raise
        return Maildrop(handle, mailbox.uidvalidity, listing)

    def close(self, drop: Maildrop) -> None:
        self._release(drop.handle.mailbox.id)

    def _release(self, mailbox_id: int) -> None:
        if mailbox_id not in self._locked:
            return
        self._locked.discard(mailbox_id)
        if self.locks is not None:
            task = asyncio.get_running_loop().create_task(self.locks.unlock(_name(mailbox_id)))
            self._unlocking.add(task)
            task.add_done_callback(self._unlocking.discard)

    async def content(self, drop: Maildrop, number: int) -> ContentRef:
        """Where message ``number`` is; NOT_FOUND once another session expunged it. Only the
        narrow columns, not the stored MIME scan: this runs for every RETR and TOP."""
        uid = drop.messages[number - 1][0]
        ref = await self._store.messages.content_ref(drop.handle.mailbox.id, uid)
        if ref is None:
            raise MailError(Kind.NOT_FOUND, "Message was removed by another session")
        return ref

    async def read(self, ref: ContentRef, start: int, end: int) -> bytes:
        return await self._messages.read_slice(ref, start, end)

    async def update(self, drop: Maildrop) -> tuple[int, int]:
        """The UPDATE state: (messages newly marked seen, messages removed)."""
        remove = [drop.messages[n - 1][0] for n in sorted(drop.deleted)]
        seen = [drop.messages[n - 1][0] for n in sorted(drop.retrieved)]
        if remove:
            drop.handle.require(Op.EXPUNGE)
        if not remove and not seen:
            return 0, 0
        return await self._store.messages.pop3_update(drop.handle.mailbox.id, seen, remove)


def _name(mailbox_id: int) -> str:
    return f"maildrop:{mailbox_id}"
