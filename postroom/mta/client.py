"""The SMTP client of outbound delivery (RFC 5321 §3, §4; RFC 2920; RFC 3030; RFC 3207; RFC 3461).

One ``SmtpClient`` is one connection to one host; the queue manager sends several messages over
it (``send`` per message). What it does with the peer's EHLO keywords:
- STARTTLS: used whenever offered (opportunistic, RFC 7435: no certificate check unless the
  administrator requires TLS towards a smart host); after it the session starts over with EHLO.
- PIPELINING: MAIL, every RCPT and DATA go out in one write; the replies are read in order.
- CHUNKING: the message goes as ``BDAT n`` chunks, the last ``BDAT n LAST``; no dot-stuffing.
  Without it, DATA with dot-stuffing (§4.5.2).
- DSN: RET/ENVID on MAIL and NOTIFY/ORCPT on RCPT are passed on; a peer without DSN gets none
  (and NOTIFY=SUCCESS recipients get a "relayed" notice from us).
- SIZE: the message size is announced; SMTPUTF8 and 8BITMIME/BINARYMIME as the message needs.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO, Protocol

from postroom.core import smtp
from postroom.net.tls import client_context

CHUNK = 256 * 1024  # BDAT chunk and DATA write size
MAX_REPLY_LINES = 100


@dataclass(frozen=True, slots=True)
class Reply:
    code: int
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        return " ".join(self.lines)

    @property
    def ok(self) -> bool:
        return 200 <= self.code < 400

    @property
    def temporary(self) -> bool:
        return 400 <= self.code < 500

    @property
    def enhanced(self) -> str:
        """The RFC 3463 code of the reply, or one derived from the basic code."""
        first = self.lines[0].split(" ", 1)[0] if self.lines else ""
        parts = first.split(".")
        if len(parts) == 3 and all(p.isdigit() for p in parts) and first[0] in "245":
            return first
        return {2: "2.0.0", 4: "4.0.0", 5: "5.0.0"}.get(self.code // 100, "4.0.0")

    def __str__(self) -> str:
        return f"{self.code} {self.text}"


class LineSource(Protocol):
    """What the client reads replies from: an asyncio StreamReader, or a server-side
    connection turned around by ODMR (mta/odmr.py)."""

    async def readline(self) -> bytes: ...


class ByteSink(Protocol):
    def write(self, data: bytes) -> None: ...

    async def drain(self) -> None: ...

    def close(self) -> None: ...


class SmtpClientError(Exception):
    """The connection failed or the peer broke the protocol: try the next host / later."""


@dataclass
class Envelope:
    sender: str
    recipients: list[str]
    size: int
    body: str = ""  # "", "8BITMIME" or "BINARYMIME"
    smtputf8: bool = False
    ret: str = ""
    envid: str = ""
    notify: dict[str, str] = field(default_factory=dict)
    orcpt: dict[str, str] = field(default_factory=dict)


@dataclass
class Result:
    """What the peer said to each recipient (or to the whole transaction)."""

    per_recipient: dict[str, Reply]
    dsn_passed: bool  # the peer took our DSN parameters (so it reports SUCCESS itself)


class SmtpClient:
    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.reader: LineSource | None = None
        self.writer: ByteSink | None = None
        self.features: dict[str, str] = {}
        self.tls = False
        self.peer_name = ""

    # -- connection ---------------------------------------------------------------------------
    async def connect(self, address: str, port: int, helo: str, *, server_name: str,
                      implicit_tls: bool = False, starttls: str = "opportunistic",
                      connect_timeout: float = 30.0) -> Reply:
        """Connect, read the greeting, EHLO, STARTTLS when offered (``starttls``:
        ``opportunistic``, ``required`` or ``never``). Returns the greeting."""
        self.peer_name = server_name
        ctx = client_context(verify=False) if implicit_tls else None
        try:
            self.reader, self.writer = await asyncio.wait_for(
                asyncio.open_connection(address, port, ssl=ctx,
                                        server_hostname=server_name if ctx else None),
                connect_timeout)
        except (OSError, TimeoutError, ssl.SSLError) as exc:
            raise SmtpClientError(f"cannot connect to {server_name} [{address}]:{port}: "
                                  f"{exc or type(exc).__name__}") from None
        self.tls = implicit_tls
        greeting = await self.read_reply()
        if greeting.code != smtp.GREETING.code:
            return greeting
        await self.ehlo(helo)
        if not self.tls and starttls != "never" and "STARTTLS" in self.features:
            reply = await self.command("STARTTLS")
            if reply.code == smtp.READY_FOR_TLS.code:
                await self._upgrade(server_name)
                await self.ehlo(helo)
            elif starttls == "required":
                raise SmtpClientError(f"{server_name} refused STARTTLS: {reply}")
        elif not self.tls and starttls == "required":
            raise SmtpClientError(f"{server_name} does not offer STARTTLS")
        return greeting

    def attach(self, reader: LineSource, writer: ByteSink, peer_name: str, tls: bool) -> None:
        """Speak SMTP over a connection that already exists (ODMR, RFC 2645 §4: the roles
        reverse on the same socket); the caller reads the greeting and sends EHLO."""
        self.reader, self.writer = reader, writer
        self.peer_name = peer_name
        self.tls = tls

    async def _upgrade(self, server_name: str) -> None:
        assert isinstance(self.writer, asyncio.StreamWriter)
        try:
            await asyncio.wait_for(self.writer.start_tls(client_context(verify=False),
                                                         server_hostname=server_name),
                                   self.timeout)
        except (OSError, TimeoutError, ssl.SSLError) as exc:
            raise SmtpClientError(f"TLS with {server_name} failed: {exc}") from None
        self.tls = True

    async def ehlo(self, helo: str) -> None:
        reply = await self.command(f"EHLO {helo}")
        self.features = {}
        if reply.code != smtp.HELLO.code:
            reply = await self.command(f"HELO {helo}")
            if reply.code != smtp.HELLO.code:
                raise SmtpClientError(f"{self.peer_name} refused HELO: {reply}")
            return
        for line in reply.lines[1:]:
            key, _, value = line.partition(" ")
            self.features[key.upper()] = value

    async def auth(self, user: str, password: str) -> Reply:
        """Inside TLS: AUTH PLAIN (RFC 4616) or LOGIN, whichever the peer offers. Outside TLS
        only CRAM-MD5 (RFC 2195), which proves the password without sending it; a password
        itself never travels in clear."""
        mechs = self.features.get("AUTH", "").upper().split()
        if not self.tls:
            if "CRAM-MD5" in mechs:
                return await self._cram_md5(user, password)
            raise SmtpClientError(f"{self.peer_name} offers no login without TLS that keeps "
                                  f"the password secret (offered: {' '.join(mechs) or 'none'})")
        if "PLAIN" in mechs:
            token = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
            return await self.command(f"AUTH PLAIN {token}")
        if "LOGIN" in mechs:
            reply = await self.command("AUTH LOGIN")
            if reply.code == smtp.AUTH_CHALLENGE.code:
                reply = await self.command(base64.b64encode(user.encode()).decode())
            if reply.code == smtp.AUTH_CHALLENGE.code:
                reply = await self.command(base64.b64encode(password.encode()).decode())
            return reply
        raise SmtpClientError(f"{self.peer_name} offers neither AUTH PLAIN nor LOGIN")

    async def _cram_md5(self, user: str, password: str) -> Reply:
        reply = await self.command("AUTH CRAM-MD5")
        if reply.code != smtp.AUTH_CHALLENGE.code:
            return reply
        try:
            challenge = base64.b64decode(reply.text.strip(), validate=True)
        except ValueError:
            raise SmtpClientError(f"{self.peer_name}: bad CRAM-MD5 challenge") from None
        digest = hmac.new(password.encode(), challenge, hashlib.md5).hexdigest()
        return await self.command(base64.b64encode(f"{user} {digest}".encode()).decode())

    async def quit(self) -> None:
        if self.writer is None:
            return
        try:
            self.writer.write(b"QUIT\r\n")
            await asyncio.wait_for(self.writer.drain(), 5)
            await asyncio.wait_for(self.read_reply(), 5)
        except (OSError, TimeoutError, SmtpClientError, ssl.SSLError):
            pass
        self.close()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    # -- wire ---------------------------------------------------------------------------------
    async def read_reply(self) -> Reply:
        assert self.reader is not None
        lines: list[str] = []
        code = 0
        while True:
            try:
                raw = await asyncio.wait_for(self.reader.readline(), self.timeout)
            except (OSError, TimeoutError, ssl.SSLError, ValueError) as exc:
                raise SmtpClientError(f"{self.peer_name}: no reply "
                                      f"({exc or type(exc).__name__})") from None
            if not raw:
                raise SmtpClientError(f"{self.peer_name} closed the connection")
            line = raw.rstrip(b"\r\n").decode("utf-8", "replace")
            if len(line) < 3 or not line[:3].isdigit() or (len(line) > 3 and
                                                            line[3] not in " -"):
                raise SmtpClientError(f"{self.peer_name}: malformed reply {line[:80]!r}")
            code = int(line[:3])
            lines.append(line[4:])
            if len(line) == 3 or line[3] == " ":
                return Reply(code, tuple(lines))
            if len(lines) > MAX_REPLY_LINES:
                raise SmtpClientError(f"{self.peer_name}: endless reply")

    async def _write(self, data: bytes) -> None:
        assert self.writer is not None
        try:
            self.writer.write(data)
            await asyncio.wait_for(self.writer.drain(), self.timeout)
        except (OSError, TimeoutError, ssl.SSLError) as exc:
            raise SmtpClientError(f"{self.peer_name}: write failed "
                                  f"({exc or type(exc).__name__})") from None

    async def command(self, line: str) -> Reply:
        await self._write(line.encode() + b"\r\n")
        return await self.read_reply()

    # -- one message --------------------------------------------------------------------------
    async def send(self, env: Envelope, content: BinaryIO) -> Result:
        """One transaction. Transaction-wide failures (MAIL refused, DATA refused) are copied
        to every recipient still open. Raises SmtpClientError when the connection breaks."""
        dsn = "DSN" in self.features
        mail = f"MAIL FROM:<{env.sender}>"
        if "SIZE" in self.features:
            mail += f" SIZE={env.size}"
        if env.body and env.body in ("8BITMIME", "BINARYMIME") and env.body in self.features:
            mail += f" BODY={env.body}"
        if env.smtputf8 and "SMTPUTF8" in self.features:
            mail += " SMTPUTF8"
        if dsn and env.ret:
            mail += f" RET={env.ret}"
        if dsn and env.envid:
            mail += f" ENVID={env.envid}"
        rcpts = []
        for rcpt in env.recipients:
            line = f"RCPT TO:<{rcpt}>"
            if dsn and rcpt in env.notify:
                line += f" NOTIFY={env.notify[rcpt]}"
            if dsn and rcpt in env.orcpt:
                line += f" ORCPT={env.orcpt[rcpt]}"
            rcpts.append(line)
        chunking = "CHUNKING" in self.features
        addresses_ascii = env.sender.isascii() and all(r.isascii() for r in env.recipients)
        if env.smtputf8 and "SMTPUTF8" not in self.features and not addresses_ascii:
            reply = Reply(smtp.UTF8_ADDRESS.code, ("5.6.7 The next hop cannot take UTF-8 addresses "
                                "(no SMTPUTF8)",))  # RFC 6531 §3.2
            return Result(dict.fromkeys(env.recipients, reply), dsn)
        if env.body == "BINARYMIME" and not (chunking and "BINARYMIME" in self.features):
            reply = Reply(smtp.NO_BINARY.code, ("5.6.3 The next hop cannot take binary content "
                                "(no BINARYMIME/CHUNKING)",))
            return Result(dict.fromkeys(env.recipients, reply), dsn)
        if "PIPELINING" in self.features:
            group = [mail, *rcpts] + ([] if chunking else ["DATA"])
            await self._write("".join(f"{c}\r\n" for c in group).encode())
            mail_reply = await self.read_reply()
            rcpt_replies = [await self.read_reply() for _ in rcpts]
            data_reply = None if chunking else await self.read_reply()
        else:
            mail_reply = await self.command(mail)
            if not mail_reply.ok:
                return Result(dict.fromkeys(env.recipients, mail_reply), dsn)
            rcpt_replies = [await self.command(line) for line in rcpts]
            data_reply = None
        if not mail_reply.ok:
            if data_reply is not None and data_reply.code == smtp.START_DATA.code:
                await self._write(b".\r\n")  # RFC 2920 §3.1: end the data nobody asked for
                await self.read_reply()
            return Result(dict.fromkeys(env.recipients, mail_reply), dsn)
        results = dict(zip(env.recipients, rcpt_replies, strict=True))
        accepted = [r for r in env.recipients if results[r].ok]
        if not accepted:
            if data_reply is not None and data_reply.code == smtp.START_DATA.code:
                await self._write(b".\r\n")
                await self.read_reply()
            await self.command("RSET")
            return Result(results, dsn)
        if chunking:
            final = await self._bdat(content, binary=env.body == "BINARYMIME")
        else:
            if data_reply is None:
                data_reply = await self.command("DATA")
            if data_reply.code != smtp.START_DATA.code:
                final = data_reply
            else:
                for piece in dot_stuffed(content):
                    await self._write(piece)
                final = await self.read_reply()
        for rcpt in accepted:
            results[rcpt] = final
        return Result(results, dsn)

    async def _bdat(self, content: BinaryIO, binary: bool) -> Reply:
        """RFC 3030 §2: ``BDAT n`` per chunk, replies read after each (no dot-stuffing).
        Only ``BODY=BINARYMIME`` content goes as stored; everything else has its line ends
        made CRLF first, as DATA does (``canonical_lines``)."""
        chunks = _raw_chunks(content) if binary else _canonical_chunks(content)
        chunk = next(chunks, b"")
        while True:
            following = next(chunks, None)
            last = following is None
            header = f"BDAT {len(chunk)}{' LAST' if last else ''}\r\n".encode()
            await self._write(header + chunk)
            reply = await self.read_reply()
            if following is None or not reply.ok:
                return reply
            chunk = following


def _raw_chunks(content: BinaryIO) -> Iterator[bytes]:
    while chunk := content.read(CHUNK):
        yield chunk


def _canonical_chunks(content: BinaryIO) -> Iterator[bytes]:
    batch: list[bytes] = []
    size = 0
    for raw in content:
        for line in canonical_lines(raw):
            batch.append(line)
            size += len(line)
        if size >= CHUNK:
            yield b"".join(batch)
            batch, size = [], 0
    if batch:
        yield b"".join(batch)


def canonical_lines(line: bytes) -> list[bytes]:
    """One line read from a stored message (ending in LF, or the last without one) as lines
    ending in CRLF: a bare LF ends a line, and a bare CR ends one too (RFC 5321 §2.3.8). What
    we send in DATA can then never carry a bare CR or LF for the next server to read as an
    end of data, so no smuggled ``<CR>.<CR><LF>`` passes through us (CVE-2023-51766 and
    friends)."""
    if line.endswith(b"\r\n") and line.count(b"\r") == 1:
        return [line]  # the common case: already CRLF, no CR inside
    body = line[:-1] if line.endswith(b"\n") else line
    if body.endswith(b"\r"):
        body = body[:-1]
    return [piece + b"\r\n" for piece in body.split(b"\r")]


def dot_stuffed(content: BinaryIO) -> Iterator[bytes]:
    """DATA content (RFC 5321 §4.5.2): every line ending in CRLF (``canonical_lines``), a
    leading "." doubled, CRLF.CRLF at the end. Reads line by line, writes in batches of about
    CHUNK octets."""
    batch: list[bytes] = []
    size = 0
    for raw in content:
        for line in canonical_lines(raw):
            if line.startswith(b"."):
                line = b"." + line
            batch.append(line)
            size += len(line)
        if size >= CHUNK:
            yield b"".join(batch)
            batch, size = [], 0
    batch.append(b".\r\n")
    yield b"".join(batch)
