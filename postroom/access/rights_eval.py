"""Effective rights: who gets what on one mailbox (specs.md §2.7 rule 5).

Order of evaluation:
1. The operator's CLI (system principal) and the owner of a personal folder: all rights
   (Product decision 2: the owner's rights cannot be reduced by ACL entries).
2. Otherwise: the union of every matching positive entry (the user, each of the user's groups,
   ``authenticated`` when logged in, ``anyone``) minus the union of every matching negative entry.
3. Administrators (global, or of the mailbox's domain) get ``a`` added, so they can read and
   change any ACL in scope over IMAP. Deliberately *not* every right, although DESIGN.md §4
   says "all": an administrator who wants to read a user's mail grants it to themselves first,
   which leaves a visible ACL entry instead of silent access. docs/sharing.md records this.
4. Groupware folders: ``s``, ``w``, ``p`` have no meaning and are removed (Product decision 3).
"""

from __future__ import annotations

from collections.abc import Iterable

from postroom.core.principal import Principal
from postroom.core.records import AclEntry, MailboxRec
from postroom.core.rights import ANYONE, AUTHENTICATED, GROUPWARE_UNUSED, Rights

GROUPWARE_KINDS = frozenset({"calendar", "contacts", "tasks", "notes", "journal",
                             "documents"})


def identifier_matches(identifier: str, principal: Principal) -> bool:
    if identifier == ANYONE:
        return True
    if identifier == AUTHENTICATED:
        return principal.authenticated
    if identifier.startswith("$"):
        return identifier in principal.groups
    return principal.address is not None and identifier == principal.address


def effective_rights(principal: Principal, mailbox: MailboxRec,
                     acl: Iterable[AclEntry]) -> Rights:
    if principal.system or (principal.account_id is not None
                            and principal.account_id == mailbox.owner_id):
        rights = Rights.all()
    else:
        granted: set[str] = set()
        denied: set[str] = set()
        for entry in acl:
            negative = entry.identifier.startswith("-")
            name = entry.identifier[1:] if negative else entry.identifier
            if identifier_matches(name, principal):
                (denied if negative else granted).update(entry.rights)
        rights = Rights(frozenset(granted - denied))
        if principal.administers(mailbox.domain_id):
            rights = rights | Rights(frozenset("a"))
    if mailbox.kind in GROUPWARE_KINDS:
        rights = Rights(rights.letters - GROUPWARE_UNUSED)
    return rights


def candidate_identifiers(principal: Principal) -> list[str]:
    """ACL identifiers under which something may be shared with ``principal``."""
    out = [ANYONE]
    if principal.authenticated:
        out.append(AUTHENTICATED)
    if principal.address:
        out.append(principal.address)
    out.extend(sorted(principal.groups))
    return out
