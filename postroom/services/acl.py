"""ACL administration: the one path for IMAP's SETACL/GETACL/..., the CLI and the admin API.

Who may read or change an ACL: holders of ``a`` (which administrators of the mailbox's domain
and global administrators always hold, see access.rights_eval). Identifiers are canonicalised
(Product decision 5) so that ``Bob``, ``bob`` and ``bob@example.com`` are one entry.
"""

from __future__ import annotations

from postroom.access.gate import MailboxHandle
from postroom.access.ops import Op
from postroom.core.address import Address
from postroom.core.errors import MailError, invalid
from postroom.core.principal import Principal
from postroom.core.records import AclEntry
from postroom.core.rights import ANYONE, AUTHENTICATED, Rights
from postroom.services.mailboxes import MailboxService
from postroom.store.sqlstore import SqlStore


class AclService:
    def __init__(self, store: SqlStore, mailboxes: MailboxService) -> None:
        self.store = store
        self.mailboxes = mailboxes

    async def canonical_identifier(self, principal: Principal, text: str) -> str:
        """``Bob`` → ``bob@<caller's domain>``, ``$Sales`` → ``$sales@<domain>``, ``-x`` kept."""
        raw = text.strip()
        negative = raw.startswith("-")
        if negative:
            raw = raw[1:]
        if not raw:
            raise invalid("empty ACL identifier")
        if raw.lower() in (ANYONE, AUTHENTICATED, "anonymous"):
            name = ANYONE if raw.lower() in (ANYONE, "anonymous") else AUTHENTICATED
            return ("-" if negative else "") + name
        group = raw.startswith("$")
        if group:
            raw = raw[1:]
        if "@" not in raw:
            if principal.domain_id is None:
                raise invalid(f"identifier {text!r} needs a domain (user@domain)")
            domain = await self.store.directory.domain_by_id(principal.domain_id)
            assert domain is not None
            raw = f"{raw}@{domain.name}"
        try:
            address = str(Address.parse(raw))
        except MailError:
            raise invalid(f"invalid ACL identifier {text!r}") from None
        return ("-" if negative else "") + ("$" if group else "") + address

    async def _admin_handle(self, principal: Principal, name: str) -> MailboxHandle:
        return await self.mailboxes.open(principal, name, Op.ADMIN)

    async def get(self, principal: Principal, name: str) -> list[AclEntry]:
        handle = await self._admin_handle(principal, name)
        return await self.store.mailboxes.get_acl(handle.mailbox.id)

    async def set(self, principal: Principal, name: str, identifier: str, rights: str,
                  ) -> Rights:
        """SETACL (RFC 4314 §3.1): ``+r`` adds, ``-r`` removes, plain replaces. Returns the
        stored rights; an empty result deletes the entry."""
        handle = await self._admin_handle(principal, name)
        ident = await self.canonical_identifier(principal, identifier)
        mode = rights[:1] if rights[:1] in ("+", "-") else ""
        wanted = Rights.parse(rights[1:] if mode else rights)
        current = Rights.none()
        for entry in await self.store.mailboxes.get_acl(handle.mailbox.id):
            if entry.identifier == ident:
                current = Rights.parse(entry.rights)
        new = current | wanted if mode == "+" else current - wanted if mode == "-" else wanted
        await self.store.mailboxes.set_acl(handle.mailbox.id, ident,
                                           new.storage() if new else None)
        return new

    async def delete(self, principal: Principal, name: str, identifier: str) -> None:
        handle = await self._admin_handle(principal, name)
        ident = await self.canonical_identifier(principal, identifier)
        await self.store.mailboxes.set_acl(handle.mailbox.id, ident, None)

    async def owner_address(self, principal: Principal, name: str) -> str | None:
        """LISTRIGHTS (needs ``a``): the owner's address, None for a public folder."""
        handle = await self._admin_handle(principal, name)
        owner_id = handle.mailbox.owner_id
        if owner_id is None:
            return None
        account = await self.store.directory.account_by_id(owner_id)
        return account.address if account else None

    async def myrights(self, principal: Principal, name: str) -> Rights:
        handle = await self.mailboxes.open(principal, name, Op.MYRIGHTS)
        return handle.rights

    async def apply_to_subfolders(self, principal: Principal, name: str) -> int:
        """Copy the folder's whole ACL onto every descendant (Product decision 7).

        An administrator action: needs ``a`` on the folder *and* on each descendant (which
        administrators hold everywhere in scope)."""
        handle = await self._admin_handle(principal, name)
        self.mailboxes.gate.require_administrator(principal, handle.mailbox.domain_id,
                                                  "apply to subfolders")
        entries = await self.store.mailboxes.get_acl(handle.mailbox.id)
        kids = await self.store.mailboxes.descendants(handle.mailbox.owner_id,
                                                      handle.mailbox.name)
        await self.store.mailboxes.replace_acl([k.id for k in kids], entries)
        return len(kids)
