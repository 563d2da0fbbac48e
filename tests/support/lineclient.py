"""A raw line-based test client: the socket, the read buffer and exact reads, shared by the
IMAP and POP3 test clients (each adds its own commands)."""

from __future__ import annotations

import contextlib
import socket
import ssl

from tests.support.tls import insecure_context


class LineClient:
    def __init__(self, port: int, tls: bool = False, host: str = "127.0.0.1",
                 timeout: float = 20.0) -> None:
        raw = socket.create_connection((host, port), timeout=timeout)
        self.sock: socket.socket = raw
        if tls:
            self.sock = insecure_context().wrap_socket(raw, server_hostname="mail.example.test")
        self.buf = b""
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

    def upgrade(self) -> None:
        """TLS on the existing connection, after the server said go (STARTTLS, STLS)."""
        self.sock = insecure_context().wrap_socket(self.sock, server_hostname="mail.example.test")

    def closed(self) -> bool:
        """True once the server has closed the connection (reads EOF)."""
        try:
            return self.sock.recv(1) == b""
        except (ConnectionError, ssl.SSLError):
            return True

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()
