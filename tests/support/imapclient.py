"""A small IMAP test client: raw lines in, raw lines out, so tests can check exact bytes.

imaplib hides literals, continuation requests and untagged ordering; these tests need them.
"""

from __future__ import annotations

import base64
import itertools

from tests.support.lineclient import LineClient


class RawImap(LineClient):
    def __init__(self, port: int, tls: bool = False, host: str = "127.0.0.1",
                 timeout: float = 20.0) -> None:
        self.tags = (f"T{n}" for n in itertools.count(1))
        super().__init__(port, tls, host, timeout)

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
        self.upgrade()

