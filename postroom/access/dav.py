"""DAV's vocabulary for rights (RFC 3744 §3, specs.md §9.3): the one table that turns a folder's
effective rights into WebDAV privileges.

Front-ends never look at letters (DESIGN.md §9); web/dav/ asks ``dav_privileges`` for what to
show in ``DAV:current-user-privilege-set`` and services ask the gate (``Op.ITEM_*``) before they
act, so what a DAV client is shown and what it may do come from the same effective rights
that IMAP MYRIGHTS shows.

The mapping (issue 24; Product decision 3: ``s``, ``w``, ``p`` mean nothing in groupware):

======================  =============================  ===========================================
DAV privilege           from rights                    why
======================  =============================  ===========================================
read                    ``r``                          GET, PROPFIND of members, REPORT
bind                    ``i``                          PUT of a new member
unbind                  ``t`` and ``e``                DELETE of a member (the delete rights)
write-content           ``i`` + ``t`` + ``e``          an edit is insert-new plus delete-old
write-properties        ``a``                          collection name, colour, description
write                   all four above                 RFC 3744 §3.2 aggregate
read-acl, write-acl     ``a``                          who may see and change the sharing
read-current-user-      any visible right              a client may always ask what it may do
privilege-set
unlock                  ``i`` + ``t`` + ``e``          whoever may write may take a lock away
all                     every one of the above         RFC 3744 §3.12 aggregate
======================  =============================  ===========================================

No ``l`` (nor any other visible right): the resource does not exist (404), exactly as a missing
one; that is the gate's decision (``mailbox_missing``), not this table's.
"""

from __future__ import annotations

from postroom.core.rights import VISIBLE_RIGHTS, Rights

DAV_NS = "DAV:"

# privilege (local name in the DAV: namespace) -> letters it needs, all of them
PRIVILEGE_RIGHTS: dict[str, frozenset[str]] = {
    "read": frozenset("r"),
    "bind": frozenset("i"),
    "unbind": frozenset("te"),
    "write-content": frozenset("ite"),
    "write-properties": frozenset("a"),
    "read-acl": frozenset("a"),
    "write-acl": frozenset("a"),
    "unlock": frozenset("ite"),
}

# RFC 3744 §3.2, §3.12: aggregates, granted when every member is
AGGREGATES: dict[str, tuple[str, ...]] = {
    "write": ("write-properties", "write-content", "bind", "unbind"),
    "all": ("read", "write", "read-acl", "write-acl", "unlock",
            "read-current-user-privilege-set"),
}

# Shown in DAV:supported-privilege-set (RFC 3744 §5.3): aggregate -> members, in this order.
SUPPORTED_TREE: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("all", ("read", "write", "read-acl", "write-acl", "unlock",
             "read-current-user-privilege-set")),
    ("write", ("write-properties", "write-content", "bind", "unbind")),
)


def dav_privileges(rights: Rights) -> tuple[str, ...]:
    """The privileges (DAV: local names) the rights grant, aggregates included, in a stable
    order: what ``DAV:current-user-privilege-set`` lists (RFC 3744 §5.4)."""
    granted: list[str] = []
    if rights.has_any(VISIBLE_RIGHTS):
        granted.append("read-current-user-privilege-set")
    for name, letters in PRIVILEGE_RIGHTS.items():
        if rights.has_all(letters):
            granted.append(name)
    for name, members in AGGREGATES.items():
        if all(m in granted for m in members):
            granted.append(name)
    return tuple(granted)


def has_privilege(rights: Rights, privilege: str) -> bool:
    """One privilege, aggregates included (for ``DAV:need-privileges`` in a 403, RFC 3744
    §7.1.1)."""
    return privilege in dav_privileges(rights)
