"""The idle-connection scale workload: many IMAP clients sitting in IDLE, as phones and desktop
clients do all day.

Each client connects, logs in, selects INBOX and enters IDLE (RFC 2177). When all are idling,
the server's memory is read and compared with its memory just before the first connection:
the difference divided by the number of connections is the cost of one idle client. Then one
message is appended to every idle account from a separate session, and the clock runs until
every idle connection has been told ``EXISTS`` (the fan-out of a new-mail notification). Last,
every client leaves with DONE and LOGOUT, and the memory is read once more (what is not given
back is kept by the allocator or leaked).

The accounts of this workload carry argon2id hashes with small parameters (1 MiB, one pass) on
both servers, because what is measured is memory, not 10,000 password verifications; the
other workloads keep the full parameters.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import time
from collections.abc import Callable, Iterator
from typing import Any

from argon2 import PasswordHasher

from bench import data
from bench.imap_load import Client, ImapError
from bench.reference import Dovecot
from postroom.app import Services

PER_ACCOUNT = 20  # messages in each idle account's INBOX
_CHEAP = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def account(k: int) -> str:
    return f"idle{k:03d}@{data.DOMAIN}"


def cheap_hash(password: str) -> str:
    return _CHEAP.hash(password)


def mail(k: int) -> Iterator[data.Mail]:
    return data.account_mail(700 + k, PER_ACCOUNT)


def cheap_hashes(accounts: int) -> list[str]:
    """One hash per idle account, computed once and given to both servers."""
    return [cheap_hash(data.password(account(k))) for k in range(accounts)]


async def fill_postroom(services: Services, hashes: list[str]) -> None:
    for k, hashed in enumerate(hashes):
        address = account(k)
        await data.fill_account(services, address, mail(k))
        await services.store.directory.update_account(address, password_hash=hashed)


def fill_dovecot(dovecot: Dovecot, hashes: list[str]) -> None:
    for k, hashed in enumerate(hashes):
        address = account(k)
        dovecot.add_user(address, data.password(address), hashed)
        data.fill_maildir(dovecot.maildir(address), mail(k))


class IdleClient:
    """One connection: LOGIN, SELECT INBOX, IDLE, then wait for a new EXISTS."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.client: Client | None = None
        self.exists = 0  # EXISTS count before IDLE
        self.notified = asyncio.Event()
        self.watch: asyncio.Task[None] | None = None

    async def start(self, port: int) -> None:
        self.client = c = await Client.connect(port)
        await c.cmd(f'LOGIN "{self.address}" "{data.password(self.address)}"')
        selected: list[bytes] = []
        await c.cmd("SELECT INBOX", keep=selected)
        self.exists = _exists(selected, 0)
        c.writer.write(b"c IDLE\r\n")
        line = await c.reader.readline()
        if not line.startswith(b"+"):
            raise ImapError(f"IDLE refused: {line[:80]!r}")
        self.watch = asyncio.create_task(self._watch(c))

    async def _watch(self, c: Client) -> None:
        """Read what the server says in IDLE until a new EXISTS arrives."""
        while line := await c.reader.readline():
            if _exists([line], 0) > self.exists:
                self.notified.set()
                return

    async def leave(self) -> None:
        if self.watch is not None:
            self.watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.watch
        if self.client is None:
            return
        with contextlib.suppress(ConnectionError, OSError):
            self.client.writer.write(b"DONE\r\nd LOGOUT\r\n")
            await self.client.writer.drain()
        await self.client.close()


def _exists(lines: list[bytes], default: int) -> int:
    """The last ``* n EXISTS`` among ``lines``."""
    for line in reversed(lines):
        if line.endswith(b" EXISTS\r\n"):
            return int(line.split()[1])
    return default


def _allow_descriptors(n: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n + 256 <= hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (n + 256, hard))
    elif soft < n + 256:
        raise SystemExit(f"bench: {n:,} idle connections need {n + 256:,} open files; the hard "
                         f"limit is {hard:,} (ulimit -Hn)")


async def _append(port: int, address: str) -> None:
    c = await Client.connect(port)
    try:
        await c.cmd(f'LOGIN "{address}" "{data.password(address)}"')
        await c.cmd("APPEND INBOX", data.message(999, 1, 2048))
        await c.cmd("LOGOUT")
    finally:
        await c.close()


async def idle(port: int, connections: int, accounts: int, memory: Callable[[], int],
               concurrency: int = 100, timeout: float = 300.0) -> dict[str, Any]:
    """Open ``connections`` idling clients spread over ``accounts``; return memory per
    connection (KiB, from ``memory()``), set-up rate and notification fan-out time."""
    _allow_descriptors(connections)
    before = memory()
    clients = [IdleClient(account(n % accounts)) for n in range(connections)]
    sem = asyncio.Semaphore(concurrency)
    errors: list[str] = []

    async def open_one(c: IdleClient) -> None:
        async with sem:
            try:
                await c.start(port)
            except (OSError, ImapError, asyncio.IncompleteReadError) as exc:
                errors.append(str(exc)[:200])
    started = time.monotonic()
    await asyncio.wait_for(asyncio.gather(*(open_one(c) for c in clients)), timeout)
    setup_s = time.monotonic() - started
    live = [c for c in clients if c.watch is not None]
    await asyncio.sleep(2.0)  # let the server settle (logins' transient buffers freed)
    idle_kib = memory()
    started = time.monotonic()
    await asyncio.gather(*(_append(port, account(k))
                           for k in range(min(accounts, connections))))
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.gather(*(c.notified.wait() for c in live)), 60.0)
    fanout_s = time.monotonic() - started
    notified = sum(1 for c in live if c.notified.is_set())
    await asyncio.gather(*(c.leave() for c in clients))
    await asyncio.sleep(2.0)
    after = memory()
    return {"connections": connections, "idling": len(live), "errors": len(errors),
            "last_error": errors[-1] if errors else "",
            "setup_s": setup_s, "setup_per_s": len(live) / setup_s if setup_s else 0.0,
            "memory_before_kib": before, "memory_idle_kib": idle_kib,
            "memory_idle_mib": idle_kib / 1024,
            "memory_after_kib": after,
            "kib_per_connection": (idle_kib - before) / len(live) if live else 0.0,
            "fanout_s": fanout_s, "notified": notified}
