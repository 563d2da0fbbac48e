"""Conversation threading (RFC 5256 §4: ORDEREDSUBJECT and REFERENCES), sans I/O.

Protocol-neutral so that IMAP THREAD (protocols/imap/cmd_sort.py) and the webmail's
conversation view (services/webmail/lists.py) group messages the same way. Everything works on
``Item``s built from what the delivery-time MIME scan stored (the ENVELOPE and the References
header), so threading a folder never opens a message file. The step numbers of RFC 5256 §4 are
cited where they are implemented so a reader can check each against the RFC.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from postroom.mime.sortkeys import base_subject, casemap, sent_date

_MSGID = re.compile(r"<[^<>\s]+>")


@dataclass(slots=True)
class Item:
    """One message as SORT and THREAD see it."""

    seq: int  # position in the session's view: the tie-breaker everywhere (RFC 5256 §3)
    number: int  # what the response shows: the sequence number or the UID
    internal_date: int
    size: int
    env: list[Any]  # the stored ENVELOPE (structure.envelope's input)
    references: str | None = None

    _date: float | None = field(default=None, repr=False)
    _subject: tuple[str, bool] | None = field(default=None, repr=False)

    @property
    def sent(self) -> float:
        """RFC 5256 §2.2: the Date: header in UTC, else the INTERNALDATE."""
        if self._date is None:
            self._date = sent_date(self.env[0], self.internal_date)
        return self._date

    @property
    def subject(self) -> tuple[str, bool]:
        """(base subject, whether the subject said it is a reply or forward)."""
        if self._subject is None:
            self._subject = base_subject(self.env[1] or "")
        return self._subject


# -- THREAD (RFC 5256 §4) ------------------------------------------------------------------------
@dataclass(eq=False, slots=True)
class Node:
    item: Item | None = None  # None: a dummy (a message referred to but not in the set)
    parent: Node | None = None
    children: list[Node] = field(default_factory=list)

    def first(self) -> Item | None:
        """The message that stands for this node when sorting: itself or its first child."""
        if self.item is not None:
            return self.item
        return self.children[0].first() if self.children else None

    def adopt(self, child: Node) -> None:
        if child.parent is not None:
            child.parent.children.remove(child)
        child.parent = self
        self.children.append(child)

    def descends_from(self, other: Node) -> bool:
        node: Node | None = self
        while node is not None:
            if node is other:
                return True
            node = node.parent
        return False


def _date_key(node: Node) -> tuple[float, int]:
    item = node.first()
    return (item.sent, item.seq) if item is not None else (0.0, 0)


def thread_orderedsubject(items: Iterable[Item]) -> list[Node]:
    """RFC 5256 §4 ORDEREDSUBJECT: sort by (base subject, sent date), cut at each subject
    change; the first message is the parent of all others; threads by their first date."""
    ordered = sorted(items, key=lambda it: (casemap(it.subject[0]), it.sent, it.seq))
    roots: list[Node] = []
    last: str | None = None
    for item in ordered:
        subject = casemap(item.subject[0])
        if roots and subject == last:
            roots[-1].adopt(Node(item))
        else:
            roots.append(Node(item))
            last = subject
    roots.sort(key=_date_key)
    return roots


def _message_ids(text: str | None) -> list[str]:
    return _MSGID.findall(text or "")


def _link(parent: Node, child: Node) -> None:
    """Step 1A: make ``child`` a child of ``parent``, unless it has a parent already ("don't
    change the existing link") or the link would make a loop."""
    if child.parent is not None or parent is child or parent.descends_from(child):
        return
    parent.adopt(child)


def _relink(parent: Node | None, child: Node) -> None:
    """Step 1B: the message's own parent is its last reference. Any parent it had (guessed
    from other messages' References) is broken first, and the new link is then made unless
    it would make a loop, so a message whose last reference is its own descendant ends up
    with no parent at all (RFC 5256 §4 step 1B)."""
    if child.parent is not None:
        child.parent.children.remove(child)
        child.parent = None
    if parent is not None and parent is not child and not parent.descends_from(child):
        parent.adopt(child)


def thread_references(items: Iterable[Item]) -> list[Node]:
    """RFC 5256 §4 REFERENCES (the Zawinski algorithm as the RFC specifies it)."""
    items = list(items)
    table: dict[str, Node] = {}
    nodes: list[Node] = []
    # Step 1: one container per Message-ID; a missing or duplicate ID gets a unique one.
    for item in items:
        ids = _message_ids(item.env[9])
        node = table.get(ids[0]) if ids else None
        if node is None or node.item is not None:
            node = Node(item)
            if ids and ids[0] not in table:
                table[ids[0]] = node
        else:
            node.item = item  # a dummy created by an earlier message's references
        nodes.append(node)
        # References, or else the first ID of In-Reply-To (RFC 5256 §4 step 1)
        refs = _message_ids(item.references) or _message_ids(item.env[8])[:1]
        chain = [table.setdefault(r, Node()) for r in refs]
        for parent, child in itertools.pairwise(chain):  # step 1A
            _link(parent, child)
        _relink(chain[-1] if chain else None, node)  # step 1B
    # Step 2: the root set; step 3: the table is no longer needed.
    seen: set[int] = set()
    roots: list[Node] = []
    for node in [*table.values(), *nodes]:
        if node.parent is None and id(node) not in seen:
            seen.add(id(node))
            roots.append(node)
    # Step 4: prune dummies.
    roots = _prune(roots, top=True)
    # Step 5: sort the top level by sent date (a dummy by its first child after sorting).
    for root in roots:
        if root.item is None:
            root.children.sort(key=_date_key)
    roots.sort(key=_date_key)
    # Step 6: gather threads whose base subjects match.
    roots = _group_by_subject(roots)
    # Step 7: sort every set of siblings by sent date, deepest first.
    _sort_tree(roots)
    roots.sort(key=_date_key)
    return roots


def _prune(level: list[Node], top: bool) -> list[Node]:
    out: list[Node] = []
    for node in level:
        node.children = _prune(node.children, top=False)
        for child in node.children:
            child.parent = node
        if node.item is not None:
            out.append(node)
        elif not node.children:
            continue  # 4A: a dummy without children goes
        elif top and len(node.children) > 1:
            out.append(node)  # 4B: kept at the top level when it holds several messages
        else:
            for child in node.children:  # 4B: otherwise its children move up
                child.parent = node.parent
            out.extend(node.children)
    return out


def _group_by_subject(roots: list[Node]) -> list[Node]:
    """Step 6: threads whose top messages share a base subject become one thread."""
    def subject_of(node: Node) -> str:
        item = node.first()
        return casemap(item.subject[0]) if item is not None else ""

    def is_reply(node: Node) -> bool:
        return node.item is not None and node.item.subject[1]

    table: dict[str, Node] = {}
    for node in roots:  # 6B-6C: a dummy beats a message, an original beats a reply
        subject = subject_of(node)
        if not subject:
            continue
        held = table.get(subject)
        if held is None or (node.item is None and held.item is not None) or (
                held.item is not None and node.item is not None
                and is_reply(held) and not is_reply(node)):
            table[subject] = node
    out: list[Node] = []
    for node in roots:  # 6D
        subject = subject_of(node)
        held = table.get(subject) if subject else None
        if held is None or held is node or node.parent is not None:
            out.append(node)
        elif held.item is None and node.item is None:
            for child in list(node.children):
                held.adopt(child)
        elif held.item is None or (is_reply(node) and not is_reply(held)):
            held.adopt(node)
        else:
            dummy = Node()
            dummy.adopt(held)
            dummy.adopt(node)
            table[subject] = dummy
            out.append(dummy)
    # A root that became a child of a later dummy leaves the top level here.
    return [n for n in dict.fromkeys(out) if n.parent is None and (n.item or n.children)]


def _sort_tree(level: list[Node]) -> None:
    for node in level:
        _sort_tree(node.children)
        node.children.sort(key=_date_key)
