"""MultiPOP: collect users' mail from remote POP3 mailboxes into their Postroom accounts.

Each user may have any number of remote accounts (``postroom multipop add``). The collector,
inside the server, runs each one every ``interval``; ``postroom multipop run-now`` runs one at
once from the command line with the same code.

One run (``Multipop.collect``):

1. connect (implicit TLS, STLS, or plain only when the administrator chose it), log in with
   AUTH PLAIN or USER/PASS, take UIDL and LIST;
2. for every UIDL not yet recorded: RETR, write the message durably as a blob, then in *one*
   transaction record the UIDL and queue the message for the local account
   (store/repo/multipop.py). It then goes through the normal delivery path (queue, local
   delivery into the target folder), so whatever later filters the queue applies apply here;
3. DELE what should go: every recorded message unless ``leave_on_server``, or, with
   ``delete_after_days``, those first seen that many days ago;
4. QUIT, which is when the remote server really deletes (its UPDATE state).

Crash safety follows from the order: a message is deleted remotely only after its UIDL and
queue entry are committed here, and it is fetched only when its UIDL is not. A collector killed
at any point therefore neither loses nor duplicates a message; messages it had marked for
deletion are deleted at the next run, since a dropped POP3 session deletes nothing.

Failures back off: the next run waits ``interval × 2^failures``, at most ``max_backoff``.
A message larger than ``limits.max_message_size`` is left on the server and recorded as
skipped, so it does not block the rest or fail every run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from dataclasses import dataclass, field

from postroom.config import MultipopConfig
from postroom.core.aio import cancel
from postroom.core.errors import MailError
from postroom.core.processes import alive
from postroom.core.records import NewEntry, RemoteRec, SeenRec
from postroom.directory.secretbox import SecretError
from postroom.mta.pop3client import Pop3Client, Pop3ClientError
from postroom.services.multipop import MultipopAccounts
from postroom.services.queue import QueueService
from postroom.services.submission import received_header

log = logging.getLogger("postroom.multipop")

LEASE = 300  # seconds a run holds its remote account without renewing
RENEW_EVERY = 60.0
MIN_INTERVAL = 60
DAY = 86400


@dataclass
class RunResult:
    fetched: int = 0
    deleted: int = 0
    skipped: int = 0
    error: str = ""
    busy: bool = False  # another collector holds this remote account right now

    @property
    def ok(self) -> bool:
        return not self.error and not self.busy


@dataclass
class _Run:
    remote: RemoteRec
    owner: str
    renewed: float = field(default_factory=time.monotonic)


def lease_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Multipop:
    """One collection run; shared by the server's collector and ``postroom multipop
    run-now``."""

    def __init__(self, accounts: MultipopAccounts, queue: QueueService, cfg: MultipopConfig,
                 max_message_size: int, hostname: str) -> None:
        self.accounts = accounts
        self.queue = queue
        self.cfg = cfg
        self.max_message_size = max_message_size
        self.hostname = hostname

    # -- one run ------------------------------------------------------------------------------
    async def run_now(self, address: str, remote_id: int, owner: str) -> RunResult:
        """Collect one remote account now, unless another collector is at it."""
        await self.accounts.one(address, remote_id)
        claimed = await self.accounts.claim(owner, LEASE, remote_id=remote_id)
        if not claimed:
            return RunResult(busy=True)
        return await self.run(claimed[0], owner)

    async def run(self, remote: RemoteRec, owner: str) -> RunResult:
        """Collect, then record the outcome and free the lease (the caller claimed it)."""
        result = RunResult()
        run = _Run(remote, owner)
        try:
            await self.collect(run, result)
        except Pop3ClientError as exc:
            result.error = str(exc)
        except SecretError as exc:
            result.error = str(exc)
        except MailError as exc:
            result.error = exc.text
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await asyncio.shield(self.accounts.drop_lease(remote.id, owner))
            raise
        except Exception as exc:
            log.exception("multipop: run of remote account %d failed", remote.id)
            result.error = f"internal error: {type(exc).__name__}"
        now = int(time.time())
        if result.error:
            failures = remote.failures + 1
            wait = min(remote.interval_s * 2 ** min(failures, 16), self.cfg.max_backoff)
            log.warning("multipop: %s from %s@%s failed (%d in a row; next try in %d s): %s",
                        remote.address, remote.username, remote.host, failures, wait,
                        result.error)
            await self.accounts.release(remote.id, owner, ok=False, error=result.error[:500],
                                    next_run=now + max(wait, MIN_INTERVAL), failures=failures)
        else:
            log.info("multipop: %s from %s@%s: %d fetched, %d deleted, %d skipped",
                     remote.address, remote.username, remote.host, result.fetched,
                     result.deleted, result.skipped)
            await self.accounts.release(remote.id, owner, ok=True, next_run=now + remote.interval_s,
                                    failures=0, fetched=result.fetched)
        return result

    async def collect(self, run: _Run, result: RunResult) -> None:
        remote = run.remote
        password = self.accounts.password(remote)
        client = Pop3Client(remote.host, remote.port, tls=remote.tls,
                            verify=remote.tls_verify, timeout=self.cfg.timeout)
        try:
            await client.connect()
            await client.login(remote.username, password)
            listing = await client.listing()
            seen = await self.accounts.seen(remote.id)
            limit = self.max_message_size
            todo = [m for m in listing if m.uidl not in seen][: self.cfg.max_per_run]
            for message in todo:
                if message.size > limit:
                    log.warning("multipop: %s: message %s is %d octets, over the %d limit; "
                                "left on %s", remote.address, message.uidl, message.size,
                                limit, remote.host)
                    await self.accounts.record(remote.id, message.uidl, None)
                    seen[message.uidl] = SeenRec(message.uidl, int(time.time()), True)
                    result.skipped += 1
                    continue
                data = await client.retr(message.number, limit)
                if await self._store(remote, client, message.uidl, data):
                    result.fetched += 1
                seen[message.uidl] = SeenRec(message.uidl, int(time.time()), False)
                if self._should_delete(remote, seen[message.uidl]):
                    await client.dele(message.number)
                    result.deleted += 1
                await self._renew(run)
            fetched_now = {m.uidl for m in todo}
            for message in listing:
                rec = seen.get(message.uidl)
                if rec is not None and message.uidl not in fetched_now \
                        and self._should_delete(remote, rec):
                    await client.dele(message.number)
                    result.deleted += 1
            await client.quit()
            # Forget UIDLs the remote mailbox no longer holds: rows stay bounded.
            present = {m.uidl for m in listing}
            gone = [u for u in seen if u not in present]
            if gone:
                await self.accounts.forget(remote.id, gone)
        finally:
            await client.close()

    def _should_delete(self, remote: RemoteRec, rec: SeenRec) -> bool:
        if rec.skipped:
            return False  # never collected: never deleted
        if not remote.leave_on_server:
            return True
        if remote.delete_after_days is None:
            return False
        return time.time() - rec.first_seen >= remote.delete_after_days * DAY

    async def _store(self, remote: RemoteRec, client: Pop3Client, uidl: str,
                     data: bytes) -> bool:
        """Blob first (fsynced), then UIDL and queue entry in one transaction."""
        blob = await self.queue.put_bytes(data)
        peer = client.peer or remote.host
        prefix = received_header(remote.host, peer, self.hostname,
                                 "POP3S" if remote.tls != "none" else "POP3",
                                 f"multipop-{remote.id}", remote.address)
        entry = NewEntry("", [remote.address], blob, prefix,
                         {"folder": remote.folder, "multipop": remote.id})
        recorded = await self.accounts.record(remote.id, uidl, entry)
        if not recorded:
            log.info("multipop: %s: %s was already collected", remote.address, uidl)
        return recorded

    async def _renew(self, run: _Run) -> None:
        if time.monotonic() - run.renewed >= RENEW_EVERY:
            await self.accounts.renew(run.remote.id, run.owner, LEASE)
            run.renewed = time.monotonic()


class Collector:
    """The in-server scheduler: every ``check_every`` seconds, claim the due remote accounts
    (up to ``max_concurrent`` at once) and run them."""

    def __init__(self, multipop: Multipop) -> None:
        self.multipop = multipop
        self.cfg = multipop.cfg
        self.owner = lease_owner()
        self._task: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[RunResult]] = set()

    async def start(self) -> None:
        await self.release_dead()
        self._task = asyncio.create_task(self._loop(), name="multipop")

    async def stop(self) -> None:
        await cancel(self._task, *self._running)
        self._task = None

    async def release_dead(self) -> None:
        """Leases held by processes of this host that no longer exist (killed collectors)."""
        host = socket.gethostname()
        for remote_id, owner in await self.multipop.accounts.leases():
            owner_host, _, pid = owner.rpartition(":")
            # Our own name on a lease at start-up is a previous process with the same PID
            # (containers restart as PID 1): it is dead too.
            if owner == self.owner or (owner_host == host and pid.isdigit()
                                       and not alive(int(pid))):
                log.info("multipop: freeing remote account %d from dead collector %s",
                         remote_id, owner)
                await self.multipop.accounts.drop_lease(remote_id, owner)

    async def _loop(self) -> None:
        while True:
            free = self.cfg.max_concurrent - len(self._running)
            if free > 0:
                try:
                    claimed = await self.multipop.accounts.claim(self.owner, LEASE, limit=free)
                except Exception:
                    log.exception("multipop: cannot claim remote accounts")
                    claimed = []
                for remote in claimed:
                    task = asyncio.create_task(self._one(remote))
                    self._running.add(task)
                    task.add_done_callback(self._running.discard)
            await asyncio.sleep(self.cfg.check_every)

    async def _one(self, remote: RemoteRec) -> RunResult:
        try:
            result = await self.multipop.run(remote, self.owner)
        except Exception:  # recording the outcome failed (the store is down): the lease
            log.exception("multipop: run of remote account %d failed", remote.id)  # expires
            return RunResult(error="internal error")
        return result
