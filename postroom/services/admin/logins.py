"""Administrators' side of web logins: reset an account's second factor, end its sessions.

For an account that lost its authenticator and its recovery codes, or one whose sessions must
end now (a stolen laptop). The usual checks (the account's domain administrators, global
administrators, the operator's CLI) and an audit record, like every admin operation; the CLI
(``postroom user 2fa-reset``, ``postroom user logout-everywhere``), and later the JSON API,
call these.
"""

from __future__ import annotations

from postroom.core.actor import Actor
from postroom.directory.service import Directory
from postroom.services.admin.base import AdminBase
from postroom.services.audit import AuditLog
from postroom.services.twofactor import TwoFactor
from postroom.services.websessions import WebSessions
from postroom.store.sqlstore import SqlStore


class LoginsAdmin(AdminBase):
    def __init__(self, store: SqlStore, directory: Directory, audit: AuditLog,
                 sessions: WebSessions, two_factor: TwoFactor) -> None:
        super().__init__(store, directory, audit)
        self._sessions = sessions
        self._two_factor = two_factor

    async def reset_two_factor(self, actor: Actor, address: str) -> bool:
        """Turn the account's second factor off (its recovery codes go too) and end its
        sessions; False when it had none (the sessions end anyway). At its next login the
        account enrols again if policy requires it."""
        rec = await self.require_account(actor, address, "resetting two-factor authentication",
                                         change=True)
        had = await self._two_factor.reset(rec.id)
        ended = await self._sessions.end_all(rec.id)
        await self.record(actor, "user.2fa.reset", rec.address,
                          {"had": had, "sessions": ended})
        return had

    async def end_sessions(self, actor: Actor, address: str) -> int:
        """End every web session of the account ("log out everywhere"); how many."""
        rec = await self.require_account(actor, address, "ending the sessions", change=True)
        ended = await self._sessions.end_all(rec.id)
        await self.record(actor, "user.logout-everywhere", rec.address, {"sessions": ended})
        return ended
