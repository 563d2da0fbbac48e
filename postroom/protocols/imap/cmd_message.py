"""APPEND STORE SEARCH COPY MOVE EXPUNGE and their UID forms (RFC 9051 §6.3.12, §6.4.3–9;
RFC 3502 MULTIAPPEND; RFC 4315 UIDPLUS; RFC 6851 MOVE; RFC 4731 ESEARCH; RFC 5182 SEARCHRES;
RFC 7162 CONDSTORE; RFC 6855 UTF8 APPEND).

Rights are the services' business: a STORE the user may only partly make is made partly and
still answered OK; COPY/MOVE/APPEND keep only the flags the user may set (RFC 4314 §4).
"""

from __future__ import annotations

from typing import Any

import msgspec

from postroom.access.ops import Op
from postroom.core.errors import Kind, MailError
from postroom.core.records import SearchRow
from postroom.protocols.imap import binary
from postroom.protocols.imap import search as S
from postroom.protocols.imap.fetch import parse_date_time
from postroom.protocols.imap.session import AUTHED, Reply, Session, command, no, ok, uid_command
from postroom.protocols.imap.view import Selected
from postroom.protocols.imap.wire import (
    Command,
    Literal,
    Literal8,
    ParseError,
    SeqSet,
    Token,
    atom_of,
    format_seqset,
    list_of,
    number_of,
    parse_seqset,
    quote,
)


# -- APPEND --------------------------------------------------------------------------------------
def parse_append(args: list[Token]) -> list[tuple[bytes, list[str], int | None]]:
    """``APPEND mailbox [flags] [date-time] message`` and, with MULTIAPPEND, more
    ``[flags] [date-time] message`` groups (RFC 9051 §6.3.12, RFC 3502 §6).

    The date-time is a quoted string and the message a literal (RFC 9051 §9: ``date-time =
    DQUOTE ... DQUOTE``, ``append-data = literal / literal8``), and the tokeniser keeps the two
    apart (``wire.Literal``). Telling them apart by position instead ("a string followed by
    another string is a date") read the first message of every MULTIAPPEND without flags or
    date as a date-time and answered BAD."""
    items: list[tuple[bytes, list[str], int | None]] = []
    i = 1
    while i < len(args):
        flags: list[str] = []
        when: int | None = None
        if isinstance(args[i], list):
            flags = [atom_of(f, "flag") for f in list_of(args[i])]
            i += 1
        tok = args[i] if i < len(args) else None
        if isinstance(tok, bytes) and not isinstance(tok, Literal):
            when = parse_date_time(tok.decode("ascii", "replace"))  # RFC 9051 §9 date-time
            i += 1
            tok = args[i] if i < len(args) else None
        if isinstance(tok, str) and tok.upper() == "UTF8":  # RFC 6855 §4
            inner = list_of(args[i + 1], "UTF8 data") if i + 1 < len(args) else []
            if len(inner) != 1 or not isinstance(inner[0], Literal):
                raise ParseError("UTF8 needs (~{n} literal)")
            data = bytes(inner[0])
            if isinstance(inner[0], Literal8):
                data = binary.to_storable(data)  # RFC 3516 §4.4
            i += 2
        elif isinstance(tok, Literal):
            # RFC 3516 §4.4: binary parts sent in a literal8 are stored base64-encoded
            data = binary.to_storable(bytes(tok)) if isinstance(tok, Literal8) else bytes(tok)
            i += 1
        else:
            raise ParseError("APPEND needs a message literal")
        items.append((data, flags, when))
    if not items:
        raise ParseError("APPEND needs a message")
    return items


@command("APPEND", AUTHED)
async def append(s: Session, cmd: Command) -> Reply:
    if len(cmd.args) < 2:
        raise ParseError("APPEND needs a mailbox and a message")
    name = s.mailbox_in(cmd.args[0])
    items = parse_append(cmd.args)
    if any(not data for data, _, _ in items):
        return no("Empty messages are not stored", "CANNOT")
    assert s.principal is not None
    try:
        result = await s.services.messages.append(s.principal, name, items)
    except MailError as exc:
        if exc.kind is Kind.NOT_FOUND:
            return no(exc.text, "TRYCREATE")  # RFC 9051 §6.3.12: never auto-create
        if exc.kind is Kind.LIMIT:
            return no(exc.text, "TOOBIG")  # RFC 7889 §4
        raise
    code = f"APPENDUID {result.mailbox.uidvalidity} {format_seqset(list(result.uids))}"
    return ok("APPEND completed", code)


# -- STORE ---------------------------------------------------------------------------------------
def _require_writable(sel: Selected) -> None:
    if sel.readonly:
        raise MailError(Kind.NO_PERM, "Mailbox is read-only")


