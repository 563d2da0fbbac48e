"""Bounce address tag validation (draft-levine-smtp-batv-01, the ``prvs`` scheme).

Backscatter is the flood of bounces to addresses that spammers put in MAIL FROM. With BATV on,
every remote message from one of our domains leaves with a signed return path,
``prvs=KDDDSSSSSS=user@domain`` (§4.1): K the key number (one digit), DDD the day the tag
expires (days since 1970, modulo 1000), SSSSSS the first three octets of an HMAC-SHA1 over
"K DDD user@domain" in hex. A real bounce comes back to that address; a forged one cannot
carry a valid tag. So at RCPT, for mail with the null reverse path (a bounce, RFC 5321
§4.5.5) to one of our addresses from an unauthenticated client:
- a valid, unexpired tag: the tag is removed and the bounce goes to ``user@domain``;
- a bad or expired tag, or none at all: 550 5.7.1, with the reason.
A tagged address in mail with a real sender (an auto-reply that wrongly uses the return
path) just has its tag removed, as §4.3 advises: such mail is no backscatter.

Tags are stripped even while BATV is off, so bounces to mail sent before it was turned off
still arrive. Where the rewriting happens: at the outbound relay (mta/outbound.py), on the
wire only; the queue keeps the real sender, so notices this server makes itself still reach
the user. Keys are generated on first use, sealed with the data directory's secret.key, and
rotated with ``postroom batv rotate`` (a replaced key validates for ``batv.valid_days``).
"""

from __future__ import annotations

import hmac
import logging
import re
import secrets
import time
from dataclasses import dataclass
from hashlib import sha1
from typing import NoReturn

from postroom.config import BatvConfig
from postroom.core.errors import Kind, MailError
from postroom.directory.secretbox import SecretBox
from postroom.directory.service import Directory
from postroom.services.pipeline import Message
from postroom.store.repo.signing import BatvKeyRec
from postroom.store.sqlstore import SqlStore

log = logging.getLogger("postroom.mail")

PURPOSE = "batv"
_PRVS = re.compile(r"^prvs=([0-9])([0-9]{3})([0-9a-fA-F]{6})=(.+@.+)$")
KEY_CACHE_SECONDS = 30.0
EXEMPT_LOCAL = ("postmaster",)  # RFC 5321 §4.5.1: mail to postmaster is always taken


@dataclass(frozen=True, slots=True)
class Tagged:
    key: int
    day: int  # DDD: the expiry day modulo 1000
    mac: str
    address: str  # the address without its tag


def parse(address: str) -> Tagged | None:
    """The parts of a prvs-tagged address, or None for an untagged one."""
    m = _PRVS.match(address)
    if m is None:
        return None
    return Tagged(int(m.group(1)), int(m.group(2)), m.group(3).lower(), m.group(4))


