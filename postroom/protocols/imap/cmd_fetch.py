"""FETCH and UID FETCH (RFC 9051 §6.4.5, RFC 3516 BINARY, RFC 7162 CHANGEDSINCE/VANISHED).

Messages are processed in batches: one store query per batch (flags only when only UID, FLAGS
and MODSEQ are asked for; records with the stored MIME scan otherwise), and the output of each
batch is written before the next is read, so ``UID FETCH 1:* (FLAGS)`` on 100,000 messages
needs neither 100,000 rows nor the whole reply in memory at once. Body sections larger than
``STREAM_CHUNK`` are copied from the blob file to the socket in chunks.

UID, FLAGS and MODSEQ alone, without CHANGEDSINCE, over a run of consecutive messages of the
view (``1:*``, the usual client resync) take a column path: the store returns the flags of
every message in the run's UID range as lists (``FlagRun``); when it holds exactly the run's
messages (same count and UID sum; it can hold no UID the view lacks below the view's last,
view.py), each distinct flag set is formatted once through ``Session.flag_list``, messages
with keywords or ``\\Recent`` one by one through it as before (it announces new keywords
first), and every line is one ``%`` of a template. At 100,000 messages that is a fraction of
the per-message path's time, and the client reading the lines becomes the slower side.
Otherwise (expunged messages still in the view, sparse sets) the per-message path answers.
"""

from __future__ import annotations

import bisect
from dataclasses import replace
from typing import Any

import msgspec

from postroom.core import flags as F
from postroom.core.errors import Kind, MailError
from postroom.core.records import FlagRow, FlagRun, MessageRec
from postroom.protocols.imap import binary, structure
from postroom.protocols.imap.fetch import FetchAtt, FetchRequest, internal_date, parse_fetch
from postroom.protocols.imap.session import Reply, Session, no, ok, uid_command
from postroom.protocols.imap.view import Selected
from postroom.protocols.imap.wire import Command, ParseError, format_seqset, parse_seqset

BATCH = 200
LIGHT_BATCH = 5000
STREAM_CHUNK = 1024 * 1024
# Messages up to PREFETCH_ONE octets are read whole, a batch at a time in one worker job (at
# most PREFETCH_BATCH octets), when the request needs their content: one thread hop per batch
# instead of one per section. Bigger messages are read section by section.
PREFETCH_ONE = 64 * 1024
PREFETCH_BATCH = 4 * 1024 * 1024

Piece = bytes | tuple[MessageRec, int, int]
Row = MessageRec | FlagRow  # FlagRow when only UID, FLAGS and MODSEQ were asked for


def _partial(data: bytes, att: FetchAtt) -> bytes:
    if att.partial is None:
        return data
    origin, count = att.partial
    return data[origin:origin + count] if count is not None else data[origin:]


async def _read(s: Session, rec: MessageRec, start: int, end: int,
                whole: dict[int, bytes]) -> bytes:
    data = whole.get(rec.uid)
    if data is not None:
        return data[start:end]
    return await s.services.messages.read_slice(rec, start, end)


async def _section(s: Session, rec: MessageRec, meta: dict[str, Any], att: FetchAtt,
                   whole: dict[int, bytes]) -> list[Piece]:
    assert att.section is not None
    root = meta["body"]
    plen = len(rec.prefix)
    label = att.label.encode() + b" "
    if att.binary:
        decoded = await _binary(s, rec, root, att.section.path, whole)
        if decoded is None:
            return [label + b"NIL"]
        if att.kind == "BINARY.SIZE":
            return [label + str(len(decoded)).encode()]  # RFC 3516 §4.2: the decoded size
        return [label + binary.literal(_partial(decoded, att), True)]  # RFC 3516 §4.3
    rng = structure.section_range(root, att.section, plen, rec.size)
    if rng is None:
        return [label + b'""']
    if rng.filter_fields is not None:
        raw = await _read(s, rec, rng.start, rng.end, whole)
        data = structure.filter_header(raw, rng.filter_fields, rng.exclude)
        return [label + binary.literal(_partial(data, att), False)]
    start, end = rng.start, rng.end
    if att.partial is not None:
        origin, count = att.partial
        start = min(start + origin, end)
        end = min(start + count, end) if count is not None else end
    if end - start > STREAM_CHUNK:
        return [label + b"{%d}\r\n" % (end - start), (rec, start, end)]
    data = await _read(s, rec, start, end, whole)
    return [label + binary.literal(data, False)]


