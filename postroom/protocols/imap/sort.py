"""SORT and THREAD (RFC 5256) and SORT=DISPLAY (RFC 5957), sans I/O.

Everything here works on ``Item``s built from what the delivery-time MIME scan stored (the
ENVELOPE and the References header), so sorting or threading a mailbox never opens a message
file. The threading algorithms themselves live in ``mime/threads.py`` (webmail's conversation
view uses them too) and are re-exported here; this module adds the SORT criteria and the
THREAD response's wire form (RFC 5256 §5).

The sort keys themselves (base subject, first mailbox, display name, sent date) are
``mime/sortkeys.py``'s, the same functions the store uses to fill the sort-key columns at
insert: the SORT command orders in SQL on those columns, and ``sort_items`` here, which THREAD
and the unit tests use, is the reference it must agree with.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from postroom.mime.sortkeys import base_subject, casemap, display, first_mailbox, sent_date
from postroom.mime.threads import Item, Node, thread_orderedsubject, thread_references
from postroom.protocols.imap.wire import ParseError, Token, atom_of, list_of

SORT_KEYS = ("ARRIVAL", "CC", "DATE", "FROM", "SIZE", "SUBJECT", "TO", "DISPLAYFROM",
             "DISPLAYTO")
THREAD_ALGORITHMS = ("ORDEREDSUBJECT", "REFERENCES")


# -- SORT (RFC 5256 §3, RFC 5957) ----------------------------------------------------------------
def parse_criteria(token: Token) -> list[tuple[str, bool]]:
    """``(REVERSE DATE SUBJECT)`` → [("DATE", True), ("SUBJECT", False)]."""
    names = [atom_of(t, "sort key").upper() for t in list_of(token, "sort criteria")]
    if not names:
        raise ParseError("SORT needs at least one sort key")
    out: list[tuple[str, bool]] = []
    reverse = False
    for name in names:
        if name == "REVERSE":
            if reverse:
                raise ParseError("REVERSE REVERSE is not a sort key")
            reverse = True
            continue
        if name not in SORT_KEYS:
            raise ParseError(f"unknown sort key {name}")
        out.append((name, reverse))
        reverse = False
    if reverse:
        raise ParseError("REVERSE must be followed by a sort key")
    return out


_KEY: dict[str, Callable[[Item], Any]] = {
    "ARRIVAL": lambda it: it.internal_date,
    "CC": lambda it: first_mailbox(it.env[6]),
    "DATE": lambda it: it.sent,
    "FROM": lambda it: first_mailbox(it.env[2]),
    "SIZE": lambda it: it.size,
    "SUBJECT": lambda it: casemap(it.subject[0]),
    "TO": lambda it: first_mailbox(it.env[5]),
    "DISPLAYFROM": lambda it: display(it.env[2]),
    "DISPLAYTO": lambda it: display(it.env[5]),
}


def sort_items(items: Iterable[Item], criteria: list[tuple[str, bool]]) -> list[Item]:
    """Stable sorts from the last key to the first; ties fall back to sequence order."""
    out = sorted(items, key=lambda it: it.seq)
    for name, reverse in reversed(criteria):
        out.sort(key=_KEY[name], reverse=reverse)
    return out


# -- THREAD (RFC 5256 §4): the algorithms are mime/threads.py's; the response is IMAP's ----
def _render(node: Node) -> str:
    """thread-members / thread-nested (RFC 5256 §5): single children chain with spaces,
    several children each get parentheses."""
    parts: list[str] = []
    while True:
        if node.item is not None:
            parts.append(str(node.item.number))
        if len(node.children) == 1:
            node = node.children[0]
            continue
        if node.children:
            parts.append("".join(f"({_render(c)})" for c in node.children))
        return " ".join(parts)


def render(roots: list[Node]) -> bytes:
    return "".join(f"({_render(r)})" for r in roots).encode()


__all__ = ["SORT_KEYS", "THREAD_ALGORITHMS", "Item", "Node", "base_subject", "parse_criteria",
           "render", "sent_date", "sort_items", "thread_orderedsubject", "thread_references"]
