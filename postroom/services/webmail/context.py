"""What webmail's parts (services/webmail/) are built from: kept apart from the package's
``__init__`` so that every part can import it without an import cycle."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from postroom.access.gate import AccessGate
from postroom.config_webmail import WebmailConfig
from postroom.directory.service import Directory
from postroom.services.acl import AclService
from postroom.services.mailboxes import MailboxService
from postroom.services.messages import MessageService
from postroom.services.multipop import MultipopAccounts
from postroom.services.notify import ChangeFeed
from postroom.services.senders import SenderRules
from postroom.services.spamlearn import SpamLearner
from postroom.services.submission import SubmissionService
from postroom.store.sqlstore import SqlStore


@dataclass(frozen=True, slots=True)
class WebmailContext:
    """What the parts are built from: the shared services, the store (for the queries only
    webmail needs, in store/repo/), and webmail's configuration."""

    store: SqlStore
    gate: AccessGate
    directory: Directory
    mailboxes: MailboxService
    messages: MessageService
    acl: AclService
    submission: SubmissionService
    senders: SenderRules
    feed: ChangeFeed
    multipop: MultipopAccounts
    learner: SpamLearner | None
    config: WebmailConfig
    data_path: Path  # the server's data directory: uploads are staged under it
    hostname: str  # the server's host name (Message-IDs, Received)
    max_message_size: int  # limits.max_message_size
    # the authserv-id our Authentication-Results fields carry (RFC 8601 §2.5;
    # mailauth.authserv_id, else the host name): the only ones webmail believes
    authserv_id: str = ""
    # cluster.enabled: compose sessions live in the database, so that any node serves any
    # request (services/webmail/compose_shared.py); otherwise files under data_path
    shared_compose: bool = False

    @property
    def trusted_authserv_id(self) -> str:
        return self.authserv_id or self.hostname
