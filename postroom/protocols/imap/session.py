"""The IMAP session: framing, the command loop, the dispatch table, replies and errors.

Shape (DESIGN.md §4.6): ``read_command`` frames one command (lines plus literals, with every
limit enforced before the octets are buffered); ``wire.parse_command`` tokenises it; the
dispatch table maps the name to a handler and the states it is valid in (RFC 9051 §6: a
command in the wrong state gets BAD); handlers call services and return a ``Reply``; errors
are mapped to replies in one table, ``ERRORS``. Three failure classes: syntax → BAD, user →
NO with a response code, server → logged with the connection id, ``NO [SERVERBUG]``.

Pending changes from other sessions are announced just before each tagged reply, with
expunges held back after FETCH, STORE and SEARCH (RFC 9051 §7.5.1); see ``view.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import ClassVar

from postroom.access.ops import Op
from postroom.core import flags as F
from postroom.core.errors import Kind, MailError
from postroom.core.principal import Principal
from postroom.net.connection import (
    Connection,
    ConnectionClosed,
    IdleTimeout,
    LineTooLong,
    ShuttingDown,
)
from postroom.net.listener import Network, plaintext_allowed
from postroom.protocols.imap.search import BadCharset
from postroom.protocols.imap.view import Selected, read_only
from postroom.protocols.imap.wire import (
    Command,
    ParseError,
    Token,
    format_seqset,
    literal_at_end,
    mutf7_decode,
    mutf7_encode,
    parse_command,
    quote,
    split_tag,
    text_of,
)
from postroom.services import names
from postroom.services.frontdoor import MailServices

log = logging.getLogger("postroom.imap")

PREAUTH_LITERAL = 4096  # LITERAL- before authentication (RFC 7888 §5, RFC 9051 App. E)
AUTOLOGOUT = 1800.0  # RFC 9051 §5.4: at least 30 minutes once authenticated
IDLE_KEEPALIVE = 120.0  # "* OK Still here" during IDLE (imap.idle_keepalive)


class State(enum.Enum):
    NOT_AUTH = "not authenticated"
    AUTH = "authenticated"
    SELECTED = "selected"
    LOGOUT = "logout"


ANY = frozenset({State.NOT_AUTH, State.AUTH, State.SELECTED})
NOT_AUTH = frozenset({State.NOT_AUTH})
AUTHED = frozenset({State.AUTH, State.SELECTED})
AUTH_ONLY = frozenset({State.AUTH})
SELECTED = frozenset({State.SELECTED})


@dataclass(frozen=True, slots=True)
class Reply:
    status: str  # OK | NO | BAD
    text: str
    code: str | None = None


def ok(text: str, code: str | None = None) -> Reply:
    return Reply("OK", text, code)


def no(text: str, code: str | None = None) -> Reply:
    return Reply("NO", text, code)


# One table: service error kind → IMAP response code (RFC 9051 §7.1, RFC 5530).
ERRORS: dict[Kind, str] = {
    Kind.NOT_FOUND: "NONEXISTENT",
    Kind.NO_PERM: "NOPERM",
    Kind.EXISTS: "ALREADYEXISTS",
    Kind.INVALID: "CANNOT",
    Kind.OVER_QUOTA: "OVERQUOTA",
    Kind.LIMIT: "LIMIT",
    Kind.IN_USE: "INUSE",
    Kind.AUTH_FAILED: "AUTHENTICATIONFAILED",
    Kind.DISABLED: "CONTACTADMIN",
    Kind.TEMPORARY: "UNAVAILABLE",
}


class AlreadyReplied(Exception):
    """The handler sent its own tagged reply (STARTTLS, COMPRESS: the stream changes after)."""


class Bye(Exception):
    """End the connection after sending ``* BYE text``."""


Handler = Callable[["Session", Command], Awaitable[Reply]]
UidHandler = Callable[["Session", Command, bool], Awaitable[Reply]]


@dataclass(frozen=True, slots=True)
class Spec:
    handler: Handler
    states: frozenset[State]
    expunge_ok: bool = True  # may pending expunges be announced after it (RFC 9051 §7.5.1)


@dataclass
class ImapSettings:
    hostname: str
    max_line: int = 65536
    max_literal: int = 50 * 1024 * 1024
    idle_timeout: float = 300.0
    idle_keepalive: float = IDLE_KEEPALIVE
    max_bad_commands: int = 20
    max_auth_failures: int = 3
    plaintext_networks: list[Network] = field(default_factory=list)
    tls_context: ssl.SSLContext | None = None
    channel_binding: bytes | None = None  # tls-server-end-point data (RFC 5929 §4)


class Session:
    """One connection's IMAP state. ``COMMANDS`` is filled in by the command modules."""

    COMMANDS: ClassVar[dict[str, Spec]] = {}

    def __init__(self, services: MailServices, settings: ImapSettings,
                 conn: Connection) -> None:
        self.services = services
        self.settings = settings
        self.conn = conn
        self.state = State.NOT_AUTH
        self.principal: Principal | None = None
        self.selected: Selected | None = None
        self.enabled: set[str] = set()
        self.condstore = False
        self._flag_text: dict[tuple[int, str], bytes] = {}  # (flags, keywords) → FLAGS (...)
        self.bad_commands = 0
        self.auth_failures = 0
        self.out: list[bytes] = []
        self.tag = "*"
        self.compressed = False

    # -- capabilities ---------------------------------------------------------------------------
    @property
    def utf8(self) -> bool:
        return "UTF8=ACCEPT" in self.enabled or "IMAP4REV2" in self.enabled

    @property
    def rev2(self) -> bool:
        return "IMAP4REV2" in self.enabled

    @property
    def qresync(self) -> bool:
        return "QRESYNC" in self.enabled

    async def enable_condstore(self) -> None:
        """A CONDSTORE-enabling command (FETCH/SEARCH MODSEQ, CHANGEDSINCE, UNCHANGEDSINCE,
        STATUS HIGHESTMODSEQ) turns CONDSTORE on for the rest of the session. RFC 7162 §3.1:
        when that happens while a mailbox is selected, by a command other than ENABLE or
        SELECT/EXAMINE (CONDSTORE), whose replies already say it, the server sends the
        mailbox's ``HIGHESTMODSEQ`` once, so the client has a starting point."""
        if self.condstore:
            return
        self.condstore = True
        sel = self.selected
        if sel is not None:
            rec = await self.services.messages.refresh(sel.handle)
            sel.highestmodseq = max(sel.highestmodseq, rec.highestmodseq)
            self.send(b"* OK [HIGHESTMODSEQ %d] Highest" % sel.highestmodseq)  # RFC 7162 §3.1

    def plaintext_ok(self) -> bool:
        return plaintext_allowed(self.conn, self.settings.plaintext_networks)

    def mechanisms(self) -> list[str]:
        return self.services.auth.mechanisms(self.conn.tls, self.plaintext_ok(),
                                             self.settings.channel_binding is not None)

    def capabilities(self) -> list[str]:
        caps = ["IMAP4rev1", "IMAP4rev2"]
        if self.state is State.NOT_AUTH:
            caps += ["SASL-IR", "LITERAL-", "ID", "ENABLE", "IDLE"]
            if not self.conn.tls and self.settings.tls_context is not None:
                caps.append("STARTTLS")
            if not self.plaintext_ok():
                caps.append("LOGINDISABLED")
            caps += [f"AUTH={m}" for m in self.mechanisms()]
            return caps
        caps += ["ACL", "RIGHTS=texk", "LITERAL+", "ID", "ENABLE", "IDLE", "NAMESPACE",
                 "UNSELECT", "UIDPLUS", "MOVE",
                 "CHILDREN", "LIST-EXTENDED", "LIST-STATUS", "SPECIAL-USE",
                 "CREATE-SPECIAL-USE", "ESEARCH", "SEARCHRES", "SORT", "SORT=DISPLAY",
                 "THREAD=ORDEREDSUBJECT", "THREAD=REFERENCES", "WITHIN", "CONDSTORE",
                 "QRESYNC", "QUOTA", "QUOTA=RES-STORAGE",
                 f"APPENDLIMIT={self.services.messages.max_message_size}", "UTF8=ACCEPT",
                 "STATUS=SIZE", "BINARY", "MULTIAPPEND", "SASL-IR"]
        if not self.compressed:
            caps.append("COMPRESS=DEFLATE")
        return caps

    # -- output -----------------------------------------------------------------------------
    def send(self, line: bytes) -> None:
        """Queue an untagged/continuation line (CRLF added)."""
        self.out.append(line + b"\r\n")

    async def flush(self) -> None:
        await self.conn.send_queued(self.out)

    def mailbox_out(self, name: str) -> bytes:
        """A mailbox name on the wire: UTF-8 once enabled, modified UTF-7 before (RFC 9051
        App. A: no UTF-8 to a client that did not ask)."""
        return quote(name if self.utf8 else mutf7_encode(name))

    def mailbox_in(self, token: Token, new: bool = False) -> str:
        """A mailbox name from the wire, decoded, with ``INBOX`` in its canonical case.

        A name that is not valid modified UTF-7 (``a&b``) is still an astring, so it is no
        syntax error: it is looked up as sent and simply names no mailbox (``NO
        [NONEXISTENT]``, a LIST pattern matching nothing), as Dovecot answers. Only a name
        about to be created (``new``: CREATE, RENAME's target) is refused, with ``NO
        [CANNOT]``, so no folder gets a name the client could never send back."""
        name = text_of(token, "mailbox name")
        if not self.utf8 and all(ord(c) < 128 for c in name):
            # (non-ASCII from a client that did not ENABLE UTF-8 is taken as UTF-8: lenient)
            try:
                name = mutf7_decode(name)
            except ParseError:
                if new:  # RFC 3501 §5.1.3
                    raise MailError(Kind.INVALID, "Mailbox name is not valid modified "
                                                  "UTF-7") from None
        return names.canonical_inbox(name)

    def reply_bytes(self, tag: str, reply: Reply) -> bytes:
        code = f"[{reply.code}] " if reply.code else ""
        return f"{tag} {reply.status} {code}{reply.text}\r\n".encode()

    # -- reading --------------------------------------------------------------------------------
    def _timeout(self) -> float:
        if self.state is State.NOT_AUTH:
            return self.settings.idle_timeout
        return max(self.settings.idle_timeout, AUTOLOGOUT)

    def literal_limit(self) -> int:
        return PREAUTH_LITERAL if self.state is State.NOT_AUTH else self.settings.max_literal

    async def read_command(self) -> bytes | None:
        """One whole command, literals included; None when it was refused while framing."""
        conn, limit = self.conn, self.settings.max_line
        timeout = self._timeout()
        parts: list[bytes] = []
        total = 0
        line = await self._line()
        while True:
            if line is None:
                return None
            parts.append(line)
            total += len(line)
            mark = literal_at_end(line)
            if mark is None:
                return b"".join(parts)
            tag = split_tag(parts[0]) or "*"
            if mark.size > self.literal_limit() or total + mark.size > \
                    self.settings.max_literal + limit * 4:
                toobig = f"Literal too big (at most {self.literal_limit()} octets here)"
                if mark.sync:
                    # RFC 9051 §4.3: refusing instead of "+" means the client sends nothing.
                    await conn.send(f"{tag} NO [TOOBIG] {toobig}\r\n".encode())
                    return None
                if mark.size > self.settings.max_literal * 2:
                    raise Bye(f"[TOOBIG] {toobig}")  # RFC 7888 §4: or read and discard
                await conn.readexactly(mark.size, timeout)
                await conn.skip_line(limit, timeout)  # the rest of the command
                await conn.send(f"{tag} BAD [TOOBIG] {toobig}\r\n".encode())
                return None
            if mark.sync:
                await conn.send(b"+ Ready for literal data\r\n")
            parts.append(await conn.readexactly(mark.size, timeout))
            total += mark.size
            line = await self._line()

    async def _line(self) -> bytes | None:
        """One line of a command; None when it was too long (refused, and skipped)."""
        try:
            return await self.conn.readline(self.settings.max_line, self._timeout())
        except LineTooLong:
            await self.refuse_long_line()
            return None

    async def refuse_long_line(self) -> None:
        """After LineTooLong: say so at once (untagged: the tag may be what was cut off),
        then skip the rest of the line so that its tail never runs as a command. A flood
        raises LineTooLong from ``skip_line``; ``run`` answers it with BYE
        (net/connection.py has the rule)."""
        await self.conn.send(b"* BAD [TOOBIG] Command line too long\r\n")
        await self.conn.skip_line(self.settings.max_line, self._timeout())
        await self._count_bad()

    # -- the loop -------------------------------------------------------------------------------
    async def run(self, preauth: Principal | None = None) -> None:
        caps = " ".join(self.capabilities())
        await self.conn.send(f"* OK [CAPABILITY {caps}] {self.settings.hostname} Postroom "
                             f"IMAP ready\r\n".encode())
        try:
            while self.state is not State.LOGOUT:
                raw = await self.read_command()
                if raw is None:
                    continue
                await self.execute(raw)
        except Bye as exc:
            await self._bye(str(exc))
        except LineTooLong:
            # A flood (net/connection.py): goodbye, then the listener closes and logs it.
            await self._bye("[TOOBIG] Line too long, closing")
            raise
        except IdleTimeout:
            await self._bye("Autologout; idle for too long")
        except ShuttingDown:
            await self._bye("[UNAVAILABLE] Server shutting down")
        except (ConnectionClosed, ConnectionError):
            pass
        finally:
            self.deselect()

    async def _bye(self, text: str) -> None:
        try:
            self.out.clear()
            await self.conn.send(f"* BYE {text}\r\n".encode())
        except (ConnectionClosed, ConnectionError):
            pass
        self.state = State.LOGOUT

    async def _count_bad(self) -> None:
        self.bad_commands += 1
        if self.bad_commands >= self.settings.max_bad_commands:
            self.services.screening.note(self.conn.peer[0], "bad-commands", "imap")
            raise Bye("Too many invalid commands")

    async def execute(self, raw: bytes) -> None:
        try:
            cmd = parse_command(raw, self.utf8)
        except ParseError as exc:
            tag = split_tag(raw) or "*"
            await self.conn.send(f"{tag} BAD {exc}\r\n".encode())
            await self._count_bad()
            return
        self.tag = cmd.tag
        spec = self.COMMANDS.get(cmd.name)
        if spec is None:
            self.services.metrics.command("imap", "other", 0.0)
            await self.conn.send(f"{cmd.tag} BAD Unknown command {cmd.name[:40]}\r\n".encode())
            await self._count_bad()
            return
        if self.state not in spec.states:
            await self.conn.send(f"{cmd.tag} BAD {cmd.name} is not valid in the "
                                 f"{self.state.value} state\r\n".encode())
            return
        if self.state is State.SELECTED and self.selected is not None:
            with contextlib.suppress(MailError):
                await self.refresh_rights()
        start = time.perf_counter()
        try:
            reply = await self._run_handler(spec, cmd)
        except AlreadyReplied:
            return
        finally:  # the name is a key of COMMANDS: a bounded label (obs/metrics.py)
            self.services.metrics.command("imap", cmd.name, time.perf_counter() - start)
        if reply.status == "BAD":
            await self._count_bad()
        with contextlib.suppress(MailError):
            await self.announce_if_selected(spec.expunge_ok)
        self.out.append(self.reply_bytes(cmd.tag, reply))
        await self.flush()

    async def _run_handler(self, spec: Spec, cmd: Command) -> Reply:
        try:
            return await spec.handler(self, cmd)
        except ParseError as exc:
            return Reply("BAD", str(exc))
        except BadCharset:
            return no("Unsupported charset", "BADCHARSET (US-ASCII UTF-8)")
        except MailError as exc:
            return no(exc.text, ERRORS.get(exc.kind))
        except (Bye, AlreadyReplied, ConnectionClosed, ConnectionError, IdleTimeout,
                LineTooLong, ShuttingDown):
            raise
        except Exception:
            log.exception("IMAP %s failed", cmd.name)
            return no(f"Internal error, logged as {self.conn.id}", "SERVERBUG")

    # -- selected-state notifications ---------------------------------------------------------
    def deselect(self) -> None:
        if self.selected is not None:
            self.selected.sub.close()
            self.selected = None
        if self.state is State.SELECTED:
            self.state = State.AUTH

    async def announce_if_selected(self, expunge_ok: bool = True) -> None:
        if self.state is State.SELECTED and self.selected is not None:
            await self.announce(expunge_ok)

    async def announce(self, expunge_ok: bool) -> None:
        """Tell the client what changed since it last heard (RFC 9051 §7.5.1, §7.4.1)."""
        sel = self.selected
        assert sel is not None and self.principal is not None
        await self.refresh_rights()
        if sel.resync:
            await self.catch_up(sel)
        if expunge_ok and sel.pending_expunge:
            self.send_expunged(sorted(sel.pending_expunge))
        if sel.added:
            sel.added = False
            new = await self.services.messages.uids(sel.handle, sel.last_uid())
            fresh = sel.add_uids(new)
            if fresh:
                await self.take_recent(sel, fresh)
                self.send(b"* %d EXISTS" % sel.exists)
                if not self.rev2:
                    self.send(b"* %d RECENT" % len(sel.recent))  # RFC 3501 §7.3.2
        if sel.pending_flags:
            uids = sorted(sel.pending_flags)
            sel.pending_flags.clear()
            for row in await self.services.messages.flags(self.principal, sel.handle, uids):
                seq = sel.seq_of(row.uid)
                if seq is not None:
                    self.send(self.flags_fetch(seq, row.uid, row.flags, row.keywords,
                                               row.modseq))

    async def catch_up(self, sel: Selected) -> None:
        """Changes this session may have missed, read from the store by MODSEQ (RFC 7162
        §3.1: every change raises the mailbox's MODSEQ): expunges since the view's highest
        MODSEQ become pending EXPUNGEs, flag changes pending FETCHes, new UIDs are found by
        ``added``. The mailbox's MODSEQ is read first, so a change committed meanwhile is
        told twice at worst, never missed."""
        sel.resync = False
        assert self.principal is not None
        rec = await self.services.messages.refresh(sel.handle)
        base = sel.highestmodseq
        if rec.highestmodseq <= base:
            return
        for uid in await self.services.messages.expunged_since(sel.handle, base):
            if sel.seq_of(uid) is not None:
                sel.pending_expunge.add(uid)
        if sel.uids:
            rows = await self.services.messages.flags(self.principal, sel.handle, sel.uids,
                                                      since_modseq=base)
            sel.pending_flags.update(r.uid for r in rows if r.uid not in sel.pending_expunge)
        sel.highestmodseq = rec.highestmodseq
        sel.added = True

    async def take_recent(self, sel: Selected, fresh: list[int], mark: int | None = None,
                          ) -> None:
        """Which of ``fresh`` (UIDs just added to the view, ascending) are \\Recent here.

        RFC 3501 §2.3.2: a message is recent in the first session told about it, and "if the
        session is read-write, subsequent sessions will not see \\Recent set for this
        message". So a read-write session (SELECT, not EXAMINE nor a mailbox opened
        READ-ONLY by its rights) claims the new messages in the store, atomically, and keeps
        those it got; a read-only one only looks at what nobody has claimed, without taking
        it. Whether the session shows \\Recent does not matter here: an IMAP4rev2 session
        claims too but never shows it (RFC 9051 removed \\Recent), as Dovecot does, whose
        read-write SELECT drops recency whatever the protocol version (docs/imap.md). The
        store is written only when something above the mark is new, so a SELECT or a poll
        with nothing new costs one read."""
        if not fresh:
            return
        top = fresh[-1]
        if mark is None:
            mark = await self.services.messages.recent_mark(sel.handle)
        if sel.claims_recent and top > mark:
            mark, _ = await self.services.messages.claim_recent(sel.handle, top)
        sel.recent.update(u for u in fresh if u > mark)

    async def refresh_rights(self) -> None:
        """Take in ACL changes on the selected mailbox before the next command runs.

        RFC 4314 §4 lets a server cache rights at SELECT only if it tells the client when they
        change: losing ``r`` ends the session with ``* BYE`` (the mailbox may now not even
        exist for this user, Product decision 8); other changes are announced with
        ``PERMANENTFLAGS`` and, when writability flips, ``READ-ONLY`` / ``READ-WRITE``
        (RFC 9051 §7.1). Called before every selected-state command, so no command ever runs
        on rights that were already revoked."""
        sel = self.selected
        assert sel is not None and self.principal is not None
        sel.drain()
        if sel.deleted:
            raise Bye("Selected mailbox was deleted")
        if not sel.acl_changed:
            return
        sel.acl_changed = False
        try:
            handle = await self.services.mailboxes.open_id(
                self.principal, sel.handle.mailbox.id, sel.handle.name)
        except MailError:
            raise Bye("[NOPERM] Access to the selected mailbox was revoked") from None
        if not handle.allows(Op.READ):
            raise Bye("[NOPERM] Access to the selected mailbox was revoked")
        before = sel.permanent(), sel.readonly
        sel.handle = handle
        if sel.examined:
            return
        sel.readonly = read_only(handle)
        perm = sel.permanent()
        if (perm, sel.readonly) != before:
            self.send(f"* OK [PERMANENTFLAGS ({perm})] Rights changed".encode())
        if sel.readonly != before[1]:
            self.send(b"* OK [READ-ONLY] Rights changed" if sel.readonly
                      else b"* OK [READ-WRITE] Rights changed")

    def send_expunged(self, uids: list[int]) -> None:
        sel = self.selected
        assert sel is not None
        if self.qresync:
            present = [u for u in uids if sel.seq_of(u) is not None]
            sel.remove(set(uids))
            if present:
                self.send(b"* VANISHED " + format_seqset(present).encode())  # RFC 7162 §3.2.10
            return
        for seq in sel.remove(set(uids)):
            self.send(b"* %d EXPUNGE" % seq)

    def flag_list(self, uid: int, flags: int, keywords: str) -> bytes:
        """``FLAGS (...)`` as this session sees them (``\\Recent`` is per session, rev1).

        Every FETCH FLAGS the session sends is made here, whatever caused it (FETCH, STORE,
        another session's change, IDLE), so this is where a keyword the client has not been
        told about is announced first: RFC 3501 §7.2.6 requires an untagged FLAGS listing it
        (and PERMANENTFLAGS with it when the user may set keywords) before any FETCH mentions
        it. The announcement is queued before the FETCH line that carries it, which the
        callers queue only after this returns."""
        sel = self.selected
        if keywords and sel is not None and keywords not in sel.checked_keywords:
            self.announce_keywords(sel, keywords)
        if sel is not None and not self.rev2 and uid in sel.recent:
            names = F.format_flags(flags, F.keywords_from_text(keywords))
            names.append("\\Recent")
            return b"FLAGS (" + " ".join(names).encode() + b")"
        # A mailbox has few distinct flag combinations: format each once (FETCH 1:* FLAGS).
        key = (flags, keywords)
        text = self._flag_text.get(key)
        if text is None:
            names = F.format_flags(flags, F.keywords_from_text(keywords))
            text = b"FLAGS (" + " ".join(names).encode() + b")"
            if len(self._flag_text) < 4096:
                self._flag_text[key] = text
        return text

    def announce_keywords(self, sel: Selected, keywords: str) -> None:
        """Queue ``* FLAGS`` (and ``PERMANENTFLAGS``) when ``keywords`` holds a keyword not yet
        announced in this selection (RFC 3501 §7.2.6, RFC 9051 §7.3.5)."""
        fresh = False
        for kw in F.keywords_from_text(keywords):
            if kw.casefold() not in sel.keywords:
                sel.keywords[kw.casefold()] = kw
                fresh = True
        if fresh:
            self.send(sel.flags_line())
            if not sel.readonly:
                self.send(f"* OK [PERMANENTFLAGS ({sel.permanent()})] Flags permitted".encode())
        if len(sel.checked_keywords) < 4096:
            sel.checked_keywords.add(keywords)

    def flags_fetch(self, seq: int, uid: int, flags: int, keywords: str, modseq: int) -> bytes:
        out = b"* %d FETCH (UID %d " % (seq, uid) + self.flag_list(uid, flags, keywords)
        if self.condstore:
            out += b" MODSEQ (%d)" % modseq
        return out + b")"


