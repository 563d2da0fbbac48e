"""SORT, THREAD and their UID forms (RFC 5256 §3-5; SORT=DISPLAY, RFC 5957).

The search part is SEARCH's (``cmd_message.matching``); the ordering and threading is
``sort.py``. Message data comes from the stored MIME scan in batches, never from the files.
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


async def _items(s: Session, sel: Selected, uids: list[int], uid: bool,
                 envelopes: bool = True) -> list[T.Item]:
    """The matched messages as sort items; without ``envelopes`` (ARRIVAL and SIZE only) one
    row query serves instead of the stored scans."""
    assert s.principal is not None
    out: list[T.Item] = []
    if not envelopes:
        wanted = set(uids)
        for row in await s.services.messages.search_rows(s.principal, sel.handle):
            if row.uid in wanted and (seq := sel.seq_of(row.uid)) is not None:
                out.append(T.Item(seq, row.uid if uid else seq, row.internal_date, row.size,
                                  [None] * 10))
        return out
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
    found = await matching(s, sel, prog)
    envelopes = any(name not in ("ARRIVAL", "SIZE") for name, _ in criteria)
    items = T.sort_items(await _items(s, sel, found, uid, envelopes), criteria)
    numbers = [it.number for it in items]
    s.send(b"* SORT" + b"".join(b" %d" % n for n in numbers))
    return ok("SORT completed")


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
