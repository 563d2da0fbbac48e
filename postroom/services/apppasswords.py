"""App passwords: a separate password per mail client, for accounts with two-factor
authentication (whose own password then no longer works for IMAP, POP3 and SMTP) and for
anyone who wants to revoke one device without changing the password (docs/web.md).

Each is shown once when made and stored as an argon2id hash with a 4-character hint that
picks the row at login (directory/passwords.py explains the format). The login check lives in
the directory (directory/service.py ``authenticate``), not in the front-ends, so every
protocol and every SASL mechanism that checks a password takes them alike; revoking deletes
the row, and the next login no longer finds it (the login cache is keyed by the row, so it
cannot remember a revoked one).
"""

from __future__ import annotations

import asyncio
import time

from postroom.core.actor import Actor, own_account
from postroom.core.errors import Kind, MailError, invalid, not_found
from postroom.core.logins import AppPasswordRec
from postroom.directory import passwords
from postroom.services.audit import AuditLog
from postroom.store.repo.logins import LoginsRepo

MAX_NAME = 60
FOR_ACCOUNTS = "app passwords are for accounts"


class AppPasswords:
    def __init__(self, repo: LoginsRepo, audit: AuditLog, most: int) -> None:
        self._repo = repo
        self._audit = audit
        self.most = most

    async def create(self, actor: Actor, name: str) -> tuple[AppPasswordRec, str]:
        """A new app password named ``name`` (the device it is for); the record and the
        password, which is never shown again."""
        account_id, address = own_account(actor, FOR_ACCOUNTS)
        name = clean_name(name)
        password = passwords.new_app_password()
        raw = passwords.app_password_form(password)
        assert raw is not None
        hashed = await asyncio.get_running_loop().run_in_executor(
            None, passwords.hash_password, raw)
        rec = await self._repo.add_app_password(account_id, name, raw[:passwords.APP_HINT],
                                                hashed, int(time.time()), self.most)
        if rec is None:
            raise MailError(Kind.LIMIT, f"an account can have at most {self.most} app "
                                        "passwords; revoke one first")
        await self._audit.record(actor.principal, actor.origin, "user.app-password.add",
                                 address, {"name": name})
        return rec, password

    async def list(self, actor: Actor) -> list[AppPasswordRec]:
        account_id, _ = own_account(actor, FOR_ACCOUNTS)
        return await self._repo.app_passwords(account_id)

    async def revoke(self, actor: Actor, app_id: int) -> None:
        account_id, address = own_account(actor, FOR_ACCOUNTS)
        if not 0 < app_id < 1 << 63 or \
                not await self._repo.remove_app_password(account_id, app_id):  # BIGINT range
            raise not_found("no such app password")
        await self._audit.record(actor.principal, actor.origin, "user.app-password.remove",
                                 address, {"id": app_id})


def clean_name(name: str) -> str:
    """An app password's name as stored (spaces folded); INVALID when empty or unfit. The web
    page checks it before asking for the password, so a typo costs no code and no attempt."""
    name = " ".join(name.split())
    if not name:
        raise invalid("give the app password a name (the device or program it is for)")
    if len(name) > MAX_NAME or not name.isprintable():
        raise invalid(f"the name must be at most {MAX_NAME} printable characters")
    return name
