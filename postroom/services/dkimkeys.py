"""DKIM keys per domain: making them, rotating them with overlap, and choosing who signs.

Keys (Ed25519 and RSA, RFC 8463 and RFC 6376 §3.3) live in the database, the private half
sealed with the data directory's secret.key (directory/secretbox.py), so every node of a
cluster signs with the same keys and a copy of the database alone reveals none. A private key
is never printed, except by ``postroom dkim show --private`` (an explicit request, audited).

Life of a key (docs/signing.md), derived from its times, never stored as a state:
- ``pending``: published (its TXT record is printed by ``postroom dns``), not signing yet;
- ``active``: the newest activated key of its algorithm signs;
- ``retiring``: replaced by a newer key, still published for ``dkim.retire_after`` seconds so
  that mail signed with it and still in flight verifies;
- ``retired``: no longer published; the row stays until ``postroom dkim remove``.

Rotation is publication first: ``rotate`` makes new keys that activate ``dkim.rotation_delay``
seconds later (time for the DNS records to be published and cached), or at once with
``activate``; the old keys then retire by themselves after the overlap.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from postroom.config import DkimConfig
from postroom.core.address import normalize_domain
from postroom.core.dkimsig import SigningKey, key_record, public_key_b64
from postroom.core.errors import Kind, MailError
from postroom.directory.secretbox import SecretBox
from postroom.store.repo.signing import DkimKeyRec
from postroom.store.sqlstore import SqlStore

KEY_CACHE_SECONDS = 30.0  # a CLI change reaches a running server within this time

PrivateKey = ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey


@dataclass(frozen=True, slots=True)
class KeyView:
    """A key as the CLI and ``postroom dns`` show it: never the private half."""

    domain: str
    selector: str
    algorithm: str
    state: str  # pending | active | retiring | retired
    created_at: int
    activate_at: int
    retire_at: int | None  # when it stops being published (None: while it is active)
    record_name: str  # <selector>._domainkey.<domain>
    record: str  # the TXT record text

    def as_dict(self) -> dict[str, object]:
        return {"domain": self.domain, "selector": self.selector,
                "algorithm": self.algorithm, "state": self.state,
                "created_at": self.created_at, "activate_at": self.activate_at,
                "retire_at": self.retire_at, "name": self.record_name,
                "record": self.record}


def key_states(keys: Sequence[DkimKeyRec], now: int, retire_after: int,
               ) -> list[tuple[DkimKeyRec, str, int | None]]:
    """(key, state, end of publication) for each key of one domain. Per algorithm, the
    newest key activated by ``now`` and not retired is active; an older one is retiring
    until its successor's activation plus ``retire_after``, then retired."""
    out: list[tuple[DkimKeyRec, str, int | None]] = []
    for key in keys:
        if key.retire_at is not None and key.retire_at <= now:
            out.append((key, "retired", key.retire_at))
            continue
        if key.activate_at > now:
            out.append((key, "pending", key.retire_at))
            continue
        later = [k for k in keys if k.algorithm == key.algorithm and k.id != key.id
                 and (k.activate_at, k.id) > (key.activate_at, key.id)
                 and k.activate_at <= now
                 and (k.retire_at is None or k.retire_at > now)]
        if not later:
            out.append((key, "active", key.retire_at))
            continue
        ends = min(k.activate_at for k in later) + retire_after
        if key.retire_at is not None:
            ends = min(ends, key.retire_at)
        out.append((key, "retiring" if now < ends else "retired", ends))
    return out


def new_key(algorithm: str, rsa_bits: int) -> PrivateKey:
    if algorithm == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    return rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits)


