"""One session's view of its selected mailbox: sequence numbers, and changes not yet told.

Every session keeps its own seqnum → UID list (RFC 9051 §2.3.1.2): numbers change only when
*this* session sends EXPUNGE/VANISHED. Changes committed by others (other sessions, delivery,
the CLI) arrive from the change feed and wait here until a point where the RFC lets the server
announce them: new messages and flag changes after any command, expunges only after commands
other than FETCH, STORE and SEARCH (RFC 9051 §7.5.1, RFC 3501 §7.4.1), and at once in IDLE.

New messages are not taken from the events' UIDs: on any "added" event the view asks the store
for UIDs above the last one it knows. UIDs of one mailbox are allocated under its row lock, so
the store's answer is always a contiguous, ordered tail, even when events from different
PostgreSQL threads arrive out of order.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from postroom.access.gate import MailboxHandle
from postroom.access.ops import Op
from postroom.core.changes import (
    AclChanged,
    Change,
    FlagsChanged,
    MailboxDeleted,
    MessageAdded,
    MessagesExpunged,
)
from postroom.protocols.imap.wire import STAR, ParseError, SeqSet
from postroom.services.notify import Subscription

SYSTEM_FLAGS = "\\Answered \\Flagged \\Deleted \\Seen \\Draft"
KNOWN_KEYWORDS = "$Forwarded $MDNSent $Junk $NotJunk $Phishing"  # RFC 9051 §2.3.2


def read_only(handle: MailboxHandle) -> bool:
    """A mailbox the user can change nothing in opens READ-ONLY (RFC 4314 §5.1.1)."""
    return not any(handle.allows(op) for op in (Op.SET_SEEN, Op.SET_DELETED,
                                                Op.SET_OTHER_FLAGS, Op.APPEND, Op.EXPUNGE))


def permanent_flags(handle: MailboxHandle, keywords: list[str] | None = None) -> str:
    """PERMANENTFLAGS for ``handle``'s rights: the flags the user may set, and with ``w`` the
    keywords announced so far and ``\\*`` (RFC 9051 §7.1, RFC 4314 §4)."""
    names = []
    if handle.allows(Op.SET_OTHER_FLAGS):
        names += ["\\Answered", "\\Flagged", "\\Draft"]
    if handle.allows(Op.SET_DELETED):
        names.append("\\Deleted")
    if handle.allows(Op.SET_SEEN):
        names.append("\\Seen")
    if handle.allows(Op.SET_OTHER_FLAGS):
        names += [*(keywords if keywords is not None else KNOWN_KEYWORDS.split()), "\\*"]
    return " ".join(names)


def _known() -> dict[str, str]:
    return {k.casefold(): k for k in KNOWN_KEYWORDS.split()}


@dataclass
class Selected:
    handle: MailboxHandle
    readonly: bool
    uids: list[int]
    sub: Subscription
    uidvalidity: int
    highestmodseq: int
    recent: set[int] = field(default_factory=set)
    saved: list[int] = field(default_factory=list)  # SEARCHRES "$" (RFC 5182), as UIDs
    pending_expunge: set[int] = field(default_factory=set)
    pending_flags: set[int] = field(default_factory=set)
    added: bool = False
    resync: bool = False  # changes may have been missed: read them from the store
    acl_changed: bool = False
    examined: bool = False  # EXAMINE: read-only whatever the rights
    viewer: int | None = None  # the session's account (whose private \Seen changes matter)
    deleted: bool = False
    own_modseqs: set[int] = field(default_factory=set)
    gone_recently: set[int] = field(default_factory=set)
    # Keywords told to the client in FLAGS since SELECT (casefolded → as stored), and the
    # keyword strings of rows already checked against it (RFC 3501 §7.2.6; session.flag_list).
    keywords: dict[str, str] = field(default_factory=_known)
    checked_keywords: set[str] = field(default_factory=set)
    claims_recent: bool = False  # this session takes \Recent for new arrivals (cmd_select)

    def flags_line(self) -> bytes:
        """The untagged FLAGS response: system flags and every keyword announced so far."""
        return f"* FLAGS ({SYSTEM_FLAGS} {' '.join(self.keywords.values())})".encode()

    def permanent(self) -> str:
        return "" if self.readonly else permanent_flags(self.handle, list(self.keywords.values()))

    @property
    def exists(self) -> int:
        return len(self.uids)

    def last_uid(self) -> int:
        return self.uids[-1] if self.uids else 0

    def seq_of(self, uid: int) -> int | None:
        i = bisect.bisect_left(self.uids, uid)
        return i + 1 if i < len(self.uids) and self.uids[i] == uid else None

    def drain(self) -> None:
        """Move events from the feed into the pending sets."""
        if self.sub.overflowed:
            # Changes were missed (a slow session, or the cluster's feed connection was
            # lost): the session reads what changed since its MODSEQ (Session.catch_up)
            self.added = True
            self.resync = True
            self.acl_changed = True
            self.sub.overflowed = False
        for change in self.sub.pending():
            self.apply(change)

    def apply(self, change: Change) -> None:
        if isinstance(change, MessageAdded):
            if change.uid > self.last_uid():
                self.added = True
        elif isinstance(change, MessagesExpunged):
            for uid in change.uids:
                if self.seq_of(uid) is not None:
                    self.pending_expunge.add(uid)
                else:
                    self.gone_recently.add(uid)
                self.pending_flags.discard(uid)
        elif isinstance(change, FlagsChanged):
            if change.private_to is not None and change.private_to != self.viewer:
                self.highestmodseq = max(self.highestmodseq, change.modseq)
                return
            if change.modseq not in self.own_modseqs:
                self.pending_flags.update(change.uids)
            self.highestmodseq = max(self.highestmodseq, change.modseq)
        elif isinstance(change, AclChanged):
            self.acl_changed = True
        elif isinstance(change, MailboxDeleted):
            self.deleted = True

    def add_uids(self, new: list[int]) -> list[int]:
        """Append new UIDs (ascending, above the last); return those that were new. Which of
        them are \\Recent for this session is the store's answer (``Session.take_recent``)."""
        last = self.last_uid()
        fresh = [u for u in new if u > last and u not in self.gone_recently]
        self.uids.extend(fresh)
        return fresh

    def remove(self, uids: set[int]) -> list[int]:
        """Drop UIDs from the view; return their sequence numbers, highest first, as EXPUNGE
        responses must be computed one after another (RFC 9051 §7.5.1)."""
        seqs = sorted((s for u in uids if (s := self.seq_of(u)) is not None), reverse=True)
        for s in seqs:
            del self.uids[s - 1]
        self.pending_expunge -= uids
        self.recent -= uids
        if self.saved:
            self.saved = [u for u in self.saved if u not in uids]
        return seqs

    def resolve(self, seqset: SeqSet, uid: bool, strict: bool = True) -> list[int]:
        """UIDs (ascending, unique) named by a sequence set. A sequence number beyond EXISTS
        is BAD where it names messages to act on (FETCH, STORE, COPY: RFC 9051 §9
        seq-number), but only matches nothing as a SEARCH key (``strict=False``), as Dovecot
        answers: ``SEARCH RETURN () 1000`` is an empty result (RFC 4731 §3.1)."""
        if seqset.saved:
            return [u for u in self.saved if self.seq_of(u) is not None]
        uids = self.uids
        if uid:
            last = uids[-1] if uids else 0
            out: set[int] = set()
            spans = []
            for lo, hi in seqset.ranges:
                lo = last if lo == STAR else lo
                hi = last if hi == STAR else hi
                if lo > hi:
                    lo, hi = hi, lo
                spans.append((lo, hi))
            if len(spans) == 1:
                lo, hi = spans[0]
                return uids[bisect.bisect_left(uids, lo):bisect.bisect_right(uids, hi)]
            for lo, hi in spans:
                out.update(uids[bisect.bisect_left(uids, lo):bisect.bisect_right(uids, hi)])
            return sorted(out)
        count = len(uids)
        picked: set[int] = set()
        for lo, hi in seqset.ranges:
            lo = count if lo == STAR else lo
            hi = count if hi == STAR else hi
            if lo > hi:
                lo, hi = hi, lo
            if hi > count or lo < 1:
                if strict:
                    raise ParseError("no such message (sequence number beyond EXISTS)")
                lo, hi = max(lo, 1), min(hi, count)
                if lo > hi:
                    continue
            if len(seqset.ranges) == 1:
                return uids[lo - 1:hi]
            picked.update(uids[lo - 1:hi])
        return sorted(picked)
