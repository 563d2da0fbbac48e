"""The ManageSieve session (RFC 5804): framing, the command loop, the dispatch table, replies.

Shape (DESIGN.md §4.6): ``read_command`` frames one command (lines plus literals, every limit
enforced before the octets are buffered); ``wire.parse_command`` tokenises it; the dispatch
table maps the name to a handler and the states it is valid in; handlers call the script
service and return a ``Reply``; service errors become response codes in one table,
``ERRORS``. Three failure classes: syntax → ``NO`` with what was wrong (ManageSieve has no
BAD), user → ``NO`` with a response code, server → logged with the connection id, then
``NO (TRYLATER)``.

States (RFC 5804 §1.4, §2): non-authenticated (CAPABILITY, STARTTLS, AUTHENTICATE, NOOP,
LOGOUT) and authenticated (the script commands, UNAUTHENTICATE). A session never touches
scripts other than its user's: every call passes the principal and ``owner=None``.

Passwords travel only inside TLS unless the client's network is listed in
``server.plaintext_auth_networks``, exactly as for IMAP: the SASL capability lists what may be
used now (services/auth.py), PLAIN and LOGIN are refused before STARTTLS with
``ENCRYPT-NEEDED``. Failed logins go through the shared throttle, a session that fails
``max_auth_failures`` times is closed, and one that sends ``max_bad_commands`` unusable
commands is closed and reported to dynamic screening.

Limits: a command line is at most ``limits.max_line_length`` octets; a literal at most 8 KiB
before authentication (SASL data, a script name) and ``sieve.max_script_size`` after. A
literal over the limit is a non-synchronising literal the client sends anyway, so its octets
are read and dropped (answering ``NO (QUOTA/MAXSIZE)`` for a script) up to four times the
limit; past that, or before authentication, the session says ``BYE`` and closes, because
reading on would only feed a flood.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import ssl
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Protocol

from postroom import __version__
from postroom.core.actor import Origin
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
from postroom.protocols.managesieve.wire import (
    Command,
    WireError,
    command_name,
    literal_at_end,
    parse_command,
    response,
    string_out,
)
from postroom.services.frontdoor import MailServices
from postroom.sieve.errors import SieveSyntaxError
from postroom.sieve.limits import Limits

log = logging.getLogger("postroom.managesieve")

PROTOCOL = "managesieve"  # the label of its logins, metrics and screening reports
PREAUTH_LITERAL = 8192  # octets of a literal before authentication (SASL data, names)
DISCARD_FACTOR = 4  # an over-long literal up to this many times the limit is read and dropped
READ_CHUNK = 65536


class State(enum.Enum):
    NOT_AUTH = "non-authenticated"
    AUTH = "authenticated"
    LOGOUT = "logout"


ANY = frozenset({State.NOT_AUTH, State.AUTH})
NOT_AUTH = frozenset({State.NOT_AUTH})
AUTHED = frozenset({State.AUTH})


class ScriptEntry(Protocol):
    """One stored script as LISTSCRIPTS shows it (services/sieve/scripts.py ScriptInfo)."""

    @property
    def name(self) -> str: ...

    @property
    def active(self) -> bool: ...


class Scripts(Protocol):
    """What the session needs of the script service (services/sieve/scripts.py): the narrow
    door, so the front-end sees no more than it uses. ``owner`` is never passed: a ManageSieve
    session manages its own user's scripts only."""

    @property
    def limits(self) -> Limits: ...

    def capabilities(self) -> Sequence[str]: ...

    async def list(self, actor: Principal) -> Sequence[ScriptEntry]: ...

    async def get(self, actor: Principal, name: str) -> str: ...

    async def check(self, actor: Principal, source: str | bytes) -> Sequence[str]: ...

    async def put(self, actor: Principal, name: str, source: str | bytes, *,
                  origin: Origin | None = None) -> Sequence[str]: ...

    async def have_space(self, actor: Principal, name: str, size: int) -> None: ...

    async def activate(self, actor: Principal, name: str, *,
                       origin: Origin | None = None) -> None: ...

    async def delete(self, actor: Principal, name: str, *,
                     origin: Origin | None = None) -> None: ...

    async def rename(self, actor: Principal, old: str, new: str, *,
                     origin: Origin | None = None) -> None: ...


