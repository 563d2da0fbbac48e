"""The store facade: one engine, the repositories over it, the blob files, garbage collection.

The concrete engine is chosen by ``postroom.app.open_store`` (the composition root), never here.
"""

from __future__ import annotations

import logging
import time

from postroom.store.engine import CommitListener, CommitStats, Engine, Tx
from postroom.store.repo import text
from postroom.store.repo.accountview import AccountViewRepo
from postroom.store.repo.apitokens import ApiTokenRepo
from postroom.store.repo.audit import AuditRepo
from postroom.store.repo.cluster import ClusterRepo
from postroom.store.repo.dav import DavRepo
from postroom.store.repo.davlocks import DavLockRepo
from postroom.store.repo.directory import DirectoryRepo
from postroom.store.repo.eas import EasRepo
from postroom.store.repo.gateways import GatewayRepo
from postroom.store.repo.logins import LoginsRepo
from postroom.store.repo.mailboxes import MailboxRepo
from postroom.store.repo.messages import MessageQueries, MessageRepo
from postroom.store.repo.multipop import MultipopRepo
from postroom.store.repo.queue import QueueRepo
from postroom.store.repo.screening import GreylistRepo, ScreeningRepo
from postroom.store.repo.sieve import SieveRepo
from postroom.store.repo.signing import SigningRepo
from postroom.store.repo.spamprefs import SpamPrefsRepo
from postroom.store.repo.webmail import WebmailRepo
from postroom.store.spool import BlobStore

log = logging.getLogger("postroom.store")

BLOB_GRACE_SECONDS = 3600.0


class SqlStore:
    def __init__(self, engine: Engine, blobs: BlobStore) -> None:
        self.engine = engine
        self.blobs = blobs
        self.directory = DirectoryRepo(engine)
        self.mailboxes = MailboxRepo(engine)
        self.messages = MessageRepo(engine)
        self.queries = MessageQueries(engine)
        self.queue = QueueRepo(engine)
        self.multipop = MultipopRepo(engine)
        self.gateways = GatewayRepo(engine)
        self.audit = AuditRepo(engine)
        self.screening = ScreeningRepo(engine)
        self.greylist = GreylistRepo(engine)
        self.spam = SpamPrefsRepo(engine)
        self.signing = SigningRepo(engine)
        self.logins = LoginsRepo(engine)  # web sessions, second factors, app passwords
        self.api_tokens = ApiTokenRepo(engine)
        self.account_views = AccountViewRepo(engine)
        self.webmail = WebmailRepo(engine)  # webmail's per-user preferences and lists
        self.dav = DavRepo(engine)  # groupware items' index, dead properties (services/dav/)
        self.dav_locks = DavLockRepo(engine)  # WebDAV locks of the file area
        self.eas = EasRepo(engine)  # ActiveSync devices and sync states
        self.sieve = SieveRepo(engine)  # Sieve scripts and memory (services/sieve/)
        self.cluster = ClusterRepo(engine)  # the nodes of a cluster (services/cluster.py)

    @property
    def stats(self) -> CommitStats:
        return self.engine.stats

    def add_commit_listener(self, listener: CommitListener) -> None:
        self.engine.add_commit_listener(listener)

    async def get_setting(self, key: str) -> str | None:
        def fn(tx: Tx) -> str | None:
            row = tx.one("SELECT value FROM settings WHERE key = ?", (key,))
            return str(row[0]) if row else None
        return await self.engine.read(fn)

    async def set_setting(self, key: str, value: str) -> None:
        def fn(tx: Tx) -> None:
            tx.execute("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) "
                       "DO UPDATE SET value = excluded.value", (key, value))
        await self.engine.write(fn)

    async def count_unindexed(self, most: int) -> int:
        """Messages' text not in the full-text index yet, counted up to ``most``."""
        return await self.engine.read(lambda tx: text.count_pending(tx, most))

    async def index_pending(self, limit: int, max_bytes: int = 1 << 20) -> int:
        """Add up to ``limit`` delivered messages' text (and about ``max_bytes`` of it) to the
        full-text index (SQLite; see repo/text.py); return how many. Reads first, so an idle
        server does not write."""
        if not await self.engine.read(text.has_pending):
            return 0
        return await self.engine.write(lambda tx: text.index_pending(tx, limit, max_bytes))

    async def collect_garbage(self, grace: float = BLOB_GRACE_SECONDS) -> int:
        """Remove blob files no row has needed for ``grace`` seconds; return how many."""
        cutoff = int(time.time() - grace)

        def fn(tx: Tx) -> list[str]:
            rows = [str(r[0]) for r in tx.all(
                "SELECT sha256 FROM blobs WHERE refcount <= 0 AND zero_since <= ?", (cutoff,))]
            for sha in rows:
                tx.execute("DELETE FROM blobs WHERE sha256 = ? AND refcount <= 0", (sha,))
            text.drop_in(tx, rows)
            return rows

        def known(tx: Tx) -> set[str]:
            return {str(r[0]) for r in tx.all("SELECT sha256 FROM blobs")}

        removed = 0
        for sha in await self.engine.write(fn):
            removed += self.blobs.remove_if_old(sha, grace)
        referenced = await self.engine.read(known)
        for name in list(self.blobs.all_names()):
            if name not in referenced and self.blobs.remove_if_old(name, grace):
                removed += 1
        self.blobs.clean_tmp(grace)
        return removed

    async def close(self) -> None:
        await self.engine.close()
