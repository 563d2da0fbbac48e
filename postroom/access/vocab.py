"""IMAP's vocabulary for rights (RFC 4314): the one place rights become letters on the wire.

Front-ends never look at letters themselves (DESIGN.md §9: one vocabulary per protocol, each a
translation of the same effective rights, all in ``access/``). IMAP's is the RFC 4314 letter
set, shown with the obsolete RFC 2086 ``c`` and ``d`` added whenever one of their members is
present (RFC 4314 §2.1.1, grouping A), so both old and new clients read it.
"""

from __future__ import annotations

from postroom.core.rights import ALL_LETTERS, Rights


def imap_rights(rights: Rights) -> str:
    """Rights as GETACL/MYRIGHTS show them: ``lrswipkxtea`` order, plus ``c``/``d``."""
    return rights.display()


def imap_stored(stored: str) -> str:
    """An ACL entry's stored rights as IMAP shows them."""
    return Rights.parse(stored).display()


def check_imap_rights(text: str) -> str:
    """``[+|-]rights`` as SETACL takes it (RFC 4314 §3.1); INVALID for an unknown or
    upper-case letter, so a front-end can answer BAD before it looks at any mailbox."""
    Rights.parse(text[1:] if text[:1] in ("+", "-") else text)
    return text


def apply_edit(current: str, request: str) -> str:
    """The stored rights after SETACL ``request`` (RFC 4314 §3.1): ``+r`` adds, ``-r``
    removes, plain text replaces. Empty means "no entry"."""
    mode = request[:1] if request[:1] in ("+", "-") else ""
    wanted = Rights.parse(request[1:] if mode else request)
    have = Rights.parse(current)
    new = have | wanted if mode == "+" else have - wanted if mode == "-" else wanted
    return new.storage()


def listrights(owner: bool) -> tuple[str, list[str]]:
    """LISTRIGHTS (RFC 4314 §3.7): (rights always granted, grantable sets).

    Nothing is tied: every right can be granted alone, and ``c`` and ``d`` are listed as their
    own sets, as RFC 2086 clients expect (§2.1.1). The owner of a personal folder always holds
    everything (docs/sharing.md), so for the owner the first set is all of it."""
    if owner:
        return Rights.all().display(), []
    return "", [*ALL_LETTERS, "c", "d"]

