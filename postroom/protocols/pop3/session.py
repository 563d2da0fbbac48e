"""The POP3 session (RFC 1939) with CAPA (RFC 2449), STLS (RFC 2595 §4), AUTH (RFC 5034),
response codes (RFC 2449 §8, RFC 3206) and UTF8 (RFC 6856 §2).

States (RFC 1939 §3): AUTHORIZATION → TRANSACTION → UPDATE, the last only through QUIT. A
connection that ends any other way (dropped, autologout, shutdown) changes nothing: the DELE
marks are forgotten and the lock released (§6).

Passwords travel only inside TLS unless the client's network is listed in
``server.plaintext_auth_networks`` (specs.md §0): before STLS, CAPA lists neither USER nor the
SASL mechanisms, and USER, PASS, APOP and AUTH are refused with ``[AUTH]``. Failures go through
the shared throttle, as for IMAP and SMTP, and a session that fails ``max_auth_failures`` times
is closed. Garbage gets ``-ERR`` and, after ``max_bad_commands`` of it, the connection closes.
"""

from __future__ import annotations

import base64
import contextlib
import enum
import logging
import os
import secrets
import ssl
import time
from dataclasses import dataclass, field

from postroom import __version__
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
from postroom.protocols import sasl
from postroom.protocols.pop3.wire import Pop3SyntaxError, clip, number, parse_command, stuff, top
from postroom.services.frontdoor import MailServices
from postroom.services.maildrop import CHUNK, Maildrop

log = logging.getLogger("postroom.pop3")

AUTOLOGOUT_MIN = 600.0  # RFC 1939 §3: an autologout timer of at least 10 minutes


class State(enum.Enum):
    AUTHORIZATION = "authorization"
    TRANSACTION = "transaction"


@dataclass
class Pop3Settings:
    hostname: str
    max_line: int = 8192
    idle_timeout: float = AUTOLOGOUT_MIN
    max_bad_commands: int = 20
    max_auth_failures: int = 3
    plaintext_networks: list[Network] = field(default_factory=list)
    tls_context: ssl.SSLContext | None = None
    channel_binding: bytes | None = None
    apop: bool = False  # put an APOP timestamp in the greeting (RFC 1939 §7)


class Quit(Exception):
    """Close after the reply already queued."""


# Which commands each state takes (RFC 1939 §3); each runs as ``Pop3Session.cmd_<verb>``.
AUTH_COMMANDS = {"USER", "PASS", "APOP", "AUTH", "STLS", "UTF8"}
TRANSACTION_COMMANDS = {"STAT", "LIST", "RETR", "DELE", "NOOP", "RSET", "TOP", "UIDL"}
ANY_STATE = {"CAPA", "QUIT"}


