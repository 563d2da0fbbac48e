"""ODMR helpers for tests: a raw provider-side client (EHLO, AUTH, ATRN) and a scripted
customer that plays the SMTP server after the turnaround (RFC 2645 §4), recording what it
was given, refusing or dropping on request."""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass, field

from tests.support.lineclient import LineClient


class OdmrClient(LineClient):
    def reply(self) -> tuple[int, list[str]]:
        lines = []
        while True:
            line = self.line().decode()
            lines.append(line[4:])
            if line[3:4] != "-":
                return int(line[:3]), lines

    def cmd(self, text: str) -> tuple[int, list[str]]:
        self.send(text.encode() + b"\r\n")
        return self.reply()

    def cram_md5(self, user: str, secret: str) -> int:
        code, lines = self.cmd("AUTH CRAM-MD5")
        assert code == 334, lines
        challenge = base64.b64decode(lines[0])
        digest = hmac.new(secret.encode(), challenge, hashlib.md5).hexdigest()
        return self.cmd(base64.b64encode(f"{user} {digest}".encode()).decode())[0]

    def plain(self, user: str, password: str) -> int:
        token = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
        return self.cmd(f"AUTH PLAIN {token}")[0]


@dataclass
class Received:
    sender: str
    recipients: list[str]
    data: bytes


@dataclass
class ScriptedCustomer:
    """The customer after ``250`` to ATRN: greets first, then takes mail."""

    client: OdmrClient
    chunking: bool = False
    defer: set[str] = field(default_factory=set)  # answered 450 at RCPT
    reject: set[str] = field(default_factory=set)  # answered 550 at RCPT
    drop_after: int | None = None  # close the link instead of answering this message's end
    messages: list[Received] = field(default_factory=list)
    quit_seen: bool = False
    chunks: bytes = b""  # BDAT chunks of the message being received

    def _say(self, text: str) -> None:
        self.client.send(text.encode() + b"\r\n")

    def serve(self) -> None:
        self._say("220 customer.test ESMTP scripted")
        sender, rcpts = "", []
        while True:
            line = self.client.line().decode()
            verb = line.split(" ", 1)[0].upper()
            if verb == "EHLO":
                self._say("250-customer.test\r\n250-PIPELINING\r\n250-8BITMIME" +
                          ("\r\n250-CHUNKING" if self.chunking else "") + "\r\n250 SIZE 0")
            elif verb == "MAIL":
                sender, rcpts = line[10:].split(">")[0].lstrip("<"), []
                self._say("250 2.1.0 ok")
            elif verb == "RCPT":
                rcpt = line[8:].split(">")[0].lstrip("<")
                if rcpt in self.defer:
                    self._say("450 4.2.1 try later")
                elif rcpt in self.reject:
                    self._say("550 5.1.1 no such user")
                else:
                    rcpts.append(rcpt)
                    self._say("250 2.1.5 ok")
            elif verb == "DATA":
                if not rcpts:
                    self._say("554 no valid recipients")
                    continue
                self._say("354 go ahead")
                body = []
                while (chunk := self.client.line()) != b".":
                    body.append(chunk[1:] if chunk.startswith(b".") else chunk)
                if self._finish(sender, rcpts, b"\r\n".join(body) + b"\r\n"):
                    return
            elif verb == "BDAT":
                words = line.split()
                data = self.client.read_exact(int(words[1]))
                self.chunks += data
                if len(words) == 2:
                    self._say("250 2.0.0 chunk ok")
                    continue
                full, self.chunks = self.chunks, b""
                if self._finish(sender, rcpts, full):
                    return
            elif verb == "RSET":
                sender, rcpts = "", []
                self._say("250 ok")
            elif verb == "QUIT":
                self.quit_seen = True
                self._say("221 bye")
                return
            else:
                self._say("500 what")

    def _finish(self, sender: str, rcpts: list[str], data: bytes) -> bool:
        """Record one message; True when the link is to be dropped instead of answering."""
        if self.drop_after is not None and len(self.messages) + 1 >= self.drop_after:
            self.client.close()
            return True
        self.messages.append(Received(sender, list(rcpts), data))
        self._say("250 2.0.0 queued")
        return False
