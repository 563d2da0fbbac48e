"""A small asyncio POP3 client for MultiPOP (RFC 1939, RFC 2449 CAPA, RFC 2595 STLS,
RFC 5034 AUTH PLAIN).

Why not ``poplib``: it blocks, and it refuses lines over 2,048 octets, which real mail has
(long HTML lines). This client reads each reply within a timeout, bounds every line and every
message, and never sends a password in the clear unless the administrator chose ``tls=none``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ssl
from dataclasses import dataclass

from postroom.net.tls import client_context

MAX_LINE = 1 << 20  # one line of a message; far above RFC 5322's 998, below memory trouble


class Pop3ClientError(Exception):
    """The remote server failed or refused. Every failure is retried with the same backoff
    (mta/multipop.py): even a refused password may be the remote directory's passing trouble,
    and the error stays visible in ``multipop show`` meanwhile."""


@dataclass(frozen=True, slots=True)
class RemoteMessage:
    number: int
    uidl: str
    size: int


class Pop3Client:
    def __init__(self, host: str, port: int, *, tls: str, verify: bool = True,
                 timeout: float = 60.0) -> None:
        self.host = host
        self.port = port
        self.tls = tls  # "implicit" | "starttls" | "none"
        self.verify = verify
        self.timeout = timeout
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.caps: dict[str, list[str]] = {}

    @property
    def peer(self) -> str | None:
        """The remote address connected to (for the Received line)."""
        info = self.writer.get_extra_info("peername") if self.writer is not None else None
        return str(info[0]) if info else None

    async def connect(self) -> None:
        ctx = client_context(self.verify) if self.tls == "implicit" else None
        try:
            self.reader, self.writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port, ssl=ctx, limit=MAX_LINE,
                                        server_hostname=self.host if ctx else None),
                self.timeout)
        except (OSError, TimeoutError, ssl.SSLError) as exc:
            raise Pop3ClientError(f"cannot connect to {self.host}:{self.port}: "
                                  f"{_reason(exc)}") from None
        await self._status("greeting")
        self.caps = await self.capa()
        if self.tls == "starttls":
            if "STLS" not in self.caps:
                raise Pop3ClientError(f"{self.host} does not offer STLS")
            await self._command("STLS")
            assert self.writer is not None
            try:
                await asyncio.wait_for(self.writer.start_tls(
                    client_context(self.verify), server_hostname=self.host), self.timeout)
            except (OSError, TimeoutError, ssl.SSLError) as exc:
                raise Pop3ClientError(f"TLS with {self.host} failed: {_reason(exc)}") from None
            self.caps = await self.capa()  # RFC 2595 §4: ask again inside TLS

    async def capa(self) -> dict[str, list[str]]:
        """RFC 2449 §5; an old server without CAPA gets an empty dict."""
        self._send("CAPA")
        line = await self._line()
        if not line.startswith(b"+OK"):
            return {}
        out: dict[str, list[str]] = {}
        for raw in await self._multiline():
            words = raw.decode("utf-8", "replace").split()
            if words:
                out[words[0].upper()] = words[1:]
        return out

    async def login(self, user: str, password: str) -> None:
        """AUTH PLAIN when offered (RFC 5034), else USER/PASS (RFC 1939 §7)."""
        mechs = [m.upper() for m in self.caps.get("SASL", [])]
        if "PLAIN" in mechs:
            token = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
            if len(token) + 12 <= 255:  # RFC 5034 §4: the initial response must fit
                await self._command(f"AUTH PLAIN {token}", auth=True)
            else:
                self._send("AUTH PLAIN")
                line = await self._line()
                if not line.startswith(b"+"):
                    raise Pop3ClientError(f"AUTH PLAIN refused: {_text(line)}")
                await self._command(token, auth=True, what="AUTH PLAIN")
            return
        await self._command(f"USER {user}", auth=True)
        await self._command(f"PASS {password}", auth=True)

    async def listing(self) -> list[RemoteMessage]:
        """UIDL and LIST together; a server without UIDL cannot be collected safely."""
        self._send("UIDL")
        line = await self._line()
        if not line.startswith(b"+OK"):
            raise Pop3ClientError(f"{self.host} does not support UIDL: {_text(line)}")
        uidls: dict[int, str] = {}
        for raw in await self._multiline():
            parts = raw.split()
            if len(parts) >= 2 and parts[0].isdigit():
                uidls[int(parts[0])] = parts[1].decode("ascii", "replace")
        await self._command("LIST")
        sizes: dict[int, int] = {}
        for raw in await self._multiline():
            parts = raw.split()
            if len(parts) >= 2 and parts[0].isdigit() and parts[1].isdigit():
                sizes[int(parts[0])] = int(parts[1])
        return [RemoteMessage(n, uidls[n], sizes.get(n, 0)) for n in sorted(uidls)]

    async def retr(self, number: int, limit: int) -> bytes:
        """The message, un-stuffed (RFC 1939 §3), at most ``limit`` octets."""
        await self._command(f"RETR {number}")
        out = bytearray()
        assert self.reader is not None
        while True:
            line = await self._raw_line()
            if line in (b".\r\n", b".\n"):
                return bytes(out)
            if line.startswith(b"."):
                line = line[1:]
            out += line
            if len(out) > limit:
                raise Pop3ClientError(f"message {number} is larger than {limit} octets")

    async def dele(self, number: int) -> None:
        await self._command(f"DELE {number}")

    async def quit(self) -> None:
        """QUIT: the remote server removes what was deleted (its UPDATE state)."""
        await self._command("QUIT")
        await self.close()

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError, TimeoutError, ssl.SSLError):
                await asyncio.wait_for(self.writer.wait_closed(), 5)
            self.writer = None

    # -- plumbing -----------------------------------------------------------------------------
    def _send(self, line: str) -> None:
        assert self.writer is not None
        self.writer.write(line.encode("utf-8") + b"\r\n")

    async def _raw_line(self) -> bytes:
        assert self.reader is not None
        try:
            line = await asyncio.wait_for(self.reader.readline(), self.timeout)
        except TimeoutError:
            raise Pop3ClientError(f"{self.host} did not answer in {self.timeout:.0f} s") \
                from None
        except (ValueError, asyncio.LimitOverrunError):
            raise Pop3ClientError(f"{self.host} sent a line over {MAX_LINE} octets") from None
        except (OSError, ssl.SSLError) as exc:
            raise Pop3ClientError(f"connection to {self.host} failed: {_reason(exc)}") \
                from None
        if not line:
            raise Pop3ClientError(f"{self.host} closed the connection")
        return line

    async def _line(self) -> bytes:
        assert self.writer is not None
        await self.writer.drain()
        return (await self._raw_line()).rstrip(b"\r\n")

    async def _multiline(self) -> list[bytes]:
        out: list[bytes] = []
        while True:
            line = (await self._raw_line()).rstrip(b"\r\n")
            if line == b".":
                return out
            out.append(line[1:] if line.startswith(b".") else line)

    async def _status(self, what: str) -> bytes:
        line = await self._line()
        if not line.startswith(b"+OK"):
            raise Pop3ClientError(f"{what} refused by {self.host}: {_text(line)}")
        return line

    async def _command(self, line: str, auth: bool = False, what: str | None = None) -> bytes:
        """Send one command and expect +OK; error texts never repeat a credential."""
        self._send(line)
        return await self._status(what or (line.split(" ", 1)[0] if auth else line))


def _text(line: bytes) -> str:
    return line.decode("utf-8", "replace")[:200]


def _reason(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__
