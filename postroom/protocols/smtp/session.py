"""The SMTP session (RFC 5321 §3, §4.1): MX on 25, submission on 587, implicit TLS on 465.

Shape as IMAP's (DESIGN.md §4.6): frame a line, parse it (wire.py), dispatch on the verb, reply.
Replies go out strictly in order; with PIPELINING (RFC 2920 §3) replies to MAIL, RCPT and RSET
are held while more pipelined input is already buffered and flushed as soon as it is not, and
never after EHLO, DATA, QUIT, NOOP or an unknown command.

Modes: ``mx`` accepts mail for our domains from anyone and offers AUTH only inside TLS;
``submission`` requires AUTH before MAIL (530 5.7.0, RFC 6409 §4.3) and offers it only inside
TLS unless the client is in ``plaintext_auth_networks``; ``submissions`` is the same behind
implicit TLS (RFC 8314 §3.3).

Durability (DESIGN.md rule 4): 250 after DATA is sent only once the message blob is fsynced and
its queue entry committed (RFC 5321 §6.1).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import secrets
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from postroom.core.principal import Principal
from postroom.directory import sasl
from postroom.mta.inbound import (
    Inbound,
    MessageWriter,
    from_addresses,
    received_header,
    write_all,
)
from postroom.net.connection import (
    Connection,
    ConnectionClosed,
    IdleTimeout,
    LineTooLong,
    ShuttingDown,
)
from postroom.net.listener import Network, in_networks, plaintext_allowed
from postroom.protocols.smtp.wire import (
    MAX_COMMAND_LINE,
    DataDecoder,
    HeaderCapture,
    Path,
    SmtpSyntaxError,
    check_notify,
    check_orcpt,
    check_xtext,
    parse_command,
    parse_path,
)

if TYPE_CHECKING:
    from postroom.app import Services
    from postroom.directory.throttle import AuthThrottle
    from postroom.mta.queue import QueueManager

log = logging.getLogger("postroom.smtp")

MAX_HOPS = 100  # RFC 5321 §6.3: loop detection by counting Received lines
MAX_RECIPIENTS = 100  # RFC 5321 §4.5.3.1.8: at least 100 must be accepted
DATA_TIMEOUT = 600.0  # §4.5.3.2: generous per data block


@dataclass
class SmtpSettings:
    hostname: str
    mode: str  # "mx" | "submission" | "submissions"
    max_message_size: int
    idle_timeout: float = 300.0
    max_bad_commands: int = 20
    max_auth_failures: int = 3
    max_recipients: int = MAX_RECIPIENTS
    plaintext_networks: list[Network] = field(default_factory=list)
    trusted_networks: list[Network] = field(default_factory=list)
    tls_context: ssl.SSLContext | None = None


class Quit(Exception):
    """Close after the reply already sent (QUIT, 421)."""


@dataclass
class Transaction:
    sender: Path
    recipients: list[str] = field(default_factory=list)
    remote: set[str] = field(default_factory=set)
    params: dict[str, object] = field(default_factory=dict)  # DSN and BODY, kept in the queue
    notify: dict[str, str] = field(default_factory=dict)
    orcpt: dict[str, str] = field(default_factory=dict)
    # BDAT (RFC 3030): the blob being written across chunks, and its header so far
    writer: MessageWriter | None = None
    head: HeaderCapture = field(default_factory=HeaderCapture)
    size: int = 0
    chunked: bool = False


class SmtpSession:
    handlers: ClassVar[dict[str, Callable[[SmtpSession, str], Awaitable[None]]]] = {}

    def __init__(self, services: Services, settings: SmtpSettings, conn: Connection,
                 throttle: AuthThrottle, queue: QueueManager | None) -> None:
        self.services = services
        self.settings = settings
        self.conn = conn
        self.throttle = throttle
        self.queue = queue
        self.inbound = Inbound(services)
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
    def reply(self, code: int, enhanced: str | None, *lines: str) -> None:
        """One reply, multi-line as ``ddd-`` (RFC 5321 §4.2.1); enhanced codes (RFC 2034)."""
        texts = list(lines) or [""]
        prefix = f"{enhanced} " if enhanced else ""
        for i, text in enumerate(texts):
            sep = "-" if i < len(texts) - 1 else " "
            self.out.append(f"{code}{sep}{prefix}{text}\r\n".encode())

    async def flush(self) -> None:
        await self.conn.send_queued(self.out)

    @property
    def plaintext_ok(self) -> bool:
        return plaintext_allowed(self.conn, self.settings.plaintext_networks)

    @property
    def trusted(self) -> bool:
        return in_networks(self.conn.peer[0], self.settings.trusted_networks)

    def auth_mechanisms(self) -> list[str]:
        if not self.conn.tls and (self.settings.mode == "mx" or not self.plaintext_ok):
            # No AUTH at all before STARTTLS (specs.md §0), even SCRAM: on the MX port
            # always, on submission unless the client is in plaintext_auth_networks.
            return []
        return sasl.mechanism_names(self.conn.tls, self.plaintext_ok, False)

    # -- the loop -----------------------------------------------------------------------------
    async def run(self) -> None:
        self.reply(220, None, f"{self.settings.hostname} ESMTP Postroom")
        await self.flush()
        try:
            while True:
                try:
                    line = await self.conn.readline(MAX_COMMAND_LINE, self.settings.idle_timeout)
                except LineTooLong:
                    self.reply(500, "5.5.6", "Command line too long")
                    await self.flush()
                    await self.conn.skip_line(MAX_COMMAND_LINE * 16, self.settings.idle_timeout)
                    await self._count_bad()
                    continue
                await self.execute(line)
                if not self.conn.buffered() or not self._holdable:
                    await self.flush()
        except Quit:
            await self.flush()
        except IdleTimeout:
            self.out.clear()
            self.reply(421, "4.4.2", f"{self.settings.hostname} Idle for too long, closing")
            await self._flush_quietly()
        except ShuttingDown:
            self.out.clear()
            self.reply(421, "4.3.2", f"{self.settings.hostname} Shutting down, try again later")
            await self._flush_quietly()
        except (ConnectionClosed, ConnectionError):
            pass
        finally:
            self._drop(self.tx)

    async def _flush_quietly(self) -> None:
        with contextlib.suppress(ConnectionClosed, ConnectionError):
            await self.flush()

    async def _count_bad(self) -> None:
        self.bad += 1
        if self.bad >= self.settings.max_bad_commands:
            self.reply(421, "4.7.0", "Too many errors, closing")
            raise Quit()

    async def execute(self, line: bytes) -> None:
        self._holdable = False
        if not line.endswith(b"\r\n"):
            # A bare LF ends no command (RFC 5321 §2.3.8): refuse rather than guess.
            self.reply(500, "5.5.2", "Line must end with CRLF")
            await self._count_bad()
            return
        try:
            cmd = parse_command(line[:-2])
        except SmtpSyntaxError as exc:
            self.reply(exc.code, exc.enhanced, exc.text)
            await self._count_bad()
            return
        handler = self.handlers.get(cmd.verb)
        if handler is None:
            self.reply(500, "5.5.1", f"Command unrecognised: {cmd.verb[:20]}")
            await self._count_bad()
            return
        try:
            await handler(self, cmd.arg)
        except SmtpSyntaxError as exc:
            self.reply(exc.code, exc.enhanced, exc.text)
            await self._count_bad()

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
        self.reply(250, None, *lines)

    async def helo_(self, arg: str) -> None:
        self._greet(arg, esmtp=False)
        self.reply(250, None, f"{self.settings.hostname} greets {self.helo}")

    def _greet(self, arg: str, esmtp: bool) -> None:
        name = arg.strip()
        if not name or " " in name:
            raise SmtpSyntaxError("Say who you are: EHLO your.host.name", 501, "5.5.4")
        self.helo = name[:255]
        self.esmtp = esmtp
        self._drop(self.tx)  # RFC 5321 §4.1.4: EHLO resets the transaction

    async def starttls(self, arg: str) -> None:
        """RFC 3207: 220, then TLS; everything buffered before it is discarded (specs.md
        §0, CVE-2011-0411) and the session starts over (no EHLO, no AUTH)."""
        if arg.strip():
            raise SmtpSyntaxError("STARTTLS takes no argument", 501, "5.5.4")
        if self.conn.tls or self.settings.tls_context is None:
            self.reply(454, "4.7.0", "TLS not available")
            return
        self.reply(220, "2.0.0", "Ready to start TLS")
        await self.flush()
        await self.conn.start_tls(self.settings.tls_context)
        self._drop(self.tx)
        self.helo, self.esmtp, self.principal = None, False, None

    async def auth(self, arg: str) -> None:
        """RFC 4954: ``AUTH mech [initial-response]``, 334 challenges, ``*`` cancels."""
        if self.helo is None or not self.esmtp:
            self.reply(503, "5.5.1", "Send EHLO first")
            return
        if self.principal is not None:
            self.reply(503, "5.5.1", "Already authenticated")
            return
        if self.tx is not None:
            self.reply(503, "5.5.1", "AUTH is not allowed during a mail transaction")
            return
        name, _, initial = arg.strip().partition(" ")
        if not self.auth_mechanisms():
            self.reply(538, "5.7.11", "Encryption required: STARTTLS first")
            return
        if name.upper() not in self.auth_mechanisms():
            self.reply(504, "5.5.4", f"Mechanism {name[:20]} is not available")
            return
        peer = self.conn.peer[0]
        await self.throttle.wait(peer)
        mech = sasl.create(name.upper(), self.services.directory, channel_binding=None,
                           plus_offered=False, hostname=self.settings.hostname)
        response: bytes | None = None
        if initial:
            response = b"" if initial == "=" else self._b64(initial)
        try:
            while True:
                step = await mech.step(response)
                if isinstance(step, sasl.Verdict):
                    break
                self.reply(334, None, base64.b64encode(step).decode())
                await self.flush()
                line = await self.conn.readline(MAX_COMMAND_LINE, self.settings.idle_timeout)
                text = line.rstrip(b"\r\n").decode("ascii", "replace")
                if text == "*":
                    self.reply(501, "5.7.0", "Authentication cancelled")
                    return
                response = self._b64(text)
        except sasl.SaslError as exc:
            self.reply(501, "5.5.2", f"Authentication failed: {exc}")
            return
        if step.principal is None:
            self.auth_failures += 1
            await self.throttle.punish(peer, step.username or None)
            self.reply(535, "5.7.8", "Authentication credentials invalid")
            if self.auth_failures >= self.settings.max_auth_failures:
                await self.flush()
                self.reply(421, "4.7.0", "Too many authentication failures")
                raise Quit()
            return
        if step.final is not None:  # SCRAM server-final (RFC 4954 §4)
            self.reply(334, None, base64.b64encode(step.final).decode())
            await self.flush()
            await self.conn.readline(MAX_COMMAND_LINE, self.settings.idle_timeout)
        self.throttle.success(peer)
        self.principal = step.principal
        log.info("smtp auth", extra={"user": step.username})
        self.reply(235, "2.7.0", "Authentication successful")

    @staticmethod
    def _b64(text: str) -> bytes:
        try:
            return base64.b64decode(text.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise SmtpSyntaxError("Invalid base64 data", 501, "5.5.2") from None

    async def mail(self, arg: str) -> None:
        self._holdable = True
        if self.helo is None:
            self.reply(503, "5.5.1", "Send EHLO or HELO first")
            return
        if self.tx is not None:
            self.reply(503, "5.5.1", "Nested MAIL command")
            return
        if self.settings.mode != "mx" and self.principal is None:
            self.reply(530, "5.7.0", "Authentication required")
            return
        path = parse_path(arg, "FROM", utf8=True, allow_null=True)
        params: dict[str, object] = {}
        for key, value in path.params.items():
            if key == "SIZE":
                if not (value or "").isdigit():
                    raise SmtpSyntaxError("SIZE needs a number", 501, "5.5.4")
                if int(value or 0) > self.settings.max_message_size:
                    self.reply(552, "5.3.4", "Message size exceeds fixed maximum message size")
                    return
            elif key == "BODY":  # RFC 6152, RFC 3030 §3
                body = (value or "").upper()
                if body not in ("7BIT", "8BITMIME", "BINARYMIME"):
                    self.reply(501, "5.5.4", "BODY must be 7BIT, 8BITMIME or BINARYMIME")
                    return
                params["body"] = body
            elif key == "RET":  # RFC 3461 §4.3
                ret = (value or "").upper()
                if ret not in ("FULL", "HDRS"):
                    raise SmtpSyntaxError("RET must be FULL or HDRS", 501, "5.5.4")
                params["ret"] = ret
            elif key == "ENVID":  # RFC 3461 §4.4
                params["envid"] = check_xtext(value, "ENVID", 100)
            elif key == "SMTPUTF8" and self.esmtp:
                if value is not None:
                    raise SmtpSyntaxError("SMTPUTF8 takes no value", 501, "5.5.4")
                params["smtputf8"] = True
            elif key == "AUTH" and self.esmtp:
                continue  # RFC 4954 §5: accepted, and not trusted
            else:
                self.reply(555, "5.5.4", f"Parameter {key} is not supported")
                return
        if not path.address.isascii() and "SMTPUTF8" not in path.params:
            self.reply(550, "5.6.7", "Non-ASCII address needs SMTPUTF8")
            return
        refusal = await self.inbound.check_sender(self.principal, path.address)
        if refusal is not None:
            self.reply(refusal.code, refusal.enhanced, refusal.text)
            return
        self.tx = Transaction(path, params=params)
        self.reply(250, "2.1.0", "Sender OK")

    async def rcpt(self, arg: str) -> None:
        self._holdable = True
        if self.tx is None:
            self.reply(503, "5.5.1", "Need MAIL before RCPT")
            return
        utf8 = "SMTPUTF8" in self.tx.sender.params
        path = parse_path(arg, "TO", utf8=utf8)
        notify = orcpt = None
        for key, value in path.params.items():
            if key == "NOTIFY":  # RFC 3461 §4.1
                notify = check_notify(value)
            elif key == "ORCPT":  # RFC 3461 §4.2
                orcpt = check_orcpt(value)
            else:
                self.reply(555, "5.5.4", f"Parameter {key} is not supported")
                return
        if len(self.tx.recipients) >= self.settings.max_recipients:
            self.reply(452, "4.5.3", "Too many recipients")
            return
        address = path.address
        if address == "postmaster":  # RFC 5321 §4.5.1
            address = f"postmaster@{await self.inbound.primary_domain()}"
        decision = await self.inbound.check_recipient(self.principal, address, self.trusted)
        if decision.ok and address not in self.tx.recipients:
            self.tx.recipients.append(address)
            if decision.remote:
                self.tx.remote.add(address)
            if notify:
                self.tx.notify[address] = notify
            if orcpt:
                self.tx.orcpt[address] = orcpt
        self.reply(decision.code, decision.enhanced, decision.text)

    async def data(self, arg: str) -> None:
        if arg.strip():
            raise SmtpSyntaxError("DATA takes no argument", 501, "5.5.4")
        if self.tx is None:
            self.reply(503, "5.5.1", "Need MAIL before DATA")
            return
        if self.tx.chunked:
            self.reply(503, "5.5.1", "DATA after BDAT: send RSET first")  # RFC 3030 §2
            return
        if self.tx.params.get("body") == "BINARYMIME":
            self.reply(503, "5.5.1", "BODY=BINARYMIME needs BDAT, not DATA")  # RFC 3030 §3
            return
        if not self.tx.recipients:
            self.reply(554, "5.5.1", "No valid recipients")
            return
        self.reply(354, None, "End data with <CR><LF>.<CR><LF>")
        await self.flush()
        tx, self.tx = self.tx, None
        await self._receive(tx)

    async def _receive(self, tx: Transaction) -> None:
        """Stream DATA into a blob file (never whole in memory), then queue it."""
        loop = asyncio.get_running_loop()
        decoder = DataDecoder(self.settings.max_message_size)
        writer = await loop.run_in_executor(None, self.inbound.blob_writer)
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
                    await loop.run_in_executor(None, write_all, writer, chunks)
        except BaseException:
            await loop.run_in_executor(None, writer.abort)
            raise
        if decoder.bare_newline or decoder.too_big:
            await loop.run_in_executor(None, writer.abort)
            if decoder.bare_newline:
                self.reply(550, "5.5.2", "Bare CR or LF in message data is not allowed")
            else:
                self.reply(552, "5.3.4", "Message size exceeds fixed maximum message size")
            return
        await self._accept(tx, writer)

    async def bdat(self, arg: str) -> None:
        """RFC 3030 §2: ``BDAT size [LAST]``; the octets follow at once and are not
        dot-stuffed. A chunk that cannot be taken is still read and thrown away, so that its
        octets are never run as commands; the failed transaction is over."""
        words = arg.split()
        if not 1 <= len(words) <= 2 or not words[0].isdigit() or len(words[0]) > 12 or \
                (len(words) == 2 and words[1].upper() != "LAST"):
            # Without a size the octets cannot be skipped: nothing safe is left but to close.
            self.reply(501, "5.5.4", "Syntax: BDAT size [LAST]; closing")
            raise Quit()
        size, last = int(words[0]), len(words) == 2
        tx = self.tx
        refusal: tuple[int, str, str] | None = None
        if tx is None:
            refusal = (503, "5.5.1", "Need MAIL before BDAT")
        elif not tx.recipients:
            refusal = (554, "5.5.1", "No valid recipients")
        elif tx.size + size > self.settings.max_message_size:
            refusal = (552, "5.3.4", "Message size exceeds fixed maximum message size")
        if refusal is not None:
            await self._discard(size)
            self._drop(tx)
            self.reply(*refusal)
            return
        assert tx is not None
        loop = asyncio.get_running_loop()
        tx.chunked = True
        if tx.writer is None:
            tx.writer = await loop.run_in_executor(None, self.inbound.blob_writer)
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
                await loop.run_in_executor(None, writer.write, data)
        except BaseException:
            self._drop(tx)
            raise
        tx.size += size
        if not last:
            self._holdable = True  # chunk replies may be pipelined (RFC 3030 §4.2)
            self.reply(250, "2.0.0", f"{size} octets received")
            return
        self.tx = None
        tx.writer = None
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
        """The whole message is in ``writer``: check it, fsync it, queue it, say 250."""
        loop = asyncio.get_running_loop()
        refusal = await self._check_content(tx)
        if refusal is not None:
            await loop.run_in_executor(None, writer.abort)
            self.reply(*refusal)
            return
        blob = await loop.run_in_executor(None, writer.finish)
        proto = "ESMTP" if self.esmtp else "SMTP"
        proto += "S" if self.conn.tls else ""
        proto += "A" if self.principal is not None else ""  # RFC 3848
        hint = secrets.token_hex(6)
        prefix = received_header(self.helo or "unknown", self.conn.peer[0],
                                 self.settings.hostname, proto, hint,
                                 tx.recipients[0] if len(tx.recipients) == 1 else None)
        params = dict(tx.params)
        if tx.notify:
            params["notify"] = tx.notify
        if tx.orcpt:
            params["orcpt"] = tx.orcpt
        local = [r for r in tx.recipients if r not in tx.remote]
        remote = [r for r in tx.recipients if r in tx.remote]
        entry = await self.inbound.enqueue(tx.sender.address, local, remote, blob, prefix,
                                           params)
        if self.queue is not None:
            self.queue.wake()
        self.accepted += 1
        log.info("accepted", extra={"queue_id": entry, "size": blob.size,
                                    "recipients": len(tx.recipients)})
        self.reply(250, "2.0.0", f"Ok: queued as {entry}")

    async def _check_content(self, tx: Transaction) -> tuple[int, str, str] | None:
        """Loop detection (RFC 5321 §6.3) and, for authenticated senders, the From: rule."""
        if tx.head.count(b"Received") >= MAX_HOPS:
            return (554, "5.4.6", "Too many hops: mail loop detected")
        if self.principal is not None:
            for address in from_addresses(bytes(tx.head.head)):
                refusal = await self.inbound.check_sender(self.principal, address)
                if refusal is not None:
                    return (550, "5.7.1", f"From: address <{address}> is not yours to use")
        return None

    async def rset(self, arg: str) -> None:
        self._holdable = True
        if self.tx is not None:
            self._drop(self.tx)
        self.reply(250, "2.0.0", "Reset OK")

    async def noop(self, arg: str) -> None:
        self.reply(250, "2.0.0", "OK")

    async def vrfy(self, arg: str) -> None:
        self.reply(252, "2.5.0", "Cannot VRFY; send some mail and we will try")

    async def help_(self, arg: str) -> None:
        self.reply(214, "2.0.0", "See RFC 5321; Postroom speaks ESMTP")

    async def quit(self, arg: str) -> None:
        self.reply(221, "2.0.0", f"{self.settings.hostname} closing connection")
        raise Quit()



HANDLERS: dict[str, Callable[[SmtpSession, str], Awaitable[None]]] = {
    "EHLO": SmtpSession.ehlo, "HELO": SmtpSession.helo_, "STARTTLS": SmtpSession.starttls,
    "AUTH": SmtpSession.auth, "MAIL": SmtpSession.mail, "RCPT": SmtpSession.rcpt,
    "DATA": SmtpSession.data, "RSET": SmtpSession.rset, "NOOP": SmtpSession.noop,
    "VRFY": SmtpSession.vrfy, "HELP": SmtpSession.help_, "QUIT": SmtpSession.quit,
    "BDAT": SmtpSession.bdat,
}
SmtpSession.handlers = HANDLERS