def day_of(now: float) -> int:
    return int(now // 86400)


def mac(secret: bytes, key: int, day: int, address: str) -> str:
    """SSSSSS (§4.1): HMAC-SHA1 over K, DDD and the original address; the address is
    lower-cased so that a bounce that changes its case still validates."""
    data = f"{key}{day % 1000:03d}{address.lower()}".encode()
    return hmac.new(secret, data, sha1).hexdigest()[:6]


def tag(secret: bytes, key: int, address: str, valid_days: int, now: float) -> str:
    expiry = day_of(now) + valid_days
    return f"prvs={key}{expiry % 1000:03d}{mac(secret, key, expiry, address)}={address}"


def check(tagged: Tagged, secret: bytes, valid_days: int, now: float) -> str | None:
    """Why ``tagged`` is not valid now, or None when it is."""
    if not hmac.compare_digest(tagged.mac, mac(secret, tagged.key, tagged.day,
                                               tagged.address)):
        return "its signature is wrong"
    left = (tagged.day - day_of(now)) % 1000  # days until it expires
    if left > valid_days:
        return "it has expired"
    return None


@dataclass(frozen=True, slots=True)
class BatvKeyView:
    number: int
    state: str  # "signing" | "validating" (replaced, still accepted) | "expired"
    created_at: int
    retired_at: int | None


class Batv:
    def __init__(self, store: SqlStore, secrets_box: SecretBox, directory: Directory,
                 cfg: BatvConfig) -> None:
        self._store = store
        self._secrets = secrets_box
        self._directory = directory
        self.cfg = cfg
        self._cache: tuple[float, list[BatvKeyRec]] | None = None

    async def _keys(self) -> list[BatvKeyRec]:
        now = time.monotonic()
        if self._cache is not None and self._cache[0] > now:
            return self._cache[1]
        keys = await self._store.signing.batv_keys()
        self._cache = (now + KEY_CACHE_SECONDS, keys)
        return keys

    def _secret(self, key: BatvKeyRec) -> bytes:
        return bytes.fromhex(self._secrets.open(key.sealed_secret, PURPOSE))

    async def _signing_key(self) -> BatvKeyRec:
        keys = await self._keys()
        if not keys:  # first use: make one (another process may have just made it)
            await self._store.signing.new_batv_key(
                self._secrets.seal(secrets.token_hex(32), PURPOSE), int(time.time()),
                drop_old=False, only_if_none=True)
            self._cache = None
            keys = await self._keys()
        return keys[0]

    # -- outbound: the return path ------------------------------------------------------------
    async def return_path(self, sender: str) -> str:
        """The envelope sender to use on the wire for remote mail: tagged when BATV is on and
        the sender is one of our addresses; unchanged otherwise (the null sender, foreign
        senders relayed for trusted networks, an address already tagged)."""
        if not self.cfg.enabled or not sender or "@" not in sender or parse(sender):
            return sender
        if not await self._directory.is_local_domain(sender.rpartition("@")[2]):
            return sender
        key = await self._signing_key()
        return tag(self._secret(key), key.number, sender, self.cfg.valid_days, time.time())

    # -- inbound: RCPT ------------------------------------------------------------------------
    async def recipient(self, message: Message, address: str) -> str:
        """The recipient to route: ``address`` without its tag. Raises NO_PERM (550 5.7.1)
        for a bounce to one of our addresses without a valid tag while BATV is on."""
        tagged = parse(address)
        plain = tagged.address if tagged else address
        local, _, domain = plain.rpartition("@")
        if not domain or not await self._directory.is_local_domain(domain):
            return address  # not ours: relayed mail keeps its address as given
        client = message.client
        judged = self.cfg.enabled and message.sender == "" and client.principal is None \
            and not client.trusted and local.lower() not in EXEMPT_LOCAL
        if not judged:
            return plain
        if tagged is None:
            self._refuse(message, address, "no BATV tag", (
                f"Bounce refused: <{address}> sends only with signed return paths "
                "(BATV prvs=); this bounce is for mail it did not send"))
        problem = await self._validate(tagged)
        if problem is not None:
            self._refuse(message, address, f"BATV tag invalid: {problem}", (
                f"Bounce refused: the BATV tag of <{address}> is not valid ({problem})"))
        self._log(message, address, "accepted", f"valid BATV tag, delivered to <{plain}>")
        return plain

    async def _validate(self, tagged: Tagged) -> str | None:
        now = time.time()
        for key in await self._keys():
            if key.number != tagged.key:
                continue
            if key.retired_at is not None and \
                    now > key.retired_at + self.cfg.valid_days * 86400:
                return "its key was replaced"
            return check(tagged, self._secret(key), self.cfg.valid_days, now)
        return "unknown key"

    def _refuse(self, message: Message, address: str, reason: str, text: str) -> NoReturn:
        self._log(message, address, "refused", reason)
        raise MailError(Kind.NO_PERM, text)

    @staticmethod
    def _log(message: Message, address: str, decision: str, reason: str) -> None:
        log.info("batv", extra={"client": message.client.address, "from": "<>",
                                "to": f"<{address}>", "decision": decision,
                                "reason": reason})

    # -- administration -----------------------------------------------------------------------
    async def rotate(self, drop_old: bool = False) -> int:
        """A new signing key; the old one still validates for ``batv.valid_days`` unless
        ``drop_old`` (a leaked key: bounces to mail already sent are refused too)."""
        number = await self._store.signing.new_batv_key(
            self._secrets.seal(secrets.token_hex(32), PURPOSE), int(time.time()), drop_old)
        self._cache = None
        assert number is not None
        return number

    async def keys(self) -> list[BatvKeyView]:
        now = time.time()
        out = []
        for i, key in enumerate(await self._store.signing.batv_keys()):
            if i == 0:
                state = "signing"
            elif key.retired_at is not None and \
                    now > key.retired_at + self.cfg.valid_days * 86400:
                state = "expired"
            else:
                state = "validating"
            out.append(BatvKeyView(key.number, state, key.created_at, key.retired_at))
        return out