class Pop3Session:
    def __init__(self, services: MailServices, settings: Pop3Settings,
                 conn: Connection) -> None:
        self.services = services
        self.settings = settings
        self.conn = conn
        self.maildrops = services.maildrops
        self.state = State.AUTHORIZATION
        self.user: str | None = None  # after USER, until PASS
        self.principal: Principal | None = None
        self.drop: Maildrop | None = None
        self.bad = 0
        self.auth_failures = 0
        self.utf8 = False
        self.out: list[bytes] = []
        self.timestamp = f"<{os.getpid()}.{time.time_ns()}.{secrets.token_hex(4)}" \
                         f"@{settings.hostname}>"

    # -- replies ------------------------------------------------------------------------------
    def ok(self, text: str = "") -> None:
        self.out.append(("+OK " + clip(text, 506) if text else "+OK").encode() + b"\r\n")

    def err(self, text: str, code: str | None = None) -> None:
        """``-ERR [CODE] text``. RFC 2449 §8 lets a server send response codes to any client;
        one that does not know them shows them as part of the text."""
        body = f"[{code}] {text}" if code else text
        self.out.append(b"-ERR " + clip(body, 506).encode() + b"\r\n")

    def lines(self, items: list[str]) -> None:
        """The body of a multi-line reply and its terminating dot (RFC 1939 §3)."""
        self.out.append("".join(f"{line}\r\n" for line in items).encode() + b".\r\n")

    async def flush(self) -> None:
        await self.conn.send_queued(self.out)

    @property
    def plaintext_ok(self) -> bool:
        return plaintext_allowed(self.conn, self.settings.plaintext_networks)

    def mechanisms(self) -> list[str]:
        if not self.plaintext_ok:
            return []  # no AUTH at all before STLS, as on the SMTP ports (specs.md §0)
        return self.services.auth.mechanisms(self.conn.tls, True,
                                             self.settings.channel_binding is not None)

    # -- the loop -----------------------------------------------------------------------------
    async def run(self) -> None:
        greeting = "Postroom POP3 ready"
        if self.settings.apop:
            greeting += " " + self.timestamp
        self.ok(greeting)
        await self.flush()
        try:
            while True:
                try:
                    line = await self.conn.readline(self.settings.max_line,
                                                    self.settings.idle_timeout)
                except LineTooLong:
                    await self.refuse_long_line("Line too long")
                    self._count_bad()
                    continue
                await self.execute(line)
                if not self.conn.buffered():  # RFC 2449 §6.6: answer pipelined input in bulk
                    await self.flush()
        except Quit:
            await self._flush_quietly()
        except IdleTimeout:
            # RFC 1939 §3: autologout ends the session without entering UPDATE.
            self.out.clear()
            self.err("Autologout: idle for too long", "SYS/TEMP")
            await self._flush_quietly()
        except ShuttingDown:
            self.out.clear()
            self.err("Server shutting down, try again later", "SYS/TEMP")
            await self._flush_quietly()
        except (ConnectionClosed, ConnectionError):
            pass
        finally:
            if self.drop is not None:
                self.maildrops.close(self.drop)
                self.drop = None

    async def refuse_long_line(self, text: str, code: str | None = None) -> None:
        """After LineTooLong: ``-ERR`` at once, then skip the rest of the line so that its
        tail never runs as a command. A flood raises LineTooLong from ``skip_line``; POP3 has
        no way to say goodbye unasked (RFC 1939), so the session just ends and the listener
        closes the connection and logs it (net/connection.py has the rule)."""
        self.err(text, code)
        await self.flush()
        await self.conn.skip_line(self.settings.max_line, self.settings.idle_timeout)

    async def _flush_quietly(self) -> None:
        with contextlib.suppress(ConnectionClosed, ConnectionError):
            await self.flush()

    def _count_bad(self) -> None:
        self.bad += 1
        if self.bad >= self.settings.max_bad_commands:
            self.err("Too many errors, closing")
            self.services.screening.note(self.conn.peer[0], "bad-commands", "pop3")
            raise Quit()

    async def execute(self, line: bytes) -> None:
        try:
            cmd = parse_command(line)
        except Pop3SyntaxError as exc:
            self.err(str(exc))
            self._count_bad()
            return
        if cmd.verb not in AUTH_COMMANDS | TRANSACTION_COMMANDS | ANY_STATE:
            self.services.metrics.command("pop3", "other", 0.0)
            self.err("Unknown command")
            self._count_bad()
            return
        allowed = cmd.verb in ANY_STATE or (
            cmd.verb in AUTH_COMMANDS if self.state is State.AUTHORIZATION
            else cmd.verb in TRANSACTION_COMMANDS)
        if not allowed:
            self.err(f"{cmd.verb} is not valid in the {self.state.value} state")
            self._count_bad()
            return
        start = time.perf_counter()
        try:
            await getattr(self, "cmd_" + cmd.verb.lower())(cmd.args, cmd.rest)
        except Pop3SyntaxError as exc:
            self.err(str(exc))
            self._count_bad()
        except MailError as exc:
            # The one place service errors become replies (RFC 3206 codes).
            if exc.kind is Kind.DISABLED:
                self.err("Account disabled", "SYS/PERM")
            elif exc.kind is Kind.TEMPORARY:
                self.err(exc.text, "SYS/TEMP")
            else:
                self.err(exc.text)
        finally:  # one of the command sets above: a bounded label (obs/metrics.py)
            self.services.metrics.command("pop3", cmd.verb, time.perf_counter() - start)

    # -- AUTHORIZATION ------------------------------------------------------------------------
    def _plaintext_refused(self) -> bool:
        if self.plaintext_ok:
            return False
        self.err("Plaintext authentication is not allowed without TLS: use STLS or port 995",
                 "AUTH")
        return True

    async def login(self, principal: Principal | None, user: str) -> None:
        """End of every authentication path: throttle, lock the maildrop, change state."""
        ip = self.conn.peer[0]
        auth = self.services.auth
        if principal is None:
            self.auth_failures += 1
            await auth.failed("pop3", ip, user)
            self.err("Authentication failed", "AUTH")
            if self.auth_failures >= self.settings.max_auth_failures:
                self.err("Too many failed logins, closing")
                raise Quit()
            return
        auth.succeeded("pop3", ip, principal)
        try:
            drop = await self.maildrops.open(principal)
        except MailError as exc:
            if exc.kind is Kind.IN_USE:  # RFC 2449 §8.1.2: the session stays in AUTHORIZATION
                log.info("maildrop in use", extra={"user": principal.address, "ip": ip})
                self.err(exc.text, "IN-USE")
                return
            if exc.kind is Kind.NOT_FOUND:
                self.err("This account has no INBOX", "SYS/PERM")
                return
            raise
        self.principal = principal
        self.drop = drop
        self.state = State.TRANSACTION
        total = sum(size for _, size in drop.messages)
        log.info("login", extra={"user": principal.address, "ip": ip,
                                 "messages": len(drop.messages)})
        self.ok(f"Logged in, {len(drop.messages)} messages ({total} octets)")

    async def cmd_user(self, args: list[str], rest: str) -> None:
        if self._plaintext_refused():
            return
        if len(args) != 1 or not args[0]:
            raise Pop3SyntaxError("USER takes one argument: the user name")
        self.user = args[0]
        self.ok("Send PASS")  # says nothing about whether the account exists

    async def cmd_pass(self, args: list[str], rest: str) -> None:
        if self._plaintext_refused():
            return
        if self.user is None:
            self.err("Send USER first")
            return
        user, self.user = self.user, None
        # RFC 1939 §7: PASS has exactly one argument, so spaces are part of the password.
        await self.services.auth.before(self.conn.peer[0], user)
        await self.login(await self.services.auth.password(user, rest), user)

    async def cmd_apop(self, args: list[str], rest: str) -> None:
        """RFC 1939 §7: ``APOP name digest``, digest = MD5(timestamp + shared secret)."""
        if not self.settings.apop:
            self.err("APOP is not enabled on this server")
            return
        if len(args) != 2 or len(args[1]) != 32:
            raise Pop3SyntaxError("APOP takes a name and a 32-digit hex digest")
        user, digest = args
        await self.services.auth.before(self.conn.peer[0], user)
        principal = await self.services.auth.apop(user, self.timestamp, digest.lower())
        await self.login(principal, user)

    async def cmd_auth(self, args: list[str], rest: str) -> None:
        """RFC 5034 §4: ``AUTH mech [initial-response]``, ``+ b64`` challenges, ``*`` cancels.
        A bare AUTH lists the mechanisms, as Outlook and Dovecot expect."""
        mechs = self.mechanisms()
        if not args:
            if not mechs and self._plaintext_refused():
                return
            self.ok("Mechanisms follow")
            self.lines(mechs)
            return
        if self._plaintext_refused():
            return
        if len(args) > 2:
            raise Pop3SyntaxError("AUTH takes a mechanism and an optional initial response")
        name = args[0].upper()
        if name not in mechs:
            self.err(f"Unsupported mechanism {clip(name, 40)}")
            return
        await self.services.auth.before(self.conn.peer[0])
        await self.flush()

        async def challenge(data: bytes) -> None:
            await self.conn.send(b"+ " + base64.b64encode(data) + b"\r\n")

        try:
            outcome = await sasl.exchange(self.services.auth, self.conn, name,
                                          args[1] if len(args) == 2 else None, challenge,
                                          offered=mechs,
                                          channel_binding=self.settings.channel_binding,
                                          max_line=self.settings.max_line,
                                          hostname=self.settings.hostname)
        except LineTooLong as exc:  # refused like a command line (protocols/sasl.py)
            await self.refuse_long_line(f"Authentication failed: response line longer than "
                                        f"{exc.limit} octets", "AUTH")
            return
        if outcome.cancelled:
            self.err("Authentication cancelled")
            return
        if outcome.error:
            self.err(f"Authentication failed: {outcome.error}", "AUTH")
            return
        await self.login(outcome.principal, outcome.username)

    async def cmd_stls(self, args: list[str], rest: str) -> None:
        """RFC 2595 §4: only in AUTHORIZATION, only once; bytes the client pipelined after STLS
        are discarded with the handshake (specs.md §0)."""
        if args:
            raise Pop3SyntaxError("STLS takes no arguments")
        if self.conn.tls:
            self.err("TLS is already active")
            return
        ctx = self.settings.tls_context
        if ctx is None:
            self.err("TLS is not available")
            return
        self.ok("Begin TLS negotiation")
        await self.flush()
        try:
            await self.conn.start_tls(ctx)
        except (TimeoutError, OSError) as exc:
            log.info("STLS handshake failed", extra={"ip": self.conn.peer[0],
                                                    "error": str(exc)[:100]})
            raise ConnectionClosed() from None
        self.user = None  # RFC 2595 §4: forget what was said before TLS

    async def cmd_utf8(self, args: list[str], rest: str) -> None:
        """RFC 6856 §2: user names and passwords may be UTF-8 from now on; messages are sent
        as stored (never downgraded)."""
        if args:
            raise Pop3SyntaxError("UTF8 takes no arguments")
        self.utf8 = True
        self.ok("UTF8 enabled")

    async def cmd_capa(self, args: list[str], rest: str) -> None:
        """RFC 2449 §5: what this session may use now (USER and SASL only where allowed)."""
        caps = ["TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "EXPIRE NEVER",
                "UTF8", f"IMPLEMENTATION Postroom-{__version__}"]
        if self.state is State.AUTHORIZATION:
            if self.plaintext_ok:
                caps.append("USER")
            mechs = self.mechanisms()
            if mechs:
                caps.append("SASL " + " ".join(mechs))
            if not self.conn.tls and self.settings.tls_context is not None:
                caps.append("STLS")
        self.ok("Capability list follows")
        self.lines(caps)

    async def cmd_quit(self, args: list[str], rest: str) -> None:
        """RFC 1939 §6: QUIT in TRANSACTION enters UPDATE; only then is anything removed."""
        if self.state is State.AUTHORIZATION or self.drop is None:
            self.ok(f"{self.settings.hostname} Postroom POP3 signing off")
            raise Quit()
        drop = self.drop
        try:
            _seen, removed = await self.maildrops.update(drop)
        except MailError as exc:
            log.warning("pop3 update failed", extra={"user": self._who(), "error": exc.text})
            self.err("Some deleted messages were not removed: " + exc.text, "SYS/TEMP")
            raise Quit() from None
        log.info("logout", extra={"user": self._who(), "removed": removed,
                                  "retrieved": len(drop.retrieved)})
        self.ok(f"Postroom POP3 signing off ({removed} messages deleted)")
        raise Quit()

    def _who(self) -> str:
        return (self.principal.address or "") if self.principal else ""

    # -- TRANSACTION --------------------------------------------------------------------------
    def _drop(self) -> Maildrop:
        assert self.drop is not None
        return self.drop

    def _message(self, arg: str) -> int:
        """A message number that exists and is not marked deleted (RFC 1939 §5)."""
        drop = self._drop()
        n = number(arg)
        if not 1 <= n <= len(drop.messages):
            raise MailError(Kind.NOT_FOUND, f"No such message: {clip(arg, 20)}")
        if n in drop.deleted:
            raise MailError(Kind.NOT_FOUND, f"Message {n} is deleted")
        return n

    def _live(self) -> list[int]:
        drop = self._drop()
        return [n for n in range(1, len(drop.messages) + 1) if n not in drop.deleted]

    async def cmd_stat(self, args: list[str], rest: str) -> None:
        if args:
            raise Pop3SyntaxError("STAT takes no arguments")
        drop = self._drop()
        live = self._live()
        self.ok(f"{len(live)} {sum(drop.messages[n - 1][1] for n in live)}")

    async def cmd_list(self, args: list[str], rest: str) -> None:
        drop = self._drop()
        if len(args) > 1:
            raise Pop3SyntaxError("LIST takes at most one argument")
        if args:
            n = self._message(args[0])
            self.ok(f"{n} {drop.messages[n - 1][1]}")
            return
        live = self._live()
        self.ok(f"{len(live)} messages ({sum(drop.messages[n - 1][1] for n in live)} octets)")
        self.lines([f"{n} {drop.messages[n - 1][1]}" for n in live])

    async def cmd_uidl(self, args: list[str], rest: str) -> None:
        drop = self._drop()
        if len(args) > 1:
            raise Pop3SyntaxError("UIDL takes at most one argument")
        if args:
            n = self._message(args[0])
            self.ok(f"{n} {drop.uidl(n)}")
            return
        self.ok("Unique-ID listing follows")
        self.lines([f"{n} {drop.uidl(n)}" for n in self._live()])

    async def cmd_dele(self, args: list[str], rest: str) -> None:
        if len(args) != 1:
            raise Pop3SyntaxError("DELE takes one message number")
        n = self._message(args[0])
        self._drop().deleted.add(n)
        self.ok(f"Message {n} deleted")

    async def cmd_rset(self, args: list[str], rest: str) -> None:
        if args:
            raise Pop3SyntaxError("RSET takes no arguments")
        drop = self._drop()
        drop.deleted.clear()
        self.ok(f"{len(drop.messages)} messages")

    async def cmd_noop(self, args: list[str], rest: str) -> None:
        if args:
            raise Pop3SyntaxError("NOOP takes no arguments")
        self.ok()

    async def cmd_retr(self, args: list[str], rest: str) -> None:
        if len(args) != 1:
            raise Pop3SyntaxError("RETR takes one message number")
        n = self._message(args[0])
        await self._send_message(n, None)
        self._drop().retrieved.add(n)

    async def cmd_top(self, args: list[str], rest: str) -> None:
        if len(args) != 2:
            raise Pop3SyntaxError("TOP takes a message number and a line count")
        n = self._message(args[0])
        await self._send_message(n, number(args[1], "line count"))

    async def _send_message(self, n: int, lines: int | None) -> None:
        """RETR (``lines`` None) or TOP: read in chunks, byte-stuffed, dot-terminated."""
        drop = self._drop()
        rec = await self.maildrops.content(drop, n)
        size = rec.size
        if lines is not None:
            data = b""
            while True:  # read until the header and ``lines`` body lines are in hand
                data += await self.maildrops.read(rec, len(data), min(len(data) + CHUNK, size))
                part = top(data, lines)
                if part is not None or len(data) >= size:
                    data = part if part is not None else data
                    break
            self.ok("Top of message follows")
            body, start = stuff(data, True)
            self.out.append(body)
            self._terminate(start)
            return
        self.ok(f"{size} octets")
        await self.flush()
        at_start = True
        pos = 0
        while pos < size:
            chunk = await self.maildrops.read(rec, pos, min(pos + CHUNK, size))
            if not chunk:
                break
            pos += len(chunk)
            stuffed, at_start = stuff(chunk, at_start)
            await self.conn.send(stuffed)
        self._terminate(at_start)

    def _terminate(self, at_line_start: bool) -> None:
        self.out.append(b".\r\n" if at_line_start else b"\r\n.\r\n")

