"""What Sieve remembers between deliveries: the ``sieve_memory`` rows (migration 0023).

Three kinds, per account, each row a hash of what is remembered and an expiry:

- ``duplicate``: tracking values the duplicate test saw (RFC 7352 §3);
- ``vacation``: (sender, handle) pairs answered by a vacation reply (RFC 5230 §4.2, once per
  sender and handle per period);
- ``redirect``: (Message-ID, target) pairs a redirect sent on, so that one message reaching a
  user twice (through two aliases, or a copy that came back) is redirected once.

Reading is done while planning a delivery; writing never is: the rows to write travel with
the plan (``MemoryRow``) and are committed in the transaction that settles the delivery
(store/repo/queue.py ``settle``). A delivery that fails or is deferred therefore remembers
nothing (RFC 7352 §3: a message that was not delivered is not a duplicate next time), and a
retry after a crash judges the message as the first time did. Two deliveries of the same
message planned at the same instant may both see "not yet" — the price of not locking on a
read; the effect is one extra reply or copy, never a lost one.

Keys are SHA-256 hashes (``key_hash``): the table holds no addresses or Message-IDs in clear.
Expired rows are ignored on reading and removed by ``expire`` (the server's periodic sweep).
"""

from __future__ import annotations

import hashlib
import time

from postroom.config_sieve import SieveConfig
from postroom.core.records import MemoryRow
from postroom.store.sqlstore import SqlStore

DUPLICATE = "duplicate"
VACATION = "vacation"
REDIRECT = "redirect"


def key_hash(*parts: str) -> str:
    """The key of a memory row: SHA-256 over the parts, NUL-separated (so ("ab", "c") and
    ("a", "bc") differ)."""
    return hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()


class SieveMemory:
    def __init__(self, store: SqlStore, cfg: SieveConfig) -> None:
        self._store = store
        self.cfg = cfg

    async def recall(self, account_id: int, kind: str, key: str, now: int | None = None,
                     ) -> bool:
        """Is ``key`` (a ``key_hash``) of ``kind`` remembered for the account, unexpired?"""
        when = int(time.time()) if now is None else now
        return await self._store.sieve.recall(account_id, kind, key, when)

    def duplicate_period(self, seconds: int) -> int:
        """RFC 7352 §3.3: :seconds as asked, at most ``sieve.duplicate_max_seconds``; a
        negative value means none was given: ``sieve.duplicate_default_seconds``."""
        if seconds < 0:
            seconds = self.cfg.duplicate_default_seconds
        return min(seconds, self.cfg.duplicate_max_seconds)

    async def duplicate(self, account_id: int, tracking: str, seconds: int, last: bool,
                        pending: list[MemoryRow], now: int | None = None) -> bool:
        """The duplicate test (RFC 7352 §3) for one account: whether ``tracking`` was seen
        within its period. The row to commit with the delivery, if any, is appended to
        ``pending`` (services/sieve/environment.py). Unseen: remembered from now for
        ``seconds``. Seen: with ``last`` (§3.3, the period counts from the last time it was
        seen) the period starts again now; without it the first sighting's expiry stands,
        so nothing is written."""
        when = int(time.time()) if now is None else now
        period = self.duplicate_period(seconds)
        key = key_hash(tracking)
        seen = await self.recall(account_id, DUPLICATE, key, when)
        if (seen and not last) or period <= 0:  # ":seconds 0": never remembered
            return seen
        pending.append(MemoryRow(account_id, DUPLICATE, key, when + period))
        return seen

    async def expire(self, now: int | None = None, limit: int = 10_000) -> int:
        """Remove up to ``limit`` expired rows; returns how many went."""
        when = int(time.time()) if now is None else now
        return await self._store.sieve.forget_expired(when, limit)