async def _binary(s: Session, rec: MessageRec, root: dict[str, Any], path: tuple[int, ...],
                  whole: dict[int, bytes]) -> bytes | None:
    """The decoded content BINARY[path] names (RFC 3516 §4.2), None for a missing part.

    ``BINARY[]`` is the whole message, header included (RFC 9051 §6.4.5: the empty section
    is the whole message): a multipart or message/rfc822 root needs no decoding (its
    transfer encoding can only be an identity one, RFC 2045 §6.4), a single-part message
    gets its body decoded behind its header. A part's BINARY is its body, decoded."""
    plen = len(rec.prefix)
    if not path:
        if root.get("c") or "m" in root or root["e"].upper() in binary.TRANSPARENT:
            return await _read(s, rec, 0, rec.size, whole)
        header = await _read(s, rec, 0, root["o"][1] + plen, whole)
        body = await _read(s, rec, root["o"][1] + plen, root["o"][2] + plen, whole)
        return header + binary.decode_transfer(body, root["e"])
    part = structure.find_part(root, path)
    if part is None:
        return None
    _hs, bs, be = part["o"]
    if part["e"].upper() not in binary.DECODABLE:
        raise binary.UnknownCte(part["e"])  # before reading: nothing to decode it with
    return binary.decode_transfer(await _read(s, rec, bs + plen, be + plen, whole), part["e"])


def _atts(req: FetchRequest, force_flags: bool) -> list[FetchAtt]:
    """The items to answer: the request's, plus FLAGS when \\Seen was just set (RFC 9051
    §6.4.5: the server sends the changed flags with the data)."""
    if force_flags and not any(a.kind == "FLAGS" for a in req.atts):
        return [*req.atts, FetchAtt("FLAGS")]
    return list(req.atts)


def _row_item(s: Session, rec: Row, kind: str) -> bytes | None:
    """UID, FLAGS and MODSEQ, which a flags row can answer; None for anything else."""
    if kind == "UID":
        return b"UID %d" % rec.uid
    if kind == "FLAGS":
        return s.flag_list(rec.uid, rec.flags, rec.keywords)
    if kind == "MODSEQ":
        return b"MODSEQ (%d)" % rec.modseq
    return None


async def _render(s: Session, seq: int, rec: Row, req: FetchRequest, force_flags: bool,
                  whole: dict[int, bytes]) -> list[Piece]:
    meta: dict[str, Any] | None = None
    pieces: list[Piece] = [b"* %d FETCH (" % seq]
    first = True
    for att in _atts(req, force_flags):
        out: list[Piece]
        kind = att.kind
        item = _row_item(s, rec, kind)
        if item is not None:
            out = [item]
        elif not isinstance(rec, MessageRec):
            raise AssertionError("a light FETCH asked for more than UID/FLAGS/MODSEQ")
        elif kind == "INTERNALDATE":
            out = [b"INTERNALDATE " + internal_date(rec.internal_date)]
        elif kind == "RFC822.SIZE":
            out = [b"RFC822.SIZE %d" % rec.size]
        else:
            if meta is None:
                meta = msgspec.json.decode(rec.meta)
            assert meta is not None
            if kind == "ENVELOPE":
                out = [b"ENVELOPE " + structure.envelope(meta["env"])]
            elif kind == "BODYSTRUCTURE":
                out = [b"BODYSTRUCTURE " + structure.body_structure(meta["body"], True)]
            elif kind == "BODY":
                out = [b"BODY " + structure.body_structure(meta["body"], False)]
            else:
                out = await _section(s, rec, meta, att, whole)
        if not first:
            pieces.append(b" ")
        first = False
        pieces.extend(out)
    pieces.append(b")\r\n")
    return pieces


def _render_light(s: Session, seq: int, rec: Row, req: FetchRequest, force_flags: bool,
                  ) -> bytes:
    """UID / FLAGS / MODSEQ only: formatted without a coroutine per message, so
    ``UID FETCH 1:* (FLAGS)`` on a large mailbox costs string formatting and little else."""
    parts = [_row_item(s, rec, att.kind) for att in _atts(req, force_flags)]
    return b"* %d FETCH (" % seq + b" ".join(p for p in parts if p is not None) + b")\r\n"


_LIGHT_ITEM = {"UID": b"UID %d", "FLAGS": b"%s", "MODSEQ": b"MODSEQ (%d)"}


def _dense(sel: Selected, batch: list[int]) -> int | None:
    """The sequence number of ``batch[0]`` when ``batch`` is a run of consecutive messages
    of the view (so the store range ``batch[0]..batch[-1]`` holds nothing else), else None."""
    first = sel.seq_of(batch[0])
    if first is None or sel.uids[first - 1:first - 1 + len(batch)] != batch:
        return None
    return first


def _light_lines(s: Session, sel: Selected, first: int, uids: list[int], run: FlagRun,
                 kinds: list[str]) -> bytes:
    """The FETCH lines of a dense run whose messages are exactly ``uids``, for UID / FLAGS /
    MODSEQ in the order asked. Each distinct flag set is formatted once; the UID passed for
    it is 0, which no message has (RFC 9051 §2.3.1.1), so ``flag_list`` gives the text of a
    message without \\Recent. Messages with keywords (announced by ``flag_list`` before the
    lines that carry them are queued) or \\Recent get their own call."""
    flags = run.flags
    columns: dict[str, list[int] | list[bytes]] = {"UID": uids, "MODSEQ": run.modseqs}
    if "FLAGS" in kinds:
        texts = {f: s.flag_list(0, f, "") for f in set(flags)}
        items = list(map(texts.__getitem__, flags))
        special = dict(run.keywords)
        if sel.recent and not s.rev2:
            special.update((u, run.keywords.get(u, "")) for u in sel.recent
                           if uids[0] <= u <= uids[-1])
        for uid in sorted(special):
            i = bisect.bisect_left(uids, uid)
            if i < len(uids) and uids[i] == uid:
                items[i] = s.flag_list(uid, flags[i], special[uid])
        columns["FLAGS"] = items
    template = b"* %d FETCH (" + b" ".join(_LIGHT_ITEM[k] for k in kinds) + b")\r\n"
    return b"".join([template % row for row in zip(range(first, first + len(uids)),
                                                    *(columns[k] for k in kinds), strict=True)])


