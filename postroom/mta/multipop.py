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
from typing import TYPE_CHECKING

from postroom.core.aio import cancel
from postroom.core.errors import MailError, invalid, not_found
from postroom.core.records import BlobRef, NewEntry, RemoteRec, SeenRec
from postroom.directory.secretbox import SecretBox, SecretError
from postroom.mta.inbound import received_header
from postroom.mta.pop3client import Pop3Client, Pop3ClientError

if TYPE_CHECKING:
    from postroom.app import Services
    from postroom.mta.queue import QueueManager

log = logging.getLogger("postroom.multipop")

LEASE = 300  # seconds a run holds its remote account without renewing
RENEW_EVERY = 60.0
TLS_MODES = ("implicit", "starttls", "none")
DEFAULT_PORTS = {"implicit": 995, "starttls": 110, "none": 110}
MIN_INTERVAL = 60
DAY = 86400

__all__ = ["DEFAULT_PORTS", "MIN_INTERVAL", "TLS_MODES", "Collector", "Multipop", "RemoteRec",
           "RunResult"]


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
    """Administration and one collection run; shared by the server and the CLI."""

    def __init__(self, services: Services, hostname: str, secrets: SecretBox) -> None:
        self.services = services
        self.hostname = hostname
        self.secrets = secrets
        self.repo = services.store.multipop
        self.cfg = services.cfg.multipop

    # -- administration -----------------------------------------------------------------------
    async def add(self, address: str, *, host: str, username: str, password: str,
                  tls: str = "implicit", port: int | None = None, tls_verify: bool = True,
                  leave_on_server: bool = False, delete_after_days: int | None = None,
                  interval: int = 600, folder: str = "INBOX", enabled: bool = True,
                  ) -> RemoteRec:
        account = await self.services.directory.require_account(address)
        fields = self.validate(host=host, username=username, tls=tls, port=port,
                             leave_on_server=leave_on_server,
                             delete_after_days=delete_after_days, interval=interval)
        await self.check_folder(account.id, folder)
        fields.update(password=self.secrets.seal(password, "multipop"), folder=folder,
                      tls_verify=tls_verify, enabled=enabled, next_run=0)
        return await self.repo.add(account.id, fields)

    def validate(self, *, host: str, username: str, tls: str, port: int | None,
               leave_on_server: bool, delete_after_days: int | None, interval: int,
               ) -> dict[str, object]:
        if not host or any(c.isspace() for c in host):
            raise invalid("host: give a host name or address")
        if not username or any(c in username for c in "\r\n"):
            raise invalid("user: give the remote user name")
        if tls not in TLS_MODES:
            raise invalid(f"tls: one of {', '.join(TLS_MODES)}")
        port = DEFAULT_PORTS[tls] if port is None else port
        if not 1 <= port <= 65535:
            raise invalid("port: 1 to 65535")
        if interval < MIN_INTERVAL:
            raise invalid(f"interval: at least {MIN_INTERVAL} seconds")
        if delete_after_days is not None:
            if delete_after_days < 1:
                raise invalid("delete-after-days: at least 1")
            if not leave_on_server:
                raise invalid("delete-after-days needs --leave-on-server (without it "
                              "messages are deleted as soon as they are collected)")
        return {"host": host.strip().lower(), "username": username, "tls": tls, "port": port,
                "leave_on_server": leave_on_server, "delete_after_days": delete_after_days,
                "interval_s": interval}

    async def check_folder(self, account_id: int, folder: str) -> None:
        if folder == "INBOX":
            return
        box = await self.services.store.mailboxes.by_name(account_id, folder)
        if box is None or box.kind != "mail":
            raise not_found(f"folder {folder!r} does not exist in that account (create it "
                            "first, e.g. from an IMAP client)")

    async def update(self, address: str, remote_id: int, *, password: str | None = None,
                     interval: int | None = None, folder: str | None = None,
                     enabled: bool | None = None, leave_on_server: bool | None = None,
                     delete_after_days: int | None = None) -> RemoteRec:
        """Change a remote account; the result is checked as ``add`` checks a new one.
        ``delete_after_days=0`` means never. Switching on clears the failure count and runs
        it at the next check."""
        rec = await self.one(address, remote_id)
        fields: dict[str, object] = {}
        if password is not None:
            fields["password"] = self.secrets.seal(password, "multipop")
        if interval is not None:
            fields["interval_s"] = interval
        if folder is not None:
            await self.check_folder(rec.account_id, folder)
            fields["folder"] = folder
        if enabled is not None:
            fields.update(enabled=enabled, failures=0, next_run=0)
        if leave_on_server is not None:
            fields["leave_on_server"] = leave_on_server
        if delete_after_days is not None:
            fields["delete_after_days"] = delete_after_days or None
        if not fields:
            raise invalid("nothing to change")
        days = fields.get("delete_after_days", rec.delete_after_days)
        self.validate(host=rec.host, username=rec.username, tls=rec.tls, port=rec.port,
                      leave_on_server=bool(fields.get("leave_on_server",
                                                      rec.leave_on_server)),
                      delete_after_days=days if isinstance(days, int) else None,
                      interval=interval if interval is not None else rec.interval_s)
        updated = await self.repo.update(rec.id, fields)
        assert updated is not None
        return updated

    async def remotes(self, address: str | None = None) -> list[RemoteRec]:
        if address is None:
            return await self.repo.remotes()
        account = await self.services.directory.require_account(address)
        return await self.repo.remotes(account.id)

    async def one(self, address: str, remote_id: int) -> RemoteRec:
        """A remote account of ``address`` by its id (NOT_FOUND for anyone else's)."""
        account = await self.services.directory.require_account(address)
        rec = await self.repo.get(remote_id)
        if rec is None or rec.account_id != account.id:
            raise not_found(f"{address} has no remote account {remote_id} "
                            f"(see: postroom multipop list {address})")
        return rec

    async def remove(self, address: str, remote_id: int) -> None:
        await self.one(address, remote_id)
        await self.repo.remove(remote_id)

    async def seen(self, remote_id: int) -> dict[str, SeenRec]:
        return await self.repo.seen(remote_id)

    # -- one run ------------------------------------------------------------------------------
    async def run_now(self, address: str, remote_id: int, owner: str) -> RunResult:
        """Collect one remote account now, unless another collector is at it."""
        await self.one(address, remote_id)
        claimed = await self.repo.claim(owner, LEASE, remote_id=remote_id)
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
                await asyncio.shield(self.repo.drop_lease(remote.id, owner))
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
            await self.repo.release(remote.id, owner, ok=False, error=result.error[:500],
                                    next_run=now + max(wait, MIN_INTERVAL), failures=failures)
        else:
            log.info("multipop: %s from %s@%s: %d fetched, %d deleted, %d skipped",
                     remote.address, remote.username, remote.host, result.fetched,
                     result.deleted, result.skipped)
            await self.repo.release(remote.id, owner, ok=True, next_run=now + remote.interval_s,
                                    failures=0, fetched=result.fetched)
        return result

    async def collect(self, run: _Run, result: RunResult) -> None:
        remote = run.remote
        password = self.secrets.open(remote.password, "multipop")
        client = Pop3Client(remote.host, remote.port, tls=remote.tls,
                            verify=remote.tls_verify, timeout=self.cfg.timeout)
        try:
            await client.connect()
            await client.login(remote.username, password)
            listing = await client.listing()
            seen = await self.repo.seen(remote.id)
            limit = self.services.cfg.limits.max_message_size
            todo = [m for m in listing if m.uidl not in seen][: self.cfg.max_per_run]
            for message in todo:
                if message.size > limit:
                    log.warning("multipop: %s: message %s is %d octets, over the %d limit; "
                                "left on %s", remote.address, message.uidl, message.size,
                                limit, remote.host)
                    await self.repo.record(remote.id, message.uidl, None)
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
                await self.repo.forget(remote.id, gone)
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
        loop = asyncio.get_running_loop()
        blob: BlobRef = await loop.run_in_executor(None, self.services.store.blobs.put_bytes,
                                                   data)
        peer = client.peer or remote.host
        prefix = received_header(remote.host, peer, self.hostname,
                                 "POP3S" if remote.tls != "none" else "POP3",
                                 f"multipop-{remote.id}", remote.address)
        entry = NewEntry("", [remote.address], blob, prefix,
                         {"folder": remote.folder, "multipop": remote.id})
        recorded = await self.repo.record(remote.id, uidl, entry)
        if not recorded:
            log.info("multipop: %s: %s was already collected", remote.address, uidl)
        return recorded

    async def _renew(self, run: _Run) -> None:
        if time.monotonic() - run.renewed >= RENEW_EVERY:
            await self.repo.renew(run.remote.id, run.owner, LEASE)
            run.renewed = time.monotonic()


class Collector:
    """The in-server scheduler: every ``check_every`` seconds, claim the due remote accounts
    (up to ``max_concurrent`` at once) and run them."""

    def __init__(self, multipop: Multipop, queue: QueueManager | None = None) -> None:
        self.multipop = multipop
        self.cfg = multipop.cfg
        self.owner = lease_owner()
        self.queue = queue
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
        for remote_id, owner in await self.multipop.repo.leases():
            owner_host, _, pid = owner.rpartition(":")
            # Our own name on a lease at start-up is a previous process with the same PID
            # (containers restart as PID 1): it is dead too.
            if owner == self.owner or (owner_host == host and pid.isdigit()
                                       and not _alive(int(pid))):
                log.info("multipop: freeing remote account %d from dead collector %s",
                         remote_id, owner)
                await self.multipop.repo.drop_lease(remote_id, owner)

    async def _loop(self) -> None:
        while True:
            free = self.cfg.max_concurrent - len(self._running)
            if free > 0:
                try:
                    claimed = await self.multipop.repo.claim(self.owner, LEASE, limit=free)
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
        if result.fetched and self.queue is not None:
            self.queue.wake()  # deliver now, not at the next queue poll
        return result


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
