"""Forwarding to remote members of aliases and groups, ARC-sealed (RFC 8617 §5.1).

An alias or group may name addresses in other domains (docs/operations.md). Local delivery
(services/delivery.py) plans the local copies and names the remote members; this module makes
the forwarded copies: new remote queue entries that share the message's blob, which the queue
manager commits in the same transaction as the local copies and the entry's settlement (or,
for mail delivered at acceptance, in the accepting transaction). A crash therefore queues the
forwarded copies together with the local ones or not at all, and the retry never queues them
twice.

A forwarded copy:
- keeps the original envelope sender (a null sender stays null), so a failure notice for a
  remote member goes to the original sender, as for relayed mail. Alias members get no SRS
  (Sender Rewriting Scheme): a receiver that checks SPF of the original sender against our
  address may refuse it; ARC is there to help such receivers (docs/operations.md). A copy a
  user's Sieve script redirects is made here too, with an SRS reverse path and a loop
  marker (services/sieve/redirect.py);
- carries the DSN parameters of the recipient that reached it (RFC 3461 §4): its NOTIFY, and
  its ORCPT, or the alias's address as ORCPT when none was given, so a notice names the
  address the sender used;
- is one entry per alias recipient and remote domain (RFC 5321 §4.5.4);
- is ARC-sealed with the DKIM key of the alias's domain (its rsa-sha256 key: RFC 8617 §4.1.3
  allows no other), the ARC-Authentication-Results being the Authentication-Results that the
  ``mailauth`` check wrote at acceptance (in the entry's prefix). The ARC set goes first in
  the forwarded entry's per-delivery prefix, above our Received and Authentication-Results
  fields. No key, or no Authentication-Results of ours: forwarded unsealed, and logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from postroom.core.records import BlobRef, NewEntry, QueueRec
from postroom.services.dkimkeys import DkimKeys
from postroom.services.mailauth.arc import ArcSealer, SealingKey
from postroom.services.queue import QueueService
from postroom.services.submission import domain_of

log = logging.getLogger("postroom.forward")

# The parameters of the original entry that mean something for a forwarded copy: the DSN
# envelope id and return choice (RFC 3461 §4.3, §4.4) and who submitted it (the notices'
# RET policy, mta/queue.py). Folder and quarantine are local matters; NOTIFY and ORCPT are
# rewritten per member.
KEPT_PARAMS = ("envid", "ret", "auth", "smtputf8", "body")


def xtext(value: str) -> str:
    """RFC 3461 §4: "+" followed by two upper-case hex digits for "+", "=", and anything
    outside "!".."~"."""
    out = []
    for ch in value.encode("utf-8"):
        if ch < 33 or ch > 126 or ch in (ord("+"), ord("=")):
            out.append(f"+{ch:02X}")
        else:
            out.append(chr(ch))
    return "".join(out)


class DkimSealingKeys:
    """``SealingKeys`` (services/mailauth/arc.py) from the per-domain DKIM keys: the active
    RSA key of a domain seals, so sealing needs no key store of its own and follows key
    rotation. None while ``dkim.sign`` is off, or when the domain has no active RSA key."""

    def __init__(self, keys: DkimKeys) -> None:
        self.keys = keys

    async def key_for(self, domain: str) -> SealingKey | None:
        if not self.keys.cfg.sign:
            return None
        for key in await self.keys.signing_keys(domain):
            if isinstance(key.key, rsa.RSAPrivateKey):
                pem = key.key.private_bytes(serialization.Encoding.PEM,
                                            serialization.PrivateFormat.TraditionalOpenSSL,
                                            serialization.NoEncryption())
                return SealingKey(key.domain, key.selector, pem, "rsa-sha256")
        return None


class Forwarding:
    """Makes the forwarded entries for the remote members an alias recipient reached."""

    def __init__(self, queue: QueueService, sealer: ArcSealer | None = None) -> None:
        self.queue = queue
        self.sealer = sealer

    async def entries(self, entry: QueueRec, rcpt: str, members: Sequence[str], *,
                      sender: str | None = None, trace: bytes = b"",
                      on_behalf: str | None = None) -> list[NewEntry]:
        """One remote entry per domain among ``members``, for the alias recipient ``rcpt``
        of ``entry``; nothing is written here (the caller commits them).

        For a Sieve redirect (services/sieve/redirect.py): ``sender`` replaces the reverse
        path (the SRS address), ``trace`` goes above the original prefix (its loop marker)
        and ``on_behalf`` is the address whose domain seals (the redirecting user's)."""
        params = entry.param_dict()
        own: dict[str, object] = {k: params[k] for k in KEPT_PARAMS if k in params}
        own["remote"] = True
        own["forwarded_for"] = rcpt
        notify = params.get("notify")
        orcpt = params.get("orcpt")
        given = orcpt.get(rcpt) if isinstance(orcpt, dict) else None
        original = str(given) if given else f"rfc822;{xtext(rcpt)}"
        seal = await self._seal(entry, on_behalf or rcpt)
        by_domain: dict[str, list[str]] = {}
        for member in members:
            by_domain.setdefault(domain_of(member), []).append(member)
        out = []
        for group in by_domain.values():
            mine = dict(own)
            if isinstance(notify, dict) and rcpt in notify:
                mine["notify"] = dict.fromkeys(group, notify[rcpt])
            mine["orcpt"] = dict.fromkeys(group, original)
            out.append(NewEntry(entry.sender if sender is None else sender, group,
                                _blob(entry), seal + trace + bytes(entry.prefix), mine))
        return out

    async def _seal(self, entry: QueueRec, rcpt: str) -> bytes:
        """The ARC set for the copy forwarded on behalf of ``rcpt``'s domain, or b""."""
        domain = domain_of(rcpt)
        if self.sealer is None:
            return b""
        try:
            if await self.sealer.keys.key_for(domain) is None:
                self._log(entry, rcpt, domain, "unsealed",
                          "no active RSA DKIM key for the domain (or dkim.sign is off)")
                return b""

            def read() -> bytes:
                with contextlib.closing(self.queue.open(entry)) as fh:
                    return fh.read()
            message = await asyncio.get_running_loop().run_in_executor(None, read)
            seal = await self.sealer.seal(message, domain)
        except Exception:
            log.exception("arc seal failed; the copy is forwarded unsealed",
                          extra={"queue_id": entry.id, "d": domain})
            self._log(entry, rcpt, domain, "unsealed", "sealing failed (logged)")
            return b""
        if not seal:
            self._log(entry, rcpt, domain, "unsealed",
                      "no Authentication-Results of ours on the message, or the chain is "
                      "at its limit")
            return b""
        self._log(entry, rcpt, domain, "sealed", "")
        return seal

    @staticmethod
    def _log(entry: QueueRec, rcpt: str, domain: str, decision: str, reason: str) -> None:
        log.info("arc seal", extra={"queue_id": entry.id, "to": f"<{rcpt}>", "d": domain,
                                    "decision": decision, "reason": reason or "-"})


def _blob(entry: QueueRec) -> BlobRef:
    """The entry's message as received (its size without the prefix)."""
    return BlobRef(entry.blob, entry.size - len(entry.prefix))
