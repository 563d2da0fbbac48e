"""Records: the values the store hands out and takes in, shared by every layer.

They live here, in the pure core, so that services, the MTA, the protocol front-ends and the
CLI can name them without importing the store (DESIGN.md §3 import rules). Records are frozen
where the store hands them out: a caller never changes a record, it asks a service to. The few
mutable ones (``NewEntry``, ``Outcome``) are commands being assembled for one transaction.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar


@dataclass(frozen=True, slots=True)
class BlobRef:
    sha256: str
    size: int


@dataclass(frozen=True, slots=True)
class DomainRec:
    id: int
    name: str
    created_at: int


@dataclass(frozen=True, slots=True)
class AccountRec:
    id: int
    domain_id: int
    address: str
    display_name: str
    password_hash: str
    scram: str
    quota_bytes: int | None
    used_bytes: int
    state: str
    created_at: int
    last_login: int | None


@dataclass(frozen=True, slots=True)
class AliasRec:
    id: int
    address: str
    targets: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class GroupRec:
    id: int
    address: str
    display_name: str
    members: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class MailboxRec:
    id: int
    owner_id: int | None
    domain_id: int | None
    name: str
    parent_id: int | None
    kind: str
    special_use: str
    address: str | None
    uidvalidity: int
    uidnext: int
    highestmodseq: int
    message_count: int
    total_size: int

    @property
    def is_public(self) -> bool:
        return self.owner_id is None


@dataclass(frozen=True, slots=True)
class AclEntry:
    identifier: str
    rights: str


@dataclass(frozen=True, slots=True)
class FolderLookup:
    """A folder looked up by name with what the access decision needs, read together
    (store/repo/mailboxes.py ``lookup``). ``owner_id`` is the namespace's owner: None for the
    public namespace, and for an owner address that names no account (``owner_found``)."""

    owner_found: bool
    owner_id: int | None
    owner_domain_id: int | None
    mailbox: MailboxRec | None
    acl: tuple[AclEntry, ...]


@dataclass(frozen=True, slots=True)
class MessageRec:
    mailbox_id: int
    uid: int
    modseq: int
    flags: int
    keywords: str
    internal_date: int
    size: int
    blob: str
    prefix: bytes
    meta: str


@dataclass(frozen=True, slots=True)
class ContentRef:
    """Where a message's octets are (per-delivery prefix, then the blob), without the stored
    MIME scan: what a reader of whole messages (POP3 RETR) needs, fetched per message."""

    uid: int
    size: int
    blob: str
    prefix: bytes


@dataclass(frozen=True, slots=True)
class NewMessage:
    """What append needs: content already durable in the blob store."""

    blob: BlobRef
    prefix: bytes
    meta: str
    flags: int
    keywords: str
    internal_date: int
    text: tuple[str, str] | None = None  # (headers, body) for the search index

    @property
    def size(self) -> int:
        return len(self.prefix) + self.blob.size


@dataclass(frozen=True, slots=True)
class FlagRow:
    uid: int
    modseq: int
    flags: int
    keywords: str


@dataclass(frozen=True, slots=True)
class FlagRun:
    """The flags of every message with a UID in a range, in UID order, as parallel lists
    (``UID FETCH 1:* (FLAGS)``): not one object per message, because at 100,000 messages
    building the objects costs more than the query. The UIDs themselves are summarised
    (``count``, ``uid_sum``): the caller knows which UIDs to expect and checks."""

    count: int
    uid_sum: int
    flags: list[int]
    modseqs: list[int]  # empty when not asked for
    keywords: dict[int, str]  # UID → keywords, only for the messages that have any


@dataclass(frozen=True, slots=True)
class SearchRow:
    """What non-text SEARCH keys look at, for one message."""

    uid: int
    modseq: int
    flags: int
    keywords: str
    internal_date: int
    size: int


@dataclass(frozen=True, slots=True)
class MailboxCounts:
    unseen: int
    deleted: int
    first_unseen_uid: int | None


@dataclass(frozen=True, slots=True)
class FlagUpdate:
    """A STORE request already reduced to what the caller may change."""

    mode: str  # "set" | "add" | "remove"
    mask: int
    keywords: tuple[str, ...]
    settable_mask: int  # system flags the caller may change
    keywords_allowed: bool
    unchanged_since: int | None = None  # RFC 7162 §3.1.3


@dataclass(frozen=True, slots=True)
class QueueRec:
    id: int
    sender: str
    recipients: tuple[str, ...]
    blob: str
    prefix: bytes
    size: int
    params: str
    state: str
    attempts: int
    next_attempt: int
    last_error: str
    created_at: int
    hold_domain: str | None = None  # the gateway domain it waits for (issue 7)

    def param_dict(self) -> dict[str, object]:
        """The JSON parameters kept with the entry: DSN (ret, envid, notify, orcpt), body,
        smtputf8, the submitter (auth), and the queue manager's own marks (remote, notice,
        warned, bounce, folder, quarantine)."""
        try:
            value = json.loads(self.params or "{}")
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}


@dataclass
class NewEntry:
    """One queue entry to create: its recipients share ``blob`` with the other entries."""

    sender: str
    recipients: Sequence[str]
    blob: BlobRef
    prefix: bytes
    params: dict[str, object] = field(default_factory=dict)
    hold_domain: str | None = None  # a gateway domain (ATRN may collect the entry)
    state: str = "ready"  # "atrn": held until collected, reviewed at next_attempt
    next_attempt: int | None = None


@dataclass(frozen=True, slots=True)
class MemoryRow:
    """One thing Sieve remembers for an account until ``expires`` (unix seconds): a vacation
    reply sent, a message the duplicate test saw, a redirect done (services/sieve/memory.py).
    ``key_hash`` hashes what is remembered; rows are written with the delivery's settlement."""

    account_id: int
    kind: str  # "vacation" | "duplicate" | "redirect"
    key_hash: str
    expires: int


