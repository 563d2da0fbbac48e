"""The challenges being answered right now, shared by the ACME client and the listeners.

The client (in a worker thread) adds a challenge before it tells the CA to validate and takes
it away when the authorization is settled; the listeners (in the event loop) answer from it:

- HTTP-01 (RFC 8555 §8.3): the plain HTTP listener answers
  ``GET /.well-known/acme-challenge/{token}`` with the key authorization (web/app.py).
- TLS-ALPN-01 (RFC 8737): a handshake on a TLS listener that offers ALPN ``acme-tls/1``
  (RFC 8737 §6.2) for a name with a pending challenge gets a self-signed certificate for that
  name carrying the critical acmeIdentifier extension (RFC 8737 §3), on a per-challenge
  SSLContext whose only ALPN protocol is ``acme-tls/1``. Every other handshake, that name
  included, keeps the server's certificate.

How a handshake is told apart: Python's SNI callback does not see the ALPN list the client
offered, and the certificate is chosen at SNI time. While a TLS-ALPN-01 challenge is pending
(seconds, during issuance) we therefore set the server context's message callback
(``SSLContext._msg_callback``, CPython's hook onto OpenSSL's ``SSL_CTX_set_msg_callback``),
which sees the ClientHello before the SNI callback runs; we read the ALPN extension from it
(RFC 8446 §4.1.2, RFC 7301 §3.1) and remember the connection. The hook and the SNI callback
are set only while a challenge is pending, so no other handshake or record pays for them.
``_msg_callback`` is CPython's debugging hook with an underscore; should a Python lack it, a
handshake for a pending name is answered with the challenge certificate whatever ALPN it
offered (what the challenge needs, at the cost of a wrong certificate for that name during
those seconds).
"""

from __future__ import annotations

import datetime
import hashlib
import logging
import ssl
import tempfile
import threading
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID, ObjectIdentifier

log = logging.getLogger("postroom.acme")

ACME_TLS_ALPN = "acme-tls/1"  # RFC 8737 §6.2
ID_PE_ACME_IDENTIFIER = ObjectIdentifier("1.3.6.1.5.5.7.1.31")  # RFC 8737 §6.1
_CLIENT_HELLO = 1  # handshake message type (RFC 8446 §4)
_EXT_ALPN = 16  # RFC 7301 §3.1


def offered_alpn(hello: bytes) -> list[bytes]:
    """The ALPN protocol names in a ClientHello handshake message (with its 4-octet header);
    [] when it has none or is malformed or truncated (RFC 8446 §4.1.2, RFC 7301 §3.1)."""
    def u16(at: int) -> int:
        if at + 2 > len(hello):
            raise IndexError(at)
        return int.from_bytes(hello[at:at + 2], "big")

    try:
        if hello[0] != _CLIENT_HELLO:
            return []
        pos = 4 + 2 + 32  # header, legacy_version, random
        pos += 1 + hello[pos]  # legacy_session_id
        pos += 2 + u16(pos)  # cipher_suites
        pos += 1 + hello[pos]  # legacy_compression_methods
        end = pos + 2 + u16(pos)
        if end > len(hello):
            return []
        pos += 2
        while pos + 4 <= end:
            kind, size = u16(pos), u16(pos + 2)
            body = hello[pos + 4:pos + 4 + size]
            pos += 4 + size
            if pos > end:
                return []
            if kind != _EXT_ALPN:
                continue
            names, at = [], 2  # ProtocolNameList: a 2-octet length, then 1-octet-length names
            while at < len(body):
                length = body[at]
                if length == 0 or at + 1 + length > len(body):
                    return []
                names.append(bytes(body[at + 1:at + 1 + length]))
                at += 1 + length
            return names
    except IndexError:
        return []
    return []


def challenge_certificate(name: str, key_authz: str) -> tuple[bytes, bytes]:
    """(certificate PEM, key PEM) for TLS-ALPN-01 on ``name`` (RFC 8737 §3): self-signed,
    subjectAltName the one name, and the acmeIdentifier extension, critical, holding the
    SHA-256 digest of the key authorization as a DER OCTET STRING."""
    key = ec.generate_private_key(ec.SECP256R1())
    digest = hashlib.sha256(key_authz.encode("ascii")).digest()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.UnrecognizedExtension(
                ID_PE_ACME_IDENTIFIER, b"\x04\x20" + digest), critical=True)
            .sign(key, hashes.SHA256()))
    return (cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()))


def _alpn_context(name: str, key_authz: str) -> ssl.SSLContext:
    cert_pem, key_pem = challenge_certificate(name, key_authz)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2  # RFC 8737 §4: TLS 1.2 or later
    ctx.set_alpn_protocols([ACME_TLS_ALPN])
    # load_cert_chain reads files only; a private temporary folder, gone at once
    with tempfile.TemporaryDirectory(prefix="postroom-acme-") as folder:
        path = Path(folder) / "challenge.pem"
        path.write_bytes(key_pem + cert_pem)
        ctx.load_cert_chain(str(path))
    return ctx


