"""Administration of mail data: folders (an account's or public), their ACLs, the queue.

Folders are changed through the same mailbox and ACL services as IMAP, as the administrator
working in the account's namespace (admin/base.py ``acting_for``), so names read exactly as the
user sees them and every rule of the access gate still applies. ACL changes are audited by the
ACL service itself (the same record whether the change came from IMAP or from here).
"""

from __future__ import annotations

import builtins

from postroom.core.actor import Actor
from postroom.core.address import Address
from postroom.core.errors import invalid
from postroom.core.principal import Principal
from postroom.core.records import AclEntry, MailboxRec, QueueRec
from postroom.directory.service import Directory
from postroom.services import names
from postroom.services.acl import AclService
from postroom.services.admin.base import AdminBase
from postroom.services.audit import AuditLog
from postroom.services.mailboxes import MailboxService
from postroom.services.queue import QueueService
from postroom.store.sqlstore import SqlStore


class FoldersAdmin(AdminBase):
    def __init__(self, store: SqlStore, directory: Directory, audit: AuditLog,
                 mailboxes: MailboxService, acl: AclService) -> None:
        super().__init__(store, directory, audit)
        self._mailboxes = mailboxes
        self._acl = acl

    async def acting(self, actor: Actor, address: str | None) -> tuple[Principal, str, str]:
        """(principal to act as, prefix of folder names, audit target prefix) for an
        account's folders, or for public folders (``address`` None: global administrators
        only)."""
        if address is None:
            self.require_global(actor, "managing public folders")
            return Principal.operator(), names.PUBLIC + names.DELIMITER, "public"
        rec = await self.require_account(actor, address, "managing the folders",
                                         own=True, change=True)
        p = actor.principal
        if not (p.system or p.administers(rec.domain_id)):
            # self-service: the owner acts as themself, so the access gate applies exactly
            # the rules IMAP applies to them
            return p, "", rec.address
        return self.acting_for(rec), "", rec.address

    async def list(self, actor: Actor, address: str | None) -> list[MailboxRec]:
        principal, _, _ = await self.acting(actor, address)
        if address is None:
            return await self._mailboxes.public_folders(principal)
        return [item.mailbox for item in await self._mailboxes.list(principal, shared=False)]

    async def create(self, actor: Actor, address: str | None, folder: str, *,
                     kind: str = "mail", folder_address: str | None = None) -> MailboxRec:
        principal, prefix, target = await self.acting(actor, address)
        if folder_address is not None:
            folder_address = str(Address.parse(folder_address))
        rec = await self._mailboxes.create(principal, prefix + folder, kind=kind,
                                           address=folder_address)
        await self.record(actor, "folder.create", f"{target}:{folder}",
                          {"type": kind, "address": folder_address})
        return rec

    async def rename(self, actor: Actor, address: str | None, old: str, new: str) -> None:
        principal, prefix, target = await self.acting(actor, address)
        await self._mailboxes.rename(principal, prefix + old, prefix + new)
        await self.record(actor, "folder.rename", f"{target}:{old}", {"to": new})

    async def delete(self, actor: Actor, address: str | None, folder: str) -> None:
        principal, prefix, target = await self.acting(actor, address)
        await self._mailboxes.delete(principal, prefix + folder)
        await self.record(actor, "folder.delete", f"{target}:{folder}")

    # -- ACLs -----------------------------------------------------------------------------------
    async def acl(self, actor: Actor, address: str | None, folder: str) -> builtins.list[AclEntry]:
        principal, prefix, _ = await self.acting(actor, address)
        return await self._acl.get(principal, prefix + folder)

    async def set_acl(self, actor: Actor, address: str | None, folder: str, identifier: str,
                      rights: str) -> tuple[str, str]:
        """(canonical identifier, stored rights; "" = entry removed)."""
        principal, prefix, _ = await self.acting(actor, address)
        stored = await self._acl.set(principal, prefix + folder, identifier, rights,
                                     actor.origin)
        return await self._acl.canonical_identifier(principal, identifier), stored

    async def delete_acl(self, actor: Actor, address: str | None, folder: str,
                         identifier: str) -> None:
        principal, prefix, _ = await self.acting(actor, address)
        await self._acl.delete(principal, prefix + folder, identifier, actor.origin)

    async def apply_to_subfolders(self, actor: Actor, address: str | None,
                                  folder: str) -> int:
        principal, prefix, _ = await self.acting(actor, address)
        return await self._acl.apply_to_subfolders(principal, prefix + folder, actor.origin)


class QueueAdmin(AdminBase):
    """The mail queue: for global administrators (it holds every domain's mail)."""

    def __init__(self, store: SqlStore, directory: Directory, audit: AuditLog,
                 queue: QueueService) -> None:
        super().__init__(store, directory, audit)
        self._queue = queue

    async def list(self, actor: Actor) -> list[QueueRec]:
        self.require_global(actor, "the queue")
        return await self._queue.list()

    async def page(self, actor: Actor, *, state: str = "", text: str = "", offset: int = 0,
                   limit: int = 100) -> tuple[int, builtins.list[QueueRec]]:
        """(entries matching, one page of them): the WebAdmin queue viewer's read."""
        self.require_global(actor, "the queue")
        return await self._queue.page(state=state, text=text, offset=offset, limit=limit)

    async def get(self, actor: Actor, entry_id: int) -> QueueRec:
        self.require_global(actor, "the queue")
        return await self._queue.get(entry_id)

    async def hold(self, actor: Actor, entry_id: int) -> None:
        self.require_global(actor, "the queue")
        await self._queue.set_state(entry_id, "hold")
        await self.record(actor, "queue.hold", str(entry_id))

    async def release(self, actor: Actor, entry_id: int, *, retry: bool = False) -> None:
        """Due at once. ``retry`` refuses a held entry (release it instead)."""
        self.require_global(actor, "the queue")
        rec = await self._queue.get(entry_id)
        if retry and rec.state == "hold":
            raise invalid(f"queue entry {entry_id} is held; use 'queue release'")
        await self._queue.set_state(entry_id, "ready")
        await self.record(actor, "queue.retry" if retry else "queue.release", str(entry_id))

    async def delete(self, actor: Actor, entry_id: int) -> None:
        self.require_global(actor, "the queue")
        await self._queue.delete(entry_id)
        await self.record(actor, "queue.delete", str(entry_id))

    async def bounce(self, actor: Actor, entry_id: int) -> QueueRec:
        """Return the entry to its sender (done by the server's queue manager)."""
        self.require_global(actor, "the queue")
        rec = await self._queue.get(entry_id)
        params = rec.param_dict()
        params["bounce"] = True
        await self._queue.update_params(entry_id, params)
        await self.record(actor, "queue.bounce", str(entry_id))
        return rec

    def header_section(self, actor: Actor, rec: QueueRec, most: int = 65536) -> bytes:
        """Blocking: the queued message's header section (up to the empty line, RFC 5322
        §2.1), at most ``most`` octets: what the queue viewer shows, without reading a large
        body."""
        self.require_global(actor, "the queue")
        with self._queue.open(rec) as fh:
            head = fh.read(most)
        end = head.find(b"\r\n\r\n")
        if end < 0:
            end = head.find(b"\n\n")
        return head if end < 0 else head[:end]

    def open_content(self, actor: Actor, rec: QueueRec) -> bytes:
        """Blocking: a queued message as it will be sent (for ``queue show --content``)."""
        self.require_global(actor, "the queue")
        with self._queue.open(rec) as fh:
            return fh.read()