Target = TypeVar("Target")


@dataclass
class Settlement(Generic[Target]):
    """How one delivery attempt ends: one transaction (store/repo/queue.py ``settle``).

    ``Target`` names where a local copy goes: a ``MailboxHandle`` from the access gate where
    the services settle (services/queue.py), its mailbox id where the store writes."""

    remaining: Sequence[str] = ()
    next_attempt: int | None = None
    error: str = ""
    params: dict[str, object] | None = None  # replaces the entry's params when given
    count_attempt: bool = True
    state: str = "ready"  # "active" while a split attempt is still going on
    local: Sequence[tuple[Target, NewMessage]] = ()
    notices: Sequence[NewEntry] = ()
    # Copies forwarded to remote alias and group members (services/forwarding.py), copies a
    # Sieve script redirected and its vacation replies: new entries, committed with the
    # local copies they go with.
    forwards: Sequence[NewEntry] = ()
    # What Sieve remembers from this delivery (services/sieve/memory.py), committed with it.
    memory: Sequence[MemoryRow] = ()


@dataclass(frozen=True, slots=True)
class GatewayRec:
    id: int
    domain: str
    deliver_to: str  # "host[:port]"; empty = hold for ATRN
    verify: str  # "none" | "minger" | "static"
    minger_host: str  # "host[:port]"; empty = the host of deliver_to
    minger_secret: str | None  # sealed
    unverifiable: str  # "accept" | "defer": when verification cannot be done
    created_at: int
    recipients: tuple[str, ...] = ()
    atrn_users: tuple[str, ...] = ()

    @property
    def holds(self) -> bool:
        return not self.deliver_to


@dataclass(frozen=True, slots=True)
class ProviderRec:
    id: int
    name: str
    host: str
    port: int
    tls: str  # "starttls" | "implicit" | "none"
    tls_verify: bool
    username: str
    password: str  # sealed
    domains: str  # comma-separated; empty = every domain the provider holds for us
    interval_s: int
    enabled: bool
    next_run: int
    failures: int
    last_success: int | None
    last_error: str
    last_error_at: int | None
    last_received: int
    created_at: int

    @property
    def domain_list(self) -> list[str]:
        return [d for d in self.domains.split(",") if d]


@dataclass(frozen=True, slots=True)
class RemoteRec:
    id: int
    account_id: int
    address: str
    host: str
    port: int
    tls: str  # "implicit" | "starttls" | "none"
    tls_verify: bool
    username: str
    password: str  # sealed (directory/secretbox.py)
    leave_on_server: bool
    delete_after_days: int | None
    interval_s: int
    folder: str
    enabled: bool
    next_run: int
    failures: int
    last_success: int | None
    last_error: str
    last_error_at: int | None
    last_fetched: int
    lease_owner: str
    lease_until: int
    created_at: int


@dataclass(frozen=True, slots=True)
class SeenRec:
    uidl: str
    first_seen: int
    skipped: bool


@dataclass(frozen=True, slots=True)
class AuditRec:
    """One administrative change: who, from where, what, to what, when."""

    id: int
    at: int
    actor: str
    origin: str
    action: str  # "user.add", "acl.set", …
    target: str  # "alice@example.com", "alice@example.com:Projects", …
    detail: dict[str, object]
