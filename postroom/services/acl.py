"""ACL administration: the one path for IMAP's SETACL/GETACL/..., the CLI and the admin API.

Who may read or change an ACL: holders of ``a`` (which administrators of the mailbox's domain
and global administrators always hold, see access.rights_eval). Identifiers are canonicalised
(docs/sharing.md) so that ``Bob``, ``bob`` and ``bob@example.com`` are one entry. The rights
arithmetic of SETACL (``+``/``-``) is the access layer's (access/vocab.py); every change is
written to the audit log with who made it and from where.
"""

from __future__ import annotations

from postroom.access import vocab
from postroom.access.gate import AccessGate, MailboxHandle
from postroom.access.ops import Op
from postroom.core.actor import Origin
from postroom.core.address import Address
from postroom.core.errors import MailError, invalid
from postroom.core.principal import Principal
from postroom.core.records import AclEntry
from postroom.core.rights import ANYONE, AUTHENTICATED, Rights
from postroom.services.audit import AuditLog
from postroom.services.mailboxes import MailboxService
from postroom.store.sqlstore import SqlStore


class AclService:
    def __init__(self, store: SqlStore, gate: AccessGate, mailboxes: MailboxService,
                 audit: AuditLog) -> None:
        self._store = store
        self._gate = gate
        self._mailboxes = mailboxes
        self._audit = audit

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
            domain = await self._store.directory.domain_by_id(principal.domain_id)
            assert domain is not None
            raw = f"{raw}@{domain.name}"
        try:
            address = str(Address.parse(raw))
        except MailError:
            raise invalid(f"invalid ACL identifier {text!r}") from None
        return ("-" if negative else "") + ("$" if group else "") + address

    async def _admin_handle(self, principal: Principal, name: str) -> MailboxHandle:
        return await self._mailboxes.open(principal, name, Op.ADMIN)

    async def get(self, principal: Principal, name: str) -> list[AclEntry]:
        handle = await self._admin_handle(principal, name)
        return await self._store.mailboxes.get_acl(handle.id)

    async def set(self, principal: Principal, name: str, identifier: str, rights: str,
                  origin: Origin) -> str:
        """SETACL (RFC 4314 §3.1): ``+r`` adds, ``-r`` removes, plain replaces. Returns the
        stored rights; an empty result deletes the entry."""
        vocab.check_imap_rights(rights)
        handle = await self._admin_handle(principal, name)
        ident = await self.canonical_identifier(principal, identifier)
        await self._require_principal(ident)
        current = ""
        for entry in await self._store.mailboxes.get_acl(handle.id):
            if entry.identifier == ident:
                current = entry.rights
        new = vocab.apply_edit(current, rights)
        await self._store.mailboxes.set_acl(handle.id, ident, new or None)
        await self._audit.record(principal, origin, "acl.set", await self._where(handle),
                                 {"identifier": ident, "rights": new, "was": current})
        return new

    async def _require_principal(self, ident: str) -> None:
        """Refuse an identifier that names no account or group here (a typo would otherwise
        grant nothing, silently). Checked only after the caller proved the ``a`` right on the
        folder, so it tells nothing about folders; DELETEACL skips it so that entries of
        removed accounts can still be cleaned up."""
        bare = ident.removeprefix("-")
        if bare in (ANYONE, AUTHENTICATED):
            return
        if bare.startswith("$"):
            if await self._store.directory.get_group(bare[1:]) is None:
                raise invalid(f"no group {bare[1:]} on this server")
        elif await self._store.directory.get_account(bare) is None:
            raise invalid(f"no account {bare} on this server (ACL identifiers name accounts, "
                          "or groups as $group@domain)")

    async def delete(self, principal: Principal, name: str, identifier: str,
                     origin: Origin) -> None:
        handle = await self._admin_handle(principal, name)
        ident = await self.canonical_identifier(principal, identifier)
        await self._store.mailboxes.set_acl(handle.id, ident, None)
        await self._audit.record(principal, origin, "acl.delete", await self._where(handle),
                                 {"identifier": ident})

    async def owner_address(self, principal: Principal, name: str) -> str | None:
        """LISTRIGHTS (needs ``a``): the owner's address, None for a public folder."""
        handle = await self._admin_handle(principal, name)
        return await self._owner(handle)

    async def _owner(self, handle: MailboxHandle) -> str | None:
        owner_id = handle.mailbox.owner_id
        if owner_id is None:
            return None
        account = await self._store.directory.account_by_id(owner_id)
        return account.address if account else None

    async def _where(self, handle: MailboxHandle) -> str:
        """The folder as an audit record names it: ``owner:path`` or ``public:path``."""
        return f"{await self._owner(handle) or 'public'}:{handle.mailbox.name}"

    async def myrights(self, principal: Principal, name: str) -> Rights:
        """MYRIGHTS: the caller's rights, which the front-end translates (access/vocab.py)."""
        return (await self._mailboxes.open(principal, name, Op.MYRIGHTS)).rights

    async def apply_to_subfolders(self, principal: Principal, name: str,
                                  origin: Origin) -> int:
        """Copy the folder's whole ACL onto every descendant (docs/sharing.md).

        An administrator action: needs ``a`` on the folder *and* administrator rights over
        its domain (which administrators hold everywhere in scope)."""
        handle = await self._admin_handle(principal, name)
        self._gate.require_administrator(principal, handle.mailbox.domain_id,
                                         "apply to subfolders")
        entries = await self._store.mailboxes.get_acl(handle.id)
        kids = await self._store.mailboxes.descendants(handle.mailbox.owner_id,
                                                       handle.mailbox.name)
        await self._store.mailboxes.replace_acl([k.id for k in kids], entries)
        await self._audit.record(principal, origin, "acl.apply-to-subfolders",
                                 await self._where(handle), {"subfolders": len(kids)})
        return len(kids)