class ChallengeStore:
    """Pending challenges: HTTP-01 tokens and TLS-ALPN-01 names. Thread-safe: the client adds
    and removes from a worker thread, the listeners read from the event loop."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._http: dict[str, str] = {}  # token -> key authorization
        self._alpn: dict[str, ssl.SSLContext] = {}  # lower-case name -> challenge context
        self._contexts: list[ssl.SSLContext] = []  # server contexts hooked for TLS-ALPN-01
        # each hooked context's own SNI callback from before (by id), called and put back
        self._previous: dict[int, Callable[[ssl.SSLObject, str, ssl.SSLContext],
                                           int | None] | None] = {}
        # whether ClientHellos can be seen (CPython's SSLContext._msg_callback)
        self.sees_alpn = hasattr(ssl.SSLContext, "_msg_callback")
        self._offers: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()

    # -- HTTP-01 ------------------------------------------------------------------------------
    def add_http(self, token: str, key_authz: str) -> None:
        with self._lock:
            self._http[token] = key_authz

    def remove_http(self, token: str) -> None:
        with self._lock:
            self._http.pop(token, None)

    def http_answer(self, token: str) -> str | None:
        """The key authorization for ``token``, or None (the web listener answers 404)."""
        with self._lock:
            return self._http.get(token)

    # -- TLS-ALPN-01 --------------------------------------------------------------------------
    def attach(self, ctx: ssl.SSLContext) -> None:
        """Answer TLS-ALPN-01 on handshakes of ``ctx`` (the server's one context). Its
        callbacks are set only while a challenge is pending: other handshakes run no
        Python code of ours."""
        with self._lock:
            if ctx not in self._contexts:
                self._contexts.append(ctx)
            if self._alpn:
                self._hook(True)

    def add_alpn(self, name: str, key_authz: str) -> None:
        challenge = _alpn_context(name, key_authz)
        with self._lock:
            self._alpn[name.lower().rstrip(".")] = challenge
            self._hook(True)

    def remove_alpn(self, name: str) -> None:
        with self._lock:
            self._alpn.pop(name.lower().rstrip("."), None)
            if not self._alpn:
                self._hook(False)

    def pending_alpn(self) -> list[str]:
        with self._lock:
            return sorted(self._alpn)

    def _hook(self, on: bool) -> None:
        """Watch ClientHellos and SNI on every attached context, only while a challenge is
        pending (OpenSSL copies the message callback into each new connection). An SNI
        callback the context had before is kept: ours calls it for every handshake that is
        not a challenge, and it is put back when the last challenge goes."""
        for ctx in self._contexts:
            current = ctx.sni_callback
            if on and current != self._sni:  # a bound method: compared by ==, not is
                self._previous[id(ctx)] = current
                ctx.sni_callback = self._sni
            elif not on and current == self._sni:
                ctx.sni_callback = self._previous.pop(id(ctx), None)
            if self.sees_alpn:
                ctx._msg_callback = self._message if on else None  # type: ignore[attr-defined]

    def _message(self, conn: Any, direction: str, version: Any, content_type: Any,
                 msg_type: Any, data: bytes) -> None:
        # must never raise: an exception here would fail the handshake
        try:
            if direction == "read" and int(msg_type) == _CLIENT_HELLO:
                self._offers[conn] = ACME_TLS_ALPN.encode() in offered_alpn(data)
        except Exception:  # an odd message is simply not a challenge handshake
            pass

    def _sni(self, conn: Any, server_name: str | None, ctx: ssl.SSLContext) -> int | None:
        """SNI callback of the server context: a bug here would fail every handshake, so
        it is contained (logged, and the handshake goes on with the server's certificate)."""
        try:
            if self._choose(conn, server_name):
                return None
        except Exception:
            log.exception("TLS-ALPN-01: choosing the certificate failed")
        previous = self._previous.get(id(ctx))
        if previous is None or server_name is None:
            return None
        return previous(conn, server_name, ctx)

    def _choose(self, conn: Any, server_name: str | None) -> bool:
        """Whether this handshake is a challenge's (then it gets the challenge context)."""
        if server_name is None:
            return False
        with self._lock:
            challenge = self._alpn.get(server_name.lower().rstrip("."))
        if challenge is None:
            return False
        offers = self._offers.pop(conn, None) if self.sees_alpn else True
        if offers:
            conn.context = challenge  # RFC 8737 §3: the challenge certificate, acme-tls/1
            log.info("answering a TLS-ALPN-01 challenge", extra={"host": server_name})
            return True
        return False
