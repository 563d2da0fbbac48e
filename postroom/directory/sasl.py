"""SASL mechanisms (RFC 4422), sans I/O: PLAIN, LOGIN, CRAM-MD5, SCRAM-SHA-256(-PLUS).

Each mechanism is a small state machine: ``step(client_bytes)`` returns the next server
challenge, or a ``Verdict`` once the exchange is over. Nothing here reads sockets or base64;
the protocol front-ends (IMAP ``+``, SMTP ``334``, POP3 ``+``) do the framing and share these.
Password checks and secret look-ups are asked of the ``Directory`` through ``Authenticator``.

SCRAM (RFC 5802 §3, §5; RFC 7677): the server stores StoredKey/ServerKey, never a
plaintext-equivalent. For an unknown user the exchange runs to the end with a made-up salt, so
a client learns nothing about which accounts exist. ``-PLUS`` binds to the TLS connection with
``tls-server-end-point`` (RFC 5929 §4): the hash of our own certificate.

CRAM-MD5 (RFC 2195) needs a plaintext-equivalent secret, so it is offered only where a client
needs it (the ODMR port: fetchmail speaks nothing else there) and works only for accounts an
administrator gave a challenge-response secret (``postroom user challenge-secret``, sealed at
rest, the same secret APOP uses).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import time
import unicodedata
from dataclasses import dataclass
from typing import Protocol

from postroom.core.errors import Kind, MailError
from postroom.core.principal import Principal
from postroom.directory.passwords import ScramSecret


class SaslError(Exception):
    """The client broke the mechanism's syntax: a protocol error, not a failed login."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """The end of an exchange: the principal (None = failed) and any final server data."""

    principal: Principal | None
    username: str
    final: bytes | None = None  # SCRAM's v=... sent as a last challenge (RFC 4422 §5)


class Authenticator(Protocol):
    async def authenticate(self, username: str, password: str) -> Principal | None: ...

    async def authorize(self, principal: Principal, authzid: str) -> Principal | None: ...

    async def scram_lookup(self, username: str) -> ScramSecret | None: ...

    async def scram_login(self, username: str) -> Principal | None: ...

    async def cram_md5(self, username: str, challenge: str, digest: str) -> Principal | None: ...


Step = bytes | Verdict


class Mechanism(Protocol):
    name: str

    async def step(self, response: bytes | None) -> Step: ...


