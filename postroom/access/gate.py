"""The gate itself: resolve a mailbox for a principal and an operation, or fail uniformly.

Visibility (Product decision 8): a principal holding none of ``l r i k x a`` gets exactly the
error a missing mailbox gets, built by ``mailbox_missing`` from the name the caller used, so no
reply, in any protocol, differs between "does not exist" and "exists but not for you".
"""

from __future__ import annotations

from dataclasses import dataclass

from postroom.access.ops import OP_RIGHTS, Op
from postroom.access.rights_eval import effective_rights
from postroom.core.errors import Kind, MailError
from postroom.core.principal import Principal
from postroom.core.records import MailboxRec
from postroom.core.rights import VISIBLE_RIGHTS, Rights
from postroom.store.sqlstore import SqlStore


def mailbox_missing(name: str) -> MailError:
    return MailError(Kind.NOT_FOUND, f"Mailbox doesn't exist: {name}")


def permission_denied(op: Op) -> MailError:
    return MailError(Kind.NO_PERM, f"Permission denied ({op.value} needs right "
                     f"{OP_RIGHTS[op].text()})")


@dataclass(frozen=True, slots=True)
class MailboxHandle:
    """A mailbox the principal may see, with the rights computed once for this request."""

    mailbox: MailboxRec
    rights: Rights
    name: str  # as the caller named it

    def allows(self, op: Op) -> bool:
        return OP_RIGHTS[op].satisfied_by(self.rights)

    def require(self, op: Op) -> None:
        if not self.allows(op):
            raise permission_denied(op)


class AccessGate:
    def __init__(self, store: SqlStore) -> None:
        self.store = store

    @staticmethod
    def require_namespace_root(principal: Principal, owner_id: int | None,
                               domain_id: int | None) -> None:
        """Creating (or renaming into) a top-level folder, where no parent ACL can decide:
        the namespace's owner, the operator and administrators in scope only."""
        if owner_id is not None and owner_id == principal.account_id:
            return
        if principal.system or principal.administers(domain_id):
            return
        raise MailError(Kind.NO_PERM, "Permission denied (top-level folders here are for the "
                        "owner and administrators)")

    @staticmethod
    def require_administrator(principal: Principal, domain_id: int | None, action: str) -> None:
        """Administrator-only actions (Product decision 7: apply to subfolders)."""
        if not (principal.system or principal.administers(domain_id)):
            raise MailError(Kind.NO_PERM, f"{action} is an administrator action")

    @staticmethod
    def _acl_irrelevant(principal: Principal, mailbox: MailboxRec) -> bool:
        """Owner and operator hold every right whatever the ACL says: skip the query."""
        return principal.system or (principal.account_id is not None
                                    and principal.account_id == mailbox.owner_id)

    async def rights(self, principal: Principal, mailbox: MailboxRec) -> Rights:
        acl = () if self._acl_irrelevant(principal, mailbox) else \
            await self.store.mailboxes.get_acl(mailbox.id)
        return effective_rights(principal, mailbox, acl)

    async def rights_many(self, principal: Principal, mailboxes: list[MailboxRec],
                          ) -> list[Rights]:
        """Rights on many mailboxes with at most one ACL query (LIST)."""
        need = [m.id for m in mailboxes if not self._acl_irrelevant(principal, m)]
        acls = await self.store.mailboxes.get_acls(need) if need else {}
        return [effective_rights(principal, m, acls.get(m.id, ())) for m in mailboxes]

    async def handle(self, principal: Principal, mailbox: MailboxRec | None, name: str,
                     op: Op | None = None) -> MailboxHandle:
        """Wrap ``mailbox`` for ``principal``; raise NOT_FOUND when invisible, NO_PERM when
        visible but ``op`` is not allowed."""
        if mailbox is None:
            raise mailbox_missing(name)
        rights = await self.rights(principal, mailbox)
        if op is Op.POST:
            # Posting goes to a published address, not to a name found by browsing: a sender
            # without ``p`` is refused, which reveals nothing the address did not already.
            handle = MailboxHandle(mailbox, rights, name)
            handle.require(op)
            return handle
        if not rights.has_any(VISIBLE_RIGHTS):
            raise mailbox_missing(name)
        handle = MailboxHandle(mailbox, rights, name)
        if op is not None:
            handle.require(op)
        return handle
