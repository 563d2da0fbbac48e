"""What ActiveSync's services are built from (one EasContext per server, from app.py)."""

from __future__ import annotations

from dataclasses import dataclass

from postroom.access.gate import AccessGate
from postroom.config_eas import EasConfig
from postroom.directory.service import Directory
from postroom.services.acl import AclService
from postroom.services.audit import AuditLog
from postroom.services.dav import Dav
from postroom.services.mailboxes import MailboxService
from postroom.services.messages import MessageService
from postroom.services.notify import ChangeFeed
from postroom.services.submission import SubmissionService
from postroom.store.sqlstore import SqlStore


@dataclass(frozen=True, slots=True)
class EasContext:
    store: SqlStore
    gate: AccessGate
    directory: Directory
    mailboxes: MailboxService
    messages: MessageService
    acl: AclService
    submission: SubmissionService
    feed: ChangeFeed
    dav: Dav  # calendars, contacts, tasks are DAV items (services/dav/): one item, three
    #           protocols
    audit: AuditLog
    config: EasConfig
    hostname: str
    max_message_size: int
    # cluster.enabled: what must hold across nodes is kept in the database (a device's retry
    # may reach another node: SendMail ClientIds, services/eas/compose.py)
    shared: bool = False
