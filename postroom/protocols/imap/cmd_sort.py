"""SORT, THREAD and their UID forms (RFC 5256 §3-5; SORT=DISPLAY, RFC 5957).

The search part is SEARCH's (``cmd_message.matching``). SORT orders in the store, on the sort
keys written with each message (store/repo/sortkeys.py, computed by the same functions
``sort.py`` uses), so a 100,000-message SORT is one ordered index scan, not 100,000 decoded
ENVELOPEs. ``SORT … ALL`` skips the search altogether: the store's UIDs up to the view's last
are the view's messages (UIDs are handed out in commit order, so no message the session has
not been told about has a UID below one it has; view.py). THREAD still reads
the stored MIME scans in batches, never the files, and threads with ``sort.py``.
"""

from __future__ import annotations

from typing import Any

import msgspec

from postroom.protocols.imap import search as S
from postroom.protocols.imap import sort as T
from postroom.protocols.imap.cmd_message import matching
from postroom.protocols.imap.session import Reply, Session, ok, uid_command
from postroom.protocols.imap.view import Selected
from postroom.protocols.imap.wire import Command, ParseError, Token, atom_of, text_of

BATCH = 2000


class _SortMeta(msgspec.Struct):
    """The parts of the stored scan SORT and THREAD read; the decoder skips the rest (the
    body structure), which makes decoding a large mailbox several times cheaper."""

    env: list[Any]
    refs: str | None = None


_DECODE = msgspec.json.Decoder(_SortMeta)


def _request(cmd: Command, what: str) -> tuple[Token, S.SearchProgram]:
    """RFC 5256 §3: ``SORT criteria charset keys`` / ``THREAD algorithm charset keys``. The
    charset is mandatory (no CHARSET keyword); the keys are SEARCH's."""
    if len(cmd.args) < 2:
        raise ParseError(f"{what} needs {'sort criteria' if what == 'SORT' else 'an algorithm'}"
                         ", a charset and search keys")
    charset = text_of(cmd.args[1], "charset").upper()
    if charset not in S.CHARSETS:
        raise S.BadCharset(charset)
    return cmd.args[0], S.parse_search(list(cmd.args[2:]), utf8_enabled=False,
                                       esearch_ok=False)


async def _items(s: Session, sel: Selected, uids: list[int], uid: bool) -> list[T.Item]:
    """The matched messages as THREAD items, from the stored scans."""
    assert s.principal is not None
    out: list[T.Item] = []
    for i in range(0, len(uids), BATCH):
        batch = uids[i:i + BATCH]
        for rec in await s.services.messages.records(s.principal, sel.handle, batch):
            seq = sel.seq_of(rec.uid)
            if seq is None:
                continue
            meta = _DECODE.decode(rec.meta)
            out.append(T.Item(seq, rec.uid if uid else seq, rec.internal_date, rec.size,
                              meta.env, meta.refs))
    return out


@uid_command("SORT", expunge_ok=False)
async def sort(s: Session, cmd: Command, uid: bool) -> Reply:
    sel = s.selected
    assert sel is not None
    first, prog = _request(cmd, "SORT")
    criteria = T.parse_criteria(first)
    last = sel.last_uid()
    if prog.keys == ("AND", [("ALL",)]):
        ordered = await s.services.messages.sorted_uids(sel.handle, criteria, 1, last) \
            if last else []
    else:
        found = await matching(s, sel, prog)
        ordered = await s.services.messages.sorted_uids(
            sel.handle, criteria, found[0], found[-1]) if found else []
        wanted = set(found)
        ordered = [u for u in ordered if u in wanted]
    s.send(b"* SORT " + _numbers(sel, ordered, uid) if ordered else b"* SORT")
    return ok("SORT completed")


def _numbers(sel: Selected, uids: list[int], uid: bool) -> bytes:
    """``1 5 3``: the UIDs as given, or their sequence numbers in this session's view."""
    if not uid:
        if len(uids) * 16 < len(sel.uids):
            uids = [q for u in uids if (q := sel.seq_of(u)) is not None]
        else:  # most of the view: one pass over it beats a binary search per message
            position = dict(zip(sel.uids, range(1, len(sel.uids) + 1), strict=True))
            uids = [position[u] for u in uids if u in position]
    return S.number_list(uids)


@uid_command("THREAD", expunge_ok=False)
async def thread(s: Session, cmd: Command, uid: bool) -> Reply:
    sel = s.selected
    assert sel is not None
    first, prog = _request(cmd, "THREAD")
    algorithm = atom_of(first, "threading algorithm").upper()
    if algorithm not in T.THREAD_ALGORITHMS:
        raise ParseError(f"unknown threading algorithm {algorithm}")
    items = await _items(s, sel, await matching(s, sel, prog), uid)
    if algorithm == "REFERENCES":
        roots = T.thread_references(items)
    else:
        roots = T.thread_orderedsubject(items)
    s.send(b"* THREAD " + T.render(roots) if roots else b"* THREAD")
    return ok("THREAD completed")