@dataclass(frozen=True, slots=True)
class Reply:
    status: str  # OK | NO | BYE
    text: str = ""
    code: bytes = b""


def ok(text: str = "", code: bytes = b"") -> Reply:
    return Reply("OK", text, code)


def no(text: str, code: bytes = b"") -> Reply:
    return Reply("NO", text, code)


# One table: service error kind → ManageSieve response code (RFC 5804 §1.3). A kind not
# listed gets a NO with the service's text and no code.
ERRORS: dict[Kind, bytes] = {
    Kind.NOT_FOUND: b"NONEXISTENT",
    Kind.EXISTS: b"ALREADYEXISTS",
    Kind.IN_USE: b"ACTIVE",  # §2.10: the active script cannot be deleted
    Kind.OVER_QUOTA: b"QUOTA/MAXSCRIPTS",  # sieve.max_scripts reached
    Kind.LIMIT: b"QUOTA/MAXSIZE",  # over sieve.max_script_size
    Kind.TEMPORARY: b"TRYLATER",
}


class Bye(Exception):
    """End the connection after ``BYE (code) text`` (RFC 5804 §1.3)."""

    def __init__(self, text: str, code: bytes = b"") -> None:
        super().__init__(text)
        self.text = text
        self.code = code


class AlreadyReplied(Exception):
    """The handler wrote its own final response (STARTTLS: the stream changes after it)."""


Handler = Callable[["Session", Command], Awaitable[Reply]]


@dataclass(frozen=True, slots=True)
class Spec:
    handler: Handler
    states: frozenset[State]


@dataclass
class ManageSieveSettings:
    hostname: str
    max_line: int = 8192
    idle_timeout: float = 300.0
    max_bad_commands: int = 20
    max_auth_failures: int = 3
    plaintext_networks: list[Network] = field(default_factory=list)
    tls_context: ssl.SSLContext | None = None
    channel_binding: bytes | None = None  # tls-server-end-point data (RFC 5929 §4)


