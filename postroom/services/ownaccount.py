"""Changes a user makes to their own account from the web (docs/web.md "Self-service").

Administrators change passwords through ``services/admin`` (UsersAdmin.set_password); a user
changing their own must prove the current password first, and the change ends every other
session of the account (services/websessions.py ``password_changed``: the one it was made in
stays). Audited like the administrators' changes.
"""

from __future__ import annotations

from postroom.core.actor import Actor
from postroom.core.errors import Kind, MailError, invalid
from postroom.directory.service import Directory
from postroom.services.audit import AuditLog
from postroom.services.websessions import WebSessions


class OwnAccount:
    def __init__(self, directory: Directory, sessions: WebSessions, audit: AuditLog) -> None:
        self._directory = directory
        self._sessions = sessions
        self._audit = audit

    async def change_password(self, actor: Actor, current: str, new: str,
                              session_token: str) -> int:
        """Set a new password after checking the current one (AUTH_FAILED when wrong); the
        other sessions end. How many ended."""
        p = actor.principal
        if p.account_id is None or p.address is None:
            raise invalid("only accounts have a password to change here")
        if await self._directory.authenticate(p.address, current, web=True) is None:
            raise MailError(Kind.AUTH_FAILED, "the current password is not right")
        if new == current:
            raise invalid("the new password is the same as the current one")
        await self._directory.set_password(p.address, new)
        ended = await self._sessions.password_changed(p.account_id, session_token)
        await self._audit.record(p, actor.origin, "user.passwd.self", p.address,
                                 {"sessions_ended": ended})
        return ended