@uid_command("STORE", expunge_ok=False)
async def store(s: Session, cmd: Command, uid: bool) -> Reply:
    sel = s.selected
    assert sel is not None and s.principal is not None
    args = cmd.args
    if len(args) < 3:
        raise ParseError("STORE needs a set, an item and flags")
    seqset = parse_seqset(args[0])
    i = 1
    unchanged: int | None = None
    if isinstance(args[1], list):  # RFC 7162 §3.1.3
        mods = args[1]
        if len(mods) != 2 or atom_of(mods[0], "modifier").upper() != "UNCHANGEDSINCE":
            raise ParseError("unknown STORE modifier")
        unchanged = number_of(mods[1], "UNCHANGEDSINCE")
        await s.enable_condstore()
        i = 2
    item = atom_of(args[i], "STORE item").upper()
    silent = item.endswith(".SILENT")
    base = item.removesuffix(".SILENT")
    modes = {"FLAGS": "set", "+FLAGS": "add", "-FLAGS": "remove"}
    if base not in modes:
        raise ParseError(f"unknown STORE item {item}")
    rest = args[i + 1:]
    if len(rest) == 1 and isinstance(rest[0], list):
        names = [atom_of(f, "flag") for f in rest[0]]
    else:
        names = [atom_of(f, "flag") for f in rest]
    if not rest:
        raise ParseError("STORE needs flags")
    _require_writable(sel)
    uids = sel.resolve(seqset, uid)
    live = [u for u in uids if u not in sel.pending_expunge]
    failed: list[int] = []
    if live:
        changed, failed = await s.services.messages.store_flags(
            s.principal, sel.handle, live, modes[base], names, unchanged)
        for row in changed:
            sel.own_modseqs.add(row.modseq)
        if not silent:
            refused = set(failed)
            for row in await s.services.messages.flags(s.principal, sel.handle, live):
                seq = sel.seq_of(row.uid)
                if row.uid not in refused and seq is not None:
                    s.send(s.flags_fetch(seq, row.uid, row.flags, row.keywords, row.modseq))
    if failed:
        numbers = failed if uid else [q for u in failed if (q := sel.seq_of(u)) is not None]
        return ok("Conditional STORE failed", f"MODIFIED {format_seqset(sorted(numbers))}")
    return ok("STORE completed")



# -- SEARCH --------------------------------------------------------------------------------------
ENVELOPE_BATCH = 2000


class _EnvelopeOnly(msgspec.Struct):
    """The stored scan's ENVELOPE; the decoder skips the body structure."""

    env: list[Any]


_ENVELOPE = msgspec.json.Decoder(_EnvelopeOnly)


class _Context:
    """The selected mailbox as ``search.SearchContext`` sees it."""

    def __init__(self, s: Session, sel: Selected) -> None:
        self.s = s
        self.sel = sel
        self.view = sel.uids
        self.saved = sel.saved
        self.recent = sel.recent

    async def rows(self) -> list[SearchRow]:
        assert self.s.principal is not None
        return await self.s.services.messages.search_rows(self.s.principal, self.sel.handle)

    async def text(self, columns: tuple[str, ...], term: str) -> set[int]:
        return await self.s.services.messages.text_search(self.sel.handle, columns, term)

    async def headers(self, uids: list[int]) -> dict[int, str]:
        return await self.s.services.messages.header_text(self.sel.handle, uids)

    async def envelopes(self) -> dict[int, list[Any]]:
        """The stored ENVELOPE of every message in the view (address keys), in batches."""
        assert self.s.principal is not None
        out: dict[int, list[Any]] = {}
        for i in range(0, len(self.view), ENVELOPE_BATCH):
            batch = self.view[i:i + ENVELOPE_BATCH]
            for rec in await self.s.services.messages.records(self.s.principal,
                                                              self.sel.handle, batch):
                out[rec.uid] = _ENVELOPE.decode(rec.meta).env
        return out

    def resolve(self, seqset: SeqSet, uid: bool) -> list[int]:
        return self.sel.resolve(seqset, uid, strict=False)  # RFC 4731 §3.1: no BAD


async def matching(s: Session, sel: Selected, prog: S.SearchProgram) -> list[int]:
    """UIDs (ascending) of the selected messages a search program matches; shared by SEARCH,
    SORT and THREAD."""
    assert s.principal is not None
    if prog.uses_modseq:
        await s.enable_condstore()
    if S.is_unseen_only(prog):
        # The store's unseen UIDs up to the view's last are the view's unseen messages: UIDs
        # are handed out in commit order, so every stored UID below the last one the session
        # knows is in its view (view.py) and no set of the view is needed.
        last = sel.last_uid()
        return await s.services.messages.unseen_uids(s.principal, sel.handle, last) \
            if last else []
    return await S.evaluate(prog, _Context(s, sel))


def _reported(found: list[int], returns: tuple[str, ...] | None) -> list[int]:
    """The matches a reply reports, whose MODSEQs its ``MODSEQ`` item covers: all of them for
    SEARCH and for ESEARCH ALL or COUNT, only the MIN and MAX messages otherwise (RFC 7162
    §3.1.5: the highest mod-sequence of the messages returned)."""
    if returns is None or "ALL" in returns or "COUNT" in returns:
        return found
    picked = []
    if "MIN" in returns:
        picked.append(found[0])
    if "MAX" in returns:
        picked.append(found[-1])
    return sorted(set(picked))


