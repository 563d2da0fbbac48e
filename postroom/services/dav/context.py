"""What DAV's parts (services/dav/) are built from: kept apart from the package's ``__init__``
so that every part can import it without an import cycle."""

from __future__ import annotations

from dataclasses import dataclass

from postroom.access.gate import AccessGate
from postroom.config_dav import DavConfig
from postroom.directory.service import Directory
from postroom.services.acl import AclService
from postroom.services.mailboxes import MailboxService
from postroom.services.messages import MessageService
from postroom.services.notify import ChangeFeed
from postroom.services.submission import SubmissionService
from postroom.store.sqlstore import SqlStore


@dataclass(frozen=True, slots=True)
class DavContext:
    """The shared services, the store (for the queries only DAV needs, in store/repo/dav.py),
    and DAV's configuration."""

    store: SqlStore
    gate: AccessGate
    directory: Directory
    mailboxes: MailboxService
    messages: MessageService
    acl: AclService
    submission: SubmissionService
    feed: ChangeFeed
    config: DavConfig
    hostname: str
    max_message_size: int
