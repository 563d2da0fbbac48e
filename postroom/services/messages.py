"""Messages: append, copy, move, flags, expunge, content, all behind the access gate.

Flag rules on shared folders (RFC 4314 §4, specs.md §2.5): APPEND/COPY/MOVE keep only the flags
the caller may set (``s`` for \\Seen, ``t`` for \\Deleted, ``w`` for the rest) and never fail for
lacking them; STORE changes what it may and still succeeds.

Durability: ``prepare`` writes and fsyncs the blob before the metadata transaction, and the
transaction's commit is fsynced (group commit) before ``append`` returns, so an APPEND that
returned is on disk (DESIGN.md rule 4).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from postroom.access.gate import AccessGate, MailboxHandle
from postroom.access.ops import Op
from postroom.core import flags as F
from postroom.core.address import Address
from postroom.core.errors import Kind, MailError
from postroom.core.principal import Principal
from postroom.core.records import (
    ContentRef,
    FlagRow,
    FlagRun,
    FlagUpdate,
    MailboxCounts,
    MailboxRec,
    MessageRec,
    NewMessage,
    SearchRow,
)
from postroom.mime.scanner import scan
from postroom.mime.text import searchable
from postroom.services.duplicates import DuplicateIndex
from postroom.services.mailboxes import MailboxService
from postroom.store.sqlstore import SqlStore

log = logging.getLogger("postroom.messages")


@dataclass(frozen=True, slots=True)
class AppendResult:
    mailbox: MailboxRec
    uids: tuple[int, ...]


# (who, source folder, target folder, (source UID, target UID) pairs) after a COPY or MOVE.
CopyListener = Callable[[Principal, MailboxRec, MailboxRec, tuple[tuple[int, int], ...]], None]


@dataclass(frozen=True, slots=True)
class CopyResult:
    uidvalidity: int
    pairs: tuple[tuple[int, int], ...]


def settable(handle: MailboxHandle) -> tuple[int, bool]:
    """(system flags the caller may set, whether keywords may be set)."""
    mask = 0
    if handle.allows(Op.SET_SEEN):
        mask |= F.SEEN
    if handle.allows(Op.SET_DELETED):
        mask |= F.DELETED
    other = handle.allows(Op.SET_OTHER_FLAGS)
    if other:
        mask |= F.ANSWERED | F.FLAGGED | F.DRAFT
    return mask, other


def seen_account(principal: Principal, mailbox: MailboxRec) -> int | None:
    """Whose private \\Seen applies: the reader's, except in their own folders (PD 6)."""
    if principal.account_id is None or mailbox.owner_id == principal.account_id:
        return None
    return principal.account_id


def describe(data: bytes) -> tuple[str, tuple[str, str] | None]:
    """What is stored about a message's content at delivery, once: the MIME scan (ENVELOPE,
    BODYSTRUCTURE, part offsets) and the search text. Blocking: worker thread."""
    info = scan(data)
    return info.to_json(), searchable(data, info)


def build_message(data: bytes, flags: int, keywords: tuple[str, ...], internal_date: int,
                  prefix: bytes, store: SqlStore) -> NewMessage:
    """Scan and store one message durably. Blocking: runs in a worker thread."""
    meta, text = describe(data)
    blob = store.blobs.put_bytes(data)
    return NewMessage(blob, prefix, meta, flags, F.keywords_to_text(keywords), internal_date,
                      text)