async def _write(s: Session, pieces: list[Piece]) -> None:
    for piece in pieces:
        if isinstance(piece, bytes):
            s.out.append(piece)
            continue
        await s.flush()
        rec, start, end = piece
        pos = start
        while pos < end:
            chunk = await s.services.messages.read_slice(rec, pos, min(pos + STREAM_CHUNK, end))
            if not chunk:
                raise MailError(Kind.TEMPORARY, "message file is shorter than recorded")
            await s.conn.send(binary.no_nuls(chunk))  # a {n} literal: RFC 9051 §4.3
            pos += len(chunk)


@uid_command("FETCH", expunge_ok=False)
async def fetch(s: Session, cmd: Command, uid: bool) -> Reply:
    try:
        return await _fetch(s, cmd, uid)
    except binary.UnknownCte as exc:
        return no(f"Unknown Content-Transfer-Encoding {str(exc)[:40]}", "UNKNOWN-CTE")


async def _fetch(s: Session, cmd: Command, uid: bool) -> Reply:
    sel = s.selected
    assert sel is not None and s.principal is not None
    if len(cmd.args) < 2:
        raise ParseError("FETCH needs a sequence set and attributes")
    seqset = parse_seqset(cmd.args[0])
    req = parse_fetch(cmd.args[1:], uid)
    if req.vanished and not s.qresync:
        raise ParseError("VANISHED needs ENABLE QRESYNC")  # RFC 7162 §3.2.6
    if req.changed_since is not None or any(a.kind == "MODSEQ" for a in req.atts):
        await s.enable_condstore()
    uids = sel.resolve(seqset, uid)
    msgs = s.services.messages
    if req.vanished and req.changed_since is not None:
        gone = await msgs.expunged_since(sel.handle, req.changed_since)
        keep = [u for u in gone if seqset.contains(u, sel.last_uid())]
        if keep:
            s.send(b"* VANISHED (EARLIER) " + format_seqset(keep).encode())
    mark_seen = req.sets_seen and not sel.readonly  # EXAMINE never marks (RFC 9051 §6.3.3)
    missing = False
    since = req.changed_since or 0
    size = LIGHT_BATCH if req.light else BATCH
    reads_content = any(a.kind in ("SECTION", "BINARY.SIZE") for a in req.atts)
    kinds = [a.kind for a in _atts(req, False)]
    for batch in (uids[i:i + size] for i in range(0, len(uids), size)):
        found: dict[int, Row]
        first = _dense(sel, batch) if req.light and req.changed_since is None else None
        if first is not None:
            run = await msgs.flag_run(s.principal, sel.handle, batch[0], batch[-1],
                                      "MODSEQ" in kinds)
            if run.count == len(batch) and run.uid_sum == sum(batch):
                s.out.append(_light_lines(s, sel, first, batch, run, kinds))
                await s.flush()
                continue
        if req.light:
            found = {r.uid: r for r in await msgs.flags(s.principal, sel.handle, batch, since)}
        else:
            found = {r.uid: r for r in await msgs.records(s.principal, sel.handle, batch)
                     if r.modseq > since}
        forced: set[int] = set()
        if mark_seen:
            unseen = [u for u in batch if u in found and not found[u].flags & F.SEEN]
            if unseen:
                for row in await msgs.mark_read(s.principal, sel.handle, unseen):
                    sel.own_modseqs.add(row.modseq)
                    found[row.uid] = replace(found[row.uid], modseq=row.modseq,
                                             flags=row.flags, keywords=row.keywords)
                    forced.add(row.uid)
        whole: dict[int, bytes] = {}
        if reads_content:
            small: list[MessageRec] = []
            budget = PREFETCH_BATCH
            for candidate in found.values():
                if isinstance(candidate, MessageRec) and \
                        candidate.size <= min(PREFETCH_ONE, budget):
                    small.append(candidate)
                    budget -= candidate.size
            if small:
                whole = dict(zip((r.uid for r in small), await msgs.read_whole(small),
                                 strict=True))
        for u in batch:
            rec = found.get(u)
            if rec is None:
                if req.changed_since is None:
                    missing = True
                continue
            seq = sel.seq_of(u)
            if seq is None:
                continue
            if req.light:
                s.out.append(_render_light(s, seq, rec, req, u in forced))
            else:
                await _write(s, await _render(s, seq, rec, req, u in forced, whole))
        await s.flush()
    if missing:
        return no("Some of the requested messages no longer exist", "EXPUNGEISSUED")
    return ok("FETCH completed")

