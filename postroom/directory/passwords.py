"""Password storage: argon2id for verification, SCRAM-SHA-256 keys for SASL SCRAM.

The argon2id parameters are OWASP's baseline (m=19 MiB, t=2, p=1): ~20 ms a hash here, which
keeps bulk imports of thousands of accounts fast and login floods cheap to absorb while staying
far above brute-force reach. SCRAM needs its own derived keys (RFC 5802 §3):
we store salt, iteration count, StoredKey and ServerKey, never anything that is
plaintext-equivalent.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from postroom.core.errors import invalid

_HASHER = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
SCRAM_ITERATIONS = 4096  # RFC 7677 §4 minimum
MAX_PASSWORD = 1024


def check_password_text(password: str) -> None:
    if not password:
        raise invalid("the password is empty")
    if len(password) > MAX_PASSWORD:
        raise invalid(f"the password is longer than {MAX_PASSWORD} characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in password):
        raise invalid("the password contains control characters")


def hash_password(password: str) -> str:
    check_password_text(password)
    return _HASHER.hash(password)


def verify_password(stored: str, password: str) -> bool:
    if not stored:
        return False
    try:
        return _HASHER.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True, slots=True)
class ScramSecret:
    salt: bytes
    iterations: int
    stored_key: bytes
    server_key: bytes

    def encode(self) -> str:
        b = base64.b64encode
        return (f"SCRAM-SHA-256${self.iterations}:{b(self.salt).decode()}$"
                f"{b(self.stored_key).decode()}:{b(self.server_key).decode()}")

    @classmethod
    def decode(cls, text: str) -> ScramSecret | None:
        try:
            scheme, params, keys = text.split("$")
            if scheme != "SCRAM-SHA-256":
                return None
            iters, salt = params.split(":")
            stored, server = keys.split(":")
            d = base64.b64decode
            return cls(d(salt), int(iters), d(stored), d(server))
        except ValueError:
            return None


def scram_secret(password: str, salt: bytes | None = None,
                 iterations: int = SCRAM_ITERATIONS) -> ScramSecret:
    """Derive SCRAM-SHA-256 keys (RFC 5802 §3; SASLprep approximated by NFKC, RFC 4013)."""
    import unicodedata

    salt = salt if salt is not None else os.urandom(16)
    prepared = unicodedata.normalize("NFKC", password).encode("utf-8")
    salted = hashlib.pbkdf2_hmac("sha256", prepared, salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    return ScramSecret(salt, iterations, stored_key, server_key)


def make_credentials(password: str) -> dict[str, str]:
    """Everything stored for a password: the argon2id hash and the SCRAM keys."""
    return {"password_hash": hash_password(password), "scram": scram_secret(password).encode()}


# -- app passwords (docs/web.md "App passwords") -----------------------------------------------
# 20 characters from 32 that cannot be misread (no 0/o, 1/l): 100 bits, shown as five groups
# of four. The first four (20 bits) are kept in clear as a hint that picks the row at login,
# so a login pays one argon2id check however many app passwords an account has; 80 bits stay
# secret, far beyond guessing through a throttled login.
APP_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"
APP_LENGTH = 20
APP_HINT = 4


def new_app_password() -> str:
    raw = "".join(secrets.choice(APP_ALPHABET) for _ in range(APP_LENGTH))
    return "-".join(raw[i:i + 4] for i in range(0, APP_LENGTH, 4))


def app_password_form(text: str) -> str | None:
    """``text`` as an app password (dashes and spaces dropped, lower case), or None when it
    cannot be one: then no app password row is looked at."""
    raw = text.replace("-", "").replace(" ", "").lower()
    if len(raw) != APP_LENGTH or any(c not in APP_ALPHABET for c in raw):
        return None
    return raw
