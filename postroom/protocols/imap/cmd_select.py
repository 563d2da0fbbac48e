"""SELECT EXAMINE UNSELECT CLOSE STATUS IDLE (RFC 9051 §6.3.2–3, §6.3.11, §6.3.13, §6.4.1–2;
RFC 3501 §6.3.1; RFC 7162 CONDSTORE/QRESYNC; RFC 3691 UNSELECT; RFC 2177 IDLE).
"""

from __future__ import annotations

import asyncio

from postroom.access.ops import Op
from postroom.core.errors import MailError
from postroom.protocols.imap.session import (
    AUTHED,
    SELECTED,
    Reply,
    Session,
    State,
    command,
    idle_wait,
    ok,
)
from postroom.protocols.imap.view import Selected, read_only
from postroom.protocols.imap.wire import (
    Command,
    ParseError,
    atom_of,
    expect_count,
    format_seqset,
    list_of,
    number_of,
    parse_seqset,
)


def _qresync_params(s: Session, cmd: Command) -> tuple[int, int, str | None] | None:
    if len(cmd.args) < 2:
        return None
    params = list_of(cmd.args[1], "SELECT parameters")
    result = None
    i = 0
    while i < len(params):
        name = atom_of(params[i], "SELECT parameter").upper()
        if name == "CONDSTORE":  # RFC 7162 §3.1.8
            s.condstore = True
            s.enabled.add("CONDSTORE")
            i += 1
        elif name == "QRESYNC" and i + 1 < len(params):
            if not s.qresync:
                raise ParseError("QRESYNC must be enabled first")  # RFC 7162 §3.2.5
            q = list_of(params[i + 1], "QRESYNC")
            if len(q) < 2:
                raise ParseError("QRESYNC needs uidvalidity and modseq")
            known = None
            if len(q) >= 3:
                known = atom_of(q[2], "known UIDs")
                parse_seqset(known)
            result = (number_of(q[0], "uidvalidity"), number_of(q[1], "modseq"), known)
            i += 2
        else:
            raise ParseError(f"unknown SELECT parameter {name}")
    return result


async def _none() -> None:
    return None


async def _select(s: Session, cmd: Command, examine: bool) -> Reply:
    expect_count(cmd.args, 1, 2)
    name = s.mailbox_in(cmd.args[0])
    qresync = _qresync_params(s, cmd)
    if s.selected is not None:
        s.deselect()
        if s.rev2 or s.qresync:
            s.send(b"* OK [CLOSED] Previous mailbox closed")  # RFC 7162 §3.2.11
    assert s.principal is not None
    svc = s.services
    handle = await svc.mailboxes.open(s.principal, name, Op.SELECT)
    sub = svc.notify.subscribe([handle])  # before reading: miss nothing
    try:
        # Three independent reads, run side by side on the read pool. rev2 has no [UNSEEN].
        uids, rec, first_unseen, mark = await asyncio.gather(
            svc.messages.uids(handle), svc.messages.refresh(handle),
            _none() if s.rev2 else svc.messages.first_unseen(s.principal, handle),
            svc.messages.recent_mark(handle))
        if uids and uids[-1] >= rec.uidnext:  # a delivery landed between the two reads
            rec = await svc.messages.refresh(handle)
        ro = examine or read_only(handle)
        sel = Selected(handle, ro, uids, sub, rec.uidvalidity, rec.highestmodseq,
                       examined=examine, viewer=s.principal.account_id)
        sel.claims_recent = not ro  # RFC 3501 §2.3.2: only a read-write session takes them
        await s.take_recent(sel, uids, mark)
    except BaseException:
        sub.close()
        raise
    s.selected = sel
    s.state = State.SELECTED
    s.send(sel.flags_line())
    s.send(b"* %d EXISTS" % len(uids))
    if not s.rev2:
        s.send(b"* %d RECENT" % len(sel.recent))  # RFC 3501 §7.3.2 (gone in RFC 9051)
        if first_unseen is not None:
            seq = sel.seq_of(first_unseen)
            if seq is not None:
                s.send(b"* OK [UNSEEN %d] First unseen" % seq)
    s.send(f"* OK [PERMANENTFLAGS ({sel.permanent()})] Flags permitted".encode())
    s.send(b"* OK [UIDVALIDITY %d] UIDs valid" % rec.uidvalidity)
    s.send(b"* OK [UIDNEXT %d] Predicted next UID" % rec.uidnext)
    s.send(b"* OK [HIGHESTMODSEQ %d] Highest" % rec.highestmodseq)
    if s.rev2:
        s.send(b'* LIST () "/" ' + s.mailbox_out(handle.name))  # RFC 9051 §6.3.2
    if qresync is not None and qresync[0] == rec.uidvalidity:
        await _resync(s, sel, qresync[1], qresync[2])
    return ok(f"{'EXAMINE' if examine else 'SELECT'} completed",
              "READ-ONLY" if ro else "READ-WRITE")


