"""Administration as services: one implementation, three faces (the CLI, the JSON API,
WebAdmin).

Every administrative operation checks who may act (global administrators, domain
administrators in their own domains, the operator's CLI), validates, changes, and writes an
audit record (services/audit.py: who, what, when, from where). The faces only translate: a CLI
command or an API endpoint parses its input, calls one method here with an ``Actor``, and
formats the result.
"""

from __future__ import annotations

from collections.abc import Mapping

from postroom import __version__
from postroom.config import Config
from postroom.core.actor import Actor
from postroom.core.records import AuditRec
from postroom.directory.service import Directory
from postroom.services.acl import AclService
from postroom.services.admin.directory import (
    AliasesAdmin,
    DomainsAdmin,
    GroupsAdmin,
    RolesAdmin,
    UsersAdmin,
)
from postroom.services.admin.imports import ImportJobs
from postroom.services.admin.logins import LoginsAdmin
from postroom.services.admin.mail import FoldersAdmin, QueueAdmin
from postroom.services.admin.relay import AtrnAdmin, GatewaysAdmin, MultipopAdmin
from postroom.services.admin.screening import ScreeningAdmin
from postroom.services.admin.signing import SigningAdmin
from postroom.services.atrn import AtrnProviders
from postroom.services.audit import AuditLog
from postroom.services.cluster import ClusterStatus, ClusterView
from postroom.services.filterstatus import DaemonStatus, filter_status
from postroom.services.gateways import Gateways
from postroom.services.mailboxes import MailboxService
from postroom.services.multipop import MultipopAccounts
from postroom.services.queue import QueueService
from postroom.services.screening import Screening
from postroom.store.sqlstore import SqlStore


class Admin:
    def __init__(self, store: SqlStore, directory: Directory, mailboxes: MailboxService,
                 acl: AclService, queue: QueueService, gateways: Gateways,
                 multipop: MultipopAccounts, atrn: AtrnProviders, audit: AuditLog,
                 screening: Screening, signing: SigningAdmin, logins: LoginsAdmin,
                 cfg: Config | None = None) -> None:
        base = (store, directory, audit)
        self.domains = DomainsAdmin(*base, gateways)
        self.users = UsersAdmin(*base, mailboxes)
        self.aliases = AliasesAdmin(*base)
        self.groups = GroupsAdmin(*base)
        self.roles = RolesAdmin(*base)
        self.folders = FoldersAdmin(*base, mailboxes, acl)
        self.queue = QueueAdmin(*base, queue)
        self.gateways = GatewaysAdmin(*base, gateways, queue)
        self.atrn = AtrnAdmin(*base, atrn)
        self.multipop = MultipopAdmin(*base, multipop)
        self.screening = ScreeningAdmin(*base, screening)
        self.signing = signing  # DKIM and BATV keys, DNS advice (built with their services)
        self.logins = logins  # reset an account's second factor, end its web sessions
        self.imports = ImportJobs(self.users)  # bulk imports in the background (web pages)
        self._audit = audit
        self._cfg = cfg
        self.cluster: ClusterView | None = None  # the nodes (services/cluster.py), set by app

    async def cluster_status(self, actor: Actor) -> ClusterStatus:
        """What ``postroom cluster status`` shows: for global administrators."""
        DomainsAdmin.require_global(actor, "the cluster's status")
        assert self.cluster is not None
        return await self.cluster.status()

    async def note(self, actor: Actor, action: str, target: str,
                   detail: Mapping[str, object] | None = None) -> None:
        """An audit record for an operation done elsewhere (an import, an export)."""
        await self._audit.record(actor.principal, actor.origin, action, target, detail)

    async def audit(self, actor: Actor, *, limit: int = 100, since: int | None = None,
                    who: str | None = None, action: str | None = None,
                    target: str | None = None, before: int | None = None) -> list[AuditRec]:
        """The audit log, newest first: for global administrators (``before``: a record id,
        to page back)."""
        DomainsAdmin.require_global(actor, "the audit log")
        return await self._audit.list(limit=limit, since=since, actor=who, action=action,
                                      target=target, before=before)

    async def status(self, actor: Actor) -> tuple[str, list[str], list[DaemonStatus]]:
        """(version, the pipeline's checks, spamd's and clamd's answers), as ``postroom
        status`` shows them: for global administrators."""
        DomainsAdmin.require_global(actor, "the server's status")
        if self._cfg is None:
            return __version__, [], []
        return (__version__, list(self._cfg.pipeline.checks),
                await filter_status(self._cfg, timeout=2.0))
