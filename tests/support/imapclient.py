"""A small IMAP test client: raw lines in, raw lines out, so tests can check exact bytes.

imaplib hides literals, continuation requests and untagged ordering; these tests need them.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import socket

from tests.support.tls import insecure_context


class RawImap:
    def __init__(self, port: int, tls: bool = False, host: str = "127.0.0.1",
                 timeout: float = 20.0) -> None:
        raw = socket.create_connection((host, port), timeout=timeout)
        self.sock: socket.socket = raw
        if tls:
            self.sock = insecure_context().wrap_socket(raw, server_hostname="mail.example.test")
        self.buf = b""
        self.tags = (f"T{n}" for n in itertools.count(1))
        self.greeting = self.line()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def line(self) -> bytes:
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"closed by server; buffered: {self.buf[:200]!r}")
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def read_exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def response(self, tag: str) -> tuple[list[bytes], bytes]:
        """Untagged lines (literals inlined) until the tagged line for ``tag``."""
        untagged: list[bytes] = []
        while True:
            line = self.line()
            while line.endswith(b"}") and b"{" in line:
                size = int(line[line.rindex(b"{") + 1:-1].lstrip(b"~").rstrip(b"+"))
                line += b"\r\n" + self.read_exact(size) + self.line()
            if line.startswith(tag.encode() + b" "):
                return untagged, line
            untagged.append(line)

    def cmd(self, text: str | bytes) -> tuple[list[bytes], bytes]:
        tag = next(self.tags)
        body = text.encode() if isinstance(text, str) else text
        self.send(tag.encode() + b" " + body + b"\r\n")
        return self.response(tag)

    def ok(self, text: str | bytes) -> list[bytes]:
        untagged, tagged = self.cmd(text)
        assert b" OK " in tagged, (text, untagged, tagged)
        return untagged

    def login(self, user: str, password: str) -> None:
        self.ok(f'LOGIN "{user}" "{password}"')

    def auth_plain(self, user: str, password: str) -> tuple[list[bytes], bytes]:
        token = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
        return self.cmd(f"AUTHENTICATE PLAIN {token}")

    def append(self, mailbox: str, message: bytes, flags: str = "") -> bytes:
        tag = next(self.tags)
        flag_part = f" ({flags})" if flags else ""
        self.send(f'{tag} APPEND "{mailbox}"{flag_part} {{{len(message)}+}}\r\n'.encode()
                  + message + b"\r\n")
        _, tagged = self.response(tag)
        return tagged

    def starttls(self) -> None:
        self.ok("STARTTLS")
        self.sock = insecure_context().wrap_socket(self.sock, server_hostname="mail.example.test")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()