async def _highest_modseq(s: Session, sel: Selected, uids: list[int]) -> int:
    assert s.principal is not None
    rows = await s.services.messages.flags(s.principal, sel.handle, uids)
    return max((r.modseq for r in rows), default=0)


@uid_command("SEARCH", expunge_ok=False)
async def search(s: Session, cmd: Command, uid: bool) -> Reply:
    sel = s.selected
    assert sel is not None and s.principal is not None
    prog = S.parse_search(cmd.args, utf8_enabled=s.utf8, esearch_ok=True)
    found = await matching(s, sel, prog)
    returns = prog.returns
    if returns is None and s.rev2:
        returns = ("ALL",)  # RFC 9051 §6.4.4.1: rev2 always answers with ESEARCH
    if returns is not None and "SAVE" in returns:
        sel.saved = list(found)  # RFC 5182 §2.1
    numbers = found if uid else [q for u in found if (q := sel.seq_of(u)) is not None]
    modseq = b""
    if prog.uses_modseq and found:
        modseq = b" (MODSEQ %d)" % await _highest_modseq(s, sel, _reported(found, returns))
    if returns is None:
        listed = b" " + S.number_list(numbers) if numbers else b""
        s.send(b"* SEARCH" + listed + modseq)
        return ok("SEARCH completed")
    if returns == ("SAVE",):
        return ok("SEARCH completed")  # RFC 5182 §2.1: SAVE alone sends no ESEARCH
    parts = [b"* ESEARCH (TAG " + quote(cmd.tag) + b")"]
    if uid:
        parts.append(b"UID")
    if "MIN" in returns and numbers:
        parts.append(b"MIN %d" % min(numbers))
    if "MAX" in returns and numbers:
        parts.append(b"MAX %d" % max(numbers))
    if "COUNT" in returns:
        parts.append(b"COUNT %d" % len(numbers))
    if "ALL" in returns and numbers:
        parts.append(b"ALL " + format_seqset(sorted(numbers)).encode())
    if modseq and numbers and set(returns) - {"SAVE"}:
        parts.append(b"MODSEQ" + modseq[len(b" (MODSEQ"):-1])
    s.send(b" ".join(parts))
    return ok("SEARCH completed")



# -- COPY / MOVE / EXPUNGE -----------------------------------------------------------------------
async def copy(s: Session, cmd: Command, uid: bool, move: bool) -> Reply:
    sel = s.selected
    assert sel is not None and s.principal is not None
    if len(cmd.args) != 2:
        raise ParseError("expected a sequence set and a mailbox")
    uids = sel.resolve(parse_seqset(cmd.args[0]), uid)
    target = s.mailbox_in(cmd.args[1])
    verb = "MOVE" if move else "COPY"
    if move:
        _require_writable(sel)
    live = [u for u in uids if u not in sel.pending_expunge]
    if not live:
        if uids:
            return no("Some of the messages no longer exist", "EXPUNGEISSUED")
        await s.services.mailboxes.open(s.principal, target, Op.APPEND)
        return ok(f"{verb} completed (nothing to do)")
    try:
        result = await s.services.messages.copy(s.principal, sel.handle, live, target,
                                                move=move)
    except MailError as exc:
        if exc.kind is Kind.NOT_FOUND and exc.text.endswith(target):
            return no(exc.text, "TRYCREATE")
        raise
    if not result.pairs:
        return no("Some of the messages no longer exist", "EXPUNGEISSUED")
    src = format_seqset([a for a, _ in result.pairs])
    dst = format_seqset([b for _, b in result.pairs])
    code = f"COPYUID {result.uidvalidity} {src} {dst}"
    if move:
        s.send(f"* OK [{code}] Moved".encode())  # RFC 6851 §4.3: before the expunges
        s.send_expunged([a for a, _ in result.pairs])
        return ok("MOVE completed")
    return ok("COPY completed", code)



@uid_command("COPY")
async def copy_cmd(s: Session, cmd: Command, uid: bool) -> Reply:
    return await copy(s, cmd, uid, move=False)


@uid_command("MOVE")
async def move_cmd(s: Session, cmd: Command, uid: bool) -> Reply:
    return await copy(s, cmd, uid, move=True)


@uid_command("EXPUNGE")
async def expunge(s: Session, cmd: Command, uid: bool) -> Reply:
    """EXPUNGE, or ``UID EXPUNGE set``: only the \\Deleted messages in the set (RFC 4315
    §2.1)."""
    if len(cmd.args) != (1 if uid else 0):
        raise ParseError("UID EXPUNGE needs a UID set" if uid else "EXPUNGE takes no arguments")
    sel = s.selected
    assert sel is not None
    _require_writable(sel)
    uids = sel.resolve(parse_seqset(cmd.args[0]), True) if uid else None
    if uids is not None and not uids:
        return ok("EXPUNGE completed")
    gone = await s.services.messages.expunge(sel.handle, uids)
    s.send_expunged(gone)
    return ok("EXPUNGE completed")