def _text(raw: bytes, what: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise SaslError(f"{what} is not UTF-8") from None


class Plain:
    """RFC 4616: ``[authzid] NUL authcid NUL passwd`` in one message."""

    name = "PLAIN"

    def __init__(self, auth: Authenticator) -> None:
        self.auth = auth

    async def step(self, response: bytes | None) -> Step:
        if response is None:
            return b""  # ask for the (empty-challenge) initial response
        parts = response.split(b"\x00")
        if len(parts) != 3:
            raise SaslError("PLAIN needs authzid NUL authcid NUL password")
        authzid, user, password = (_text(p, "PLAIN") for p in parts)
        if not user or not password:
            return Verdict(None, user)
        principal = await self.auth.authenticate(user, password)
        if principal is not None and authzid and authzid.lower() != user.lower():
            principal = await self.auth.authorize(principal, authzid)
        return Verdict(principal, user)


class Login:
    """draft-murchison-sasl-login: prompts exactly ``Username:`` then ``Password:``."""

    name = "LOGIN"

    def __init__(self, auth: Authenticator) -> None:
        self.auth = auth
        self.user: str | None = None

    async def step(self, response: bytes | None) -> Step:
        if response is None:
            return b"Username:"
        if self.user is None:
            self.user = _text(response, "LOGIN user name")
            return b"Password:"
        password = _text(response, "LOGIN password")
        if not self.user or not password:
            return Verdict(None, self.user)
        return Verdict(await self.auth.authenticate(self.user, password), self.user)


class CramMd5:
    """RFC 2195: challenge ``<random.time@host>``; response ``user SP hex(HMAC-MD5)``."""

    name = "CRAM-MD5"

    def __init__(self, auth: Authenticator, hostname: str = "localhost") -> None:
        self.auth = auth
        self.challenge = f"<{secrets.randbelow(10**12)}.{int(time.time())}@{hostname}>"
        self.sent = False

    async def step(self, response: bytes | None) -> Step:
        if not self.sent:
            self.sent = True
            return self.challenge.encode()
        text = _text(response or b"", "CRAM-MD5 response")
        user, sep, digest = text.rpartition(" ")
        if not sep or not user or len(digest) != 32 or \
                any(c not in "0123456789abcdef" for c in digest.lower()):
            raise SaslError("CRAM-MD5 needs 'user hexdigest'")
        return Verdict(await self.auth.cram_md5(user, self.challenge, digest.lower()), user)


def _attrs(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        if not sep or len(key) != 1:
            raise SaslError(f"bad SCRAM attribute {item!r}")
        out.setdefault(key, value)
    return out


def _unescape_name(value: str) -> str:
    """RFC 5802 §5.1 saslname: ``=2C`` is ',' and ``=3D`` is '='; any other '=' is an error."""
    out = value.replace("=2C", ",").replace("=3D", "=")
    if "=" in value.replace("=2C", "").replace("=3D", ""):
        raise SaslError("bad escape in SCRAM user name")
    return unicodedata.normalize("NFKC", out)


class Scram:
    """SCRAM-SHA-256 and, with ``channel_binding`` data, SCRAM-SHA-256-PLUS."""

    def __init__(self, auth: Authenticator, *, plus: bool = False,
                 channel_binding: bytes | None = None, plus_offered: bool = False) -> None:
        self.auth = auth
        self.plus = plus
        self.name = "SCRAM-SHA-256-PLUS" if plus else "SCRAM-SHA-256"
        self.cb_data = channel_binding
        self.plus_offered = plus_offered
        self.state = 0
        self.user = ""
        self.gs2 = ""
        self.client_first_bare = ""
        self.server_first = ""
        self.nonce = ""
        self.secret: ScramSecret | None = None

    async def step(self, response: bytes | None) -> Step:
        if response is None:
            return b""
        text = _text(response, "SCRAM message")
        if self.state == 0:
            return await self._first(text)
        if self.state == 1:
            return await self._final(text)
        raise SaslError("unexpected SCRAM message")

    async def _first(self, text: str) -> bytes:
        flag, _, rest = text.partition(",")
        authzid, sep, bare = rest.partition(",")
        if not sep:
            raise SaslError("SCRAM client-first without GS2 header")
        if self.plus:
            if flag != "p=tls-server-end-point" or self.cb_data is None:
                raise SaslError("SCRAM-PLUS needs channel binding type tls-server-end-point")
        elif flag.startswith("p="):
            raise SaslError("channel binding requested with a non-PLUS mechanism")
        elif flag not in ("n", "y"):
            raise SaslError("bad GS2 flag")
        if flag == "y" and self.plus_offered:
            self.gs2 = "downgrade"  # RFC 5802 §6: the client saw no -PLUS; we offered it
        if authzid and not authzid.startswith("a="):
            raise SaslError("bad GS2 authzid")
        attrs = _attrs(bare)
        if "m" in attrs or "n" not in attrs or "r" not in attrs or not attrs["r"]:
            raise SaslError("SCRAM client-first needs n= and r=")
        self.user = _unescape_name(attrs["n"])
        self.gs2 = self.gs2 or f"{flag},{authzid},"
        self.client_first_bare = bare
        self.secret = await self.auth.scram_lookup(self.user)
        salt, iterations = (self.secret.salt, self.secret.iterations) if self.secret else (
            hashlib.sha256(b"postroom-unknown:" + self.user.encode()).digest()[:16], 4096)
        self.nonce = attrs["r"] + base64.b64encode(os.urandom(18)).decode()
        self.server_first = (f"r={self.nonce},s={base64.b64encode(salt).decode()},"
                             f"i={iterations}")
        self.state = 1
        return self.server_first.encode()

    async def _final(self, text: str) -> Verdict:
        self.state = 2
        without_proof, sep, proof_part = text.rpartition(",p=")
        if not sep:
            raise SaslError("SCRAM client-final without proof")
        attrs = _attrs(without_proof)
        if attrs.get("r") != self.nonce:
            return Verdict(None, self.user)
        try:
            cbind = base64.b64decode(attrs.get("c", ""), validate=True)
            proof = base64.b64decode(proof_part, validate=True)
        except ValueError:
            raise SaslError("bad base64 in SCRAM client-final") from None
        expected = self.gs2.encode() + ((self.cb_data or b"") if self.plus else b"")
        if self.gs2 == "downgrade" or cbind != expected:
            return Verdict(None, self.user)
        if self.secret is None or len(proof) != 32:
            return Verdict(None, self.user)
        auth_message = f"{self.client_first_bare},{self.server_first},{without_proof}".encode()
        signature = hmac.new(self.secret.stored_key, auth_message, hashlib.sha256).digest()
        client_key = bytes(a ^ b for a, b in zip(proof, signature, strict=True))
        if not hmac.compare_digest(hashlib.sha256(client_key).digest(), self.secret.stored_key):
            return Verdict(None, self.user)
        principal = await self.auth.scram_login(self.user)
        if principal is None:
            return Verdict(None, self.user)
        server_sig = hmac.new(self.secret.server_key, auth_message, hashlib.sha256).digest()
        return Verdict(principal, self.user, b"v=" + base64.b64encode(server_sig))


def mechanism_names(tls: bool, plaintext_ok: bool, plus: bool) -> list[str]:
    """What to advertise: password mechanisms only where passwords may travel (specs.md §0)."""
    names = ["SCRAM-SHA-256"]
    if plus and tls:
        names.append("SCRAM-SHA-256-PLUS")
    if tls or plaintext_ok:
        names += ["PLAIN", "LOGIN"]
    return names


def create(name: str, auth: Authenticator, *, channel_binding: bytes | None,
           plus_offered: bool, hostname: str = "localhost") -> Mechanism:
    upper = name.upper()
    if upper == "CRAM-MD5":
        return CramMd5(auth, hostname)
    if upper == "PLAIN":
        return Plain(auth)
    if upper == "LOGIN":
        return Login(auth)
    if upper == "SCRAM-SHA-256":
        return Scram(auth, plus_offered=plus_offered)
    if upper == "SCRAM-SHA-256-PLUS":
        return Scram(auth, plus=True, channel_binding=channel_binding, plus_offered=True)
    raise MailError(Kind.INVALID, f"unsupported mechanism {name}")


def server_end_point(cert_der: bytes) -> bytes:
    """RFC 5929 §4.1: hash of the certificate with its signature hash, MD5/SHA-1 → SHA-256."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    cert = x509.load_der_x509_certificate(cert_der)
    algo = cert.signature_hash_algorithm
    if algo is None or isinstance(algo, (hashes.MD5, hashes.SHA1)):
        algo = hashes.SHA256()
    digest = hashes.Hash(algo)
    digest.update(cert_der)
    return digest.finalize()
