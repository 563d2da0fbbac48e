"""The Sender Rewriting Scheme (SRS) for mail a Sieve ``redirect`` sends on (docs/sieve.md).

Why: a redirected copy leaves our servers with its original envelope sender's domain, so a
receiver checking SPF (RFC 7208) for that domain against our address refuses it. With SRS the
copy's reverse path is an address of ours that encodes the original one; bounces come back to
us, we check the signature and pass them on to the original sender. The scheme is the "guarded"
one of Shevek's SRS paper and his Mail::SRS, in the form libsrs2 and postsrsd write too, so
an address looks as theirs do (only we verify our own addresses, so the hash need not match
theirs bit for bit: libsrs2's base64 table famously swaps "m" and "n"):

- ``SRS0=HHHH=TT=domain=local@ours`` for a sender ``local@domain``: TT is the day (days since
  1970 modulo 1024) in two base32 digits, HHHH the first four base64 characters of an
  HMAC-SHA1 over TT, domain and local with our secret. Bounces arrive at ``ours``; the address
  is valid for ``sieve.srs_max_age_days``.
- ``SRS1=HHHH=first-hop==HHHH=TT=domain=local@ours`` when the sender is already an SRS0
  address of another forwarder (``first-hop``): re-forwarding does not nest, it names the
  first forwarder and signs that; a bounce goes back to the first hop's SRS0 address, which
  its own server reverses. An SRS1 sender of someone else is re-signed the same way.

The hash covers the parts lower-cased and is compared without regard to case, as libsrs2
does: some MTAs change the case of local parts on the way back. The timestamp is read
case-insensitively too.

Which domain signs: the domain of the recipient whose script redirected (the address the
sender wrote to, so the SRS address is one the sender's side has already seen as ours).
Senders in our own domains are not rewritten (our SPF record covers us), nor is the null
sender (RFC 5228 §4.2: it stays null).

The secret: ``sieve.srs_secret``, or when that is empty one generated at first use and kept
in ``<data_dir>/srs.secret`` (mode 0600), like the data directory's other keys.
"""

from __future__ import annotations

import base64
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from hashlib import sha1
from pathlib import Path

from postroom.config_sieve import SieveConfig
from postroom.core import private
from postroom.directory.service import Directory

SRS0 = "SRS0"
SRS1 = "SRS1"
SEP = "="
HASH_LENGTH = 4  # base64 characters of the HMAC (libsrs2's default)
BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
DAY = 86400
TIME_SLOTS = 1024  # two base32 digits of days: the timestamp wraps every 2.8 years
SECRET_FILE = "srs.secret"

_SRS0 = re.compile(r"^SRS0[=+-]", re.IGNORECASE)
_SRS1 = re.compile(r"^SRS1[=+-]", re.IGNORECASE)


class SrsError(ValueError):
    """An address that looks like SRS but is not valid: its text says why (for the log and
    the 550 reply)."""


def is_srs(local: str) -> bool:
    """Whether ``local`` has the form of an SRS0 or SRS1 local part."""
    return bool(_SRS0.match(local) or _SRS1.match(local))


