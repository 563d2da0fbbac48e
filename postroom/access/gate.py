"""The gate itself: resolve a mailbox for a principal and an operation, or fail uniformly.

Visibility (docs/sharing.md, "Visibility"): a principal holding none of ``l r i k x a``
gets exactly the error a missing mailbox gets, built by ``mailbox_missing`` from the name the
caller used, so no reply, in any protocol, differs between "does not exist" and "exists but not
for you".

The same goes for the time a reply takes: ``decide`` works on a folder looked up together with
its ACL and evaluates the rights whether or not the folder exists (against a stand-in when it
does not), so that a hidden folder, a missing one and a missing owner cost the same work; the
lookup (store/repo/mailboxes.py ``lookup``) runs the same statements on each path.

A ``MailboxHandle`` is the only key to a mailbox's contents, and only this module can make one
(Dovecot wraps the storage calls in its ACL plugin for the same reason: no caller can forget the
check). Its constructor demands a token private to this module, and
tests/unit/test_import_rules.py checks that no other module calls it; every service that reads
or writes messages takes a handle, so every path to mail data passed through ``handle()``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from postroom.access.ops import OP_RIGHTS, Op
from postroom.access.rights_eval import effective_rights
from postroom.core.errors import Kind, MailError
from postroom.core.principal import Principal
from postroom.core.records import AclEntry, MailboxRec
from postroom.core.rights import VISIBLE_RIGHTS, Rights

# What ``decide`` evaluates the rights on when no folder has the name: a mail folder of no owner
# and no domain, so the evaluation walks the (empty) ACL as it walks a hidden folder's.
_NOWHERE = MailboxRec(id=0, owner_id=None, domain_id=None, name="", parent_id=None, kind="mail",
                      special_use="", address=None, uidvalidity=0, uidnext=0, highestmodseq=0,
                      message_count=0, total_size=0)


def mailbox_missing(name: str) -> MailError:
    return MailError(Kind.NOT_FOUND, f"Mailbox doesn't exist: {name}")


def permission_denied(op: Op) -> MailError:
    return MailError(Kind.NO_PERM, f"Permission denied ({op.value} needs right "
                     f"{OP_RIGHTS[op].text()})")


_GATE_TOKEN = object()


class MailboxHandle:
    """A mailbox the principal may use, with the rights computed once for this request.

    Immutable; made only by ``AccessGate`` (any other caller gets a TypeError)."""

    __slots__ = ("mailbox", "name", "rights")
    mailbox: MailboxRec
    rights: Rights
    name: str  # as the caller named it

    def __init__(self, mailbox: MailboxRec, rights: Rights, name: str, *,
                 token: object = None) -> None:
        if token is not _GATE_TOKEN:
            raise TypeError("a MailboxHandle is made by the access gate only")
        object.__setattr__(self, "mailbox", mailbox)
        object.__setattr__(self, "rights", rights)
        object.__setattr__(self, "name", name)

    def __setattr__(self, key: str, value: Any) -> None:
        raise AttributeError("MailboxHandle is immutable")

    def __repr__(self) -> str:
        return f"MailboxHandle({self.name!r}, id={self.mailbox.id}, rights={self.rights})"

    @property
    def id(self) -> int:
        return self.mailbox.id

    def allows(self, op: Op) -> bool:
        return OP_RIGHTS[op].satisfied_by(self.rights)

    def require(self, op: Op) -> None:
        if not self.allows(op):
            raise permission_denied(op)


class AclSource(Protocol):
    """Where the gate reads ACL entries (the store's mailbox repository)."""

    async def get_acl(self, mailbox_id: int) -> list[AclEntry]: ...

    async def get_acls(self, mailbox_ids: list[int]) -> dict[int, list[AclEntry]]: ...


class AccessGate:
    def __init__(self, acls: AclSource) -> None:
        self._acls = acls

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
        """Administrator-only actions: global administrators, administrators of the domain,
        and the operator's CLI (docs/sharing.md: applying an ACL to subfolders)."""
        if not (principal.system or principal.administers(domain_id)):
            raise MailError(Kind.NO_PERM, f"{action} is an administrator action")

    @staticmethod
    def acl_needed(principal: Principal, owner_id: int | None) -> bool:
        """Only others' and public folders need their ACL read: owner and operator hold every
        right whatever it says."""
        return not (principal.system or (principal.account_id is not None
                                         and principal.account_id == owner_id))

    @classmethod
    def _acl_irrelevant(cls, principal: Principal, mailbox: MailboxRec) -> bool:
        return not cls.acl_needed(principal, mailbox.owner_id)

    async def rights(self, principal: Principal, mailbox: MailboxRec) -> Rights:
        acl = () if self._acl_irrelevant(principal, mailbox) else \
            await self._acls.get_acl(mailbox.id)
        return effective_rights(principal, mailbox, acl)

    @staticmethod
    def sees(principal: Principal, mailbox: MailboxRec | None,
             acl: Sequence[AclEntry]) -> bool:
        """Does ``mailbox`` (read with its ``acl``, or None) exist for ``principal``? The
        rights are evaluated whether or not it exists, as ``decide`` does."""
        rights = effective_rights(principal, mailbox or _NOWHERE, acl)
        return mailbox is not None and rights.has_any(VISIBLE_RIGHTS)

    async def visible(self, principal: Principal, mailbox: MailboxRec) -> bool:
        """Does the mailbox exist for ``principal`` at all (any of ``l r i k x a``)?"""
        return (await self.rights(principal, mailbox)).has_any(VISIBLE_RIGHTS)

    async def listed(self, principal: Principal, mailboxes: Sequence[MailboxRec],
                     names: Sequence[str]) -> list[MailboxHandle]:
        """Handles for the mailboxes ``principal`` may see in a listing (``Op.LIST``), in
        order, with at most one ACL query (LIST over many folders)."""
        need = [m.id for m in mailboxes if not self._acl_irrelevant(principal, m)]
        acls = await self._acls.get_acls(need) if need else {}
        out = []
        for mailbox, name in zip(mailboxes, names, strict=True):
            rights = effective_rights(principal, mailbox, acls.get(mailbox.id, ()))
            if OP_RIGHTS[Op.LIST].satisfied_by(rights):
                out.append(MailboxHandle(mailbox, rights, name, token=_GATE_TOKEN))
        return out

    async def handle(self, principal: Principal, mailbox: MailboxRec | None, name: str,
                     op: Op | None = None) -> MailboxHandle:
        """Wrap ``mailbox`` for ``principal``; raise NOT_FOUND when invisible, NO_PERM when
        visible but ``op`` is not allowed."""
        if mailbox is None:
            raise mailbox_missing(name)
        return self._judge(mailbox, await self.rights(principal, mailbox), name, op)

    def decide(self, principal: Principal, mailbox: MailboxRec | None,
               acl: Sequence[AclEntry], name: str, op: Op | None = None) -> MailboxHandle:
        """As ``handle``, for a folder looked up by a name the caller chose, with its ACL read
        in the same lookup (``acl``: its entries, none when the folder does not exist or
        ``acl_needed`` said not to read them). The rights are evaluated on every path, on a
        stand-in when there is no folder, before the one error both paths share."""
        rights = effective_rights(principal, mailbox or _NOWHERE, acl)
        if mailbox is None:
            raise mailbox_missing(name)
        return self._judge(mailbox, rights, name, op)

    @staticmethod
    def _judge(mailbox: MailboxRec, rights: Rights, name: str, op: Op | None) -> MailboxHandle:
        handle = MailboxHandle(mailbox, rights, name, token=_GATE_TOKEN)
        if op in (Op.FILE_INSERT, Op.FILE_POST):
            # A Sieve fileinto (RFC 5228 §4.1) and mailboxexists (RFC 5490 §3.1): a folder
            # the script's owner may not file into does not exist for the script, whatever
            # else the owner may do with it, so neither the run nor its log tells the two
            # apart.
            if not handle.allows(op):
                raise mailbox_missing(name)
            return handle
        if op in (Op.POST, Op.DELIVER):
            # Posting goes to a published address, and delivery to a recipient the directory
            # resolved, not to a name found by browsing: a refusal reveals nothing the
            # address did not already.
            handle.require(op)
            return handle
        if not rights.has_any(VISIBLE_RIGHTS):
            raise mailbox_missing(name)
        if op is not None:
            handle.require(op)
        return handle