class MessageService:
    def __init__(self, store: SqlStore, gate: AccessGate, mailboxes: MailboxService,
                 workers: int = 4, max_message_size: int = 50 * 1024 * 1024) -> None:
        self._store = store
        self._gate = gate
        self._mailboxes = mailboxes
        self.max_message_size = max_message_size
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="blob")
        # Told of every committed COPY/MOVE (services/spamlearn.py learns from moves into and
        # out of Junk); a listener only schedules work and never raises into the command.
        self.copy_listeners: list[CopyListener] = []

    async def prepare(self, data: bytes, flag_names: Sequence[str] = (),
                      internal_date: int | None = None, prefix: bytes = b"") -> NewMessage:
        if len(data) + len(prefix) > self.max_message_size:
            raise MailError(Kind.LIMIT, f"message larger than {self.max_message_size} octets")
        mask, keywords = F.parse_flags(list(flag_names))
        when = int(time.time()) if internal_date is None else internal_date
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, build_message, data, mask, keywords,
                                          when, prefix, self._store)

    async def append(self, principal: Principal, name: str,
                     items: Sequence[tuple[bytes, Sequence[str], int | None]],
                     ) -> AppendResult:
        """Append one or more messages atomically (MULTIAPPEND, RFC 3502)."""
        handle = await self._mailboxes.open(principal, name, Op.APPEND)
        prepared = await asyncio.gather(*(self.prepare(d, f, t) for d, f, t in items))
        return await self.append_prepared(principal, handle, prepared)

    async def append_prepared(self, principal: Principal, handle: MailboxHandle,
                              prepared: Sequence[NewMessage]) -> AppendResult:
        handle.require(Op.APPEND)
        mask, keywords_ok = settable(handle)
        filtered = [NewMessage(m.blob, m.prefix, m.meta, m.flags & mask,
                               m.keywords if keywords_ok else "", m.internal_date, m.text)
                    for m in prepared]
        result = await self._store.messages.append(handle.mailbox.id, filtered,
                                                  seen_account(principal, handle.mailbox))
        return AppendResult(handle.mailbox, tuple(uid for uid, _ in result))

    async def post_handle(self, sender: Principal, address: str) -> MailboxHandle:
        """May ``sender`` post to the folder with this address? The one check (``p``) used
        both by ``post`` and by SMTP at RCPT time; raises NOT_FOUND or NO_PERM."""
        mailbox = await self._store.mailboxes.by_address(str(Address.parse(address)))
        if mailbox is None:
            raise MailError(Kind.NOT_FOUND, f"no folder has the address {address}")
        return await self._gate.handle(sender, mailbox, address, Op.POST)

    async def post(self, sender: Principal, address: str, data: bytes, prefix: bytes = b"",
                   ) -> AppendResult:
        """Deliver to a public folder by its address: the ``p`` right (RFC 4314 §2.1).

        ``sender`` is the authenticated submitter, or ``Principal.anonymous()`` for mail from
        outside, which then needs ``p`` for ``anyone``. Posting is not APPEND: it needs ``p``,
        not ``i``, and the message arrives with no flags. The folder's address is public, so a
        refusal (NO_PERM) reveals nothing the address did not (access/gate.py); an address
        that names no folder is NOT_FOUND. The SMTP front-end maps both to its own replies."""
        handle = await self.post_handle(sender, address)
        prepared = await self.prepare(data, (), None, prefix)
        result = await self._store.messages.append(handle.mailbox.id, [prepared], None)
        return AppendResult(handle.mailbox, tuple(uid for uid, _ in result))

    async def view(self, principal: Principal, handle: MailboxHandle) -> list[FlagRow]:
        handle.require(Op.READ)
        return await self._store.messages.flag_rows(handle.mailbox.id,
                                                   seen_account(principal, handle.mailbox))

    async def content(self, handle: MailboxHandle, uid: int) -> bytes:
        """The whole message as stored: per-delivery prefix, then the blob."""
        handle.require(Op.READ)
        rec = await self._store.messages.get(handle.mailbox.id, uid)
        if rec is None:
            raise MailError(Kind.NOT_FOUND, f"no message with UID {uid}")
        return await self.read_record(rec)

    async def duplicates(self, handle: MailboxHandle) -> DuplicateIndex:
        """What the folder holds now, for an import to skip messages already there (by
        Message-ID and size, else size and content hash: services/duplicates.py)."""
        handle.require(Op.READ)
        rows = await self._store.queries.fingerprints(handle.mailbox.id)

        async def read(uid: int) -> bytes:
            try:
                return await self.content(handle, uid)
            except MailError as exc:  # expunged since: it holds nothing any more
                if exc.kind is Kind.NOT_FOUND:
                    return b""
                raise
        return DuplicateIndex(rows, read)

    async def read_record(self, rec: MessageRec) -> bytes:
        loop = asyncio.get_running_loop()
        body = await loop.run_in_executor(self._pool, self._store.blobs.read, rec.blob)
        return bytes(rec.prefix) + body

    async def store_flags(self, principal: Principal, handle: MailboxHandle,
                          uids: Sequence[int], mode: str, flag_names: Sequence[str],
                          unchanged_since: int | None = None,
                          ) -> tuple[list[FlagRow], list[int]]:
        """STORE: change what the rights allow, silently keep the rest (RFC 4314 §4)."""
        handle.require(Op.READ)
        if mode not in ("set", "add", "remove"):
            raise ValueError(mode)
        mask, keywords = F.parse_flags(list(flag_names))
        allowed, keywords_ok = settable(handle)
        update = FlagUpdate(mode, mask, keywords, allowed, keywords_ok, unchanged_since)
        return await self._store.messages.store(handle.mailbox.id, uids, update,
                                               seen_account(principal, handle.mailbox))

    async def mark_read(self, principal: Principal, handle: MailboxHandle,
                        uids: Sequence[int]) -> list[FlagRow]:
        """Reading a message's content sets ``\\Seen`` (RFC 9051 §6.4.5) where the reader may
        set it (``Op.SET_SEEN``); otherwise reading changes nothing (RFC 4314 §4). Returns the
        rows that changed."""
        if not uids or not handle.allows(Op.SET_SEEN):
            return []
        changed, _ = await self.store_flags(principal, handle, uids, "add", ["\\Seen"])
        return changed

    async def expunge(self, handle: MailboxHandle, uids: Sequence[int] | None = None,
                      ) -> list[int]:
        handle.require(Op.EXPUNGE)
        return await self._store.messages.expunge(handle.mailbox.id, uids)

    async def copy(self, principal: Principal, source: MailboxHandle, uids: Sequence[int],
                   target_name: str, *, move: bool = False) -> CopyResult:
        source.require(Op.MOVE_FROM if move else Op.COPY_FROM)
        target = await self._mailboxes.open(principal, target_name, Op.APPEND)
        mask, keywords_ok = settable(target)
        pairs = await self._store.messages.copy(
            source.mailbox.id, uids, target.mailbox.id, keep_mask=mask,
            keep_keywords=keywords_ok, src_seen_account=seen_account(principal, source.mailbox),
            dst_seen_account=seen_account(principal, target.mailbox), move=move)
        result = CopyResult(target.mailbox.uidvalidity, tuple(pairs))
        for listener in self.copy_listeners:
            try:
                listener(principal, source.mailbox, target.mailbox, result.pairs)
            except Exception:  # the copy is committed: a listener's trouble is only logged
                log.exception("copy listener failed")
        return result

    # -- read side for a selected mailbox (IMAP); the handle was checked at SELECT -----------
    async def uids(self, handle: MailboxHandle, after: int = 0) -> list[int]:
        handle.require(Op.READ)
        return await self._store.queries.uids(handle.mailbox.id, after)

    async def flags(self, principal: Principal, handle: MailboxHandle, uids: Sequence[int],
                    since_modseq: int = 0) -> list[FlagRow]:
        """Flags of ascending ``uids`` as this principal sees them (own ``\\Seen`` in shared
        folders)."""
        return await self._store.queries.flags(handle.mailbox.id, uids,
                                              seen_account(principal, handle.mailbox),
                                              since_modseq)

    async def flag_run(self, principal: Principal, handle: MailboxHandle, lo: int, hi: int,
                       modseqs: bool) -> FlagRun:
        """Flags of every message with a UID in ``lo..hi`` as this principal sees them, as
        columns: what ``UID FETCH 1:* (FLAGS)`` reads, without an object per message."""
        return await self._store.queries.flag_run(handle.mailbox.id, lo, hi,
                                                 seen_account(principal, handle.mailbox),
                                                 modseqs)

    async def records(self, principal: Principal, handle: MailboxHandle, uids: Sequence[int],
                      ) -> list[MessageRec]:
        handle.require(Op.READ)
        return await self._store.queries.records(handle.mailbox.id, uids,
                                                seen_account(principal, handle.mailbox))

    async def search_rows(self, principal: Principal, handle: MailboxHandle,
                          ) -> list[SearchRow]:
        return await self._store.queries.search_rows(handle.mailbox.id,
                                                    seen_account(principal, handle.mailbox))

    async def unseen_uids(self, principal: Principal, handle: MailboxHandle,
                          up_to: int = 2**63 - 1) -> list[int]:
        return await self._store.queries.unseen_uids(handle.mailbox.id,
                                                     seen_account(principal, handle.mailbox),
                                                     up_to)

    async def sorted_uids(self, handle: MailboxHandle, criteria: Sequence[tuple[str, bool]],
                          lo: int, hi: int) -> list[int]:
        """UIDs ``lo..hi`` ordered by SORT criteria (RFC 5256 §3 key names with a REVERSE
        flag each; ties by UID), from the keys stored with the messages."""
        handle.require(Op.READ)
        return await self._store.queries.sorted_uids(handle.mailbox.id, criteria, lo, hi)

    async def first_unseen(self, principal: Principal, handle: MailboxHandle) -> int | None:
        return await self._store.queries.first_unseen(handle.mailbox.id,
                                                      seen_account(principal, handle.mailbox))

    async def counts(self, principal: Principal, handle: MailboxHandle) -> MailboxCounts:
        return await self._store.queries.counts(handle.mailbox.id,
                                               seen_account(principal, handle.mailbox))

    async def text_search(self, handle: MailboxHandle, columns: Sequence[str], term: str,
                          ) -> set[int]:
        handle.require(Op.READ)
        return await self._store.queries.text_search(handle.mailbox.id, columns, term)

    async def header_text(self, handle: MailboxHandle, uids: Sequence[int]) -> dict[int, str]:
        return await self._store.queries.header_text(handle.mailbox.id, uids)

    async def expunged_since(self, handle: MailboxHandle, modseq: int) -> list[int]:
        return await self._store.messages.expunged_since(handle.mailbox.id, modseq)

    # -- \Recent (RFC 3501 §2.3.2): one session per message, kept in the store ---------------
    async def claim_recent(self, handle: MailboxHandle, up_to: int) -> tuple[int, int]:
        """Make the messages up to UID ``up_to`` not yet claimed recent for the caller's
        session alone; return (old mark, new mark): UIDs in between are the caller's. Only a
        read-write session claims (RFC 3501 §2.3.2); the gate checked READ at SELECT."""
        handle.require(Op.READ)
        return await self._store.mailboxes.claim_recent(handle.mailbox.id, up_to)

    async def recent_mark(self, handle: MailboxHandle) -> int:
        """UIDs above this are still recent (seen by no read-write session yet)."""
        return await self._store.mailboxes.recent_mark(handle.mailbox.id)

    async def recent_count(self, handle: MailboxHandle) -> int:
        """STATUS RECENT: messages no read-write session has been told about."""
        return await self._store.mailboxes.recent_count(handle.mailbox.id)

    async def refresh(self, handle: MailboxHandle) -> MailboxRec:
        """The mailbox record as it is now (UIDNEXT, HIGHESTMODSEQ, counts)."""
        rec = await self._store.mailboxes.get(handle.mailbox.id)
        if rec is None:
            raise MailError(Kind.NOT_FOUND, f"Mailbox doesn't exist: {handle.name}")
        return rec

    async def read_slice(self, rec: MessageRec | ContentRef, start: int, end: int) -> bytes:
        """Octets ``start:end`` of the stored message (prefix, then blob), read in a worker."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._slice, rec.prefix, rec.blob,
                                          start, end)

    async def read_whole(self, recs: Sequence[MessageRec]) -> list[bytes]:
        """Several whole (small) messages in one worker job: FETCH reads a batch this way
        rather than paying a thread hop per section."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._pool, lambda: [self._slice(r.prefix, r.blob, 0, r.size) for r in recs])

    def _slice(self, prefix: bytes, sha: str, start: int, end: int) -> bytes:
        plen = len(prefix)
        out = bytes(prefix[start:end]) if start < plen else b""
        b_start, b_end = max(start - plen, 0), end - plen
        if b_end > b_start:
            with self._store.blobs.open(sha) as fh:
                fh.seek(b_start)
                out += fh.read(b_end - b_start)
        return out

    def close(self) -> None:
        self._pool.shutdown(wait=False)
