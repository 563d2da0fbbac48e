"""A small asyncio client for SpamAssassin's spamd (the SPAMC/1.5 protocol).

The protocol is the one spamc speaks (spamd's own documentation, ``PROTOCOL`` in the
SpamAssassin distribution): one request per connection, over TCP or a Unix socket.

Request::

    VERB SPAMC/1.5 CRLF
    Header: value CRLF          (Content-length for a body; User; Message-class, Set for TELL)
    CRLF
    body                        (exactly Content-length octets)

Response::

    SPAMD/1.x CODE MESSAGE CRLF (CODE 0 = EX_OK; anything else is an error, e.g. 76 EX_PROTOCOL)
    Header: value CRLF          (``Spam: True ; 1003.3 / 5.0`` for CHECK and SYMBOLS)
    CRLF
    body                        (SYMBOLS: the rule names, comma-separated)

Verbs used here: ``PING`` (reachability, for ``postroom status``), ``SYMBOLS`` (score and rule
names, enough for the X-Spam-* headers; the message is never sent back, so the per-delivery
prefix is the only thing we add) and ``TELL`` (learning: ``Message-class: spam|ham`` with
``Set: local``; spamd must run with ``--allow-tell``).

Limits, all explicit: a connect timeout, a timeout for the whole exchange, and a cap on the
reply read (spamd's replies to these verbs are small). The message size cap (spamc's ``-s``,
500 KB by default) is the caller's: spamc passes larger mail through unscanned, and so does
the spamd check.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

PROTOCOL = b"SPAMC/1.5"
MAX_REPLY = 256 * 1024  # a SYMBOLS or TELL reply is a few hundred octets


class SpamdError(Exception):
    """spamd could not be reached, timed out, or answered with an error."""


@dataclass(frozen=True, slots=True)
class SpamResult:
    """spamd's judgement of one message (the ``Spam:`` header and the SYMBOLS body)."""

    is_spam: bool  # spamd's own opinion, against its own required score
    score: float
    required: float
    symbols: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where a daemon listens: ``host:port`` (``[v6]:port``) or an absolute Unix socket path."""

    host: str = ""
    port: int = 0
    path: str = ""

    @classmethod
    def parse(cls, text: str) -> Endpoint:
        text = text.strip()
        if text.startswith("/"):
            return cls(path=text)
        host, sep, port = text.rpartition(":")
        if not sep or not port.isdigit() or not host:
            raise ValueError(f"{text!r}: expected host:port or an absolute socket path")
        return cls(host=host.strip("[]"), port=int(port))

    def __str__(self) -> str:
        return self.path or f"{self.host}:{self.port}"

    async def connect(self, timeout: float,
                      ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.path:
            opening = asyncio.open_unix_connection(self.path)
        else:
            opening = asyncio.open_connection(self.host, self.port)
        return await asyncio.wait_for(opening, timeout)


async def close(writer: asyncio.StreamWriter) -> None:
    """Close a daemon connection and wait for it, ignoring a peer that already went."""
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()


@dataclass(frozen=True, slots=True)
class Reply:
    protocol: str  # "SPAMD/1.5"
    exit_code: int  # spamd's sysexits code: 0 = EX_OK
    message: str
    headers: dict[str, str]
    body: bytes


def parse_reply(raw: bytes) -> Reply:
    """Split a spamd response into status, headers (names lower-cased) and body."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = lines[0].decode("latin-1").split(None, 2)
    if len(status) < 2 or not status[0].startswith("SPAMD/") or \
            not (status[1].isascii() and status[1].isdigit()):
        raise SpamdError(f"spamd: unexpected reply {lines[0][:80]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, colon, value = line.decode("latin-1").partition(":")
        if colon:
            headers[name.strip().lower()] = value.strip()
    return Reply(status[0], int(status[1]), status[2] if len(status) > 2 else "", headers,
                 body if sep else b"")


def parse_spam_header(value: str) -> tuple[bool, float, float]:
    """``True ; 1003.3 / 5.0`` → (True, 1003.3, 5.0)."""
    verdict, _, scores = value.partition(";")
    score, _, required = scores.partition("/")
    try:
        return verdict.strip().lower() in ("true", "yes"), float(score), float(required)
    except ValueError:
        raise SpamdError(f"spamd: unreadable Spam header {value[:80]!r}") from None


class SpamdClient:
    def __init__(self, address: str, timeout: float = 30.0, connect_timeout: float = 5.0,
                 user: str = "") -> None:
        self.endpoint = Endpoint.parse(address)
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.user = user

    async def request(self, verb: str, headers: dict[str, str] | None = None,
                      body: bytes | None = None) -> Reply:
        """One exchange; raises ``SpamdError`` on any failure, never anything else."""
        lines = [verb.encode() + b" " + PROTOCOL]
        for name, value in (headers or {}).items():
            lines.append(f"{name}: {value}".encode())
        if self.user:
            lines.append(f"User: {self.user}".encode())
        if body is not None:
            lines.append(b"Content-length: " + str(len(body)).encode())
        data = b"\r\n".join(lines) + b"\r\n\r\n" + (body or b"")
        try:
            return await asyncio.wait_for(self._exchange(data), self.timeout)
        except TimeoutError:
            raise SpamdError(f"spamd at {self.endpoint}: no answer in {self.timeout:g} s") \
                from None
        except OSError as exc:
            raise SpamdError(f"spamd at {self.endpoint}: {exc.strerror or exc}") from None

    async def _exchange(self, data: bytes) -> Reply:
        reader, writer = await self.endpoint.connect(self.connect_timeout)
        try:
            writer.write(data)
            await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()
            raw = await reader.read(MAX_REPLY)
            while raw and len(raw) < MAX_REPLY:
                more = await reader.read(MAX_REPLY - len(raw))
                if not more:
                    break
                raw += more
        finally:
            await close(writer)
        if not raw:
            raise SpamdError(f"spamd at {self.endpoint}: closed without an answer")
        reply = parse_reply(raw)
        if reply.exit_code != 0:
            raise SpamdError(f"spamd: error {reply.exit_code} {reply.message}")
        return reply

    async def ping(self) -> str:
        """spamd's answer to PING (``PONG``) with its protocol version."""
        reply = await self.request("PING")
        return f"{reply.message} ({reply.protocol})"

    async def symbols(self, message: bytes) -> SpamResult:
        """Score ``message`` and name the rules that hit (the SYMBOLS verb)."""
        reply = await self.request("SYMBOLS", body=message)
        spam = reply.headers.get("spam")
        if spam is None:
            raise SpamdError("spamd: reply without a Spam header")
        is_spam, score, required = parse_spam_header(spam)
        names = tuple(s.strip() for s in reply.body.decode("latin-1").split(",") if s.strip())
        return SpamResult(is_spam, score, required, names)

    async def tell(self, message: bytes, spam: bool) -> str:
        """Teach spamd's Bayes store that ``message`` is spam (or ham); returns spamd's
        ``DidSet``/``DidRemove`` answer ("" when it learned nothing new)."""
        reply = await self.request("TELL", {"Message-class": "spam" if spam else "ham",
                                            "Set": "local"}, message)
        names = {"didset": "DidSet", "didremove": "DidRemove"}
        done = [f"{names[k]}: {v}" for k, v in reply.headers.items() if k in names]
        return ", ".join(done)
