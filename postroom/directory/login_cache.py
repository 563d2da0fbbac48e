"""A memory of recent successful password checks, so a client that logs in again with the same
password does not pay argon2id again (issue 20).

Mail clients log in over and over: a phone at every check, a desktop client per folder
connection, a webmail or ActiveSync request per poll. Each argon2id verification costs ~20 ms of
CPU *by design* (directory/passwords.py); at a few hundred logins a second that is the whole
machine, and commands queue behind it. Dovecot solves this with ``auth_cache``; this is the same
idea, kept deliberately small:

- Only a **success** is remembered, and only as ``HMAC-SHA256(key, address, stored hash,
  password)`` with a random key made when the process starts and never written anywhere. A wrong
  password never matches and always pays the full argon2id check, so guessing stays as slow as
  before (and the per-IP throttle still counts it).
- The **stored hash is part of the digest**: a password change (or reset) changes the stored
  hash, so the remembered digest can never match again; nothing has to be told.
- The account's state is still read on every login by the caller: disabling an account takes
  effect at once.
- Entries expire after ``ttl`` seconds; at most ``size`` are kept (oldest dropped first).
  ``ttl = 0`` turns the memory off.

What an attacker who can read this process's memory gains: the key and digests, so an offline
guess costs one HMAC instead of one argon2id for the few accounts that logged in lately. Such an
attacker already sees passwords as they arrive, so the trade is the one Dovecot documents; an
operator who disagrees sets ``login.cache_ttl = 0``.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


class Settings(Protocol):
    """``login.cache_ttl`` and ``login.cache_size`` (config.LoginConfig), read at each use so
    that ``postroom reload`` changes them in place."""

    @property
    def cache_ttl(self) -> float: ...

    @property
    def cache_size(self) -> int: ...


@dataclass
class CacheSettings:
    cache_ttl: float = 600.0
    cache_size: int = 100_000


class LoginCache:
    def __init__(self, settings: Settings | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.settings: Settings = settings if settings is not None else CacheSettings()
        self._clock = clock
        self._key = os.urandom(32)
        self._entries: OrderedDict[str, tuple[bytes, float]] = OrderedDict()

    @property
    def ttl(self) -> float:
        return self.settings.cache_ttl

    @property
    def size(self) -> int:
        return self.settings.cache_size

    @property
    def enabled(self) -> bool:
        return self.ttl > 0 and self.size > 0

    def digest(self, address: str, stored: str, password: str) -> bytes:
        """What identifies one check (keyed, so it reveals nothing outside this process)."""
        return self._digest(address, stored, password)

    def _digest(self, address: str, stored: str, password: str) -> bytes:
        mac = hmac.new(self._key, digestmod=hashlib.sha256)
        for part in (address, stored, password):
            data = part.encode("utf-8", "surrogatepass")
            mac.update(len(data).to_bytes(4, "big"))  # length-prefixed: no ambiguity
            mac.update(data)
        return mac.digest()

    def knows(self, address: str, stored: str, password: str) -> bool:
        """Whether this exact password was verified against this exact stored hash lately."""
        if not self.enabled:
            self._entries.clear()  # turned off by a reload: forget at once
            return False
        entry = self._entries.get(address)
        if entry is None:
            return False
        digest, expires = entry
        if self._clock() >= expires:
            del self._entries[address]
            return False
        return hmac.compare_digest(digest, self._digest(address, stored, password))

    def remember(self, address: str, stored: str, password: str) -> None:
        """Note a successful argon2id verification."""
        if not self.enabled:
            return
        self._entries[address] = (self._digest(address, stored, password),
                                  self._clock() + self.ttl)
        self._entries.move_to_end(address)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def forget(self, address: str) -> None:
        self._entries.pop(address, None)

    def __len__(self) -> int:
        return len(self._entries)
