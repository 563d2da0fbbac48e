"""A user sharing their own folders: the self-service face of the ACL service.

The page under ``/me/sharing`` acts with the logged-in user's own principal, never as an
administrator, so the access gate decides exactly as it does for IMAP SETACL: the owner of a
personal folder holds every right (docs/sharing.md), anyone else needs ``a`` on the folder,
and a folder the user cannot see is NOT_FOUND. Changes are audited by the ACL service with the
web origin, the same record an IMAP SETACL writes.

"Apply to subfolders" is not offered here: it is an administrator's action
(services/acl.py ``apply_to_subfolders``).
"""

from __future__ import annotations

from postroom.core.actor import Actor
from postroom.core.errors import Kind, MailError
from postroom.core.records import AclEntry
from postroom.services.acl import AclService
from postroom.services.mailboxes import ListedMailbox, MailboxService


class OwnSharing:
    def __init__(self, mailboxes: MailboxService, acl: AclService) -> None:
        self._mailboxes = mailboxes
        self._acl = acl

    @staticmethod
    def _account(actor: Actor) -> None:
        if actor.principal.account_id is None:
            raise MailError(Kind.NO_PERM, "only accounts have folders to share")

    async def folders(self, actor: Actor) -> list[ListedMailbox]:
        """The user's own folders, with the rights the user holds on each."""
        self._account(actor)
        return await self._mailboxes.list(actor.principal, shared=False)

    async def acl(self, actor: Actor, folder: str) -> list[AclEntry]:
        self._account(actor)
        return await self._acl.get(actor.principal, folder)

    async def set(self, actor: Actor, folder: str, identifier: str,
                  rights: str) -> tuple[str, str]:
        """(canonical identifier, stored rights; "" = entry removed)."""
        self._account(actor)
        stored = await self._acl.set(actor.principal, folder, identifier, rights, actor.origin)
        return await self._acl.canonical_identifier(actor.principal, identifier), stored

    async def delete(self, actor: Actor, folder: str, identifier: str) -> None:
        self._account(actor)
        await self._acl.delete(actor.principal, folder, identifier, actor.origin)
