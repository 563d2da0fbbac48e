"""Helpers for the mail-authentication tests: DKIM keys and signed messages made with dkimpy
(the independent implementation that signs what our verifier checks), key records for the
loopback DNS, and a loopback DNS zone that can also answer SERVFAIL.
"""

from __future__ import annotations

import base64
import threading
from email.utils import formatdate, make_msgid

import dkim
import dnslib
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from dnslib.server import DNSLogger, DNSServer

from tests.support.mailhost import Zone


class FailingZone(Zone):
    """The mailhost zone, plus names whose every question gets SERVFAIL (a broken or
    unreachable authoritative server, as a resolver reports it)."""

    def __init__(self) -> None:
        super().__init__()
        self.servfail: set[str] = set()
        self.fail_lock = threading.Lock()

    def resolve(self, request: dnslib.DNSRecord, handler: object) -> dnslib.DNSRecord:
        qname = str(request.q.qname).lower().rstrip(".")
        with self.fail_lock:
            failing = qname in self.servfail
        if failing:
            reply = request.reply()
            reply.header.rcode = dnslib.RCODE.SERVFAIL
            return reply
        return super().resolve(request, handler)


class AuthDns:
    """A loopback DNS server over a ``FailingZone``."""

    def __init__(self) -> None:
        self.zone = FailingZone()
        self.server = DNSServer(self.zone, address="127.0.0.1", port=0,
                                logger=DNSLogger("-request,-reply,-truncated,-error,-recv,"
                                                 "-send,-data"))
        self.server.start_thread()
        self.port: int = self.server.server.server_address[1]

    def txt(self, name: str, text: str) -> None:
        """A TXT record, split into strings of at most 255 octets (RFC 1035 §3.3.14)."""
        chunks = [text[i:i + 200] for i in range(0, len(text), 200)] or [""]
        self.zone.add(name, "TXT", " ".join('"' + c.replace('"', '\\"') + '"'
                                            for c in chunks))

    def stop(self) -> None:
        self.server.stop()


class DkimKey:
    """An RSA signing key (2048 bits unless told) and its DNS record."""

    def __init__(self, selector: str, domain: str, bits: int = 2048) -> None:
        self.selector = selector
        self.domain = domain
        key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
        self.private = key.private_bytes(serialization.Encoding.PEM,
                                         serialization.PrivateFormat.TraditionalOpenSSL,
                                         serialization.NoEncryption())
        public = key.public_key().public_bytes(serialization.Encoding.DER,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
        self.record = "v=DKIM1; k=rsa; p=" + base64.b64encode(public).decode()
        self.name = f"{selector}._domainkey.{domain}"

    def sign(self, message: bytes, expired: bool = False) -> bytes:
        """``message`` with a DKIM-Signature (relaxed/relaxed) prepended; ``expired``: with
        an ``x=`` long past (dkimpy cannot set one, so its header generator is wrapped)."""
        signer: dkim.DKIM = _Expired(message) if expired else dkim.DKIM(message)
        header: bytes = signer.sign(self.selector.encode(), self.domain.encode(),
                                    self.private, canonicalize=(b"relaxed", b"relaxed"),
                                    include_headers=[b"from", b"to", b"subject", b"date",
                                                     b"message-id"])
        return header + message


class _Expired(dkim.DKIM):  # type: ignore[misc]
    def gen_header(self, fields: list[tuple[bytes, bytes]], *args: object,
                   **kwargs: object) -> bytes:
        past = [(b"t", b"1000000000") if k == b"t" else (k, v) for k, v in fields]
        at = next(i for i, (k, _) in enumerate(past) if k == b"b")
        past.insert(at, (b"x", b"1000086400"))
        result: bytes = super().gen_header(past, *args, **kwargs)
        return result


def message(author: str, to: str, subject: str = "Hello", body: str = "Hello there.\r\n",
            ) -> bytes:
    return (f"From: <{author}>\r\nTo: <{to}>\r\nSubject: {subject}\r\n"
            f"Date: {formatdate()}\r\nMessage-ID: {make_msgid('test')}\r\n"
            f"MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n{body}").encode()
