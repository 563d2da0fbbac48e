"""The SMTP session (RFC 5321 §3, §4.1): MX on 25, submission on 587, implicit TLS on 465.

Shape as IMAP's (DESIGN.md §4.6): frame a line, parse it (wire.py), dispatch on the verb, reply.
Replies go out strictly in order; with PIPELINING (RFC 2920 §3) replies to MAIL, RCPT and RSET
are held while more pipelined input is already buffered and flushed as soon as it is not, and
never after EHLO, DATA, QUIT, NOOP or an unknown command.

Modes: ``mx`` accepts mail for our domains from anyone and offers AUTH only inside TLS;
``submission`` requires AUTH before MAIL (530 5.7.0, RFC 6409 §4.3) and offers it only inside
TLS unless the client is in ``plaintext_auth_networks``; ``submissions`` is the same behind
implicit TLS (RFC 8314 §3.3).

Every decision about mail is the submission service's (services/submission.py): this module
parses, streams DATA into the service's writer, and turns ``MailError`` kinds into replies
with the one table in core/smtp.py. Reply codes are named there too.

Durability (DESIGN.md rule 4): 250 after DATA is sent only once the message blob is fsynced and
its queue entry committed (RFC 5321 §6.1).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import secrets
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import ClassVar

from postroom.core import smtp
from postroom.core.envelope import Stage
from postroom.core.errors import Kind, MailError
from postroom.core.principal import Principal
from postroom.core.smtp import Code
from postroom.net.connection import (
    Connection,
    ConnectionClosed,
    IdleTimeout,
    LineTooLong,
    ShuttingDown,
)
from postroom.net.listener import Network, in_networks, plaintext_allowed
from postroom.obs import maillog
from postroom.protocols import sasl
from postroom.protocols.smtp.wire import (
    MAX_COMMAND_LINE,
    DataDecoder,
    HeaderCapture,
    NewlineWatch,
    SmtpSyntaxError,
    check_notify,
    check_orcpt,
    check_xtext,
    parse_command,
    parse_path,
)
from postroom.services.frontdoor import MailServices
from postroom.services.pipeline import Client, Message
from postroom.services.queue import MessageWriter
from postroom.services.submission import received_header

MAX_RECIPIENTS = 100  # RFC 5321 §4.5.3.1.8: at least 100 must be accepted
DATA_TIMEOUT = 600.0  # §4.5.3.2: generous per data block
CHANNELS = {"mx": "smtp", "submission": "submission", "submissions": "submission",
            "odmr": "smtp"}
STAGE_NAMES = {Stage.SENDER: "mail", Stage.RECIPIENT: "rcpt", Stage.CONTENT: "data"}


@dataclass
class SmtpSettings:
    hostname: str
    mode: str  # "mx" | "submission" | "submissions" | "odmr"
    max_message_size: int
    max_header_size: int = 256 * 1024
    idle_timeout: float = 300.0
    max_bad_commands: int = 20
    max_auth_failures: int = 3
    max_recipients: int = MAX_RECIPIENTS
    plaintext_networks: list[Network] = field(default_factory=list)
    trusted_networks: list[Network] = field(default_factory=list)
    tls_context: ssl.SSLContext | None = None
    channel_binding: bytes | None = None  # tls-server-end-point data (RFC 5929 §4)


class Quit(Exception):
    """Close after the reply already sent (QUIT, 421)."""


@dataclass
class Transaction:
    message: Message
    params: dict[str, object] = field(default_factory=dict)  # DSN and BODY, kept in the queue
    notify: dict[str, str] = field(default_factory=dict)
    orcpt: dict[str, str] = field(default_factory=dict)
    smtputf8: bool = False
    head: HeaderCapture = field(default_factory=HeaderCapture)
    # BDAT (RFC 3030): the blob being written across chunks, and bare CR/LF seen so far
    writer: MessageWriter | None = None
    newlines: NewlineWatch = field(default_factory=NewlineWatch)
    size: int = 0
    chunked: bool = False


def write_all(writer: MessageWriter, chunks: list[bytes]) -> None:
    """Blocking: a worker thread writes a batch of decoded DATA."""
    for chunk in chunks:
        writer.write(chunk)


class SmtpSession:
    handlers: ClassVar[dict[str, Callable[[SmtpSession, str], Awaitable[None]]]] = {}

    def __init__(self, services: MailServices, settings: SmtpSettings,
                 conn: Connection) -> None:
        self.services = services
        self.submission = services.submission
        self.settings = settings
        self.conn = conn
        self.helo: str | None = None
        self.esmtp = False
        self.principal: Principal | None = None
        self.tx: Transaction | None = None
        self.bad = 0
        self.auth_failures = 0
        self.accepted = 0  # messages queued in this session
        self.out: list[bytes] = []
        # Whether the last reply may wait for more pipelined input (RFC 2920 §3: MAIL, RCPT
        # and RSET replies may; EHLO, DATA, QUIT, NOOP and errors may not).
        self._holdable = False

    # -- replies ------------------------------------------------------------------------------
    def reply(self, code: Code, *lines: str) -> None:
        """One reply, multi-line as ``ddd-`` (RFC 5321 §4.2.1); enhanced codes (RFC 2034)."""
        texts = list(lines) or [""]
        prefix = f"{code.enhanced} " if code.enhanced else ""
        for i, text in enumerate(texts):
            sep = "-" if i < len(texts) - 1 else " "
            self.out.append(f"{code.code}{sep}{prefix}{text}\r\n".encode())

    def refuse(self, stage: Stage, exc: MailError, sender: str | None = None,
               recipient: str | None = None) -> None:
        """A service's refusal, in SMTP's words (the table in core/smtp.py), and its line in
        the mail log."""
        code = smtp.reply_for(stage, exc.kind)
        self.reply(code, exc.text)
        self.log_reject(stage, code, exc.text, sender, recipient)

    def log_reject(self, stage: Stage, code: Code, reason: str, sender: str | None,
                   recipient: str | None = None) -> None:
        if sender is None and self.tx is not None:
            sender = self.tx.message.sender
        maillog.smtp_reject(STAGE_NAMES[stage], self.conn.peer[0], self.helo or "", sender,
                            recipient, self.principal.address if self.principal else None,
                            self.conn.tls, str(code), reason)
        self.services.metrics.smtp_rejected(STAGE_NAMES[stage], str(code))

    async def flush(self) -> None:
        await self.conn.send_queued(self.out)

    @property
    def plaintext_ok(self) -> bool:
        return plaintext_allowed(self.conn, self.settings.plaintext_networks)

    @property
    def protocol(self) -> str:
        """How the login and mail logs name this session's protocol."""
        return "odmr" if self.settings.mode == "odmr" else "smtp"

    @property
    def trusted(self) -> bool:
        return in_networks(self.conn.peer[0], self.settings.trusted_networks)

    def client(self) -> Client:
        return Client(self.conn.peer[0], self.helo or "", self.conn.tls, self.principal,
                      self.trusted, CHANNELS.get(self.settings.mode, "smtp"))

    def auth_mechanisms(self) -> list[str]:
        if not self.conn.tls and (self.settings.mode == "mx" or not self.plaintext_ok):
            # No AUTH at all before STARTTLS (specs.md §0), even SCRAM: on the MX port
            # always, on submission unless the client is in plaintext_auth_networks.
            return []
        return self.services.auth.mechanisms(self.conn.tls, self.plaintext_ok,
                                             self.settings.channel_binding is not None)

    # -- the loop -----------------------------------------------------------------------------
    async def run(self) -> None:
        self.reply(smtp.GREETING, f"{self.settings.hostname} ESMTP Postroom")
        await self.flush()
        try:
            while True:
                try:
                    line = await self.conn.readline(MAX_COMMAND_LINE, self.settings.idle_timeout)
                except LineTooLong as exc:
                    # RFC 5321 §4.5.3.1.4: 500 "Line too long"
                    await self.refuse_long_line(exc, "Command line too long")
                    await self._count_bad()
                    continue
                await self.execute(line)
                if not self.conn.buffered() or not self._holdable:
                    await self.flush()
        except Quit:
            await self.flush()
        except LineTooLong:
            # A flood (net/connection.py). RFC 5321 §3.8: a server closes only after 421;
            # the listener then closes the connection and logs it.
            self.reply(smtp.SERVICE_UNAVAILABLE, f"{self.settings.hostname} Line too long, "
                                                 f"closing")
            await self._flush_quietly()
            raise
        except IdleTimeout:
            self.out.clear()
            self.reply(smtp.IDLE_TIMEOUT, f"{self.settings.hostname} Idle for too long, closing")
            await self._flush_quietly()
        except ShuttingDown:
            self.out.clear()
            self.reply(smtp.SHUTTING_DOWN,
                       f"{self.settings.hostname} Shutting down, try again later")
            await self._flush_quietly()
        except (ConnectionClosed, ConnectionError):
            pass
        finally:
            self._drop(self.tx)

    async def refuse_long_line(self, exc: LineTooLong, text: str) -> None:
        """After LineTooLong: 500 5.5.6 at once, then skip the rest of the line so that its
        tail never runs as a command. A flood raises LineTooLong from ``skip_line``, which
        ``run`` answers with 421."""
        self.reply(smtp.LINE_TOO_LONG, text)
        await self.flush()
        await self.conn.skip_line(exc.limit, self.settings.idle_timeout)

    async def _flush_quietly(self) -> None:
        with contextlib.suppress(ConnectionClosed, ConnectionError):
            await self.flush()

    async def _count_bad(self) -> None:
        self.bad += 1
        if self.bad >= self.settings.max_bad_commands:
            self.reply(smtp.SERVICE_UNAVAILABLE, "Too many errors, closing")
            self.services.screening.note(self.conn.peer[0], "bad-commands", self.protocol)
            raise Quit()

    async def execute(self, line: bytes) -> None:
        self._holdable = False
        if not line.endswith(b"\r\n"):
            # A bare LF ends no command (RFC 5321 §2.3.8): refuse rather than guess.
            self.reply(smtp.LINE_SYNTAX, "Line must end with CRLF")
            await self._count_bad()
            return
        try:
            cmd = parse_command(line[:-2])
        except SmtpSyntaxError as exc:
            self.reply(exc.reply, exc.text)
            await self._count_bad()
            return
        handler = self.handlers.get(cmd.verb)
        if handler is None:
            self.services.metrics.command(self.protocol, "other", 0.0)
            self.reply(smtp.UNRECOGNISED, f"Command unrecognised: {cmd.verb[:20]}")
            await self._count_bad()
            return
        start = time.perf_counter()
        try:
            await handler(self, cmd.arg)
        except SmtpSyntaxError as exc:
            self.reply(exc.reply, exc.text)
            await self._count_bad()
        finally:  # a key of the handler table: a bounded label (obs/metrics.py)
            self.services.metrics.command(self.protocol, cmd.verb, time.perf_counter() - start)

    # -- commands -----------------------------------------------------------------------------
    async def ehlo(self, arg: str) -> None:
        self._greet(arg, esmtp=True)
        lines = [f"{self.settings.hostname} greets {self.helo}", "PIPELINING",
                 f"SIZE {self.settings.max_message_size}", "8BITMIME", "SMTPUTF8",
                 "ENHANCEDSTATUSCODES", "DSN", "CHUNKING", "BINARYMIME"]
        if not self.conn.tls and self.settings.tls_context is not None:
            lines.append("STARTTLS")
        mechs = self.auth_mechanisms()
        if mechs and self.principal is None:
            lines.append("AUTH " + " ".join(mechs))
        self.reply(smtp.HELLO, *lines)

    async def helo_(self, arg: str) -> None:
        self._greet(arg, esmtp=False)
        self.reply(smtp.HELLO, f"{self.settings.hostname} greets {self.helo}")

    def _greet(self, arg: str, esmtp: bool) -> None:
        name = arg.strip()
        if not name or " " in name:
            raise SmtpSyntaxError("Say who you are: EHLO your.host.name", smtp.SYNTAX)
        self.helo = name[:255]
        self.esmtp = esmtp
        self._drop(self.tx)  # RFC 5321 §4.1.4: EHLO resets the transaction

    async def starttls(self, arg: str) -> None:
        """RFC 3207: 220, then TLS; everything buffered before it is discarded (specs.md
        §0, CVE-2011-0411) and the session starts over (no EHLO, no AUTH)."""
        if arg.strip():
            raise SmtpSyntaxError("STARTTLS takes no argument", smtp.SYNTAX)
        if self.conn.tls or self.settings.tls_context is None:
            self.reply(smtp.TLS_UNAVAILABLE, "TLS not available")
            return
        self.reply(smtp.READY_FOR_TLS, "Ready to start TLS")
        await self.flush()
        await self.conn.start_tls(self.settings.tls_context)
        self._drop(self.tx)
        self.helo, self.esmtp, self.principal = None, False, None

    async def auth(self, arg: str) -> None:
        """RFC 4954: ``AUTH mech [initial-response]``, 334 challenges, ``*`` cancels."""
        if self.helo is None or not self.esmtp:
            self.reply(smtp.BAD_SEQUENCE, "Send EHLO first")
            return
        if self.principal is not None:
            self.reply(smtp.BAD_SEQUENCE, "Already authenticated")
            return
        if self.tx is not None:
            self.reply(smtp.BAD_SEQUENCE, "AUTH is not allowed during a mail transaction")
            return
        name, _, initial = arg.strip().partition(" ")
        offered = self.auth_mechanisms()
        if not offered:
            self.reply(smtp.ENCRYPTION_REQUIRED, "Encryption required: STARTTLS first")
            return
        if name.upper() not in offered:
            self.reply(smtp.MECHANISM_UNAVAILABLE, f"Mechanism {name[:20]} is not available")
            return
        ip = self.conn.peer[0]
        auth = self.services.auth
        await auth.before(ip)

        async def challenge(data: bytes) -> None:
            self.reply(smtp.AUTH_CHALLENGE, base64.b64encode(data).decode())
            await self.flush()

        try:
            outcome = await sasl.exchange(
                auth, self.conn, name.upper(), initial or None, challenge, offered=offered,
                channel_binding=self.settings.channel_binding,
                max_line=sasl.SMTP_MAX_RESPONSE, hostname=self.settings.hostname)
        except MailError as exc:
            if exc.kind is not Kind.DISABLED:
                raise
            outcome = sasl.Outcome(None)
        except LineTooLong as exc:
            # RFC 4954 §6: 500 5.5.6 "Authentication Exchange line is too long"
            await self.refuse_long_line(exc, "Authentication Exchange line is too long")
            return
        if outcome.cancelled:
            self.reply(smtp.AUTH_CANCELLED, "Authentication cancelled")
            return
        if outcome.error:
            self.reply(smtp.BAD_DATA, f"Authentication failed: {outcome.error}")
            return
        if outcome.principal is None:
            self.auth_failures += 1
            await auth.failed(self.protocol, ip, outcome.username)
            self.reply(smtp.AUTH_INVALID, "Authentication credentials invalid")
            if self.auth_failures >= self.settings.max_auth_failures:
                await self.flush()
                self.reply(smtp.SERVICE_UNAVAILABLE, "Too many authentication failures")
                raise Quit()
            return
        auth.succeeded(self.protocol, ip, outcome.principal)
        self.principal = outcome.principal
        self.reply(smtp.AUTH_SUCCEEDED, "Authentication successful")

    async def mail(self, arg: str) -> None:
        self._holdable = True
        if self.helo is None:
            self.reply(smtp.BAD_SEQUENCE, "Send EHLO or HELO first")
            return
        if self.tx is not None:
            self.reply(smtp.BAD_SEQUENCE, "Nested MAIL command")
            return
        path = parse_path(arg, "FROM", utf8=True, allow_null=True)
        params: dict[str, object] = {}
        size: int | None = None
        for key, value in path.params.items():
            if key == "SIZE":  # RFC 1870
                if not (value or "").isdigit():
                    raise SmtpSyntaxError("SIZE needs a number", smtp.SYNTAX)
                size = int(value or 0)
            elif key == "BODY":  # RFC 6152, RFC 3030 §3
                body = (value or "").upper()
                if body not in ("7BIT", "8BITMIME", "BINARYMIME"):
                    self.reply(smtp.SYNTAX, "BODY must be 7BIT, 8BITMIME or BINARYMIME")
                    return
                params["body"] = body
            elif key == "RET":  # RFC 3461 §4.3
                ret = (value or "").upper()
                if ret not in ("FULL", "HDRS"):
                    raise SmtpSyntaxError("RET must be FULL or HDRS", smtp.SYNTAX)
                params["ret"] = ret
            elif key == "ENVID":  # RFC 3461 §4.4
                params["envid"] = check_xtext(value, "ENVID", 100)
            elif key == "SMTPUTF8" and self.esmtp:
                if value is not None:
                    raise SmtpSyntaxError("SMTPUTF8 takes no value", smtp.SYNTAX)
                params["smtputf8"] = True
            elif key == "AUTH" and self.esmtp:
                continue  # RFC 4954 §5: accepted, and not trusted
            else:
                self.reply(smtp.UNSUPPORTED_PARAMETER, f"Parameter {key} is not supported")
                return
        if not path.address.isascii() and "SMTPUTF8" not in path.params:
            self.reply(smtp.UTF8_NEEDED, "Non-ASCII address needs SMTPUTF8")
            return
        try:
            message = await self.submission.start(self.client(), path.address, size)
        except MailError as exc:
            self.refuse(Stage.SENDER, exc, path.address)
            return
        self.tx = Transaction(message, params=params, smtputf8="SMTPUTF8" in path.params,
                              head=HeaderCapture(self.settings.max_header_size))
        self.reply(smtp.SENDER_OK, "Sender OK")

    async def rcpt(self, arg: str) -> None:
        self._holdable = True
        tx = self.tx
        if tx is None:
            self.reply(smtp.BAD_SEQUENCE, "Need MAIL before RCPT")
            return
        path = parse_path(arg, "TO", utf8=tx.smtputf8)
        notify = orcpt = None
        for key, value in path.params.items():
            if key == "NOTIFY":  # RFC 3461 §4.1
                notify = check_notify(value)
            elif key == "ORCPT":  # RFC 3461 §4.2
                orcpt = check_orcpt(value)
            else:
                self.reply(smtp.UNSUPPORTED_PARAMETER, f"Parameter {key} is not supported")
                return
        if len(tx.message.recipients) >= self.settings.max_recipients:
            self.reply(smtp.TOO_MANY_RECIPIENTS, "Too many recipients")
            self.log_reject(Stage.RECIPIENT, smtp.TOO_MANY_RECIPIENTS, "Too many recipients",
                            None, path.address)
            return
        try:
            route = await self.submission.add_recipient(tx.message, path.address)
        except MailError as exc:
            self.refuse(Stage.RECIPIENT, exc, recipient=path.address)
            return
        if notify:
            tx.notify[route.address] = notify
        if orcpt:
            tx.orcpt[route.address] = orcpt
        self.reply(smtp.RECIPIENT_OK, f"Recipient OK{route.note}")

    async def data(self, arg: str) -> None:
        if arg.strip():
            raise SmtpSyntaxError("DATA takes no argument", smtp.SYNTAX)
        if self.tx is None:
            self.reply(smtp.BAD_SEQUENCE, "Need MAIL before DATA")
            return
        if self.tx.chunked:
            self.reply(smtp.BAD_SEQUENCE, "DATA after BDAT: send RSET first")  # RFC 3030 §2
            return
        if self.tx.params.get("body") == "BINARYMIME":
            self.reply(smtp.BAD_SEQUENCE, "BODY=BINARYMIME needs BDAT, not DATA")  # RFC 3030 §3
            return
        if not self.tx.message.recipients:
            self.reply(smtp.NO_VALID_RECIPIENTS, "No valid recipients")
            return
        self.reply(smtp.START_DATA, "End data with <CR><LF>.<CR><LF>")
        await self.flush()
        tx, self.tx = self.tx, None
        await self._receive(tx)

    async def _receive(self, tx: Transaction) -> None:
        """Stream DATA into a blob file (never whole in memory), then queue it."""
        loop = asyncio.get_running_loop()
        decoder = DataDecoder(self.settings.max_message_size)
        writer = self.submission.writer()
        try:
            while not decoder.done:
                if not self.conn.buffered():
                    await self.conn.wait_data(DATA_TIMEOUT)
                data = self.conn.peek()
                self.conn.consume(decoder.feed(data))
                chunks = decoder.take()
                if chunks and not (decoder.too_big or decoder.bare_newline):
                    for chunk in chunks:
                        tx.head.feed(chunk)
                    if writer.blocks(sum(map(len, chunks))):
                        await loop.run_in_executor(None, write_all, writer, chunks)
                    else:  # still in memory: no thread hop
                        write_all(writer, chunks)
        except BaseException:
            await loop.run_in_executor(None, writer.abort)
            raise
        tx.message.too_big = decoder.too_big
        tx.message.bare_newline = decoder.bare_newline
        tx.size = decoder.size
        await self._accept(tx, writer)

    async def bdat(self, arg: str) -> None:
        """RFC 3030 §2: ``BDAT size [LAST]``; the octets follow at once and are not
        dot-stuffed. A chunk that cannot be taken is still read and thrown away, so that its
        octets are never run as commands; the failed transaction is over."""
        words = arg.split()
        if not 1 <= len(words) <= 2 or not words[0].isdigit() or len(words[0]) > 12 or \
                (len(words) == 2 and words[1].upper() != "LAST"):
            # Without a size the octets cannot be skipped: nothing safe is left but to close.
            self.reply(smtp.SYNTAX, "Syntax: BDAT size [LAST]; closing")
            raise Quit()
        size, last = int(words[0]), len(words) == 2
        tx = self.tx
        refusal: tuple[Code, str] | None = None
        if tx is None:
            refusal = (smtp.BAD_SEQUENCE, "Need MAIL before BDAT")
        elif not tx.message.recipients:
            refusal = (smtp.NO_VALID_RECIPIENTS, "No valid recipients")
        elif tx.size + size > self.settings.max_message_size:
            refusal = (smtp.MESSAGE_TOO_BIG, "Message size exceeds fixed maximum message size")
        if refusal is not None:
            await self._discard(size)
            if tx is not None and refusal[0] is smtp.MESSAGE_TOO_BIG:
                self.log_reject(Stage.CONTENT, refusal[0], refusal[1], tx.message.sender)
            self._drop(tx)
            self.reply(*refusal)
            return
        assert tx is not None
        loop = asyncio.get_running_loop()
        tx.chunked = True
        if tx.writer is None:
            tx.writer = self.submission.writer()
        writer = tx.writer
        left = size
        try:
            while left:
                if not self.conn.buffered():
                    await self.conn.wait_data(DATA_TIMEOUT)
                data = self.conn.peek()[:left]
                self.conn.consume(len(data))
                left -= len(data)
                tx.head.feed(data)
                if tx.params.get("body") != "BINARYMIME":
                    tx.newlines.feed(data)  # RFC 3030 §3: only BINARYMIME may hold them
                if writer.blocks(len(data)):
                    await loop.run_in_executor(None, writer.write, data)
                else:
                    writer.write(data)
        except BaseException:
            self._drop(tx)
            raise
        tx.size += size
        if not last:
            self._holdable = True  # chunk replies may be pipelined (RFC 3030 §4.2)
            self.reply(smtp.OK, f"{size} octets received")
            return
        self.tx = None
        tx.writer = None
        tx.message.bare_newline = tx.newlines.finish()
        await self._accept(tx, writer)

    async def _discard(self, size: int) -> None:
        while size:
            if not self.conn.buffered():
                await self.conn.wait_data(DATA_TIMEOUT)
            n = min(size, self.conn.buffered())
            self.conn.consume(n)
            size -= n

    def _drop(self, tx: Transaction | None) -> None:
        """End a transaction, throwing away any chunks already written (a quick unlink)."""
        if tx is not None and tx.writer is not None:
            tx.writer.abort()
            tx.writer = None
        if self.tx is tx:
            self.tx = None

    async def _accept(self, tx: Transaction, writer: MessageWriter) -> None:
        """The whole message is in ``writer``: judge it, fsync it, queue it, say 250."""
        loop = asyncio.get_running_loop()
        message = tx.message
        message.head = bytes(tx.head.head)
        message.head_too_long = tx.head.too_long
        message.size = tx.size
        message.content = writer
        try:
            await self.submission.check_content(message)
        except MailError as exc:
            await loop.run_in_executor(None, writer.abort)
            self.refuse(Stage.CONTENT, exc, message.sender)
            return
        blob = await loop.run_in_executor(None, writer.finish)
        proto = "ESMTP" if self.esmtp else "SMTP"
        proto += "S" if self.conn.tls else ""
        proto += "A" if self.principal is not None else ""  # RFC 3848
        received = received_header(self.helo or "unknown", self.conn.peer[0],
                                   self.settings.hostname, proto, secrets.token_hex(6),
                                   message.recipients[0] if len(message.recipients) == 1
                                   else None)
        params = dict(tx.params)
        if tx.notify:
            params["notify"] = tx.notify
        if tx.orcpt:
            params["orcpt"] = tx.orcpt
        entry = await self.submission.accept(message, blob, received, params)
        self.accepted += 1
        maillog.smtp_accept(entry, self.conn.peer[0], self.helo or "", message.sender,
                            message.recipients, maillog.message_id(message.head), blob.size,
                            self.principal.address if self.principal else None, self.conn.tls)
        self.services.metrics.smtp_accepted()
        self.reply(smtp.OK, f"Ok: queued as {entry}")

    async def rset(self, arg: str) -> None:
        self._holdable = True
        if self.tx is not None:
            self._drop(self.tx)
        self.reply(smtp.OK, "Reset OK")

    async def noop(self, arg: str) -> None:
        self.reply(smtp.OK, "OK")

    async def vrfy(self, arg: str) -> None:
        self.reply(smtp.CANNOT_VRFY, "Cannot VRFY; send some mail and we will try")

    async def help_(self, arg: str) -> None:
        self.reply(smtp.HELP, "See RFC 5321; Postroom speaks ESMTP")

    async def quit(self, arg: str) -> None:
        self.reply(smtp.CLOSING, f"{self.settings.hostname} closing connection")
        raise Quit()


HANDLERS: dict[str, Callable[[SmtpSession, str], Awaitable[None]]] = {
    "EHLO": SmtpSession.ehlo, "HELO": SmtpSession.helo_, "STARTTLS": SmtpSession.starttls,
    "AUTH": SmtpSession.auth, "MAIL": SmtpSession.mail, "RCPT": SmtpSession.rcpt,
    "DATA": SmtpSession.data, "RSET": SmtpSession.rset, "NOOP": SmtpSession.noop,
    "VRFY": SmtpSession.vrfy, "HELP": SmtpSession.help_, "QUIT": SmtpSession.quit,
    "BDAT": SmtpSession.bdat,
}
SmtpSession.handlers = HANDLERS