def timestamp(now: float) -> str:
    """TT: today's day number modulo 1024 as two base32 digits, high bits first."""
    day = int(now // DAY) % TIME_SLOTS
    return BASE32[day >> 5] + BASE32[day & 31]


def timestamp_age(stamp: str, now: float) -> int | None:
    """Days since ``stamp`` was made (modulo 1024), or None when it is not a timestamp."""
    if len(stamp) != 2:
        return None
    hi, lo = BASE32.find(stamp[0].upper()), BASE32.find(stamp[1].upper())
    if hi < 0 or lo < 0:
        return None
    then = (hi << 5) | lo
    return (int(now // DAY) - then) % TIME_SLOTS


def _split(address: str) -> tuple[str, str]:
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain:
        raise SrsError(f"<{address}> is not local@domain")
    return local, domain


@dataclass(frozen=True, slots=True)
class Srs:
    """The scheme with one secret: ``forward`` signs, ``reverse`` checks and undoes."""

    secret: bytes
    max_age_days: int = 21

    def hash(self, *parts: str) -> str:
        mac = hmac.new(self.secret, digestmod=sha1)
        for part in parts:
            mac.update(part.lower().encode("utf-8"))
        return base64.b64encode(mac.digest()).decode("ascii")[:HASH_LENGTH]

    def _verify(self, given: str, *parts: str) -> bool:
        # Case-insensitive: the base64 loses a little strength (about 21 instead of 24 bits
        # over four characters), as in libsrs2; in return a bounce whose local part a relay
        # lower-cased still comes home.
        return hmac.compare_digest(given.lower().encode(), self.hash(*parts).lower().encode())

    def forward(self, sender: str, domain: str, now: float | None = None) -> str:
        """The SRS reverse path at ``domain`` for ``sender``; "" stays "" (RFC 5228 §4.2)."""
        if not sender:
            return ""
        now = time.time() if now is None else now
        local, host = _split(sender)
        if _SRS1.match(local):
            # Someone's SRS1: keep the first hop and what it signed, sign again as ours.
            parts = local[5:].split(SEP, 2)
            if len(parts) == 3 and parts[1] and parts[2]:
                _, first_hop, rest = parts
                return (f"{SRS1}{SEP}{self.hash(first_hop, rest)}{SEP}{first_hop}{SEP}{rest}"
                        f"@{domain}")
        elif _SRS0.match(local):
            # Someone's SRS0: name its forwarder (``host``) and keep its part after "SRS0",
            # separator included, so a bounce can be handed back to it as it was.
            rest = local[4:]
            return f"{SRS1}{SEP}{self.hash(host, rest)}{SEP}{host}{SEP}{rest}@{domain}"
        stamp = timestamp(now)
        return (f"{SRS0}{SEP}{self.hash(stamp, host, local)}{SEP}{stamp}{SEP}{host}{SEP}"
                f"{local}@{domain}")

    def reverse(self, address: str, now: float | None = None) -> str:
        """Where a bounce to the SRS ``address`` goes: the original sender (SRS0) or the
        first forwarder's SRS0 address (SRS1). Raises SrsError when the address is not a
        valid SRS address: a bad form, a hash that does not match, or an expired
        timestamp."""
        now = time.time() if now is None else now
        local, _ = _split(address)
        if _SRS1.match(local):
            parts = local[5:].split(SEP, 2)
            if len(parts) != 3 or not all(parts):
                raise SrsError("malformed SRS1 address")
            given, first_hop, rest = parts
            if not self._verify(given, first_hop, rest):
                raise SrsError("its hash does not match")
            return f"{SRS0}{rest}@{first_hop}"
        if not _SRS0.match(local):
            raise SrsError("not an SRS address")
        parts = local[5:].split(SEP, 3)
        if len(parts) != 4 or not all(parts):
            raise SrsError("malformed SRS0 address")
        given, stamp, host, user = parts
        if not self._verify(given, stamp, host, user):
            raise SrsError("its hash does not match")
        age = timestamp_age(stamp, now)
        if age is None:
            raise SrsError("malformed timestamp")
        if age > self.max_age_days:
            raise SrsError(f"it has expired (older than {self.max_age_days} days)")
        return f"{user}@{host}"


def load_secret(configured: str, data_path: Path) -> bytes:
    """The configured secret, or the one kept in the data directory (made on first use;
    whoever links the file first wins, so the server and a CLI command that race agree)."""
    if configured:
        return configured.encode("utf-8")
    path = data_path / SECRET_FILE
    return private.create_once(
        path, secrets.token_urlsafe(32).encode("ascii") + b"\n").strip()


class SenderRewriting:
    """SRS as a service: the configured (or kept) secret, and our domains from the directory.
    ``return_path`` is what a redirect sends with; ``bounce_target`` is what RCPT asks."""

    def __init__(self, directory: Directory, cfg: SieveConfig, data_path: Path) -> None:
        self._directory = directory
        self.cfg = cfg
        self._data_path = data_path
        self._scheme: tuple[str, Srs] | None = None  # (configured secret it was made for)

    def scheme(self) -> Srs:
        configured = self.cfg.srs_secret
        if self._scheme is None or self._scheme[0] != configured or \
                self._scheme[1].max_age_days != self.cfg.srs_max_age_days:
            self._scheme = (configured, Srs(load_secret(configured, self._data_path),
                                            self.cfg.srs_max_age_days))
        return self._scheme[1]

    async def return_path(self, sender: str, domain: str) -> str:
        """The reverse path for a copy of mail from ``sender`` that ``domain``'s user
        redirects: SRS at ``domain``; unchanged for the null sender, a sender of our own
        domains (our SPF covers them) and a quoted local part (no SRS form for it)."""
        if not sender or "@" not in sender:
            return sender
        local, _, host = sender.rpartition("@")
        if local.startswith('"') or await self._directory.is_local_domain(host):
            return sender
        return self.scheme().forward(sender, domain)

    async def bounce_target(self, address: str) -> str | None:
        """For a recipient ``address``: None when it is not an SRS address in one of our
        domains (route it as usual); else where mail to it goes. Raises SrsError when it has
        the SRS form at our domain but is not valid (forged, altered or expired)."""
        local, at, domain = address.rpartition("@")
        if not at or not is_srs(local) or not await self._directory.is_local_domain(domain):
            return None
        return self.scheme().reverse(address)
