"""Change events produced by store transactions and published by the change feed after commit.

They are plain values; a subscriber (an IMAP session in IDLE, later webmail and ActiveSync)
filters on ``mailbox_id`` and applies them to its own view.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class MessageAdded:
    mailbox_id: int
    uid: int
    modseq: int


@dataclass(frozen=True, slots=True)
class MessagesExpunged:
    mailbox_id: int
    uids: tuple[int, ...]
    modseq: int


@dataclass(frozen=True, slots=True)
class FlagsChanged:
    mailbox_id: int
    uids: tuple[int, ...]
    modseq: int
    # Set when only one reader's private \Seen changed (Product decision 6): the change is
    # that account's alone, and other sessions are not told of it.
    private_to: int | None = None


@dataclass(frozen=True, slots=True)
class MailboxCreated:
    mailbox_id: int


@dataclass(frozen=True, slots=True)
class MailboxDeleted:
    mailbox_id: int


@dataclass(frozen=True, slots=True)
class MailboxRenamed:
    mailbox_id: int
    old_name: str
    new_name: str


@dataclass(frozen=True, slots=True)
class AclChanged:
    mailbox_id: int


Change = (MessageAdded | MessagesExpunged | FlagsChanged | MailboxCreated | MailboxDeleted
          | MailboxRenamed | AclChanged)
