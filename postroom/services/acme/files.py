"""What the ACME client keeps under ``<data_dir>/tls/acme/``: the account key, the live
certificate, and the state ``postroom acme status`` reports.

Invariants:
- every file is 0600 and the folder 0700 (core/private.py): they hold private keys;
- every write is atomic (temporary file, fsync, rename, fsync of the folder), so a crash leaves
  the old file or the new one, never half of one;
- the certificate's private key and its chain are one file, ``live.pem`` (key first, then the
  chain leaf first), so that the pair changes in one rename: two files would have a moment, or
  after a crash a lasting state, where the key does not match the certificate.
  ``SSLContext.load_cert_chain(live, live)`` reads both from it.
"""

from __future__ import annotations

import datetime
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from postroom.core import private

FOLDER = Path("tls") / "acme"
RENEW_REQUEST = "renew.request"  # made by 'postroom acme renew', taken by the server


@dataclass(slots=True)
class AcmeState:
    """The last attempt's outcome, as ``postroom acme status`` shows it (times: Unix s)."""

    names: list[str] = field(default_factory=list)  # the names last asked for
    last_attempt: float = 0.0
    last_success: float = 0.0
    error: str = ""  # why the last attempt failed ("" after a success)
    failures: int = 0  # attempts failed in a row (drives the backoff)
    next_attempt: float = 0.0  # no new attempt before this, unless asked for
    challenge: str = ""  # the challenge type last used
    dropped: list[str] = field(default_factory=list)  # names left out: validation failed
    account: str = ""  # the account URL (RFC 8555 §7.3, the "kid")
    directory: str = ""  # the CA (directory URL) that issued the live certificate


@dataclass(frozen=True, slots=True)
class LiveCertificate:
    path: Path
    names: list[str]
    not_after: datetime.datetime
    issuer: str


def atomic_write(path: Path, data: bytes) -> None:
    """``path`` holds ``data`` or what it held before, whatever happens (mode 0600)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with private.create(tmp) as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class AcmeFiles:
    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir / FOLDER

    @property
    def live(self) -> Path:
        return self.root / "live.pem"

    @property
    def request(self) -> Path:
        return self.root / RENEW_REQUEST

    def ensure(self) -> None:
        private.make_dir(self.root)

    def account_key(self) -> ec.EllipticCurvePrivateKey:
        """The account key (P-256, for ES256 signatures), made on first use."""
        path = self.root / "account.key"
        if path.exists():
            key = serialization.load_pem_private_key(path.read_bytes(), None)
            if not isinstance(key, ec.EllipticCurvePrivateKey):
                raise ValueError(f"{path}: not an EC key")
            return key
        self.ensure()
        key = ec.generate_private_key(ec.SECP256R1())
        atomic_write(path, key.private_bytes(serialization.Encoding.PEM,
                                             serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption()))
        return key

    def install(self, key: ec.EllipticCurvePrivateKey, chain_pem: bytes) -> None:
        """Make ``chain_pem`` (leaf first) with ``key`` the live certificate."""
        self.ensure()
        key_pem = key.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        atomic_write(self.live, key_pem + chain_pem.strip() + b"\n")

    def current(self) -> LiveCertificate | None:
        """The live certificate, or None when there is none or it cannot be read."""
        try:
            data = self.live.read_bytes()
            cert = x509.load_pem_x509_certificates(data)[0]
        except (OSError, ValueError, IndexError):
            return None
        try:
            ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
            names = list(ext.value.get_values_for_type(x509.DNSName))
        except x509.ExtensionNotFound:
            names = []
        return LiveCertificate(self.live, names, cert.not_valid_after_utc,
                               cert.issuer.rfc4514_string())

    def state(self) -> AcmeState:
        try:
            raw: dict[str, Any] = json.loads((self.root / "state.json").read_text())
            known = set(AcmeState.__dataclass_fields__)
            return AcmeState(**{k: v for k, v in raw.items() if k in known})
        except (OSError, ValueError, TypeError):
            return AcmeState()

    def save_state(self, state: AcmeState) -> None:
        self.ensure()
        atomic_write(self.root / "state.json",
                     json.dumps(asdict(state), indent=1).encode())
