"""What protocol front-ends are given: the services they call, never the store.

IMAP, POP3, SMTP, ODMR (and later the web front-ends) receive one ``MailServices``; everything
they do to mail data goes through these services, which go through the access gate. The
composition root (app.py) builds it; a test can build it the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from postroom.obs.metrics import Metrics
from postroom.services.acl import AclService
from postroom.services.auth import AuthService
from postroom.services.gateways import Gateways
from postroom.services.mailboxes import MailboxService
from postroom.services.maildrop import MaildropService
from postroom.services.messages import MessageService
from postroom.services.notify import ChangeFeed
from postroom.services.screening import Offences
from postroom.services.submission import SubmissionService


@dataclass(frozen=True, slots=True)
class MailServices:
    auth: AuthService  # logins, SASL, throttling
    mailboxes: MailboxService  # folders: open (the gate), list, create, rename, delete
    messages: MessageService  # messages in an opened folder
    acl: AclService  # RFC 4314 ACLs
    notify: ChangeFeed  # changes in opened folders (IDLE, POP3 locks, push)
    maildrops: MaildropService  # POP3's view of an INBOX
    submission: SubmissionService  # accepting mail (SMTP, later webmail and ActiveSync)
    gateways: Gateways  # ODMR: which gateway domains an account may collect
    screening: Offences  # dynamic screening: sessions report protocol abuse
    metrics: Metrics = field(default_factory=Metrics)  # counters next to the mail log's lines