def pem(key: PrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode("ascii")


class DkimKeys:
    def __init__(self, store: SqlStore, secrets: SecretBox, cfg: DkimConfig) -> None:
        self._store = store
        self._secrets = secrets
        self.cfg = cfg
        self._cache: dict[str, tuple[float, list[SigningKey]]] = {}

    @staticmethod
    def _purpose(domain: str, selector: str) -> str:
        return f"dkim:{domain}:{selector}"

    async def _domain(self, domain: str) -> str:
        name = normalize_domain(domain)
        if await self._store.directory.get_domain(name) is None:
            raise MailError(Kind.NOT_FOUND, f"unknown domain {name} (add it with: postroom "
                            f"domain add {name})")
        return name

    def _selector(self, algorithm: str, taken: set[str], now: int) -> str:
        """``<prefix><yyyymm><e|r>`` (RFC 6376 §3.1: a selector is a dot-atom of DNS
        labels), with a counter when that month already has one."""
        base = f"{self.cfg.selector_prefix}{time.strftime('%Y%m', time.gmtime(now))}" \
               f"{'e' if algorithm == 'ed25519' else 'r'}"
        name, n = base, 2
        while name in taken:
            name, n = f"{base}{n}", n + 1
        return name

    async def _make(self, domain: str, algorithms: Sequence[str], activate_at: int, now: int,
                    selector: str | None) -> list[KeyView]:
        existing = await self._store.signing.dkim_keys(domain)
        taken = {k.selector for k in existing}
        if selector is not None and len(algorithms) > 1:
            raise MailError(Kind.INVALID, "--selector names one key: give one --algorithm")
        rows: list[tuple[str, str, str, str, int]] = []
        loop = asyncio.get_running_loop()
        for algorithm in algorithms:
            name = selector or self._selector(algorithm, taken, now)
            taken.add(name)
            key = await loop.run_in_executor(None, new_key, algorithm, self.cfg.rsa_bits)
            rows.append((name, algorithm,
                         self._secrets.seal(pem(key), self._purpose(domain, name)),
                         public_key_b64(key), activate_at))
        await self._store.signing.add_dkim_keys(domain, rows, now)
        self._cache.pop(domain, None)
        made = {r[0] for r in rows}
        return [k for k in await self.keys(domain, now) if k.selector in made]

    async def generate(self, domain: str, algorithms: Sequence[str] | None = None,
                       selector: str | None = None, now: int | None = None) -> list[KeyView]:
        """A domain's first keys, signing at once (nothing is published yet that mail could
        be checked against, so there is no overlap to wait for). A domain that already has
        a live key of an algorithm is refused: rotate instead."""
        now = int(time.time()) if now is None else now
        domain = await self._domain(domain)
        algorithms = list(algorithms or self.cfg.algorithms)
        live = {k.algorithm for k in await self.keys(domain, now) if k.state != "retired"}
        clash = [a for a in algorithms if a in live]
        if clash:
            raise MailError(Kind.EXISTS, f"{domain} already has a {clash[0]} key; use "
                            f"'postroom dkim rotate {domain}'")
        return await self._make(domain, algorithms, now, now, selector)

    async def rotate(self, domain: str, algorithms: Sequence[str] | None = None,
                     delay: int | None = None, selector: str | None = None,
                     now: int | None = None) -> list[KeyView]:
        """New keys, published now, signing after ``delay`` (default
        ``dkim.rotation_delay``); the keys they replace keep signing until then and stay
        published for ``dkim.retire_after`` after it."""
        now = int(time.time()) if now is None else now
        domain = await self._domain(domain)
        algorithms = list(algorithms or self.cfg.algorithms)
        wait = self.cfg.rotation_delay if delay is None else delay
        return await self._make(domain, algorithms, now + wait, now, selector)

    async def activate(self, domain: str, selector: str, now: int | None = None) -> KeyView:
        """The explicit step of a rotation: a pending key signs from now on."""
        now = int(time.time()) if now is None else now
        domain = await self._domain(domain)
        view = await self._one(domain, selector, now)
        if view.state != "pending":
            raise MailError(Kind.INVALID, f"{selector} is {view.state}, not pending")
        await self._store.signing.set_dkim_times(domain, selector, activate_at=now)
        self._cache.pop(domain, None)
        return await self._one(domain, selector, now)

    async def retire(self, domain: str, selector: str, now: int | None = None) -> KeyView:
        """Stop signing with and publishing a key now (say, it leaked)."""
        now = int(time.time()) if now is None else now
        domain = await self._domain(domain)
        await self._one(domain, selector, now)
        await self._store.signing.set_dkim_times(domain, selector, retire_at=now)
        self._cache.pop(domain, None)
        return await self._one(domain, selector, now)

    async def remove(self, domain: str, selector: str, now: int | None = None) -> None:
        """Delete a retired key for good."""
        now = int(time.time()) if now is None else now
        domain = await self._domain(domain)
        view = await self._one(domain, selector, now)
        if view.state != "retired":
            raise MailError(Kind.IN_USE, f"{selector} is {view.state}: retire it first "
                            f"('postroom dkim retire {domain} {selector}')")
        await self._store.signing.delete_dkim_key(domain, selector)

    async def keys(self, domain: str, now: int | None = None) -> list[KeyView]:
        now = int(time.time()) if now is None else now
        domain = normalize_domain(domain)
        rows = await self._store.signing.dkim_keys(domain)
        return [KeyView(domain, k.selector, k.algorithm, state, k.created_at, k.activate_at,
                        ends, f"{k.selector}._domainkey.{domain}",
                        key_record(k.algorithm, k.public_key))
                for k, state, ends in key_states(rows, now, self.cfg.retire_after)]

    async def domains(self) -> list[str]:
        return await self._store.signing.dkim_domains()

    async def _one(self, domain: str, selector: str, now: int) -> KeyView:
        for view in await self.keys(domain, now):
            if view.selector == selector:
                return view
        raise MailError(Kind.NOT_FOUND, f"no key {selector} in {domain}")

    async def private_pem(self, domain: str, selector: str) -> str:
        """The private key in PEM: for ``show --private`` only."""
        domain = await self._domain(domain)
        for k in await self._store.signing.dkim_keys(domain):
            if k.selector == selector:
                return self._secrets.open(k.sealed_key, self._purpose(domain, selector))
        raise MailError(Kind.NOT_FOUND, f"no key {selector} in {domain}")

    async def signing_keys(self, domain: str) -> list[SigningKey]:
        """The keys that sign mail from ``domain`` now (one per algorithm of
        ``dkim.algorithms``), cached for a few seconds: a message does not pay for a database
        read and a key parse."""
        domain = normalize_domain(domain)
        now = time.monotonic()
        hit = self._cache.get(domain)
        if hit is not None and hit[0] > now:
            return hit[1]
        rows = await self._store.signing.dkim_keys(domain)
        out = []
        for key, state, _ in key_states(rows, int(time.time()), self.cfg.retire_after):
            if state != "active" or key.algorithm not in self.cfg.algorithms:
                continue
            text = self._secrets.open(key.sealed_key, self._purpose(domain, key.selector))
            private = serialization.load_pem_private_key(text.encode("ascii"), None)
            assert isinstance(private, (ed25519.Ed25519PrivateKey, rsa.RSAPrivateKey))
            out.append(SigningKey(domain, key.selector, key.algorithm, private))
        out.sort(key=lambda k: k.algorithm)  # ed25519 first, then rsa: a stable order
        self._cache[domain] = (now + KEY_CACHE_SECONDS, out)
        return out