class Session:
    """One connection's ManageSieve state. ``COMMANDS`` is filled in by the command
    modules (cmd_auth.py, cmd_scripts.py)."""

    COMMANDS: ClassVar[dict[str, Spec]] = {}

    def __init__(self, services: MailServices, scripts: Scripts,
                 settings: ManageSieveSettings, conn: Connection) -> None:
        self.services = services
        self.scripts = scripts
        self.settings = settings
        self.conn = conn
        self.state = State.NOT_AUTH
        self.principal: Principal | None = None
        self.bad_commands = 0
        self.auth_failures = 0
        self.out: list[bytes] = []

    # -- capabilities (RFC 5804 §1.7) -----------------------------------------------------------
    def plaintext_ok(self) -> bool:
        return plaintext_allowed(self.conn, self.settings.plaintext_networks)

    def mechanisms(self) -> list[str]:
        """The SASL mechanisms usable now: the same rule as IMAP (services/auth.py)."""
        return self.services.auth.mechanisms(self.conn.tls, self.plaintext_ok(),
                                             self.settings.channel_binding is not None)

    def capability_lines(self) -> list[bytes]:
        sieve = list(self.scripts.capabilities())
        lines = [b'"IMPLEMENTATION" ' + string_out(f"Postroom {__version__}"),
                 b'"SASL" ' + string_out(" ".join(self.mechanisms())),
                 b'"SIEVE" ' + string_out(" ".join(sieve))]
        if "enotify" in sieve:
            lines.append(b'"NOTIFY" "mailto"')  # RFC 5804 §1.7: with enotify (RFC 5435)
        if self.state is State.NOT_AUTH and not self.conn.tls \
                and self.settings.tls_context is not None:
            lines.append(b'"STARTTLS"')
        lines.append(b'"MAXREDIRECTS" '
                     + string_out(str(self.scripts.limits.max_redirects)))
        if self.principal is not None and self.principal.address:
            lines.append(b'"OWNER" ' + string_out(self.principal.address))
        lines.append(b'"VERSION" "1.0"')  # RFC 5804 §1.7: CHECKSCRIPT, RENAMESCRIPT, NOOP
        return lines

    def send_capabilities(self) -> None:
        for line in self.capability_lines():
            self.send(line)

    # -- output -------------------------------------------------------------------------------
    def send(self, line: bytes) -> None:
        """Queue one response line (CRLF added)."""
        self.out.append(line + b"\r\n")

    async def flush(self) -> None:
        await self.conn.send_queued(self.out)

    # -- reading ------------------------------------------------------------------------------
    def literal_limit(self) -> int:
        if self.state is State.NOT_AUTH:
            return PREAUTH_LITERAL
        return max(self.scripts.limits.max_script_size, self.settings.max_line)

    async def line(self) -> bytes | None:
        """One line of a command; None when it was too long (refused, and skipped)."""
        try:
            return await self.conn.readline(self.settings.max_line, self.settings.idle_timeout)
        except LineTooLong:
            await self.refuse_long_line()
            return None

    async def refuse_long_line(self) -> None:
        """After LineTooLong: say so at once, then skip the rest of the line so that its tail
        never runs as a command. A flood raises LineTooLong from ``skip_line``; ``run``
        answers it with BYE (net/connection.py has the rule)."""
        await self.conn.send(response(
            "NO", f"Line too long (at most {self.settings.max_line} octets)"))
        await self.conn.skip_line(self.settings.max_line, self.settings.idle_timeout)
        await self.count_bad()

    async def discard(self, size: int) -> None:
        """Read and drop ``size`` octets in pieces: never held whole."""
        while size > 0:
            piece = await self.conn.readexactly(min(size, READ_CHUNK),
                                                self.settings.idle_timeout)
            size -= len(piece)

    async def read_command(self) -> bytes | None:
        """One whole command, literals included; None when it was refused while framing."""
        limit = self.literal_limit()
        parts: list[bytes] = []
        total = 0
        dropped = 0
        line = await self.line()
        while True:
            if line is None:
                return None
            if not dropped:
                parts.append(line)
                total += len(line)
            mark = literal_at_end(line)
            if mark is None:
                break
            if dropped or mark.size > limit or total + mark.size > \
                    limit + 4 * self.settings.max_line:
                if self.state is State.NOT_AUTH:
                    raise Bye(f"Literal too big before authentication (at most {limit} "
                              "octets)")
                dropped += mark.size
                if dropped > DISCARD_FACTOR * limit:
                    raise Bye(f"Literal too big (at most {limit} octets)", b"QUOTA/MAXSIZE")
                await self.discard(mark.size)
            else:
                parts.append(await self.conn.readexactly(mark.size,
                                                         self.settings.idle_timeout))
                total += mark.size
            line = await self.line()
        if dropped:
            name = command_name(parts[0])
            if name in ("PUTSCRIPT", "CHECKSCRIPT"):
                await self.conn.send(response(
                    "NO", f"Script too big: at most {self.scripts.limits.max_script_size} "
                          "octets", b"QUOTA/MAXSIZE"))
            else:
                await self.conn.send(response("NO", f"Literal too big (at most {limit} "
                                                    "octets)"))
            await self.count_bad()
            return None
        return b"".join(parts)

    # -- the loop -------------------------------------------------------------------------------
    async def run(self) -> None:
        self.send_capabilities()
        self.out.append(response("OK", f"{self.settings.hostname} Postroom ManageSieve ready"))
        try:
            await self.flush()
            while self.state is not State.LOGOUT:
                raw = await self.read_command()
                if raw is None:
                    continue
                await self.execute(raw)
        except Bye as exc:
            await self._bye(exc.text, exc.code)
        except LineTooLong:
            # A flood (net/connection.py): goodbye, then the listener closes and logs it.
            await self._bye("Line too long, closing")
            raise
        except IdleTimeout:
            await self._bye("Idle for too long, closing", b"TRYLATER")
        except ShuttingDown:
            await self._bye("Server shutting down", b"TRYLATER")
        except (ConnectionClosed, ConnectionError):
            pass

    async def _bye(self, text: str, code: bytes = b"") -> None:
        self.out.clear()
        with contextlib.suppress(ConnectionClosed, ConnectionError):
            await self.conn.send(response("BYE", text, code))
        self.state = State.LOGOUT

    async def count_bad(self) -> None:
        self.bad_commands += 1
        if self.bad_commands >= self.settings.max_bad_commands:
            self.services.screening.note(self.conn.peer[0], "bad-commands", PROTOCOL)
            raise Bye("Too many invalid commands")

    async def execute(self, raw: bytes) -> None:
        try:
            cmd = parse_command(raw)
        except WireError as exc:
            await self.conn.send(response("NO", str(exc)))
            await self.count_bad()
            return
        spec = self.COMMANDS.get(cmd.name)
        if spec is None:
            self.services.metrics.command(PROTOCOL, "other", 0.0)
            await self.conn.send(response("NO", f"Unknown command {cmd.name[:40]}"))
            await self.count_bad()
            return
        if self.state not in spec.states:
            text = "Authenticate first" if self.state is State.NOT_AUTH else \
                f"{cmd.name} is not valid once authenticated"
            await self.conn.send(response("NO", text))
            return
        start = time.perf_counter()
        try:
            reply = await self._run_handler(spec, cmd)
        except AlreadyReplied:
            return
        finally:  # the name is a key of COMMANDS: a bounded label (obs/metrics.py)
            self.services.metrics.command(PROTOCOL, cmd.name, time.perf_counter() - start)
        if reply.status == "BYE":
            raise Bye(reply.text, reply.code)
        self.out.append(response(reply.status, reply.text, reply.code))
        await self.flush()

    async def _run_handler(self, spec: Spec, cmd: Command) -> Reply:
        try:
            return await spec.handler(self, cmd)
        except WireError as exc:
            self.out.clear()
            await self.count_bad()
            return no(str(exc))
        except SieveSyntaxError as exc:
            self.out.clear()
            # "line 3, column 5: ..." (postroom/sieve/errors.py), every error found, on one
            # line (clipped): clients show the NO's text as it is
            return no("; ".join(str(e) for e in exc.errors))
        except MailError as exc:
            self.out.clear()
            return no(exc.text, ERRORS.get(exc.kind, b""))
        except (Bye, AlreadyReplied, ConnectionClosed, ConnectionError, IdleTimeout,
                LineTooLong, ShuttingDown):
            raise
        except Exception:
            self.out.clear()
            log.exception("ManageSieve %s failed", cmd.name)
            return no(f"Internal error, logged as {self.conn.id}", b"TRYLATER")

    def actor(self) -> Principal:
        assert self.principal is not None
        return self.principal

    def origin(self) -> Origin:
        """Where changes come from, for the audit log: this protocol and the client."""
        return Origin(PROTOCOL, self.conn.peer[0])


def command(name: str, states: frozenset[State]) -> Callable[[Handler], Handler]:
    """Register a handler in the dispatch table."""
    def wrap(fn: Handler) -> Handler:
        Session.COMMANDS[name] = Spec(fn, states)
        return fn
    return wrap


def expect(cmd: Command, low: int, high: int | None = None) -> None:
    """The command has between ``low`` and ``high`` arguments (RFC 5804 §2 grammar)."""
    high = low if high is None else high
    if not low <= len(cmd.args) <= high:
        want = str(low) if low == high else f"{low} to {high}"
        raise WireError(f"{cmd.name} takes {want} argument{'s' if high != 1 else ''}")
