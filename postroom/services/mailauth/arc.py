"""ARC (RFC 8617) verification: the chain's validation status, with dkimpy.

As for DKIM (services/mailauth/dkim.py), every key the chain names is fetched first through our
asynchronous resolver, then dkimpy verifies in a worker thread with a ``dnsfunc`` that reads
only those records. The chain validation status (RFC 8617 §5.2) is ``pass``, ``fail`` or
``none`` (no ARC sets); a key that could not be fetched makes it ``fail`` with the reason
named (RFC 8617 §5.2 has no temporary outcome: a chain that cannot be validated is not one to
rely on), and the result goes into Authentication-Results as ``arc=`` (RFC 8617 §10.2).

Sealing (RFC 8617 §5.1): ``ArcSealer`` adds the next ARC set to a message that carries our
Authentication-Results (the one the ``mailauth`` check wrote, with its ``arc=`` result, from
which the new set's ``cv=`` comes), signed with the forwarding domain's key. Keys come through
``SealingKeys``, so the per-domain DKIM signing keys plug in without a second key store
(services/forwarding.py ``DkimSealingKeys``). The queue manager seals every copy it forwards to
a remote member of an alias or group (services/forwarding.py, docs/mailauth.md).
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Protocol

import dkim

from postroom.net.lookup import Lookup
from postroom.services.mailauth.dkim import (
    fetch_keys,
    header_values,
    key_names,
    prepared,
)

_quiet = logging.getLogger("postroom.mailauth.dkimpy")


@dataclass(frozen=True, slots=True)
class ArcOutcome:
    result: str  # "pass", "fail" or "none"
    reason: str
    instances: int = 0  # ARC sets on the message
    oldest_pass: int = 0  # RFC 8617 §11 header.oldest-pass: 0 when every AMS passed


@dataclass(frozen=True, slots=True)
class SealingKey:
    """What sealing (RFC 8617 §5.1) needs for one domain."""

    domain: str
    selector: str
    private_key: bytes  # PEM (RSA) or raw 32 octets (Ed25519), as dkimpy takes them
    algorithm: str  # "rsa-sha256" or "ed25519-sha256"


class SealingKeys(Protocol):
    """Where an ARC sealer would get a domain's key: the DKIM signing keys (per domain,
    managed by ``postroom dkim``) plug in here, so sealing needs no second key store."""

    async def key_for(self, domain: str) -> SealingKey | None: ...


class ArcSealer:
    """RFC 8617 §5.1: the next ARC set (ARC-Seal, ARC-Message-Signature,
    ARC-Authentication-Results) for a message we forward, or b"" when it cannot be sealed (no
    key for the domain, no Authentication-Results of ours on the message, a key of a kind ARC
    does not use, or a chain already at the 50-set limit)."""

    def __init__(self, keys: SealingKeys, authserv_id: str,
                 executor: Executor | None = None) -> None:
        self.keys = keys
        self.authserv_id = authserv_id
        self.executor = executor

    async def seal(self, message: bytes, domain: str) -> bytes:
        key = await self.keys.key_for(domain)
        if key is None or key.algorithm != "rsa-sha256":  # RFC 8617 §4.1.3: rsa-sha256
            return b""

        def work() -> bytes:
            try:
                headers = dkim.arc_sign(message, key.selector.encode(), key.domain.encode(),
                                        key.private_key, self.authserv_id.encode(),
                                        logger=_quiet)
            except dkim.DKIMException:
                return b""
            return b"".join(headers)
        return await asyncio.get_running_loop().run_in_executor(self.executor, work)


class ArcVerifier:
    def __init__(self, dns: Lookup, executor: Executor | None = None,
                 verify_timeout: float = 10.0, max_instances: int = 50,
                 inline_size: int = 0) -> None:
        self.dns = dns
        self.executor = executor
        self.verify_timeout = verify_timeout
        self.max_instances = max_instances  # RFC 8617 §4.2.1: at most 50 sets
        self.inline_size = inline_size

    async def verify(self, message: bytes, head: bytes) -> ArcOutcome:
        seals = header_values(head, b"arc-seal")
        if not seals:
            return ArcOutcome("none", "no ARC sets")
        if len(seals) > self.max_instances:
            return ArcOutcome("fail", f"more than {self.max_instances} ARC sets",
                              len(seals))
        names = key_names(seals + header_values(head, b"arc-message-signature"))
        keys = await fetch_keys(self.dns, names)
        if keys.failed:
            return ArcOutcome("fail", f"key {min(keys.failed)} could not be fetched",
                              len(seals))
        records = {n.encode(): (v or "").encode("latin-1") for n, v in keys.records.items()}

        def dnsfunc(qname: bytes, timeout: float = 5) -> bytes | None:
            return records.get(qname.lower().rstrip(b".")) or None

        def work() -> ArcOutcome:
            try:
                cv, results, reason = prepared(dkim.ARC, message, logger=_quiet) \
                    .verify(dnsfunc=dnsfunc)
            except dkim.DKIMException as exc:
                return ArcOutcome("fail", str(exc), len(seals))
            except Exception as exc:  # a malformed message must not take the check down
                return ArcOutcome("fail", f"{type(exc).__name__}: {exc}", len(seals))
            word = (cv or b"fail").decode("ascii", "replace").lower()
            oldest = 0
            for result in results:  # newest first
                if not result.get("ams-valid"):
                    oldest = int(result["instance"]) + 1
                    break
            return ArcOutcome(word if word in ("pass", "fail", "none") else "fail",
                              str(reason), len(seals), oldest)

        if len(message) <= self.inline_size:  # as for DKIM (services/mailauth/dkim.py)
            return work()
        loop = asyncio.get_running_loop()
        try:
            return await asyncio.wait_for(loop.run_in_executor(self.executor, work),
                                          self.verify_timeout)
        except TimeoutError:
            return ArcOutcome("fail", "verification took too long", len(seals))