def command(name: str, states: frozenset[State], expunge_ok: bool = True,
            ) -> Callable[[Handler], Handler]:
    """Register a handler in the dispatch table."""
    def wrap(fn: Handler) -> Handler:
        Session.COMMANDS[name] = Spec(fn, states, expunge_ok)
        return fn
    return wrap


def uid_command(name: str, expunge_ok: bool = True) -> Callable[[UidHandler], UidHandler]:
    """Register a selected-state command and its ``UID`` form with one handler taking
    ``uid``. The UID form may always announce expunges (RFC 9051 §7.5.1); the plain form
    only if ``expunge_ok`` (not FETCH, STORE, SEARCH)."""
    def wrap(fn: UidHandler) -> UidHandler:
        async def plain(s: Session, cmd: Command) -> Reply:
            return await fn(s, cmd, False)

        async def with_uid(s: Session, cmd: Command) -> Reply:
            return await fn(s, cmd, True)
        Session.COMMANDS[name] = Spec(plain, SELECTED, expunge_ok)
        Session.COMMANDS[f"UID {name}"] = Spec(with_uid, SELECTED, True)
        return fn
    return wrap


async def idle_wait(session: Session) -> Reply:
    """RFC 2177: ``+ idling``, then changes as they happen, until DONE.

    Thousands of clients sit here all day, so the wait is one future that the connection (a
    line, EOF, shutdown), the change feed (a commit in the selected mailbox) and one timer
    (the keep-alive) may each resolve: no task per event source. RFC 9051 §5.4's
    30-minute autologout still applies to a client that says nothing.
    """
    await session.conn.send(b"+ idling\r\n")
    conn = session.conn
    loop = asyncio.get_running_loop()
    max_line = session.settings.max_line
    while True:
        if conn.has_line(max_line) or conn.at_eof:
            try:
                line = await conn.readline(max_line, AUTOLOGOUT)
            except LineTooLong:
                await session.refuse_long_line()
                return Reply("BAD", "Expected DONE")
            if line.strip().upper() == b"DONE":
                return ok("IDLE terminated")
            return Reply("BAD", "Expected DONE")
        sel = session.selected
        if sel is not None and sel.sub.has_pending():
            sel.drain()
            await session.announce(expunge_ok=True)
            await session.flush()
            continue
        silent = time.monotonic() - conn.last_data
        if silent >= AUTOLOGOUT:
            raise IdleTimeout()
        if conn.draining and not conn.buffered():
            raise ShuttingDown()
        delay = min(session.settings.idle_keepalive, AUTOLOGOUT - silent)
        waiter: asyncio.Future[None] = loop.create_future()
        wake_at = loop.time() + delay
        timer = loop.call_at(wake_at, _resolve, waiter)
        conn.arm(waiter)
        if sel is not None:
            sel.sub.arm(waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            conn.disarm()
            if sel is not None:
                sel.sub.disarm()
        if loop.time() >= wake_at and not conn.has_line(max_line) and not conn.at_eof \
                and time.monotonic() - conn.last_data < AUTOLOGOUT:
            await conn.send(b"* OK Still here\r\n")
        # Otherwise woken by the client, the feed or shutdown: the loop looks again.


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
