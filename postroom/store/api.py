"""Records the store hands out, and the MetaStore seam the services depend on.

Records are frozen values: a service never changes a record, it asks the store to.
"""

from __future__ import annotations

from dataclasses import dataclass

from postroom.store.blobs import BlobRef

GLOBAL_SCOPE = 0  # admin_roles.domain_id for a global administrator
PUBLIC_OWNER = 0  # mailboxes.owner_key for public folders


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
