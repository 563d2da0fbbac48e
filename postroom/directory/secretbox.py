"""Secrets the server must be able to read back, encrypted at rest (AES-256-GCM).

Passwords of our own users are hashed (argon2id, SCRAM keys) and never readable. Two kinds of
secret cannot be hashed: the passwords of users' remote POP3 accounts (MultiPOP must send them)
and APOP secrets (RFC 1939 §7: the server computes MD5(timestamp + secret)). They are sealed
with a 256-bit key kept in ``<data_dir>/secret.key`` (mode 0600, created on first use), so a
copy of the database alone reveals nothing. Back the key up with the database: without it
these secrets cannot be recovered and must be entered again.

Each sealed value is bound to its purpose (GCM associated data), so a value copied from one
column into another does not open.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from postroom.core import private

KEY_FILE = "secret.key"
VERSION = "v1:"


class SecretError(Exception):
    """A sealed value cannot be opened: wrong key file, or the value was tampered with."""


class SecretBox:
    def __init__(self, key_path: Path) -> None:
        self.key_path = key_path
        self._key: bytes | None = None

    def _load(self) -> bytes:
        if self._key is None:
            self._key = _read_or_create(self.key_path)
        return self._key

    def ensure(self) -> None:
        """Make the key now if there is none yet (a cluster node compares it with the
        others' at start, services/cluster.py)."""
        self._load()

    def seal(self, plaintext: str, purpose: str) -> str:
        nonce = os.urandom(12)
        data = AESGCM(self._load()).encrypt(nonce, plaintext.encode("utf-8"), purpose.encode())
        return VERSION + base64.b64encode(nonce + data).decode("ascii")

    def open(self, token: str, purpose: str) -> str:
        if not token.startswith(VERSION):
            raise SecretError("unknown secret format")
        try:
            raw = base64.b64decode(token[len(VERSION):], validate=True)
            plain = AESGCM(self._load()).decrypt(raw[:12], raw[12:], purpose.encode())
        except (InvalidTag, ValueError):
            raise SecretError(f"cannot decrypt a stored secret with {self.key_path} "
                              "(was the key file replaced?)") from None
        return plain.decode("utf-8")


def _read_or_create(path: Path) -> bytes:
    """Read the key; create it atomically if missing (the server and a CLI command may race:
    whoever links first wins and the other reads that one)."""
    key = private.create_once(path, os.urandom(32))
    if len(key) != 32:
        raise SecretError(f"{path} is not a 32-byte key")
    return key