async def _resync(s: Session, sel: Selected, modseq: int, known: str | None) -> None:
    """RFC 7162 §3.2.5.2: VANISHED (EARLIER) for what went, FETCH for what changed."""
    assert s.principal is not None
    gone = await s.services.messages.expunged_since(sel.handle, modseq)
    if known is not None:
        known_set = parse_seqset(known)
        gone = [u for u in gone if known_set.contains(u, sel.last_uid())]
    if gone:
        s.send(b"* VANISHED (EARLIER) " + format_seqset(gone).encode())
    if sel.uids:
        rows = await s.services.messages.flags(s.principal, sel.handle, sel.uids,
                                               since_modseq=modseq)
        for row in rows:
            seq = sel.seq_of(row.uid)
            if seq is not None:
                s.send(s.flags_fetch(seq, row.uid, row.flags, row.keywords, row.modseq))


@command("SELECT", AUTHED)
async def select(s: Session, cmd: Command) -> Reply:
    try:
        return await _select(s, cmd, examine=False)
    except MailError:
        s.deselect()  # RFC 9051 §6.3.2: a failed SELECT leaves no mailbox selected
        raise


@command("EXAMINE", AUTHED)
async def examine(s: Session, cmd: Command) -> Reply:
    try:
        return await _select(s, cmd, examine=True)
    except MailError:
        s.deselect()
        raise


@command("UNSELECT", SELECTED)
async def unselect(s: Session, cmd: Command) -> Reply:
    expect_count(cmd.args, 0)
    s.deselect()
    return ok("UNSELECT completed")


@command("CLOSE", SELECTED)
async def close(s: Session, cmd: Command) -> Reply:
    """Expunge silently when read-write and allowed (``e``), then deselect (RFC 4314 §4)."""
    expect_count(cmd.args, 0)
    sel = s.selected
    assert sel is not None
    if not sel.readonly and sel.handle.allows(Op.EXPUNGE):
        await s.services.messages.expunge(sel.handle)
    s.deselect()
    return ok("CLOSE completed")


STATUS_ITEMS = ("MESSAGES", "RECENT", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "SIZE", "DELETED",
                "HIGHESTMODSEQ", "APPENDLIMIT")


async def status_items(s: Session, name: str, items: list[str]) -> bytes:
    assert s.principal is not None
    svc = s.services
    handle = await svc.mailboxes.open(s.principal, name, Op.SELECT)
    rec = handle.mailbox  # read by open() just now
    counts = None
    if {"UNSEEN", "DELETED"} & set(items):
        counts = await svc.messages.counts(s.principal, handle)
    values = []
    for item in items:
        if item == "MESSAGES":
            v = rec.message_count
        elif item == "RECENT":
            v = await svc.messages.recent_count(handle)  # RFC 3501 §6.3.10
        elif item == "UIDNEXT":
            v = rec.uidnext
        elif item == "UIDVALIDITY":
            v = rec.uidvalidity
        elif item == "UNSEEN":
            v = counts.unseen if counts else 0
        elif item == "DELETED":
            v = counts.deleted if counts else 0
        elif item == "SIZE":
            v = rec.total_size
        elif item == "HIGHESTMODSEQ":
            v = rec.highestmodseq
        else:
            v = svc.messages.max_message_size
        values.append(f"{item} {v}")
    return b"* STATUS " + s.mailbox_out(name) + b" (" + " ".join(values).encode() + b")"


def parse_status_items(token: object) -> list[str]:
    items = [atom_of(t, "STATUS item").upper() for t in list_of(token, "STATUS items")]  # type: ignore[arg-type]
    if not items:
        raise ParseError("STATUS needs at least one item")
    for item in items:
        if item not in STATUS_ITEMS:
            raise ParseError(f"unknown STATUS item {item}")
    return items


@command("STATUS", AUTHED)
async def status(s: Session, cmd: Command) -> Reply:
    expect_count(cmd.args, 2)
    name = s.mailbox_in(cmd.args[0])
    items = parse_status_items(cmd.args[1])
    if "HIGHESTMODSEQ" in items:
        await s.enable_condstore()
    s.send(await status_items(s, name, items))
    return ok("STATUS completed")


@command("IDLE", AUTHED)
async def idle(s: Session, cmd: Command) -> Reply:
    expect_count(cmd.args, 0)
    await s.announce_if_selected()
    await s.flush()
    return await idle_wait(s)
