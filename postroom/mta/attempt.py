"""What one delivery attempt did, recipient by recipient.

Shared by local delivery (mta/queue.py), remote delivery (mta/outbound.py) and the ODMR
turnaround (mta/odmr.py); the queue manager's ``conclude`` turns an ``Attempt`` into the
entry's next state and the notices.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from postroom.access.gate import MailboxHandle
from postroom.core.records import MemoryRow, NewEntry, NewMessage, QueueRec
from postroom.mta.dsn import RecipientStatus


@dataclass
class Attempt:
    delivered: list[RecipientStatus] = field(default_factory=list)
    failed: list[RecipientStatus] = field(default_factory=list)
    deferred: dict[str, str] = field(default_factory=dict)  # recipient → reason
    # local copies by recipient: where the delivery service (through the gate) put them
    local_by_rcpt: dict[str, list[tuple[MailboxHandle, NewMessage]]] = field(
        default_factory=dict)
    # copies forwarded to remote members of an alias or group, by the recipient that reached
    # them (services/forwarding.py): queued with the local copies, in one transaction
    forwards_by_rcpt: dict[str, list[NewEntry]] = field(default_factory=dict)
    # what the recipient's Sieve scripts leave to remember (services/sieve/memory.py):
    # committed with its copies; its redirected copies and vacation replies are forwards
    memory_by_rcpt: dict[str, list[MemoryRow]] = field(default_factory=dict)
    state: str = "ready"
    # the mail log's words per recipient: what its Sieve scripts did (services/sieve/)
    notes: dict[str, str] = field(default_factory=dict)
    # members of an alias or group whose Sieve script refused the message (RFC 5429 §2.1),
    # by the recipient that reached them: a failure notice names each (the recipient as a
    # whole was delivered)
    refusals_by_rcpt: dict[str, list[RecipientStatus]] = field(default_factory=dict)

    @property
    def local(self) -> list[tuple[MailboxHandle, NewMessage]]:
        return [t for targets in self.local_by_rcpt.values() for t in targets]

    @property
    def forwards(self) -> list[NewEntry]:
        return [e for entries in self.forwards_by_rcpt.values() for e in entries]

    @property
    def memory(self) -> list[MemoryRow]:
        return [m for rows in self.memory_by_rcpt.values() for m in rows]

    @property
    def refusals(self) -> list[RecipientStatus]:
        return [s for statuses in self.refusals_by_rcpt.values() for s in statuses]


Conclude = Callable[[QueueRec, Attempt], Awaitable[None]]


def per_recipient(params: dict[str, object], key: str) -> dict[str, str]:
    table = params.get(key)
    return {str(k): str(v) for k, v in table.items()} if isinstance(table, dict) else {}


def wants(params: dict[str, object], recipient: str, kind: str) -> bool:
    """Does the sender want a ``kind`` notice for ``recipient`` (RFC 3461 §4.1)? Without
    NOTIFY: failures and delays, not successes."""
    notify = per_recipient(params, "notify").get(recipient)
    if notify is None:
        return kind in ("FAILURE", "DELAY")
    return kind in notify.split(",")
